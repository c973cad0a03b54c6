/* Progress and the end-of-run summary on stderr (never stdout, so --json
 * lines stay clean): on a terminal a bar with rate and ETA redrawn in place,
 * otherwise a plain line every 10 s; then counts of images, failures by
 * status name, top classes, time and rate. */
#ifndef COVIDCAM_PROGRESS_H
#define COVIDCAM_PROGRESS_H

#include <stddef.h>

#include "covidcam.h"

/* Statuses 0..COVIDCAM_ERR_LIMIT (covidcam_status_string names them). */
#define CLI_NUM_STATUS 8

typedef struct cli_progress {
    const char *prog;
    const covidcam_model *model;
    size_t total, done, failed;
    size_t by_status[CLI_NUM_STATUS + 1]; /* the last slot: failures of the program itself */
    size_t *by_class;                     /* top-class counts, one per class */
    double t0, last;                      /* ms */
    int tty, show, drawn;
} cli_progress;

/* Start counting `total` images; show = 0 keeps it silent (--quiet, or a
 * single image). -1 when out of memory. */
int cli_progress_start(cli_progress *p, const char *prog, const covidcam_model *model,
                       size_t total, int show);

/* Erase the bar before other text goes to stderr (no-op without one). */
void cli_progress_clear(cli_progress *p);

/* One image done: status 0 with its top class, or the status of its failure
 * (-1 for a failure that has no library status, such as a JSON formatting
 * error). Redraws or prints the progress when due. */
void cli_progress_step(cli_progress *p, int status, int top);

/* The summary lines (not_images / not_files: folder entries skipped), then
 * release the counts. Silent when `show` is 0, but always releases. */
void cli_progress_finish(cli_progress *p, int show, size_t not_images, size_t not_files);

#endif
