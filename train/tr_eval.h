/* Evaluation of a network on a split, and the --test mode. */
#ifndef TR_EVAL_H
#define TR_EVAL_H

#include <signal.h>

#include "tr_dataset.h"
#include "tr_dist.h"
#include "tr_loader.h"
#include "tr_metrics.h"
#include "tr_net.h"
#include "tr_options.h"

typedef struct tr_eval_out {
    double loss;     /* mean cross-entropy (with the given label smoothing) */
    double accuracy;
    long n;          /* samples evaluated */
    int stopped;     /* *stop was raised before the end */
} tr_eval_out;

/* Run every batch of ld (started at epoch 0) through net in inference mode
 * (BN running statistics) and fill the confusion matrix c (reset first).
 * With several processes (d, NULL for one) each evaluates its loader's share
 * and all get the whole split's results; they stop together when any of
 * them is told to. */
covidcam_status tr_evaluate(tr_net *net, tr_loader *ld, double smoothing, tr_confusion *c,
                            const volatile sig_atomic_t *stop, tr_dist *d, tr_eval_out *out,
                            cc_err *e);

/* What --test measured through the library. */
typedef struct tr_test_out {
    double accuracy;
    double loss;        /* mean cross-entropy of the raw logits (the training curve's figure) */
    double temperature; /* the model's calibration temperature (1 without one) */
    double cal_loss;    /* mean cross-entropy of the probabilities the library reports:
                           softmax(logits / temperature) */
} tr_test_out;

/* --test: evaluate the model file on the images of folder tree `dir` (or,
 * with dir NULL, on `split`) and print the figures, the confusion matrix and
 * the table; *out receives the figures. */
covidcam_status tr_test_model(const tr_opts *o, const char *model_path, const char *dir,
                              const tr_split *split, tr_test_out *out, cc_err *e);

#endif
