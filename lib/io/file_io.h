/* Reading untrusted files: regular files only (a FIFO or device never blocks the
 * caller), a size limit checked before any allocation, and a caller check of the
 * first bytes before the rest is read. */
#ifndef COVIDCAM_FILE_IO_H
#define COVIDCAM_FILE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Judges the first `have` bytes of a file of `file_size` bytes. Return an error
 * (message naming what is wrong) to stop before the rest is read. To see more
 * of the file first, set *want to a larger byte count (at most file_size) and
 * return COVIDCAM_OK: the reader reads that many and calls again. */
typedef covidcam_status (*cc_prefix_check)(const uint8_t *head, size_t have, uint64_t file_size,
                                           size_t *want, void *ctx, cc_err *e);

/* Read a whole file into memory (caller frees *data). The file is opened with
 * O_NONBLOCK and fstat'ed before any read, so a FIFO, socket or device is
 * refused at once ("is a FIFO, not a regular file"). Files larger than
 * `max_bytes`: COVIDCAM_ERR_LIMIT. Open/read errors: COVIDCAM_ERR_IO naming the
 * path and errno. On failure *data and *len are untouched. */
covidcam_status cc_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                             cc_err *e);

/* cc_read_file(), but first reads min(first, size) bytes and passes them to
 * `check` (with `ctx`), which may ask for more (see cc_prefix_check); only when
 * it returns COVIDCAM_OK is the rest read. Errors of `check` are returned as
 * they are (the caller adds the path). */
covidcam_status cc_read_file_checked(const char *path, size_t max_bytes, size_t first,
                                     cc_prefix_check check, void *ctx, uint8_t **data,
                                     size_t *len, cc_err *e);

/* The first part of cc_read_file_checked: open and check `path` the same way
 * and read the prefix `check` accepts, but leave the rest in the file, open
 * for reading: *fd (the caller closes it), the prefix in *head (*have bytes,
 * malloc'd, the caller frees) and the file's size in *size. On failure
 * nothing is left open or allocated. */
covidcam_status cc_open_checked(const char *path, size_t max_bytes, size_t first,
                                cc_prefix_check check, void *ctx, int *fd, uint8_t **head,
                                size_t *have, size_t *size, cc_err *e);

#endif
