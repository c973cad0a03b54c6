#include "finite.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Elements tested per pass before looking at the verdict: the inner loop has
 * no early exit, so the compiler vectorises it. */
#define CC_FINITE_BLOCK 1024

static int block_has_nonfinite(const float *x, size_t n)
{
    uint32_t any = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], sizeof bits);
        any |= (bits & 0x7f800000u) == 0x7f800000u; /* exponent all ones */
    }
    return any != 0;
}

size_t cc_first_nonfinite(const float *x, size_t n)
{
    for (size_t start = 0; start < n; start += CC_FINITE_BLOCK) {
        size_t len = n - start < CC_FINITE_BLOCK ? n - start : CC_FINITE_BLOCK;
        if (!block_has_nonfinite(x + start, len))
            continue;
        for (size_t i = start; i < start + len; i++)
            if (!isfinite(x[i]))
                return i;
    }
    return n;
}

const char *cc_nonfinite_name(float x)
{
    if (isnan(x))
        return "NaN";
    if (isinf(x))
        return x > 0 ? "+inf" : "-inf";
    return "finite";
}

covidcam_status cc_check_input(const covidcam_model *m, const float *x, cc_err *e)
{
    size_t plane = (size_t)m->input_size * (size_t)m->input_size;
    size_t n = plane * (size_t)m->in_ch;
    size_t i = cc_first_nonfinite(x, n);
    if (i == n)
        return COVIDCAM_OK;
    int c = (int)(i / plane);
    return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                   "preprocessed input is %s at channel %d element %zu: the model's "
                   "mean[%d] = %g and std[%d] = %g do not give finite float values",
                   cc_nonfinite_name(x[i]), c, i % plane, c, (double)m->mean[c], c,
                   (double)m->std[c]);
}
