/* Not overwriting an earlier training run by accident. */
#ifndef TR_OUTDIR_H
#define TR_OUTDIR_H

#include "error.h"

/* The files a training run writes into its --out directory. */
#define TR_OUT_FILES 5
extern const char *const tr_out_files[TR_OUT_FILES];

/* INVALID_ARGUMENT naming the first of tr_out_files that exists in `dir`
 * (a fresh run would replace it), with the way out: --resume or --force. */
covidcam_status tr_refuse_earlier_run(const char *dir, cc_err *e);

#endif
