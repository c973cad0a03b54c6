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

/* Load the model at `path`; on failure prints "prog: message" to stderr and
 * returns -1 (*model NULL). */
int cli_load(const char *prog, const char *path, covidcam_model **model);

/* Create `n` sessions of `model` with `threads` threads each (one per worker
 * thread; the model is shared), computing in `precision`, taking batches of
 * up to `max_batch` images (0 or 1: one). On failure prints the message,
 * frees the sessions made so far and returns -1. */
int cli_sessions(const char *prog, const covidcam_model *model, int threads,
                 covidcam_precision precision, int max_batch, int n,
                 covidcam_session **sessions);

/* Load `path` and create an fp32 session with `threads` threads (0 = all
 * cores). On failure prints "prog: message" to stderr and returns -1
 * (nothing to free). */
int cli_open(const char *prog, const char *path, int threads, covidcam_model **model,
             covidcam_session **session);

/* --precision VALUE into *out; on a bad VALUE prints why (naming the
 * accepted values) and returns 2, the usage-error exit status. */
int cli_parse_precision(const char *prog, const char *value, covidcam_precision *out);


/* The last path component of `path` without its extension (".png", ".jpg",
 * ".dcm"...; a leading dot is kept), in `out` of `size` bytes; -1 if it does
 * not fit or is empty. */
int cli_stem(const char *path, char *out, size_t size);

/* {"format", "width", "height", "bits", "channels", "photometric"} plus
 * "orientation" for JPEG and the DICOM fields (modality, view_position,
 * body_part, transfer_syntax, frames, window_source, window_center/width).
 * NULL on allocation failure. */
json_t *cli_json_image_info(const covidcam_image_info *info);

/* Reasons to doubt that the model fits this input (a DICOM whose view is
 * lateral, or whose modality is not CR/DX), up to `max` sentences into
 * `warnings`; returns how many. Warnings only: the image is still classified. */
int cli_image_warnings(const covidcam_image_info *info, char warnings[][128], int max);

/* Room for every warning cli_warnings can give. */
#define CLI_MAX_WARNINGS 12

/* Every reason to doubt an answer, as sentences into `warnings` (up to max):
 * the DICOM ones of cli_image_warnings, one "name: why" per assessment bit
 * (names as covidcam_warning_name), and "out_of_distribution: ..." when the
 * assessment flags the image. Returns how many. */
int cli_warnings(const covidcam_image_info *info, const covidcam_assessment *a,
                 char warnings[][128], int max);

/* Set "ood" (bool), "ood_score" (number, null when the model has no OOD
 * statistics) and "warnings" (the list of cli_warnings, [] when none) on
 * `obj`. -1 on allocation failure. */
int cli_json_set_trust(json_t *obj, const covidcam_image_info *info,
                       const covidcam_assessment *a);

/* The one-line verdict the table output prints for a flagged image, into
 * buf; 0 when the image is not flagged (nothing written). */
int cli_ood_line(const covidcam_assessment *a, char *buf, size_t size);

/* "gradcam, gradcam++, layercam, ..." : every method the library names
 * (covidcam_cam_method_name), for usage texts and error messages. */
void cli_method_list(char *buf, size_t size);

/* --aug-smooth: "none", "intensity" or "flip" into *out; 0, or -1 when
 * unknown. cli_aug_name is the reverse ("none" for an unknown value). */
int cli_parse_aug(const char *s, covidcam_aug_smooth *out);
const char *cli_aug_name(covidcam_aug_smooth aug);

/* "eigen_smooth": true and "aug_smooth": "intensity"|"flip" on obj when the
 * heatmap used them (absent otherwise, so default runs print what they
 * always printed). -1 on allocation failure. */
int cli_json_set_smoothing(json_t *obj, const covidcam_heatmap *h);

#endif
