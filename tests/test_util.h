/* Helpers shared by the cmocka tests: locating fixtures and the shared data. */
#ifndef COVIDCAM_TEST_UTIL_H
#define COVIDCAM_TEST_UTIL_H

#include <stddef.h>

/* Path of a file under tests/fixtures ($CC_FIXTURES); static buffer per call slot. */
const char *tu_fixture(const char *name);

/* Path under the shared X-ray data ($CC_SHARED_DATA), e.g. "val/COVID". */
const char *tu_shared(const char *rel);

/* 1 if the shared X-ray data directory exists. */
int tu_have_shared(void);

/* First n PNG file names (sorted) in directory dir; returns how many were found.
 * names[i] are malloc'd full paths the caller frees. */
int tu_list_pngs(const char *dir, char **names, int n);

/* Read a whole file (malloc'd; caller frees). NULL on error. */
unsigned char *tu_read_file(const char *path, size_t *len);


/* A float32 tensor from tests/fixtures/expected.safetensors, converted with the
 * library's own safetensors reader. Returns a malloc'd copy (caller frees) and
 * its element count in *n (may be NULL); NULL if absent. */
float *tu_expected(const char *name, size_t *n);

/* The same from another fixture file, e.g. "expected_cams.safetensors". */
float *tu_expected_in(const char *file, const char *name, size_t *n);

/* Max |a[i] - b[i]| over n elements. */
double tu_max_abs_diff(const float *a, const float *b, size_t n);

/* Whether oneDNN must offer native bf16 here, decided without the library:
 * CPUID reports AVX512-BF16 or AMX-BF16 (the OS saving their state) and
 * tu_capped_below_bf16() is 0. */
int tu_expect_native_bf16(void);

/* 1 if ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) names a cap that leaves no
 * native bf16 (AVX2, AVX512_CORE...). */
int tu_capped_below_bf16(void);

#endif
