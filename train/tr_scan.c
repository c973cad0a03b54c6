#include "tr_scan.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_io.h"
#include "preprocess.h"
#include "tr_dist.h"

typedef struct scan_job {
    const tr_split *s;
    int size, want_stats;
    cc_resize_mode resize;
    pthread_mutex_t mu;
    int next, stride; /* this rank's images: next, next + stride, ... */
    unsigned char *bad;
    double *sum, *sumsq; /* per image, reduced in order afterwards (deterministic) */
} scan_job;

static void scan_one(scan_job *j, int i, float *tmp)
{
    cc_image img = {0};
    cc_err e;
    if (cc_image_read_file(j->s->items[i].path, &img, NULL, &e) != COVIDCAM_OK) {
        j->bad[i] = 1;
        return;
    }
    if (j->want_stats) {
        cc_resize_fit_u8(img.pixels, img.width, img.height, (size_t)img.width, j->size, j->resize,
                         tmp);
        double s = 0, q = 0;
        for (size_t k = 0; k < (size_t)j->size * j->size; k++) {
            s += tmp[k];
            q += (double)tmp[k] * tmp[k];
        }
        j->sum[i] = s;
        j->sumsq[i] = q;
    }
    cc_image_free(&img);
}

static void *scan_worker(void *arg)
{
    scan_job *j = arg;
    float *tmp = malloc((size_t)j->size * j->size * sizeof *tmp);
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int i = j->next;
        j->next += j->stride;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->s->n)
            break;
        if (!tmp) {
            j->bad[i] = 1;
            continue;
        }
        scan_one(j, i, tmp);
    }
    free(tmp);
    return NULL;
}

static void run_workers(scan_job *j, int workers)
{
    pthread_t th[64];
    int n = 0;
    if (workers > 64)
        workers = 64;
    for (int i = 1; i < workers; i++)
        if (pthread_create(&th[n], NULL, scan_worker, j) == 0)
            n++;
    scan_worker(j);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

/* Re-read the first bad image for its error message. */
static covidcam_status first_bad_error(const scan_job *j, cc_err *e)
{
    for (int i = 0; i < j->s->n; i++) {
        if (!j->bad[i])
            continue;
        cc_image img = {0};
        covidcam_status st = cc_image_read_file(j->s->items[i].path, &img, NULL, e);
        cc_image_free(&img);
        if (st)
            return st;
        return cc_fail(e, COVIDCAM_ERR_IO, "cannot read %s", j->s->items[i].path);
    }
    return COVIDCAM_OK;
}

/* Every rank's findings: each image was decoded by one rank and is zero on
 * the others, so the sums are exact. */
static covidcam_status combine(scan_job *j, tr_dist *d, cc_err *e)
{
    size_t n = (size_t)j->s->n;
    double *all = calloc(3 * n + 1, sizeof *all);
    if (!all)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++) {
        all[i] = j->bad[i];
        all[n + i] = j->sum[i];
        all[2 * n + i] = j->sumsq[i];
    }
    covidcam_status st = tr_dist_sum_f64(d, all, 3 * n, "image scans", e);
    for (size_t i = 0; i < n; i++) {
        j->bad[i] = all[i] != 0;
        j->sum[i] = all[n + i];
        j->sumsq[i] = all[2 * n + i];
    }
    free(all);
    return st;
}

covidcam_status tr_scan(const tr_split *s, int size, cc_resize_mode resize, int want_stats,
                        int workers, int strict, tr_scan_result *out, cc_err *e)
{
    return tr_scan_dist(s, size, resize, want_stats, workers, strict, NULL, out, e);
}

covidcam_status tr_scan_dist(const tr_split *s, int size, cc_resize_mode resize, int want_stats,
                             int workers, int strict, tr_dist *d, tr_scan_result *out,
                             cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    scan_job j = {.s = s, .size = size, .want_stats = want_stats, .resize = resize,
                  .next = d ? d->rank : 0, .stride = d ? d->size : 1};
    size_t n = s->n > 0 ? (size_t)s->n : 1;
    j.bad = calloc(n, 1);
    j.sum = calloc(n, sizeof *j.sum);
    j.sumsq = calloc(n, sizeof *j.sumsq);
    if (!j.bad || !j.sum || !j.sumsq) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&j.mu, NULL);
    run_workers(&j, workers > 0 ? workers : 1);
    pthread_mutex_destroy(&j.mu);
    if (d && d->size > 1 && (st = combine(&j, d, e)))
        goto fail;
    memset(out, 0, sizeof *out);
    double sum = 0, sumsq = 0, count = 0;
    for (int i = 0; i < s->n; i++) {
        if (j.bad[i]) {
            out->nbad++;
            continue;
        }
        sum += j.sum[i];
        sumsq += j.sumsq[i];
        count += (double)size * size;
    }
    if (strict && out->nbad) {
        st = first_bad_error(&j, e);
        cc_err_prefix(e, "unreadable image (--strict)");
        goto fail;
    }
    for (int i = 0; tr_dist_root(d) && i < s->n; i++)
        if (j.bad[i])
            fprintf(stderr, "warning: skipping unreadable image %s\n", s->items[i].path);
    if (want_stats && count > 0) {
        out->mean = sum / count;
        double var = sumsq / count - out->mean * out->mean;
        out->std = sqrt(var > 0 ? var : 0);
    }
    out->bad = j.bad;
    j.bad = NULL;
fail:
    free(j.bad);
    free(j.sum);
    free(j.sumsq);
    return st;
}

void tr_scan_free(tr_scan_result *r)
{
    if (!r)
        return;
    free(r->bad);
    r->bad = NULL;
}
