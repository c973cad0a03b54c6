/* The out-of-distribution fit at the end of training (see tr_ood.h). */
#include "tr_ood.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "covidcam.h"
#include "file_io.h"
#include "model_meta.h"
#include "ood.h"
#include "safetensors.h"
#include "safetensors_write.h"

/* Sums of the training features, in double: per class, and the scatter
 * matrix sum f f^T (upper triangle) over all images. */
typedef struct fit_acc {
    int k, f;
    double *sum;     /* k x f */
    long *count;     /* k */
    double *scatter; /* f x f, upper triangle filled */
    long n;
} fit_acc;

/* Statuses that mean "this image cannot be used", not "stop". */
static int skippable(covidcam_status st)
{
    return st == COVIDCAM_ERR_IO || st == COVIDCAM_ERR_BAD_FORMAT ||
           st == COVIDCAM_ERR_UNSUPPORTED || st == COVIDCAM_ERR_LIMIT;
}

static covidcam_status features_of(covidcam_session *s, const char *path, float *f, int nf)
{
    covidcam_status st = covidcam_classify_file(s, path, NULL, NULL, 0, NULL);
    return st ? st : covidcam_session_features(s, f, (size_t)nf);
}

static void add_sample(fit_acc *a, int label, const float *f)
{
    double *sum = a->sum + (size_t)label * a->f;
    for (int i = 0; i < a->f; i++) {
        sum[i] += f[i];
        double *row = a->scatter + (size_t)i * a->f;
        for (int j = i; j < a->f; j++)
            row[j] += (double)f[i] * f[j];
    }
    a->count[label]++;
    a->n++;
}

static covidcam_status accumulate(covidcam_session *s, const tr_split *train, fit_acc *a,
                                  float *f, tr_ood_result *r, cc_err *e)
{
    for (int i = 0; i < train->n; i++) {
        const tr_item *it = &train->items[i];
        covidcam_status st = features_of(s, it->path, f, a->f);
        if (st && skippable(st)) {
            r->skipped++;
            continue;
        }
        if (st)
            return cc_fail(e, st, "%s: %s", it->path, covidcam_session_last_error(s));
        add_sample(a, it->label, f);
    }
    for (int c = 0; c < a->k; c++)
        if (a->count[c] == 0)
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                           "OOD fit: class %d has no readable training image", c);
    r->fitted = a->n;
    return COVIDCAM_OK;
}

/* Class means, then the shrunk shared covariance
 *   cov = scatter / n - sum_k (n_k / n) mu_k mu_k^T
 * inverted by Cholesky (LAPACK dpotrf + dpotri), into float outputs. */
static covidcam_status precision(const fit_acc *a, float *means, float *prec, cc_err *e)
{
    const int k = a->k, f = a->f;
    double *mu = malloc((size_t)k * f * sizeof *mu);
    double *cov = malloc((size_t)f * f * sizeof *cov);
    covidcam_status st = COVIDCAM_OK;
    if (!mu || !cov) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for the OOD fit");
        goto done;
    }
    for (int c = 0; c < k; c++)
        for (int i = 0; i < f; i++)
            mu[(size_t)c * f + i] = a->sum[(size_t)c * f + i] / (double)a->count[c];
    double trace = 0;
    for (int i = 0; i < f; i++)
        for (int j = i; j < f; j++) {
            double v = a->scatter[(size_t)i * f + j] / (double)a->n;
            for (int c = 0; c < k; c++)
                v -= (double)a->count[c] / (double)a->n * mu[(size_t)c * f + i] *
                     mu[(size_t)c * f + j];
            cov[(size_t)i * f + j] = v;
            trace += i == j ? v : 0;
        }
    for (int i = 0; i < f; i++)
        for (int j = i; j < f; j++)
            cov[(size_t)i * f + j] = (1 - CC_OOD_SHRINK) * cov[(size_t)i * f + j] +
                                     (i == j ? CC_OOD_SHRINK * trace / f : 0);
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', f, cov, f);
    if (info == 0)
        info = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', f, cov, f);
    if (info != 0) {
        st = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                     "OOD fit: the feature covariance is not positive definite (LAPACK info %d)",
                     (int)info);
        goto done;
    }
    for (size_t i = 0; i < (size_t)k * f; i++)
        means[i] = (float)mu[i];
    for (int i = 0; i < f; i++)
        for (int j = i; j < f; j++)
            prec[(size_t)i * f + j] = prec[(size_t)j * f + i] = (float)cov[(size_t)i * f + j];
done:
    free(mu);
    free(cov);
    return st;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* numpy.percentile(v, q) with its default linear interpolation. */
static double percentile(double *v, long n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = q / 100.0 * (double)(n - 1);
    long lo = (long)floor(pos), hi = lo + 1 < n ? lo + 1 : n - 1;
    return v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
}

static covidcam_status threshold(covidcam_session *s, const tr_split *val, const cc_ood *o,
                                 float *f, tr_ood_result *r, cc_err *e)
{
    double *scores = malloc((size_t)(val->n > 0 ? val->n : 1) * sizeof *scores);
    double *work = malloc((size_t)o->features * sizeof *work);
    covidcam_status st = COVIDCAM_OK;
    long n = 0;
    if (!scores || !work)
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for the OOD threshold");
    for (int i = 0; !st && i < val->n; i++) {
        covidcam_status fs = features_of(s, val->items[i].path, f, o->features);
        if (fs && skippable(fs)) {
            r->skipped++;
            continue;
        }
        if (fs)
            st = cc_fail(e, fs, "%s: %s", val->items[i].path, covidcam_session_last_error(s));
        else
            scores[n++] = cc_ood_score(o, f, work);
    }
    if (!st && n == 0)
        st = cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                     "OOD fit: no readable validation image to set the threshold on");
    if (!st) {
        r->scored = n;
        r->threshold = percentile(scores, n, CC_OOD_PERCENTILE);
        if (!(r->threshold >= 1e-6))
            r->threshold = 1e-6; /* the metadata's lower bound (a degenerate model) */
    }
    free(scores);
    free(work);
    return st;
}

/* Rewrite the model at `path` with the statistics: every tensor and
 * metadata entry kept (earlier OOD entries replaced), written atomically. */
static covidcam_status rewrite(const char *path, const cc_ood *o, cc_err *e)
{
    uint8_t *data = NULL;
    size_t len = 0;
    cc_safetensors st = {0};
    cc_stw *w = NULL;
    float **copies = NULL;
    covidcam_status rc = cc_read_file(path, (size_t)COVIDCAM_MAX_MODEL_BYTES, &data, &len, e);
    if (!rc)
        rc = cc_st_parse(data, len, &st, e);
    if (!rc)
        rc = cc_stw_create(&w, e);
    if (!rc && !(copies = calloc(st.num_tensors + 1, sizeof *copies)))
        rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; !rc && i < st.num_tensors; i++) {
        const cc_st_tensor *t = &st.tensors[i];
        if (cc_ood_is_tensor(t->name))
            continue;
        /* the writer keeps pointers: convert into buffers that outlive it */
        if (!(copies[i] = malloc((cc_st_numel(t) ? cc_st_numel(t) : 1) * sizeof(float)))) {
            rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        cc_st_to_f32(t, copies[i]);
        rc = cc_stw_add_f32(w, t->name, t->ndim, t->shape, copies[i], e);
    }
    for (size_t i = 0; !rc && i < st.num_meta; i++)
        if (strncmp(st.meta[i].key, "ood_", 4) != 0)
            rc = cc_stw_add_meta(w, st.meta[i].key, st.meta[i].value, e);
    int64_t ms[2] = {o->classes, o->features}, ps[2] = {o->features, o->features};
    char thr[32];
    snprintf(thr, sizeof thr, "%.9g", o->threshold);
    if (!rc && !(rc = cc_stw_add_f32(w, CC_OOD_MEANS, 2, ms, o->means, e)) &&
        !(rc = cc_stw_add_f32(w, CC_OOD_PRECISION, 2, ps, o->precision, e)) &&
        !(rc = cc_stw_add_meta(w, "ood_method", CC_META_OOD_METHOD, e)) &&
        !(rc = cc_stw_add_meta(w, "ood_threshold", thr, e)))
        rc = cc_stw_write_file(w, path, e);
    for (size_t i = 0; copies && i < st.num_tensors; i++)
        free(copies[i]);
    free(copies);
    cc_stw_free(w);
    cc_st_free(&st);
    free(data);
    return rc;
}

static covidcam_status open_model(const char *path, int threads, covidcam_model **m,
                                  covidcam_session **s, cc_err *e)
{
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = threads;
    covidcam_status st = covidcam_model_load(path, m, e->msg, sizeof e->msg);
    if (!st)
        st = covidcam_session_create(*m, &o, s, e->msg, sizeof e->msg);
    return st;
}

covidcam_status tr_ood_fit(const char *path, const tr_split *train, const tr_split *val,
                           int threads, tr_ood_result *out, cc_err *e)
{
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    fit_acc a = {0};
    cc_ood o = {0};
    float *f = NULL;
    memset(out, 0, sizeof *out);
    covidcam_status st = open_model(path, threads, &m, &s, e);
    if (st)
        goto done;
    a.k = o.classes = covidcam_model_num_classes(m);
    a.f = o.features = covidcam_model_num_features(m);
    a.sum = calloc((size_t)a.k * a.f, sizeof *a.sum);
    a.count = calloc((size_t)a.k, sizeof *a.count);
    a.scatter = calloc((size_t)a.f * a.f, sizeof *a.scatter);
    o.means = malloc((size_t)a.k * a.f * sizeof *o.means);
    o.precision = malloc((size_t)a.f * a.f * sizeof *o.precision);
    f = malloc((size_t)a.f * sizeof *f);
    if (!a.sum || !a.count || !a.scatter || !o.means || !o.precision || !f) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for the OOD fit");
        goto done;
    }
    if ((st = accumulate(s, train, &a, f, out, e)) || (st = precision(&a, o.means, o.precision, e)) ||
        (st = threshold(s, val, &o, f, out, e)))
        goto done;
    o.threshold = out->threshold;
    covidcam_session_free(s);
    covidcam_model_free(m);
    s = NULL;
    m = NULL;
    st = rewrite(path, &o, e);
done:
    covidcam_session_free(s);
    covidcam_model_free(m);
    free(a.sum);
    free(a.count);
    free(a.scatter);
    free(o.means);
    free(o.precision);
    free(f);
    return st;
}
