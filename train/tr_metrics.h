/* Classification metrics: confusion matrix and the per-class table of the
 * notebook (sklearn's classification_report: precision, recall, F1, support,
 * accuracy, macro and weighted averages). */
#ifndef TR_METRICS_H
#define TR_METRICS_H

#include <stdio.h>

typedef struct tr_confusion {
    int k;
    long *m; /* k x k, m[true * k + predicted] */
} tr_confusion;

typedef struct tr_class_stats {
    double precision, recall, f1;
    long support;
} tr_class_stats;

typedef struct tr_report {
    int k;
    tr_class_stats *cls; /* k entries */
    tr_class_stats macro, weighted;
    double accuracy;
    long total;
} tr_report;

int tr_confusion_init(tr_confusion *c, int k);
void tr_confusion_free(tr_confusion *c);
void tr_confusion_reset(tr_confusion *c);
/* Count a prediction (ignored when truth < 0). */
void tr_confusion_add(tr_confusion *c, int truth, int predicted);

/* Metrics from a confusion matrix; a class nobody predicted has precision 0
 * (sklearn's zero_division=0), likewise recall for a class with no support. */
int tr_report_make(const tr_confusion *c, tr_report *r);
void tr_report_free(tr_report *r);

/* Print the table (sklearn layout) and the confusion matrix. */
void tr_report_print(FILE *f, const tr_report *r, char *const *names);
void tr_confusion_print(FILE *f, const tr_confusion *c, char *const *names);

#endif
