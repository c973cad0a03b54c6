/* The executable ResNet of a session: oneDNN primitives, activation buffers and
 * the forward pass; the backward pass used by Grad-CAM lives in gradcam_bwd.c. */
#ifndef COVIDCAM_RESNET_H
#define COVIDCAM_RESNET_H

#include "dnn.h"
#include "model.h"

/* One convolution of the session: its forward primitive and the weights it
 * reads (the model's, or a private copy when this session's primitive chose
 * another layout). bwd/w_bwd are created on the first Grad-CAM that needs them. */
typedef struct cc_net_conv {
    const cc_conv_w *cw;
    cc_dnn_prim *fwd;
    const void *w;
    void *w_private;
    const void *bias;  /* cw->b (fp32), or the model's s32 int8 bias */
    cc_dnn_md *q_dst;  /* int8: the NHWC u8/s8 md of the output, owned */
    cc_dnn_prim *bwd;
    void *w_bwd;
} cc_net_conv;

typedef struct cc_net_block {
    const cc_block_w *bw;
    cc_net_conv conv[3];
    cc_net_conv down;
    void *inner[2];           /* outputs of conv1 (and conv2 for bottlenecks) */
    void *out_buf;            /* this block's own output buffer */
    const cc_dnn_md *in_md;   /* layout of the block input */
    const cc_dnn_md *out_md;  /* layout of the block output */
    void *out;                /* where the last forward left the output */
    void *in;                 /* where the last forward read the input */
    /* Grad-CAM backward helpers, lazily created */
    cc_dnn_prim *relu_bwd_out;
    cc_dnn_prim *relu_bwd_inner[2];
    cc_dnn_prim *add;
    cc_dnn_prim *out_to_plain; /* output layout -> plain NCHW (Grad-CAM maps) */
} cc_net_block;

/* Activation and weight buffers of the convolutions and blocks hold elements
 * of the net's type `dt` (void *); the input, the head (pooling, fc, logits)
 * and what Grad-CAM hands back are fp32 in every precision. An int8 net has
 * dt CC_DNN_U8: u8 activations in NHWC (the downsample outputs s8, the stem
 * input s8), s8 weights; it classifies only (Grad-CAM of an int8 session runs
 * on a bf16 or fp32 net, docs/precision.md). */
/* Calibration (covidcam-quantize): called by the forward pass of an fp32 net
 * after each tensor an int8 net quantizes is computed, with its buffer as n
 * floats (the layout oneDNN picked; padding, if any, is zeros). block -1: k 0
 * the input, k 1 the stem conv's output; block i: k a CC_QS_* of qscales.h. */
typedef void (*cc_net_observer)(void *ctx, int block, int k, const float *x, size_t n);

typedef struct cc_net {
    const covidcam_model *m;
    cc_net_observer observe; /* NULL: none */
    void *observe_ctx;
    cc_dnn_dtype dt;
    int mb; /* images per forward pass (1 for Grad-CAM) */
    cc_dnn_stream *stream;

    cc_dnn_md *in_plain_md;
    cc_dnn_prim *in_reorder; /* NULL when the stem reads plain NCHW fp32 */
    void *in_blocked;

    cc_net_conv stem;
    void *stem_out;
    cc_dnn_prim *maxpool;
    void *pool_out;

    cc_net_block *blocks;
    int num_blocks;

    /* A reduced-precision net converts the last block's output to plain fp32
     * NCHW, so pooling and the fc (a few thousand values, where bf16 rounding
     * would reach the logits directly) run in fp32 on the model's weights. A
     * batch net (mb > 1) does too, so that image i's pooled features are row
     * i of a plain mb x features matrix whatever layout oneDNN picks. */
    cc_dnn_prim *head_reorder; /* NULL in an fp32 net of one image */
    float *head_in;

    cc_dnn_prim *gap;
    float *gap_out;
    cc_dnn_prim *fc;
    const float *fc_weights; /* the model's, or fc_w_private */
    float *fc_w_private;
    float *logits;

    void *scratch;
    size_t scratch_bytes;

    /* Grad-CAM backward state (gradcam_bwd.c) */
    cc_dnn_prim *fc_bwd;
    void *fc_w_bwd;
    cc_dnn_prim *gap_bwd;
    void *grad_a;      /* five gradient buffers of grad_bytes each, one allocation */
    size_t grad_bytes;
    float *d_logits, *d_pooled;
    float *d_head;                /* reduced precision: d/d head_in, fp32 plain */
    cc_dnn_prim *head_to_blocked; /* d_head into the last block's layout and type */
} cc_net;

/* Create the primitives and buffers of model m, which is only read, computing
 * in dt. Its fp32 weights must be prepared in the planned layouts
 * (cc_conv_w.w_md, set at load from cc_net_plan_layouts). A bf16 net uses the
 * model's bf16 weights (prepared.h, made by the first bf16 net); a primitive
 * that wants another layout than the shared weights have gets a private copy.
 * Call with the session's thread count set. */
covidcam_status cc_net_create(const covidcam_model *m, cc_dnn_dtype dt, int mb, cc_net **out,
                              cc_err *e);
void cc_net_free(cc_net *n);

/* The weight layouts oneDNN picks on this CPU for the forward primitives, one
 * md per convolution, in the model's structure. */
typedef struct cc_layout_plan {
    cc_dnn_md *stem;
    cc_dnn_md *fc;
    cc_dnn_md *(*blocks)[4]; /* per block: conv[0..2], then the downsample */
    int num_blocks;
} cc_layout_plan;

/* The load-time step that plans the layouts: creates the forward primitives
 * of a dt net once (m's geometry only; no weights are read) and returns their
 * weight mds in *plan, which the caller owns (the loader moves them into the model it is
 * building, which then owns them; cc_layout_plan_free frees what is left). */
covidcam_status cc_net_plan_layouts(const covidcam_model *m, cc_dnn_dtype dt, cc_layout_plan *plan,
                                    cc_err *e);
/* The same for an int8 net (dt CC_DNN_U8), whose primitives need the
 * quantized model's scales q (qweights.h); q NULL for other types. */
struct cc_qnet;
covidcam_status cc_net_plan_layouts_q(const covidcam_model *m, cc_dnn_dtype dt,
                                      const struct cc_qnet *q, cc_layout_plan *plan, cc_err *e);
void cc_layout_plan_free(cc_layout_plan *plan);

/* Run the network on a plain NCHW tensor (mb x in_ch x size x size). Blocks with
 * index > keep_from keep distinct output buffers so that every activation from
 * block keep_from on stays readable (Grad-CAM); pass num_blocks for plain
 * classification (residuals summed in place). Logits land in n->logits
 * (mb rows of num_classes), pooled features in n->gap_out. */
covidcam_status cc_net_forward(cc_net *n, const float *input, int keep_from, cc_err *e);

/* Bind a scratchpad-needing primitive's arguments and execute it. */
covidcam_status cc_net_exec(cc_net *n, cc_dnn_prim *p, cc_dnn_bind *b, int nb, cc_err *e);

/* Grow the session scratchpad to hold what p needs. */
covidcam_status cc_net_reserve_scratch(cc_net *n, const cc_dnn_prim *p, cc_err *e);

#endif
