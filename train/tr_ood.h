/* Fitting a trained model's out-of-distribution statistics (docs/trust.md)
 * at the end of training: the same rule as tools/ood_fit.py, through the
 * library (the shipping path), written into the model file. */
#ifndef TR_OOD_H
#define TR_OOD_H

#include "error.h"
#include "tr_dataset.h"

/* What the fit found, for the summary line. */
typedef struct tr_ood_result {
    long fitted, scored, skipped; /* training images used, validation images scored, unreadable */
    double threshold;             /* CC_OOD_PERCENTILE of the validation scores */
} tr_ood_result;

/* Classify every image of `train` with the model at `path` (`threads` oneDNN
 * threads), fit class means and the shrunk shared covariance of the pooled
 * features, score `val` for the threshold, and rewrite `path` (atomically)
 * with ood.class_means, ood.precision, ood_method and ood_threshold added and
 * everything else kept. Labels are the model's class indices. Errors: a class
 * without a readable training image or an empty `val` (INVALID_ARGUMENT), a
 * covariance that is not positive definite (BAD_FORMAT), IO, OUT_OF_MEMORY. */
covidcam_status tr_ood_fit(const char *path, const tr_split *train, const tr_split *val,
                           int threads, tr_ood_result *out, cc_err *e);

#endif
