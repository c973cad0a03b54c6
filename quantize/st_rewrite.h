/* A copy of a safetensors file with metadata added, written atomically: the
 * tensor data are copied byte for byte (their offsets are relative to the
 * end of the header, so a longer header moves nothing), the header is the
 * input's with the new keys set in __metadata__, padded to 8 bytes. */
#ifndef COVIDCAM_QUANTIZE_ST_REWRITE_H
#define COVIDCAM_QUANTIZE_ST_REWRITE_H

#include <jansson.h>
#include <stddef.h>

/* Write `in` plus the string values of `meta` (an object; existing keys are
 * replaced) to `out` through a temporary file in out's folder renamed over
 * it, so a reader sees the old file or the new one, never half of one. 0, or
 * -1 with a message naming the file in err. */
int st_rewrite(const char *in, const char *out, json_t *meta, char *err, size_t errsize);

#endif
