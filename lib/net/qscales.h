/* The int8 calibration scales a model file may carry (docs/model-format.md,
 * "int8 calibration"): one per-tensor scale per activation an int8 session
 * quantizes, written by covidcam-quantize into the metadata key int8_scales,
 * parsed and checked at load like the rest of the metadata. */
#ifndef COVIDCAM_QSCALES_H
#define COVIDCAM_QSCALES_H

#include "model.h"

#define CC_META_INT8_SCALES "int8_scales"
/* A scale is the real value of one quantization step (real = scale * q). A
 * step below 1e-10 or above 1e6 of the network's activations is no
 * calibration of an fp32 network (8-bit codes would span under 1e-7 or over
 * 1e8), so the loader refuses it as a damaged or forged file. */
#define CC_META_MIN_INT8_SCALE 1e-10
#define CC_META_MAX_INT8_SCALE 1e6

/* Which activation a scale belongs to, in the model's structure. */
enum {
    CC_QS_INNER0 = 0, /* block conv1's output (after ReLU, u8) */
    CC_QS_INNER1 = 1, /* bottleneck conv2's output (u8) */
    CC_QS_OUT = 2,    /* the block's output, after the residual add and ReLU (u8) */
    CC_QS_DOWN = 3,   /* the downsample's output (no ReLU: s8) */
    CC_QS_PER_BLOCK = 4
};

typedef struct cc_qscales {
    float input;            /* the stem's input, s8 (it can be negative) */
    float stem;             /* conv1's output after ReLU, u8; the max-pool keeps it */
    float (*blocks)[CC_QS_PER_BLOCK]; /* 0 where a block has no such tensor */
    int num_blocks;
} cc_qscales;

/* The metadata name of a scale: "input", "conv1", "layer1.0.conv1",
 * "layer1.0.conv2", "layer1.0" (the block output), "layer1.0.downsample".
 * block -1 with k 0: input, k 1: conv1. Returns buf. */
const char *cc_qscale_name(const covidcam_model *m, int block, int k, char *buf, size_t size);

/* Whether block `block` has tensor k (CC_QS_*). */
int cc_qscale_exists(const covidcam_model *m, int block, int k);

/* Parse the model file's int8_scales (after the geometry is set). No key: *out
 * NULL, OK. Otherwise every name above must be there once with a number in
 * [CC_META_MIN_INT8_SCALE, CC_META_MAX_INT8_SCALE] as a float; anything else
 * (bad JSON, a missing, unknown, negative, zero, non-number entry) is
 * BAD_FORMAT naming the entry. The caller owns *out (cc_qscales_free). */
covidcam_status cc_qscales_parse(const covidcam_model *m, const cc_safetensors *st,
                                 cc_qscales **out, cc_err *e);
void cc_qscales_free(cc_qscales *q);

#endif
