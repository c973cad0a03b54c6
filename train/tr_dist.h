/* The processes that train one model together: data parallelism over MPI.
 *
 * Under `mpirun -np N` each of the N processes (ranks) takes an equal share of
 * every batch; the collectives below keep them in step (gradients, batch-norm
 * statistics, metrics, the decision to stop). Built without MPI, or started
 * without mpirun, the trainer is a world of one: size 1, every sum leaves its
 * buffer as it is. Every rank must call the collectives in the same order.
 *
 * Errors: MPI's default handler ends the whole job with a message when a
 * collective fails (a rank died), so no rank waits forever; a sum returns an
 * error only when MPI hands one back. Threads: call from the training thread
 * only. */
#ifndef TR_DIST_H
#define TR_DIST_H

#include <stddef.h>

#include "error.h"

typedef struct tr_dist {
    int rank, size;
    int mpi;             /* 1 when MPI was initialised (finalize it) */
    double comm_seconds; /* time spent in gradient sums, for the benchmark */
} tr_dist;

/* Join the job: MPI_Init when built with MPI and started by mpirun. */
covidcam_status tr_dist_init(tr_dist *d, int *argc, char ***argv, cc_err *e);

/* Leave it; after this no collective may be called (size is 1 again). */
void tr_dist_finalize(tr_dist *d);

/* Rank 0 writes the files and prints the progress. */
static inline int tr_dist_root(const tr_dist *d)
{
    return !d || d->rank == 0;
}

/* In-place sums across the ranks; `what` names the values in the error
 * (COVIDCAM_ERR_IO). A NULL d is a world of one, here and in tr_dist_root. */
covidcam_status tr_dist_sum_f64(tr_dist *d, double *buf, size_t n, const char *what, cc_err *e);
covidcam_status tr_dist_sum_f32(tr_dist *d, float *buf, size_t n, const char *what, cc_err *e);

/* cc_tnet_sync's callback: ctx is a tr_dist. */
int tr_dist_sum_cb(void *ctx, double *buf, int n);

/* End every rank of the job at once with exit status `code` (after this rank
 * printed why). In a world of one, exit(code). */
_Noreturn void tr_dist_abort(const tr_dist *d, int code);

#endif
