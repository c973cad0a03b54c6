/* JSON strings from arbitrary bytes: file names need not be UTF-8 and library
 * messages quote them, yet every --json line must be valid JSON. */
#ifndef COVIDCAM_JSON_ESCAPE_H
#define COVIDCAM_JSON_ESCAPE_H

#include <jansson.h>
#include <stdio.h>

/* 1 if s is valid UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
int cli_is_utf8(const char *s);

/* A JSON string of s with every byte that is not part of valid UTF-8
 * replaced by U+FFFD; NULL only when out of memory. */
json_t *cli_json_text(const char *s);

/* A copy of s (caller frees) with every byte that is not part of valid UTF-8
 * replaced by U+FFFD, as cli_json_text does; NULL when out of memory. */
char *cli_utf8_text(const char *s);

/* Set "file" in obj to cli_json_text(path) and, when path is not valid UTF-8,
 * "file_bytes" to its exact bytes in lowercase hex, so that the name can be
 * recovered. 0 on success, -1 when out of memory. */
int cli_json_set_file(json_t *obj, const char *key, const char *path);

/* Print {"file":..., ["file_bytes":...,] "status":..., "error":...} on one
 * line of stdout; falls back to cli_print_json_failure(). */
void cli_print_error_json(const char *file, const char *status, const char *msg);

/* The error object of a failed image, {"file", ["file_bytes",] "status",
 * "error"}; NULL when out of memory. Caller owns it. */
json_t *cli_json_error(const char *file, const char *status, const char *msg);

/* cli_print_error_json on the stream f. */
void cli_fprint_error_json(FILE *f, const char *file, const char *status, const char *msg);

/* cli_print_json_failure on the stream f. */
void cli_fprint_json_failure(FILE *f);

/* The last-resort line when an object cannot be built or printed: a
 * constant, valid JSON object naming the failure. */
void cli_print_json_failure(void);

#endif
