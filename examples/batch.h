/* Running a command over many images: a pool of sessions does the images,
 * and their results are written in input order: stderr messages, the text or
 * --json line on stdout, --csv rows, the --out-dir index files, progress and
 * the summary. */
#ifndef COVIDCAM_BATCH_H
#define COVIDCAM_BATCH_H

#include <jansson.h>
#include <stdio.h>

#include "covidcam.h"
#include "csv_row.h"
#include "inputs.h"

/* What one image gave, filled by the tool's work function. */
typedef struct cli_result {
    json_t *obj;  /* its --json object (result or error); NULL: cannot be formatted */
    char *out;    /* stdout text without --json (owned), or NULL */
    char *err;    /* stderr lines, errors and warnings (owned), or NULL */
    int status;   /* 0, a covidcam_status, or -1 for a failure of the program */
    int top;      /* top class when status is 0 */
} cli_result;

/* Do one image with a session: fill *r (zeroed before the call). */
typedef void (*cli_image_fn)(covidcam_session *s, const cli_input *item, size_t i,
                             cli_result *r, void *tool);

/* Do `count` consecutive images with one batch call of a session: fill r[k]
 * for items[k]. Items whose status is set (they could not be listed) already
 * have their error result and must be left out of the call. */
typedef void (*cli_chunk_fn)(covidcam_session *s, const cli_input *items, int count,
                             cli_result *r, void *tool);

typedef struct cli_batch {
    const char *prog;
    const covidcam_model *model;
    const cli_inputs *in;
    int json, quiet;
    FILE *csv;                 /* --csv, or NULL */
    FILE *index_csv, *index_jsonl; /* --out-dir index files, or NULL */
    cli_csv_columns columns;
    cli_image_fn image;
    cli_chunk_fn chunk; /* with chunk_size > 1: the images go by chunks instead */
    int chunk_size;
    void *tool;
} cli_batch;

/* Do every input with the sessions (one worker each) and write the results,
 * by chunks of chunk_size images when a chunk function is set (the output is
 * the same); 0 when every image succeeded, 1 otherwise. */
int cli_batch_run(cli_batch *b, covidcam_session **sessions, int jobs);

/* A failure of item `file` into *r: "prog: file: status: msg" on stderr and
 * its error object. */
void cli_result_error(cli_result *r, const char *prog, const char *file, covidcam_status st,
                      const char *msg);

/* The inputs of argv[0..argc) (cli_inputs_add, "-" reading stdin) into *in:
 * 0; 1 after a message when no image was found; -1 out of memory. */
int cli_expand(const char *prog, int argc, char **argv, const char *pattern, cli_inputs *in);

/* Open `path` for writing a CSV file; NULL after a message naming it. */
FILE *cli_open_csv(const char *prog, const char *path);

/* Append printf text to an owned string (*s may be NULL); no-op when out of
 * memory (the text is lost, never the program). */
void cli_append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
