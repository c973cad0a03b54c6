#include "calib.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qscales.h"

static int slot_of(int block, int k)
{
    return (block + 1) * CC_QS_PER_BLOCK + k;
}

int q_calib_init(q_calib *c, const covidcam_model *m, q_method method)
{
    memset(c, 0, sizeof *c);
    c->m = m;
    c->method = method;
    c->num_slots = (m->num_blocks + 1) * CC_QS_PER_BLOCK;
    c->amax = calloc((size_t)c->num_slots, sizeof *c->amax);
    c->pct_sum = calloc((size_t)c->num_slots, sizeof *c->pct_sum);
    return c->amax && c->pct_sum ? 0 : -1;
}

void q_calib_free(q_calib *c)
{
    free(c->amax);
    free(c->pct_sum);
    free(c->work);
    memset(c, 0, sizeof *c);
}

/* The k-th smallest of v[0..n) (0-based), reordering v (Hoare's selection:
 * linear on average, and fine with the many equal zeros after a ReLU). */
static float select_kth(float *v, ptrdiff_t n, ptrdiff_t k)
{
    ptrdiff_t lo = 0, hi = n - 1;
    while (hi > lo) {
        float pivot = v[lo + (hi - lo) / 2];
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                float t = v[i];
                v[i++] = v[j];
                v[j--] = t;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

static double percentile(q_calib *c, const float *x, size_t n)
{
    if (n > c->work_n) {
        float *w = realloc(c->work, n * sizeof *w);
        if (!w) {
            c->oom = 1;
            return 0;
        }
        c->work = w;
        c->work_n = n;
    }
    for (size_t i = 0; i < n; i++)
        c->work[i] = fabsf(x[i]);
    return select_kth(c->work, (ptrdiff_t)n, (ptrdiff_t)((double)(n - 1) * Q_PERCENTILE_AT));
}

void q_calib_observe(void *ctx, int block, int k, const float *x, size_t n)
{
    q_calib *c = ctx;
    int s = slot_of(block, k);
    if (n == 0)
        return;
    double mx = 0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs((double)x[i]));
    c->amax[s] = fmax(c->amax[s], mx);
    if (c->method == Q_PERCENTILE)
        c->pct_sum[s] += percentile(c, x, n);
}

void q_calib_image_done(q_calib *c)
{
    c->images++;
}

static int is_s8(int block, int k)
{
    return block < 0 ? k == 0 : k == CC_QS_DOWN;
}

static double scale_of(const q_calib *c, int block, int k)
{
    int s = slot_of(block, k);
    double clip = c->amax[s];
    if (c->method == Q_PERCENTILE && c->images > 0)
        clip = fmin(clip, c->pct_sum[s] / c->images);
    if (!(clip > 0))
        return 1.0 / 255;
    return clip / (is_s8(block, k) ? 127.0 : 255.0);
}

/* 0, or -1 with the tensor's name in `bad` when its scale is not finite
 * (activations that overflowed float), or out of memory (bad left empty). */
static int add(json_t *obj, const q_calib *c, int block, int k, char *bad, size_t size)
{
    char name[64];
    cc_qscale_name(c->m, block, k, name, sizeof name);
    double s = scale_of(c, block, k);
    if (!isfinite(s)) {
        snprintf(bad, size, "%s", name);
        return -1;
    }
    return json_object_set_new(obj, name, json_real(s));
}

json_t *q_calib_scales(const q_calib *c, char *bad, size_t size)
{
    json_t *obj = json_object();
    bad[0] = '\0';
    int fail = !obj || add(obj, c, -1, 0, bad, size) || add(obj, c, -1, 1, bad, size);
    for (int i = 0; i < c->m->num_blocks && !fail; i++)
        for (int k = 0; k < CC_QS_PER_BLOCK && !fail; k++)
            if (cc_qscale_exists(c->m, i, k))
                fail = add(obj, c, i, k, bad, size);
    if (fail) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}
