#include "pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct worker {
    pool *p;
    covidcam_session *session;
    pthread_t thread;
    int started;
} worker;

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or stopping */
    pthread_cond_t done; /* a job finished */
    pool_job *head, *tail;
    int queued, busy, idle, capacity, stopping;
    int n;
    worker *w;
};

static pool_job *take(pool *p)
{
    pool_job *j = p->head;
    p->head = j->next;
    if (!p->head)
        p->tail = NULL;
    p->queued--;
    return j;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *p = w->p;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->work, &p->lock);
        if (!p->head)
            break;
        pool_job *j = take(p);
        p->idle--;
        p->busy++;
        pthread_mutex_unlock(&p->lock);
        j->run(w->session, j->arg);
        pthread_mutex_lock(&p->lock);
        p->busy--;
        p->idle++;
        j->done = 1;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int pool_run(pool *p, pool_job *job)
{
    pthread_mutex_lock(&p->lock);
    /* Idle workers take queued jobs at once; only the rest count against the
     * queue's capacity. */
    if (p->stopping || p->queued >= p->idle + p->capacity) {
        pthread_mutex_unlock(&p->lock);
        return -1;
    }
    job->next = NULL;
    job->done = 0;
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    p->queued++;
    pthread_cond_signal(&p->work);
    while (!job->done)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void pool_stats(pool *p, int *queued, int *busy)
{
    pthread_mutex_lock(&p->lock);
    *queued = p->queued;
    *busy = p->busy;
    pthread_mutex_unlock(&p->lock);
}

void pool_free(pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n; i++) {
        if (p->w[i].started)
            pthread_join(p->w[i].thread, NULL);
        covidcam_session_free(p->w[i].session);
    }
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p->w);
    free(p);
}

covidcam_precision pool_precision(const pool *p)
{
    return covidcam_session_precision(p->w[0].session);
}

covidcam_status pool_create(const covidcam_model *model, int workers, int threads,
                            covidcam_precision precision, int queue, pool **out, char *err,
                            size_t err_size)
{
    covidcam_session_options so;
    covidcam_status rc = COVIDCAM_OK;
    pool *p = calloc(1, sizeof *p);
    if (!p || !(p->w = calloc((size_t)workers, sizeof *p->w))) {
        free(p);
        snprintf(err, err_size, "no memory for %d workers", workers);
        return COVIDCAM_ERR_OUT_OF_MEMORY;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    p->capacity = queue;
    covidcam_session_options_init(&so);
    so.num_threads = threads;
    so.precision = precision;
    for (; p->n < workers; p->n++) {
        worker *w = &p->w[p->n];
        w->p = p;
        if ((rc = covidcam_session_create(model, &so, &w->session, err, err_size)))
            break;
        p->idle++;
        if (pthread_create(&w->thread, NULL, worker_main, w)) {
            p->n++;
            snprintf(err, err_size, "cannot start worker thread %d", p->n);
            rc = COVIDCAM_ERR_OUT_OF_MEMORY;
            break;
        }
        w->started = 1;
    }
    if (rc) {
        pool_free(p);
        return rc;
    }
    *out = p;
    return COVIDCAM_OK;
}
