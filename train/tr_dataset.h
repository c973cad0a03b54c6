/* Image folder trees: one sub-folder per class (class names = folder names,
 * sorted), image files inside (.png, .jpg, .jpeg, .dcm, .dicom; decoded by
 * content). Either explicit train/val/test trees — several per split, merged
 * by class name — or one root split per class into train/val/test. */
#ifndef TR_DATASET_H
#define TR_DATASET_H

#include <stddef.h>
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

/* Separates the folders of one split given several times (--train A --train B
 * is "A\nB"); folder names containing it are refused by the option parser. */
#define TR_SOURCE_SEP '\n'

/* Number of folders in a TR_SOURCE_SEP-separated list, and the i-th of them
 * into buf (-1 if absent or longer than size). */
int tr_sources_count(const char *roots);
int tr_source_get(const char *roots, int i, char *buf, size_t size);

/* The union of the class folders of every folder of `roots`, sorted by name
 * (strcmp). Fewer than two is COVIDCAM_ERR_INVALID_ARGUMENT naming it. */
covidcam_status tr_classes_list(const char *roots, tr_classes *out, cc_err *e);

/* Every image under root/<class>/ for the given classes, over every folder of
 * `roots` (sorted by class, then folder, then file name). A single folder must
 * have exactly these class folders; several folders each have a subset (merged
 * by name). A class without images is an error unless `allow_empty`. */
covidcam_status tr_split_list(const char *roots, const tr_classes *cls, int allow_empty,
                              tr_split *out, cc_err *e);

/* Images of each class from each folder of `roots`:
 * counts[folder * num_classes + class]. */
void tr_split_source_counts(const tr_split *s, const char *roots, int num_classes, int *counts);

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
