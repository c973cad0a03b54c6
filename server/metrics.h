/* Request counters and latency histograms, printed in the Prometheus text
 * exposition format. */
#ifndef COVIDCAM_SERVER_METRICS_H
#define COVIDCAM_SERVER_METRICS_H

#include <stddef.h>

/* The routes requests are counted under. */
typedef enum route {
    ROUTE_PAGE, /* / and the page's files */
    ROUTE_MODEL,
    ROUTE_CLASSIFY,
    ROUTE_GRADCAM,
    ROUTE_HEALTHZ,
    ROUTE_METRICS,
    ROUTE_OTHER, /* anything else (404) */
    ROUTE_COUNT
} route;

const char *route_name(route r);

typedef struct metrics metrics;

metrics *metrics_create(void);
void metrics_free(metrics *m);

/* Count one finished request. Any thread. */
void metrics_record(metrics *m, route r, unsigned status, double seconds);

/* The exposition text (the caller frees it), with the pool's gauges. */
char *metrics_render(metrics *m, int queued, int busy, int workers, int queue_capacity);

#endif
