/* First principal component by LAPACK's symmetric eigensolver. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cam_projection.h"

/* Centred copy, positions as rows: xc[p * c + k] = x[k][p] - mean_k. */
static void centre(const float *x, int c, size_t hw, double *xc)
{
    for (int k = 0; k < c; k++) {
        const float *xk = x + (size_t)k * hw;
        double mean = 0;
        for (size_t p = 0; p < hw; p++)
            mean += xk[p];
        mean /= (double)hw;
        for (size_t p = 0; p < hw; p++)
            xc[p * (size_t)c + (size_t)k] = xk[p] - mean;
    }
}

/* Lower triangle of the Gram matrix (column-major, n x n) of the rows
 * (rows_are_positions) or of the columns of xc. */
static void gram(const double *xc, int c, size_t hw, int rows_are_positions, double *g)
{
    size_t n = rows_are_positions ? hw : (size_t)c;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
            double sum = 0;
            if (rows_are_positions)
                for (int k = 0; k < c; k++)
                    sum += xc[i * (size_t)c + (size_t)k] * xc[j * (size_t)c + (size_t)k];
            else
                for (size_t p = 0; p < hw; p++)
                    sum += xc[p * (size_t)c + i] * xc[p * (size_t)c + j];
            g[i * n + j] = sum; /* column i, row j >= i: the lower triangle */
        }
}

/* Flip the sign when the negative extreme dominates. */
static void sign_correct(float *proj, size_t hw)
{
    float lo = proj[0], hi = proj[0];
    for (size_t p = 1; p < hw; p++) {
        lo = proj[p] < lo ? proj[p] : lo;
        hi = proj[p] > hi ? proj[p] : hi;
    }
    if (fabsf(lo) > fabsf(hi))
        for (size_t p = 0; p < hw; p++)
            proj[p] = -proj[p];
}

covidcam_status cc_cam_projection(const float *x, int c, size_t hw, float *proj, cc_err *e)
{
    /* X = U S V^T: X v1 = s1 u1. With hw <= c the top eigenvector of X X^T is
     * u1 (eigenvalue s1^2); otherwise that of X^T X is v1. */
    int by_positions = hw <= (size_t)c;
    size_t n = by_positions ? hw : (size_t)c;
    double *xc = malloc(hw * (size_t)c * sizeof *xc), *g = malloc(n * n * sizeof *g);
    double *z = malloc(n * sizeof *z), w[1];
    lapack_int found = 0, isuppz[2];
    covidcam_status rc = COVIDCAM_OK;
    if (!xc || !g || !z) {
        rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for the %zu x %zu projection",
                     n, n);
        goto done;
    }
    centre(x, c, hw, xc);
    gram(xc, c, hw, by_positions, g);
    lapack_int info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', 'I', 'L', (lapack_int)n, g,
                                     (lapack_int)n, 0, 0, (lapack_int)n, (lapack_int)n, 0,
                                     &found, w, z, (lapack_int)n, isuppz);
    if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR) {
        rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory in LAPACK's eigensolver");
        goto done;
    }
    if (info != 0 || found != 1) {
        rc = cc_fail(e, COVIDCAM_ERR_BACKEND, "LAPACKE_dsyevr failed (info %d) on the %zu x %zu "
                     "Gram matrix", (int)info, n, n);
        goto done;
    }
    if (by_positions) {
        double s1 = w[0] > 0 ? sqrt(w[0]) : 0;
        for (size_t p = 0; p < hw; p++)
            proj[p] = (float)(s1 * z[p]);
    } else {
        for (size_t p = 0; p < hw; p++) {
            double sum = 0;
            for (int k = 0; k < c; k++)
                sum += xc[p * (size_t)c + (size_t)k] * z[k];
            proj[p] = (float)sum;
        }
    }
    sign_correct(proj, hw);
done:
    free(xc);
    free(g);
    free(z);
    return rc;
}
