/* covidcam-quantize --val: fp32 against int8 on a folder of labelled images
 * (class folders named as the model's classes). */
#ifndef COVIDCAM_QUANTIZE_Q_VAL_H
#define COVIDCAM_QUANTIZE_Q_VAL_H

#include "covidcam.h"
#include "inputs.h"

typedef struct q_val {
    long images;          /* classified in both precisions */
    long fp32_correct, int8_correct, agree;
    double max_dprob;     /* largest |p_int8 - p_fp32| over images and classes */
} q_val;

/* Classify the images of `in` picked by idx (n of them) with sessions of
 * both precisions on `model`. 0, or -1 after printing "prog: culprit: why"
 * (an unknown class folder, an unreadable image, a session failure). */
int q_val_run(const char *prog, const covidcam_model *model, int threads, const cli_inputs *in,
              const size_t *idx, long n, q_val *out);

#endif
