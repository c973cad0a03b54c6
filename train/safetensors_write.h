/* Writing the safetensors container (the reader is safetensors.h): an 8-byte
 * little-endian header length, a JSON header padded with spaces to a multiple of
 * 8 bytes, then the raw little-endian tensor data in the order tensors were added. */
#ifndef COVIDCAM_SAFETENSORS_WRITE_H
#define COVIDCAM_SAFETENSORS_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "error.h"

typedef struct cc_stw cc_stw;

covidcam_status cc_stw_create(cc_stw **out, cc_err *e);

void cc_stw_free(cc_stw *w);

/* Add an F32 tensor of `ndim` (0..CC_MAX_NDIM) dims. The data is NOT copied:
 * it must stay valid and unchanged until the last write/encode call. Names must
 * be unique and must not be "__metadata__". */
covidcam_status cc_stw_add_f32(cc_stw *w, const char *name, int ndim, const int64_t *shape,
                               const float *data, cc_err *e);

/* Add (or replace) a string metadata entry; both strings are copied. */
covidcam_status cc_stw_add_meta(cc_stw *w, const char *key, const char *value, cc_err *e);

/* Encode into a malloc'd buffer the caller frees. */
covidcam_status cc_stw_encode(const cc_stw *w, uint8_t **buf, size_t *len, cc_err *e);

/* Write to `path` atomically: a temporary file in the same directory, flushed,
 * then renamed over `path`, so a crash never leaves a truncated file behind. */
covidcam_status cc_stw_write_file(const cc_stw *w, const char *path, cc_err *e);

#endif
