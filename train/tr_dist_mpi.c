/* tr_dist on MPI (meson option mpi). */
#include "tr_dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>

#include "tr_util.h"

/* MPI counts are ints: larger buffers go in pieces. */
#define TR_DIST_CHUNK ((size_t)1 << 30)

/* Started by mpirun (Open MPI's launcher, or any PMI/PMIx one)? A plain run
 * stays a world of one without MPI_Init, which as a "singleton" would start
 * Open MPI's runtime daemon for nothing. */
static int launched_by_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

covidcam_status tr_dist_init(tr_dist *d, int *argc, char ***argv, cc_err *e)
{
    d->rank = 0;
    d->size = 1;
    d->mpi = 0;
    d->comm_seconds = 0;
    if (!launched_by_mpirun())
        return COVIDCAM_OK;
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return cc_fail(e, COVIDCAM_ERR_IO, "MPI_Init failed");
    d->mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    return COVIDCAM_OK;
}

void tr_dist_finalize(tr_dist *d)
{
    if (d->mpi)
        MPI_Finalize();
    d->mpi = 0;
    d->size = 1;
}

static int sum(tr_dist *d, void *buf, size_t n, size_t elem, MPI_Datatype type)
{
    for (size_t done = 0; d && d->size > 1 && done < n;) {
        size_t part = n - done < TR_DIST_CHUNK ? n - done : TR_DIST_CHUNK;
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + done * elem, (int)part, type, MPI_SUM,
                          MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
        done += part;
    }
    return 0;
}

static covidcam_status failed(const tr_dist *d, const char *what, cc_err *e)
{
    return cc_fail(e, COVIDCAM_ERR_IO, "summing the %s across the %d processes failed", what,
                   d->size);
}

covidcam_status tr_dist_sum_f64(tr_dist *d, double *buf, size_t n, const char *what, cc_err *e)
{
    return sum(d, buf, n, sizeof *buf, MPI_DOUBLE) ? failed(d, what, e) : COVIDCAM_OK;
}

covidcam_status tr_dist_sum_f32(tr_dist *d, float *buf, size_t n, const char *what, cc_err *e)
{
    double t0 = tr_now();
    int r = sum(d, buf, n, sizeof *buf, MPI_FLOAT);
    if (d)
        d->comm_seconds += tr_now() - t0;
    return r ? failed(d, what, e) : COVIDCAM_OK;
}

int tr_dist_sum_cb(void *ctx, double *buf, int n)
{
    return n < 0 || tr_dist_sum_f64(ctx, buf, (size_t)n, "batch-norm sums", NULL) ? -1 : 0;
}

_Noreturn void tr_dist_abort(const tr_dist *d, int code)
{
    if (d && d->mpi && d->size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}
