/* What every request handler of covidcam-server shares. */
#ifndef COVIDCAM_SERVER_SERVER_H
#define COVIDCAM_SERVER_SERVER_H

#include <pthread.h>

#include "covidcam.h"
#include "metrics.h"
#include "options.h"
#include "pool.h"

typedef struct server {
    const server_options *opt;
    const covidcam_model *model;
    pool *pool;
    metrics *metrics;
    /* Requests begun and not yet completed, so shutdown can wait for them. */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int in_flight;
} server;

/* Milliseconds on CLOCK_MONOTONIC. */
double server_now_ms(void);

#endif
