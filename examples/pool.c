#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli_util.h"

/* Results buffered ahead of the emitter, per worker: bounds the memory held
 * by finished but not yet printed items. */
#define AHEAD_PER_WORKER 4

typedef struct pool {
    size_t n, next, emitted;
    size_t ahead;
    unsigned char *done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cli_work_fn work;
    void *shared;
} pool;

typedef struct worker {
    pool *p;
    void *ctx;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *p = w->p;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->next < p->n && p->next >= p->emitted + p->ahead)
            pthread_cond_wait(&p->cv, &p->mu);
        size_t i = p->next < p->n ? p->next++ : p->n;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n)
            return NULL;
        p->work(w->ctx, i, p->shared);
        pthread_mutex_lock(&p->mu);
        p->done[i] = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void emit_all(pool *p, cli_emit_fn emit)
{
    for (size_t i = 0; i < p->n; i++) {
        pthread_mutex_lock(&p->mu);
        while (!p->done[i])
            pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        emit(i, p->shared);
        pthread_mutex_lock(&p->mu);
        p->emitted = i + 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

int cli_pool_run(size_t n, int jobs, void **ctx, cli_work_fn work, cli_emit_fn emit,
                 void *shared)
{
    if (jobs <= 1) {
        for (size_t i = 0; i < n; i++) {
            work(ctx[0], i, shared);
            emit(i, shared);
        }
        return 0;
    }
    pool p = {.n = n, .ahead = (size_t)jobs * AHEAD_PER_WORKER, .work = work, .shared = shared};
    pthread_t *tid = calloc((size_t)jobs, sizeof *tid);
    worker *w = calloc((size_t)jobs, sizeof *w);
    p.done = calloc(n ? n : 1, 1);
    int started = 0, rc = -1;
    if (!tid || !w || !p.done)
        goto done;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    for (; started < jobs; started++) {
        w[started] = (worker){&p, ctx[started]};
        if (pthread_create(&tid[started], NULL, worker_main, &w[started]))
            break;
    }
    if (started == 0) {
        pthread_cond_destroy(&p.cv);
        pthread_mutex_destroy(&p.mu);
        goto done;
    }
    emit_all(&p, emit);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    rc = 0;
done:
    free(p.done);
    free(w);
    free(tid);
    return rc;
}

int cli_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void cli_plan_workers(size_t items, int jobs_opt, int threads_opt, int threads_set, int *jobs,
                      int *threads)
{
    int cores = cli_cores();
    int j = jobs_opt > 0                       ? jobs_opt
            : threads_set && threads_opt > 0   ? cores / threads_opt
            : threads_set                      ? 1
            : cores < 8                        ? cores
                                               : 8;
    if ((size_t)j > items)
        j = (int)items;
    if (j < 1)
        j = 1;
    *jobs = j;
    *threads = threads_set ? threads_opt : j == 1 ? 0 : cores / j > 0 ? cores / j : 1;
}

int cli_open_pool(const char *prog, const char *path, size_t items, int jobs_opt,
                  int threads_opt, int threads_set, covidcam_precision precision,
                  int max_batch, covidcam_model **model,
                  covidcam_session ***sessions, int *jobs)
{
    int n = 0, threads = 0;
    *model = NULL;
    *sessions = NULL;
    *jobs = 0;
    cli_plan_workers(items, jobs_opt, threads_opt, threads_set, &n, &threads);
    covidcam_session **s = calloc((size_t)n, sizeof *s);
    if (!s) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    if (cli_load(prog, path, model) || cli_sessions(prog, *model, threads, precision, max_batch, n, s)) {
        free(s);
        covidcam_model_free(*model);
        *model = NULL;
        return -1;
    }
    *sessions = s;
    *jobs = n;
    return 0;
}
