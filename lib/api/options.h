/* Reading the caller's versioned option structs (the rules are in
 * include/covidcam.h above covidcam_session_options, and abi/README.md). */
#ifndef COVIDCAM_OPTIONS_H
#define COVIDCAM_OPTIONS_H

#include <stddef.h>

#include "error.h"

/* The largest struct_size accepted: far above any version, and small enough
 * that checking the unknown bytes never wanders far from the caller's struct. */
#define CC_OPTIONS_MAX_SIZE 1024

/* The end of a field: the struct_size that covers it. */
#define CC_FIELD_END(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* The 0.1 structs, frozen forever: what the exported _init functions fill
 * (an old program's struct is exactly this big) and the smallest struct_size
 * the library accepts. */
typedef struct cc_session_options_v0_1 {
    size_t struct_size;
    int num_threads;
    covidcam_precision precision;
} cc_session_options_v0_1;

typedef struct cc_gradcam_options_v0_1 {
    size_t struct_size;
    covidcam_cam_method method;
    const char *layer;
    int target_class;
} cc_gradcam_options_v0_1;

/* Copy the caller's struct `user` (its struct_size is the first field) into
 * `out`, which holds the library's defaults and whose fields end at `known_end`:
 * only the bytes inside both struct_size and known_end are copied. Refuses a
 * struct_size below `min_size` or above CC_OPTIONS_MAX_SIZE (INVALID_ARGUMENT)
 * and non-zero bytes from `our_size` (the library's sizeof) to struct_size:
 * fields of a newer header this library does not know (UNSUPPORTED). The tail
 * padding between known_end and our_size is not checked: a program that fills
 * the struct by hand may leave garbage there, and a later field never goes
 * there (abi/README.md). `what` names the struct in messages. */
covidcam_status cc_options_read(const void *user, size_t min_size, size_t known_end,
                                size_t our_size, void *out, const char *what, cc_err *e);

#endif
