/* Internal error reporting: a status plus a message naming what was wrong. */
#ifndef COVIDCAM_ERROR_H
#define COVIDCAM_ERROR_H

#include "covidcam.h"

/* A message buffer owned by the caller (a session, a load call, a test). */
typedef struct cc_err {
    char msg[COVIDCAM_ERRBUF_SIZE];
} cc_err;

/* Format a message into `e` (may be NULL) and return `st`, so that error paths
 * read `return cc_fail(e, COVIDCAM_ERR_IO, "cannot open %s", path);`. */
covidcam_status cc_fail(cc_err *e, covidcam_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend "prefix: " to the message already in `e` (e may be NULL). */
void cc_err_prefix(cc_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copy the message of `e` into a caller's errbuf (either may be NULL). */
void cc_err_export(const cc_err *e, char *errbuf, size_t errbuf_size);

#endif
