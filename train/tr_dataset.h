/* Image folder trees: one sub-folder per class (class names = folder names,
 * sorted), PNG files inside. Either explicit train/val/test trees, or one root
 * split per class into train/val/test. */
#ifndef TR_DATASET_H
#define TR_DATASET_H

#include <stdint.h>

#include "error.h"

typedef struct tr_item {
    char *path;
    int label;
} tr_item;

typedef struct tr_split {
    tr_item *items;
    int n;
} tr_split;

typedef struct tr_classes {
    char **names;
    int n;
} tr_classes;

/* The class folders of `root`, sorted by name (strcmp). Fewer than two, or a
 * folder without PNG files, is COVIDCAM_ERR_INVALID_ARGUMENT naming it. */
covidcam_status tr_classes_list(const char *root, tr_classes *out, cc_err *e);

/* Every PNG under root/<class>/ for the given classes (sorted by class, then
 * file name). The tree must have exactly these class folders. An empty class
 * folder is an error unless `allow_empty` (a small test split). */
covidcam_status tr_split_list(const char *root, const tr_classes *cls, int allow_empty,
                              tr_split *out, cc_err *e);

/* Split every class of `root` deterministically into train/val/test by the
 * fractions f[3] (summing to 1): files are shuffled per class with `seed`, then
 * round(n*f[0]) go to train, round(n*f[1]) to val, the rest to test. */
covidcam_status tr_split_root(const char *root, const double f[3], uint64_t seed,
                              tr_classes *cls, tr_split out[3], cc_err *e);

/* Keep at most `per_class` items of each class (the first ones, in order). */
void tr_split_limit(tr_split *s, int num_classes, int per_class);

/* Remove the items whose flag is set (e.g. unreadable images). */
void tr_split_remove(tr_split *s, const unsigned char *drop);

/* Number of items of each class into counts[num_classes]. */
void tr_split_counts(const tr_split *s, int num_classes, int *counts);

void tr_split_free(tr_split *s);
void tr_classes_free(tr_classes *c);

#endif
