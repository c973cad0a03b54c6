#include "tr_history.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_util.h"

static int push(float **rows, long *n, long *cap, int cols, const float *row)
{
    if (*n == *cap) {
        long nc = *cap ? 2 * *cap : 1024;
        float *p = realloc(*rows, (size_t)nc * cols * sizeof *p);
        if (!p)
            return -1;
        *rows = p;
        *cap = nc;
    }
    memcpy(*rows + (size_t)*n * cols, row, (size_t)cols * sizeof *row);
    (*n)++;
    return 0;
}

int tr_history_add_iter(tr_history *h, const float row[TH_IT_COLS])
{
    return push(&h->it, &h->nit, &h->capit, TH_IT_COLS, row);
}

int tr_history_add_epoch(tr_history *h, const float row[TH_EP_COLS])
{
    return push(&h->ep, &h->nep, &h->capep, TH_EP_COLS, row);
}

int tr_history_set(tr_history *h, const float *it, long nit, const float *ep, long nep)
{
    h->nit = h->nep = 0;
    for (long i = 0; i < nit; i++)
        if (tr_history_add_iter(h, it + i * TH_IT_COLS))
            return -1;
    for (long i = 0; i < nep; i++)
        if (tr_history_add_epoch(h, ep + i * TH_EP_COLS))
            return -1;
    return 0;
}

void tr_history_free(tr_history *h)
{
    if (!h)
        return;
    free(h->it);
    free(h->ep);
    memset(h, 0, sizeof *h);
}

static int write_csv(FILE *f, void *arg)
{
    const tr_history *h = arg;
    fprintf(f, "kind,epoch,iteration,lr,loss,accuracy,val_loss,val_accuracy,seconds,"
               "images_per_s,avg_val_loss,avg_val_accuracy\n");
    long i = 0;
    for (long k = 0; k <= h->nep; k++) {
        float epoch = k < h->nep ? h->ep[k * TH_EP_COLS + TH_EP_EPOCH] : 1e30f;
        for (; i < h->nit && h->it[i * TH_IT_COLS + TH_IT_EPOCH] <= epoch; i++) {
            const float *r = h->it + i * TH_IT_COLS;
            fprintf(f, "iter,%d,%ld,%.8g,%.6g,%.6g,,,,,,\n", (int)r[TH_IT_EPOCH],
                    (long)r[TH_IT_ITER], r[TH_IT_LR], r[TH_IT_LOSS], r[TH_IT_ACC]);
        }
        if (k == h->nep)
            break;
        const float *r = h->ep + k * TH_EP_COLS;
        long last_it = i > 0 ? (long)h->it[(i - 1) * TH_IT_COLS + TH_IT_ITER] : 0;
        fprintf(f, "epoch,%d,%ld,%.8g,%.6g,%.6g,%.6g,%.6g,%.1f,%.2f,", (int)r[TH_EP_EPOCH],
                last_it, r[TH_EP_LR], r[TH_EP_TRAIN_LOSS], r[TH_EP_TRAIN_ACC], r[TH_EP_VAL_LOSS],
                r[TH_EP_VAL_ACC], r[TH_EP_SECONDS], r[TH_EP_IMG_S]);
        if (isnan(r[TH_EP_AVG_VAL_LOSS]))
            fputs(",\n", f);
        else
            fprintf(f, "%.6g,%.6g\n", r[TH_EP_AVG_VAL_LOSS], r[TH_EP_AVG_VAL_ACC]);
    }
    return ferror(f) ? -1 : 0;
}

covidcam_status tr_history_write_csv(const tr_history *h, const char *path, cc_err *e)
{
    return tr_write_atomic(path, write_csv, (void *)h, e);
}
