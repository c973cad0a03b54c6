/* Helpers shared by the API tests (cmocka assertions with readable failures). */
#ifndef COVIDCAM_TEST_API_UTIL_H
#define COVIDCAM_TEST_API_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "covidcam.h"

/* A pointer no library call may produce: out-parameters are pre-set to it to
 * check that failing calls leave them untouched. */
extern char au_sentinel_byte;
#define AU_SENTINEL ((void *)&au_sentinel_byte)

/* Fail the test unless `msg` contains `needle` (both printed on failure). */
void au_assert_contains(const char *msg, const char *needle);

/* Fail unless `got` == `want`, printing both status names and `msg`. */
void au_assert_status(covidcam_status got, covidcam_status want, const char *msg);

/* Load tests/fixtures/<name>; fails the test on error. */
covidcam_model *au_load(const char *name);

/* A session with `threads` threads (0 = default); fails the test on error. */
covidcam_session *au_session(const covidcam_model *m, int threads);

/* Load the model at `path` (any path); fails the test on error. */
covidcam_model *au_load_path(const char *path);

/* The shipped model's path, $CC_SOURCE_ROOT/models/covidcam-cxr.safetensors
 * (static storage). */
const char *au_shipped_model(void);

/* Try a session of precision p with `threads` threads and `max_batch`; the
 * status, the message in err (n bytes, may be NULL). */
covidcam_status au_try_session(const covidcam_model *m, covidcam_precision p, int threads,
                               int max_batch, covidcam_session **s, char *err, size_t n);

/* The same, failing the test on error. */
covidcam_session *au_session_with(const covidcam_model *m, covidcam_precision p, int threads,
                                  int max_batch);

/* The Grad-CAM heatmap of the image file at `path`, at `layer` for class
 * `cls` (-1: the top class), with the default method; fails the test on
 * error. The caller frees it. */
covidcam_heatmap *au_cam(covidcam_session *s, const char *path, const char *layer, int cls);

/* One thread of a mixed-precision test: a session of precision p on m (one
 * thread) classifies the three 1x64x64 tensors x 20 times; each logit row
 * must equal want[k] bitwise (3 classes). au_work (a pthread start routine)
 * counts the mismatches, -1 when the session could not be made. */
#define AU_MAXC 8
typedef struct au_worker {
    const covidcam_model *m;
    covidcam_precision p;
    const float *x[3];
    float want[3][AU_MAXC];
    int mismatches;
} au_worker;
void *au_work(void *arg);

/* Write `len` bytes to a new temporary file; returns its malloc'd path. */
char *au_write_temp(const void *buf, size_t len);

/* A new temporary file of `size` bytes without data blocks (sparse), for
 * size-limit tests; returns its malloc'd path. */
char *au_sparse_temp(uint64_t size);

#endif
