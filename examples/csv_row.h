/* CSV (RFC 4180: fields with a comma, quote, CR or LF quoted, quotes doubled,
 * CRLF line ends) of the --json objects, so that a row and a JSON line of the
 * same image hold the same values: the column values are the JSON values
 * (numbers exactly as the JSON prints them, true/false, null as an empty
 * field, a list joined with "; "). Names that are not UTF-8 are in the
 * "file" column with U+FFFD for each bad byte, as in the JSON, and their
 * exact bytes in hex in "file_bytes". */
#ifndef COVIDCAM_CSV_ROW_H
#define COVIDCAM_CSV_ROW_H

#include <jansson.h>
#include <stdio.h>

#include "covidcam.h"

/* The columns: file, status ("ok" or the failure's status name), top, one per
 * class of `m` (its probability), the `nextra` keys of `extra` (looked up in
 * the object, then in its "outputs" object), ood, ood_score, warnings, error,
 * file_bytes. */
typedef struct cli_csv_columns {
    const covidcam_model *model;
    const char *const *extra;
    int nextra;
} cli_csv_columns;

/* Write the header line; -1 on a write error. */
int cli_csv_header(FILE *f, const cli_csv_columns *c);

/* Write the row of one --json object (a result or an error object); -1 on a
 * write error or out of memory. */
int cli_csv_row(FILE *f, const cli_csv_columns *c, const json_t *obj);

#endif
