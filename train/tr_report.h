/* report.html: a self-contained page (inline SVG, no scripts) with the
 * notebook's plots — training loss and accuracy per iteration, validation
 * loss and accuracy per epoch, the learning rate — plus the confusion matrix
 * and per-class table of the best epoch. */
#ifndef TR_REPORT_H
#define TR_REPORT_H

#include "error.h"
#include "tr_history.h"
#include "tr_metrics.h"

typedef struct tr_report_info {
    const char *title;   /* e.g. "covidcam-train: resnet18, 224 px" */
    const char *command; /* the command line */
    const char *summary; /* preformatted lines: data, model, optimiser */
    char *const *classes;
    const tr_history *h;
    const tr_confusion *best; /* may be NULL before the first epoch ends */
    int best_epoch;
} tr_report_info;

covidcam_status tr_report_write_html(const tr_report_info *ri, const char *path, cc_err *e);

#endif
