/* Helpers of the trainer tests: temporary image trees, comparisons. */
#ifndef TRAIN_TEST_UTIL_H
#define TRAIN_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh directory under /tmp (static buffer per call slot). */
const char *tt_tempdir(void);

/* Remove a directory tree (best effort). */
void tt_rmtree(const char *path);

/* Write n gray PNGs of size x size into root/cls/NNN.png showing a class
 * pattern (class c: a bright band in position c, on seeded noise). */
void tt_write_class(const char *root, const char *cls, int c, int n, int size, uint64_t seed);

/* Create root/cls (empty). */
void tt_mkdir(const char *root, const char *cls);

/* Write a file with arbitrary bytes. */
void tt_write_bytes(const char *path, const void *data, size_t n);

/* max |got - want| / max |want| over n values. */
double tt_rel_err(const float *got, const float *want, size_t n);

#endif
