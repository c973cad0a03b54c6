/* A pass over a split before training: find unreadable images, and compute
 * the pixel mean and standard deviation of the training images as the network
 * sees them (fitted to the input size under `resize`), in 0-255 units. */
#ifndef TR_SCAN_H
#define TR_SCAN_H

#include "preprocess.h"
#include "tr_dataset.h"

typedef struct tr_scan_result {
    unsigned char *bad; /* per item: 1 if it could not be read (malloc'd) */
    int nbad;
    double mean, std;   /* when stats were requested */
} tr_scan_result;

/* Decode every image of s on `workers` threads. Unreadable images are listed
 * with a warning on stderr, or (strict) the first one is an error. */
covidcam_status tr_scan(const tr_split *s, int size, cc_resize_mode resize, int want_stats,
                        int workers, int strict, tr_scan_result *out, cc_err *e);

/* The same for one of several training processes: each decodes every
 * d->size-th image and the ranks combine their findings, so every rank gets
 * the result one process would (exactly: each entry is summed with zeros).
 * Only rank 0 prints the warnings. d NULL: tr_scan. */
typedef struct tr_dist tr_dist;
covidcam_status tr_scan_dist(const tr_split *s, int size, cc_resize_mode resize, int want_stats,
                             int workers, int strict, tr_dist *d, tr_scan_result *out,
                             cc_err *e);

void tr_scan_free(tr_scan_result *r);

#endif
