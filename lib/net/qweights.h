/* The int8 form of a model's convolutions (docs/precision.md, "int8"): s8
 * weights with one scale per output channel, s32 biases and the output
 * scales that take each s32 sum to its activation's u8/s8 codes, made from
 * the BN-folded fp32 weights and the file's calibration scales (qscales.h).
 * Made once per model, with the int8 weights (prepared.c). */
#ifndef COVIDCAM_QWEIGHTS_H
#define COVIDCAM_QWEIGHTS_H

#include <stdint.h>

#include "model.h"
#include "qscales.h"

/* One convolution: dst = scales[o] * (sum src*w + bias[o]) [+ sum_scale *
 * shortcut], the quantities of cc_dnn_qconv. */
typedef struct cc_qconv {
    int8_t *w;       /* plain OIHW; NULL after cc_qnet_drop_plain */
    int32_t *bias;   /* oc, cc_dnn_alloc'd */
    float *scales;   /* oc */
    float sum_scale; /* the last conv of a block: shortcut scale / output scale */
    int sum_s8;      /* the shortcut is s8 (a downsample output), else u8 */
} cc_qconv;

typedef struct cc_qnet {
    float in_scale;  /* real = in_scale * s8 code, at the stem's input */
    float out_scale; /* of the last block's output, which the head dequantizes */
    cc_qconv stem;
    cc_qconv (*blocks)[4]; /* per block: conv[0..2], then the downsample */
    int num_blocks;
} cc_qnet;

/* Quantize m's convolutions with scales q. Weight scale of output channel o:
 * max |w[o]| / 127 (1 for an all-zero channel); w8 = round(w / sw) in
 * [-127, 127]; bias = round(b / (s_src * sw)); scale = s_src * sw / s_dst, all
 * in double, the scale rounded once to float. OUT_OF_MEMORY or BACKEND;
 * the caller frees *out (cc_qnet_free). */
covidcam_status cc_qnet_make(const covidcam_model *m, const cc_qscales *q, cc_qnet **out,
                             cc_err *e);
void cc_qnet_free(cc_qnet *q);

/* The quantized conv of a weight slot (block -1: the stem; k 3: downsample). */
const cc_qconv *cc_qnet_conv(const cc_qnet *q, int block, int k);

/* qc's plain s8 weights (of cw's shape) converted into md, a weights md of an
 * int8 convolution (which may hold oneDNN's compensation), at dst; after
 * cc_qnet_drop_plain, from cw's fp32 weights quantized again. */
covidcam_status cc_qconv_reorder(const covidcam_model *m, const cc_qconv *qc, const cc_conv_w *cw,
                                 const cc_dnn_md *md, void *dst, cc_err *e);

/* Free the plain s8 weights once the model's int8 weights are in their
 * layouts (a quarter of the fp32 weights' memory); the rare session whose
 * primitive wants another layout quantizes again (cc_qconv_reorder). */
void cc_qnet_drop_plain(cc_qnet *q);

#endif
