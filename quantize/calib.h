/* Calibration statistics of covidcam-quantize: what the fp32 forward passes
 * of the calibration images show of each tensor an int8 session quantizes,
 * and the per-tensor scales made from it (docs/precision.md, "int8"). */
#ifndef COVIDCAM_QUANTIZE_CALIB_H
#define COVIDCAM_QUANTIZE_CALIB_H

#include <jansson.h>

#include "model.h"

typedef enum q_method { Q_MINMAX, Q_PERCENTILE } q_method;

/* The share of |x| below the clipping point under Q_PERCENTILE, per image. */
#define Q_PERCENTILE_AT 0.9999

typedef struct q_calib {
    const covidcam_model *m;
    q_method method;
    int num_slots;   /* (num_blocks + 1) * CC_QS_PER_BLOCK; slot 0, 1: input, stem */
    double *amax;    /* largest |x| over the images */
    double *pct_sum; /* Q_PERCENTILE: sum over images of each image's percentile */
    int images;
    float *work;     /* Q_PERCENTILE: a copy of one tensor */
    size_t work_n;
    int oom;         /* an allocation of the observer failed */
} q_calib;

/* 0, or -1 when out of memory. */
int q_calib_init(q_calib *c, const covidcam_model *m, q_method method);
void q_calib_free(q_calib *c);

/* The cc_net_observer: one tensor of one image. */
void q_calib_observe(void *ctx, int block, int k, const float *x, size_t n);

/* After each image's forward pass. */
void q_calib_image_done(q_calib *c);

/* The int8_scales object {tensor name: scale}: the clipping point (minmax: the
 * largest |x| seen; percentile: the mean over images of each one's
 * Q_PERCENTILE_AT quantile, never above the largest) over 255 for the u8
 * tensors, 127 for the s8 ones (the input and the downsample outputs). A
 * tensor that stayed 0 gets 1/255. NULL when out of memory, or when a
 * tensor's activations were not finite (its name then in bad, size bytes). */
json_t *q_calib_scales(const q_calib *c, char *bad, size_t size);

#endif
