#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds of the latency buckets, seconds; +Inf follows. */
static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                0.25,  0.5,    1,     2.5,  5,    10};
#define NBOUNDS (sizeof bounds / sizeof bounds[0])
#define MAX_STATUS 600

struct metrics {
    pthread_mutex_t lock;
    unsigned long long count[ROUTE_COUNT][MAX_STATUS];
    unsigned long long bucket[ROUTE_COUNT][NBOUNDS + 1];
    double sum[ROUTE_COUNT];
};

const char *route_name(route r)
{
    static const char *names[ROUTE_COUNT] = {"page",    "model",   "classify", "gradcam",
                                             "healthz", "metrics", "other"};
    return r < ROUTE_COUNT ? names[r] : "other";
}

metrics *metrics_create(void)
{
    metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void metrics_record(metrics *m, route r, unsigned status, double seconds)
{
    if (r >= ROUTE_COUNT)
        r = ROUTE_OTHER;
    if (status >= MAX_STATUS)
        status = 0;
    size_t b = 0;
    while (b < NBOUNDS && seconds > bounds[b])
        b++;
    pthread_mutex_lock(&m->lock);
    m->count[r][status]++;
    m->bucket[r][b]++;
    m->sum[r] += seconds;
    pthread_mutex_unlock(&m->lock);
}

/* A growing string; on allocation failure `failed` sticks and the text is dropped. */
typedef struct text {
    char *s;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    for (int tries = 0; tries < 2 && !t->failed; tries++) {
        va_start(ap, fmt);
        int k = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            t->failed = 1;
            return;
        }
        if (t->s && (size_t)k < t->cap - t->len) {
            t->len += (size_t)k;
            return;
        }
        size_t cap = (t->cap + (size_t)k + 1) * 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->failed = 1;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

static void render_counts(const metrics *m, text *t)
{
    put(t, "# HELP covidcam_http_requests_total HTTP requests answered, by route and status.\n"
           "# TYPE covidcam_http_requests_total counter\n");
    for (int r = 0; r < ROUTE_COUNT; r++)
        for (int s = 0; s < MAX_STATUS; s++)
            if (m->count[r][s])
                put(t, "covidcam_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                    route_name((route)r), s, m->count[r][s]);
}

static void render_latency(const metrics *m, text *t)
{
    put(t, "# HELP covidcam_http_request_duration_seconds Time from the request line to the "
           "last byte of the answer.\n"
           "# TYPE covidcam_http_request_duration_seconds histogram\n");
    for (int r = 0; r < ROUTE_COUNT; r++) {
        const char *name = route_name((route)r);
        unsigned long long cum = 0;
        for (size_t b = 0; b <= NBOUNDS; b++) {
            cum += m->bucket[r][b];
            if (b < NBOUNDS)
                put(t, "covidcam_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    name, bounds[b], cum);
            else
                put(t, "covidcam_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                    name, cum);
        }
        put(t, "covidcam_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", name, m->sum[r]);
        put(t, "covidcam_http_request_duration_seconds_count{route=\"%s\"} %llu\n", name, cum);
    }
}

char *metrics_render(metrics *m, int queued, int busy, int workers, int queue_capacity)
{
    text t = {0};
    pthread_mutex_lock(&m->lock);
    render_counts(m, &t);
    render_latency(m, &t);
    pthread_mutex_unlock(&m->lock);
    put(&t,
        "# HELP covidcam_queue_depth Requests waiting for a worker.\n"
        "# TYPE covidcam_queue_depth gauge\n"
        "covidcam_queue_depth %d\n"
        "# HELP covidcam_queue_capacity Requests that may wait before 503.\n"
        "# TYPE covidcam_queue_capacity gauge\n"
        "covidcam_queue_capacity %d\n"
        "# HELP covidcam_workers_busy Workers running a request.\n"
        "# TYPE covidcam_workers_busy gauge\n"
        "covidcam_workers_busy %d\n"
        "# HELP covidcam_workers Worker threads (one session each).\n"
        "# TYPE covidcam_workers gauge\n"
        "covidcam_workers %d\n",
        queued, queue_capacity, busy, workers);
    if (t.failed) {
        free(t.s);
        return NULL;
    }
    return t.s;
}
