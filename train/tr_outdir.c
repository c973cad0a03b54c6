#include "tr_outdir.h"

#include <stdio.h>

#include "tr_util.h"

const char *const tr_out_files[TR_OUT_FILES] = {"best.safetensors", "last.safetensors",
                                                "checkpoint.safetensors", "metrics.csv",
                                                "report.html"};

covidcam_status tr_refuse_earlier_run(const char *dir, cc_err *e)
{
    char path[4200];
    for (int i = 0; i < TR_OUT_FILES; i++) {
        tr_path(path, sizeof path, dir, tr_out_files[i]);
        if (tr_exists(path))
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                           "%s already holds a training run (%s); --resume continues it, "
                           "--force starts anew and replaces it",
                           dir, tr_out_files[i]);
    }
    return COVIDCAM_OK;
}
