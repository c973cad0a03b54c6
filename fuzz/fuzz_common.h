/* Shared by the libFuzzer harnesses and by tests/robust's replay driver. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "covidcam.h"

/* The model the image harnesses run: $COVIDCAM_FUZZ_MODEL, else the path
 * compiled in as CC_FUZZ_MODEL (tests/fixtures/basic.safetensors). Loaded
 * once per process; aborts if it cannot be loaded (a setup error, not a
 * finding). */
const covidcam_model *fz_model(void);

/* A single-threaded session of fz_model(), created once. One thread per
 * fuzzing process, so sharing it across inputs is allowed; reusing it is
 * also how the fuzzer finds state left behind by a failed call. */
covidcam_session *fz_session(void);

/* Abort with a message when a library invariant does not hold, so that the
 * fuzzer (and the replay test) reports the input. */
void fz_check(int ok, const char *what);

/* Checks that must hold after any successful classification of nc classes. */
void fz_check_classification(const float *probs, const float *logits, int nc, int top);

/* A little-endian reader over the fuzz input. */
typedef struct fz_reader {
    const uint8_t *p;
    size_t n;
} fz_reader;

uint8_t fz_u8(fz_reader *r);
uint16_t fz_u16(fz_reader *r);

#endif
