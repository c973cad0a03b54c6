/* Editing safetensors files in tests: load a fixture, change metadata or
 * tensors, and serialize it again with fresh offsets, so corrupt models are
 * made at test time instead of being committed. Written with jansson only
 * (not the library's reader), so the loader is checked against an
 * independent encoder. */
#ifndef COVIDCAM_TEST_ST_EDIT_H
#define COVIDCAM_TEST_ST_EDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ste_tensor {
    char *name;
    char dtype[16];
    int ndim;
    int64_t shape[8];
    uint8_t *data;
    size_t nbytes;
} ste_tensor;

typedef struct ste_file {
    json_t *meta; /* the __metadata__ object, or NULL to omit it */
    ste_tensor *t;
    size_t n, cap;
} ste_file;

/* Parse a safetensors file from disk; NULL on any error. */
ste_file *ste_load(const char *path);
void ste_free(ste_file *f);

ste_tensor *ste_find(ste_file *f, const char *name);

/* Remove tensor `name`; returns 0 if it existed. */
int ste_remove(ste_file *f, const char *name);

/* Add or replace tensor `name` (data copied). */
void ste_put(ste_file *f, const char *name, const char *dtype, int ndim, const int64_t *shape,
             const void *data, size_t nbytes);

/* Set metadata `key` to `value`; NULL value deletes the key. */
void ste_meta(ste_file *f, const char *key, const char *value);

/* The JSON header with offsets laid out in tensor order (caller json_decref). */
json_t *ste_header(const ste_file *f);

/* All tensor data concatenated in tensor order (malloc'd). */
uint8_t *ste_data(const ste_file *f, size_t *len);

/* 8-byte little-endian length + `json` padded with spaces to a multiple of 8 +
 * `data` (malloc'd). */
uint8_t *ste_pack(const char *json, const uint8_t *data, size_t dlen, size_t *len);

/* ste_pack(ste_header(f), ste_data(f)). */
uint8_t *ste_serialize(const ste_file *f, size_t *len);

/* Same, from a header the caller edited. */
uint8_t *ste_serialize_header(const ste_file *f, json_t *header, size_t *len);

#endif
