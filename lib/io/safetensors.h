/* Reading the safetensors container: 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then
 * the raw little-endian tensor data. */
#ifndef COVIDCAM_SAFETENSORS_H
#define COVIDCAM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Most dimensions a tensor may have (more are kept as CC_DT_OTHER). */
#define CC_MAX_NDIM 4

typedef enum cc_dtype { CC_DT_F32 = 0, CC_DT_BF16 = 1, CC_DT_F16 = 2, CC_DT_OTHER = 3 } cc_dtype;

typedef struct cc_st_tensor {
    char *name;
    cc_dtype dtype;
    char dtype_name[16]; /* as written in the file, for messages */
    int ndim;
    int64_t shape[CC_MAX_NDIM];
    const uint8_t *data; /* points into the parsed buffer; NULL after cc_st_parse_header */
    uint64_t offset;     /* of the data from the start of the file */
    size_t nbytes;
} cc_st_tensor;

typedef struct cc_st_meta {
    char *key;
    char *value;
} cc_st_meta;

typedef struct cc_safetensors {
    cc_st_tensor *tensors;
    size_t num_tensors;
    cc_st_meta *meta;
    size_t num_meta;
    /* After cc_st_parse_header, the caller sets the open file the tensor data
     * is read from (cc_st_read_f32); not owned. NULL path: data in memory. */
    const char *path;
    int fd;
} cc_safetensors;

/* Parse `len` bytes at `buf`. Tensor data pointers point into `buf`, which must
 * outlive the result. Validates: header length (<= COVIDCAM_MAX_HEADER_BYTES and
 * inside the buffer), JSON, dtype/shape/data_offsets of every entry, offsets in
 * range, size == product(shape) * dtype size, no overlaps, at most
 * COVIDCAM_MAX_TENSORS tensors, metadata values are strings. Tensors with more
 * than CC_MAX_NDIM dims or unknown dtypes are kept with dtype CC_DT_OTHER so the
 * caller can name them. BAD_FORMAT/LIMIT messages name the offending entry. */
covidcam_status cc_st_parse(const uint8_t *buf, size_t len, cc_safetensors *out, cc_err *e);

/* The same checks on the header alone: `head` holds the first `have` bytes
 * (at least the header, as cc_st_check_prefix asks for) of a file of
 * `file_size` bytes, and data offsets are checked against the file's size.
 * Tensor data stay in the file (data NULL) until cc_st_read_f32, so loading a
 * model never holds the whole file in memory. */
covidcam_status cc_st_parse_header(const uint8_t *head, size_t have, uint64_t file_size,
                                   cc_safetensors *out, cc_err *e);

/* A cc_prefix_check (lib/io/file_io.h) for model files: the header length and the
 * JSON header are checked (as cc_st_parse does) before the tensor data is read,
 * so a huge file with a bad header is refused at once. */
covidcam_status cc_st_check_prefix(const uint8_t *head, size_t have, uint64_t file_size,
                                   size_t *want, void *ctx, cc_err *e);

void cc_st_free(cc_safetensors *st);

const cc_st_tensor *cc_st_find(const cc_safetensors *st, const char *name);

/* Metadata value for `key`, or NULL. */
const char *cc_st_meta_get(const cc_safetensors *st, const char *key);

/* Number of elements of t. */
size_t cc_st_numel(const cc_st_tensor *t);

/* Convert t to fp32 into out (cc_st_numel(t) floats). F32, BF16, F16 only.
 * t's data must be in memory (cc_st_parse). */
void cc_st_to_f32(const cc_st_tensor *t, float *out);

/* t of st as fp32 into out (cc_st_numel(t) floats), converted from memory or
 * read from st's file (into `out` itself, so no second buffer). IO, naming the
 * file, when the read fails or the file shrank since its header was read. */
covidcam_status cc_st_read_f32(const cc_safetensors *st, const cc_st_tensor *t, float *out,
                               cc_err *e);

#endif
