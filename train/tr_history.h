/* The training history: one row per iteration and one per epoch, kept in
 * memory, stored in the checkpoint and written out as metrics.csv. */
#ifndef TR_HISTORY_H
#define TR_HISTORY_H

#include "error.h"

/* Columns of an iteration row and of an epoch row. */
enum { TH_IT_ITER, TH_IT_EPOCH, TH_IT_LR, TH_IT_LOSS, TH_IT_ACC, TH_IT_COLS };
enum {
    TH_EP_EPOCH,
    TH_EP_LR,
    TH_EP_TRAIN_LOSS,
    TH_EP_TRAIN_ACC,
    TH_EP_VAL_LOSS,
    TH_EP_VAL_ACC,
    TH_EP_SECONDS,
    TH_EP_IMG_S,
    TH_EP_AVG_VAL_LOSS, /* the weight average's (--ema); NaN without one */
    TH_EP_AVG_VAL_ACC,
    TH_EP_COLS
};
/* Epoch rows of checkpoints written before the weight average: the columns
 * up to TH_EP_IMG_S (read back with the average's as NaN). */
enum { TH_EP_COLS_V1 = TH_EP_AVG_VAL_LOSS };

typedef struct tr_history {
    float *it; /* nit rows of TH_IT_COLS */
    long nit, capit;
    float *ep; /* nep rows of TH_EP_COLS */
    long nep, capep;
} tr_history;

int tr_history_add_iter(tr_history *h, const float row[TH_IT_COLS]);
int tr_history_add_epoch(tr_history *h, const float row[TH_EP_COLS]);
/* Replace the contents (resume) with copies of the given rows. */
int tr_history_set(tr_history *h, const float *it, long nit, const float *ep, long nep);
void tr_history_free(tr_history *h);

/* metrics.csv: columns kind,epoch,iteration,lr,loss,accuracy,val_loss,
 * val_accuracy,seconds,images_per_s,avg_val_loss,avg_val_accuracy (the last
 * two empty without a weight average); "iter" rows (training batch loss and
 * accuracy), each epoch's "epoch" row after its iterations (training means
 * and validation). Written atomically. */
covidcam_status tr_history_write_csv(const tr_history *h, const char *path, cc_err *e);

#endif
