/* Writing a file so that readers see the old version or the complete new one,
 * never a truncated one: a temporary file in the same directory, fsync, then
 * rename over the target and fsync the directory. A crash, Ctrl-C or full
 * disk in the middle leaves the previous file intact (and at worst a
 * "NAME.tmpPID" file next to it). */
#ifndef TR_ATOMIC_H
#define TR_ATOMIC_H

#include <stdio.h>

#include "error.h"

/* Write `path` through fn(f, arg), which returns nonzero on failure (with
 * errno set, as stdio leaves it). IO names the path and the reason. */
covidcam_status tr_atomic_write(const char *path, int (*fn)(FILE *, void *), void *arg,
                                cc_err *e);

#endif
