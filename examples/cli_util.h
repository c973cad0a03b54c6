/* Small helpers shared by the example programs and the benchmark: argument
 * parsing, timing, JSON numbers and opening a model with a session. */
#ifndef COVIDCAM_CLI_UTIL_H
#define COVIDCAM_CLI_UTIL_H

#include <jansson.h>

#include "covidcam.h"

/* Milliseconds on CLOCK_MONOTONIC (arbitrary origin). */
double cli_now_ms(void);

/* `x` rounded to 3 decimals (microseconds when x is in ms). */
double cli_round3(double x);

/* Parse a whole decimal integer / float in [lo, hi]; 0 on success, -1 otherwise. */
int cli_parse_int(const char *s, int lo, int hi, int *out);
int cli_parse_double(const char *s, double lo, double hi, double *out);

/* A JSON real holding the shortest decimal that reads back as `f`, so that
 * cli_print_json() prints 0.97 rather than 0.970000029. */
json_t *cli_json_float(float f);

/* A JSON object {class name: values[i]} for every class of `model`. */
json_t *cli_json_class_map(const covidcam_model *model, const float *values);

/* Print `obj` compactly on one line of stdout and release it; -1 on failure. */
int cli_print_json(json_t *obj);

/* Load `path` and create a session with `threads` threads (0 = all cores).
 * On failure prints "prog: message" to stderr and returns -1 (nothing to free). */
int cli_open(const char *prog, const char *path, int threads, covidcam_model **model,
             covidcam_session **session);

/* The last path component of `path` without a ".png" suffix (any case), in
 * `out` of `size` bytes; -1 if it does not fit or is empty. */
int cli_stem(const char *path, char *out, size_t size);

#endif
