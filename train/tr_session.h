/* A training run: everything covidcam-train holds between the command line
 * and the last checkpoint. tr_session.c sets it up (data, model, resume),
 * tr_train.c runs the epochs, tr_eval.c evaluates. */
#ifndef TR_SESSION_H
#define TR_SESSION_H

#include <jansson.h>
#include <signal.h>

#include "tr_dataset.h"
#include "tr_dist.h"
#include "tr_history.h"
#include "tr_io.h"
#include "tr_loader.h"
#include "tr_metrics.h"
#include "tr_net.h"
#include "tr_options.h"
#include "tr_progress.h"

enum { TR_TRAIN = 0, TR_VAL = 1, TR_TEST = 2 };

/* What a finished (or interrupted) run reports to its caller. */
typedef struct tr_result {
    int epochs_done;
    int interrupted;
    double best_val_acc;
    int best_epoch;
    double last_train_acc, last_val_acc, last_val_loss;
    double test_acc; /* -1 without a test split */
    long skipped;    /* unreadable images */
} tr_result;

typedef struct tr_session {
    tr_opts *o;
    const char *command;
    const volatile sig_atomic_t *stop; /* set asynchronously (Ctrl-C) */
    tr_dist *dist;                     /* the processes training together; NULL: this one */
    cc_tnet_sync sync;                 /* batch norm's view of dist */
    json_t *state;                     /* the resumed checkpoint's state (o points into it) */
    tr_model_info mi;                  /* classes, input, mean/std */
    tr_split split[3];
    cc_arch arch;
    tr_params p;
    tr_net net;
    cc_tprec prec;
    float *class_w; /* --class-weights balanced: one per class; NULL: unweighted */
    int *mix_y2;    /* --mixup: each row's second label and its weight (net.batch); else NULL */
    float *mix_lam;
    tr_loader *train_ld, *val_ld;
    tr_history h;
    tr_confusion conf, best_conf;
    int have_best;
    /* position: the next batch to train; batch == iters_per_epoch means the
     * epoch's training is done and its validation is pending */
    int epoch, batch;
    long iter;
    int iters_per_epoch;
    double ep_loss;
    long ep_correct, ep_seen;
    double ep_train_seconds;
    double val_seconds; /* the last validation pass, for the whole-run ETA */
    double best_acc;
    double best_loss; /* validation loss of the best epoch (selection by loss) */
    int best_epoch;
    long skipped;
    tr_progress prog;
    char out_model[4096], out_last[4096], out_ckpt[4096], out_csv[4096], out_html[4096];
    char data_paths[4][8192]; /* absolute train/val/test/data folders */
} tr_session;

/* Data, model, network and loaders for o, resuming from the checkpoint when
 * o->resume. Whether it succeeds or fails, tr_session_close releases what
 * was built (a failed open may hold splits, classes and parameters). */
covidcam_status tr_session_open(tr_session *s, tr_opts *o, const char *command,
                                const volatile sig_atomic_t *stop, cc_err *e);

/* The same for one of the processes of a data-parallel run (docs/training.md,
 * "Several processes"): o->batch is the whole batch, of which this process
 * trains share d->rank of d->size; d NULL is tr_session_open. */
covidcam_status tr_session_open_dist(tr_session *s, tr_opts *o, const char *command,
                                     const volatile sig_atomic_t *stop, tr_dist *d, cc_err *e);

/* Processes in the run (1 without MPI). */
static inline int tr_session_world(const tr_session *s)
{
    return s->dist ? s->dist->size : 1;
}
void tr_session_close(tr_session *s);

/* The state JSON of the current position (for the checkpoint). */
char *tr_session_state_json(const tr_session *s);

/* Training metadata JSON for an epoch's model (epoch, metrics, configuration);
 * `average`: the values are the weight average (--ema), recorded as
 * "weights": "average" (else "trained"). */
char *tr_session_training_json(const tr_session *s, const tr_report *val, double val_loss,
                               int average);

/* Human-readable summary of the run (data, model, optimiser) for logs and the report. */
void tr_session_summary(const tr_session *s, char *buf, size_t n);

/* fp32, bf16 or auto (bf16 where the CPU has native bf16); bf16 on a CPU
 * oneDNN cannot run it on is COVIDCAM_ERR_UNSUPPORTED. */
covidcam_status tr_pick_precision(const char *name, cc_tprec *prec, cc_err *e);

/* Train from the current position to o->epochs (tr_train.c). */
covidcam_status tr_train_run(tr_session *s, tr_result *res, cc_err *e);

#endif
