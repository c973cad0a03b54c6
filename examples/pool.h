/* A pool of worker threads over items 0..n-1, each worker with its own
 * context (a covidcam session: one per thread, over the one shared model),
 * whose results are handed back in item order on the calling thread, so that
 * the output is the same for any number of workers. */
#ifndef COVIDCAM_POOL_H
#define COVIDCAM_POOL_H

#include <stddef.h>

#include "covidcam.h"

/* Do item i with the worker's context (called on a worker thread). */
typedef void (*cli_work_fn)(void *worker, size_t i, void *shared);
/* Hand item i on, in order 0, 1, ... (called on the calling thread). */
typedef void (*cli_emit_fn)(size_t i, void *shared);

/* Run `work` on every item with `jobs` workers (contexts ctx[0..jobs)) and
 * `emit` each in order. jobs <= 1 runs on the calling thread. Workers run at
 * most a few items ahead of emit. 0, or -1 when no thread could be started
 * (nothing was done). */
int cli_pool_run(size_t n, int jobs, void **ctx, cli_work_fn work, cli_emit_fn emit,
                 void *shared);

/* The CPUs this process may run on (at least 1). */
int cli_cores(void);

/* Workers and oneDNN threads per worker for `items` images: --jobs when given
 * (> 0); else cores / --threads when --threads was given and is > 0; else 1
 * when --threads 0 was given; else min(cores, 8). Never more workers than
 * items. Threads: --threads when given, else 0 (all cores) for one worker,
 * else cores / workers (at least 1), so that all threads ≈ cores. */
void cli_plan_workers(size_t items, int jobs_opt, int threads_opt, int threads_set, int *jobs,
                      int *threads);

/* The model at `path` and the workers' sessions for `items` work items
 * (images, or batches of `max_batch` images when it is above 1), planned by
 * cli_plan_workers: *jobs sessions in *sessions (the caller frees each,
 * then the array, then *model). On failure prints "prog: message", leaves
 * nothing to free (*model and *sessions NULL, *jobs 0) and returns -1. */
int cli_open_pool(const char *prog, const char *path, size_t items, int jobs_opt,
                  int threads_opt, int threads_set, covidcam_precision precision,
                  int max_batch, covidcam_model **model,
                  covidcam_session ***sessions, int *jobs);

#endif
