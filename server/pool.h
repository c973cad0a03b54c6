/* A fixed pool of worker threads, each owning one session of a shared model,
 * fed by a bounded queue. The HTTP threads hand a job over and block until a
 * worker has run it; when every worker is busy and the queue is full the job is
 * refused at once, so the caller can answer 503. */
#ifndef COVIDCAM_SERVER_POOL_H
#define COVIDCAM_SERVER_POOL_H

#include <stddef.h>

#include "covidcam.h"

typedef struct pool_job {
    /* Runs on a worker thread with that worker's session. */
    void (*run)(covidcam_session *session, void *arg);
    void *arg;
    /* Private to the pool. */
    struct pool_job *next;
    int done;
} pool_job;

typedef struct pool pool;

/* Start `workers` threads, each with a session of `model` (`threads` oneDNN
 * threads, `precision`); up to `queue` jobs may wait. On failure writes the
 * library's message to err and returns the library status (nothing to free). */
covidcam_status pool_create(const covidcam_model *model, int workers, int threads,
                            covidcam_precision precision, int queue, pool **out, char *err,
                            size_t err_size);

/* Run `job` on a worker and wait for it: 0 once it has run, -1 if the pool is
 * saturated or stopping (the job did not run). Any thread. */
int pool_run(pool *p, pool_job *job);

/* The precision the workers' sessions compute in (what "auto" resolved to;
 * all workers share one model and one rule, so it is the same for all). */
covidcam_precision pool_precision(const pool *p);

/* Jobs waiting for a worker, and workers running one, right now. */
void pool_stats(pool *p, int *queued, int *busy);

/* Finish the queued jobs, stop the threads, free the sessions. NULL is a no-op.
 * No pool_run() may be in progress or start. */
void pool_free(pool *p);

#endif
