/* Loading and evaluating the out-of-distribution statistics. */
#include "ood.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cc_ood_is_tensor(const char *name)
{
    return strcmp(name, CC_OOD_MEANS) == 0 || strcmp(name, CC_OOD_PRECISION) == 0;
}

static covidcam_status check_one(const cc_safetensors *st, const char *name, int64_t rows,
                                 int64_t cols, cc_err *e)
{
    const cc_st_tensor *t = cc_st_find(st, name);
    if (!t)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "missing tensor '%s' (the metadata has ood_method)", name);
    if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "tensor '%s' must have shape [%lld, %lld] (classes and pooled features "
                       "of the model)",
                       name, (long long)rows, (long long)cols);
    if (t->dtype == CC_DT_OTHER)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "tensor '%s' has dtype %s; F32, BF16 or F16 expected", name,
                       t->dtype_name);
    return COVIDCAM_OK;
}

covidcam_status cc_ood_check(const cc_safetensors *st, int classes, int features, cc_err *e)
{
    covidcam_status rc = check_one(st, CC_OOD_MEANS, classes, features, e);
    return rc ? rc : check_one(st, CC_OOD_PRECISION, features, features, e);
}

static float *read_finite(const cc_safetensors *st, const char *name, cc_err *e,
                          covidcam_status *rc)
{
    const cc_st_tensor *t = cc_st_find(st, name);
    size_t n = cc_st_numel(t);
    float *v = malloc(n * sizeof *v);
    if (!v) {
        *rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for tensor '%s'", name);
        return NULL;
    }
    if ((*rc = cc_st_read_f32(st, t, v, e))) {
        free(v);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            *rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "tensor '%s' is not finite at element %zu",
                          name, i);
            free(v);
            return NULL;
        }
    return v;
}

/* A symmetric matrix with a positive diagonal: what an inverse covariance is.
 * (Positive definiteness itself would cost a factorisation of F^3/3 at every
 * load; the fitting tool guarantees it and a score is clamped at 0.) */
static covidcam_status check_precision(const float *p, int f, cc_err *e)
{
    for (int i = 0; i < f; i++) {
        if (!(p[(size_t)i * f + i] > 0))
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "tensor '" CC_OOD_PRECISION "' has diagonal element [%d, %d] <= 0", i,
                           i);
        for (int j = 0; j < i; j++) {
            float a = p[(size_t)i * f + j], b = p[(size_t)j * f + i];
            if (fabsf(a - b) > 1e-5f * fmaxf(fabsf(a), fabsf(b)) + 1e-30f)
                return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                               "tensor '" CC_OOD_PRECISION "' is not symmetric: [%d, %d] = %g "
                               "but [%d, %d] = %g",
                               i, j, (double)a, j, i, (double)b);
        }
    }
    return COVIDCAM_OK;
}

covidcam_status cc_ood_load(const cc_safetensors *st, int classes, int features, double threshold,
                            cc_ood **out, cc_err *e)
{
    covidcam_status rc = cc_ood_check(st, classes, features, e);
    if (rc)
        return rc;
    cc_ood *o = calloc(1, sizeof *o);
    if (!o)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    o->classes = classes;
    o->features = features;
    o->threshold = threshold;
    if (!(o->means = read_finite(st, CC_OOD_MEANS, e, &rc)) ||
        !(o->precision = read_finite(st, CC_OOD_PRECISION, e, &rc)) ||
        (rc = check_precision(o->precision, features, e))) {
        cc_ood_free(o);
        return rc;
    }
    *out = o;
    return COVIDCAM_OK;
}

void cc_ood_free(cc_ood *o)
{
    if (!o)
        return;
    free(o->means);
    free(o->precision);
    free(o);
}

double cc_ood_score(const cc_ood *o, const float *f, double *work)
{
    const int n = o->features;
    double best = INFINITY;
    for (int k = 0; k < o->classes; k++) {
        const float *mu = o->means + (size_t)k * n;
        for (int i = 0; i < n; i++)
            work[i] = (double)f[i] - mu[i];
        double d = 0;
        for (int i = 0; i < n; i++) {
            const float *row = o->precision + (size_t)i * n;
            double r = 0;
            for (int j = 0; j < n; j++)
                r += row[j] * work[j];
            d += work[i] * r;
        }
        if (d < best)
            best = d;
    }
    return best > 0 ? best : 0;
}
