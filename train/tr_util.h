/* Small helpers of the trainer: atomic file writes, paths, time. */
#ifndef TR_UTIL_H
#define TR_UTIL_H

#include <stdio.h>

#include "error.h"

/* Write `path` through fn(FILE *, arg) into a temporary file that replaces
 * path only when complete (fn returns nonzero on failure). */
covidcam_status tr_write_atomic(const char *path, int (*fn)(FILE *, void *), void *arg,
                                cc_err *e);

/* dir + "/" + name into buf. */
void tr_path(char *buf, size_t n, const char *dir, const char *name);

/* Create dir (and missing parents). */
covidcam_status tr_mkdirs(const char *dir, cc_err *e);

/* Monotonic seconds. */
double tr_now(void);

/* 1 if path exists. */
int tr_exists(const char *path);

#endif
