/* The training half of the internal oneDNN layer: a small static graph of
 * layers (convolution, batch norm, ReLU, pooling, inner product, residual add)
 * with forward and backward passes on oneDNN primitives.
 *
 * Activations stay in the layouts oneDNN picks (blocked, bf16 or fp32) from the
 * first layer to the last; only the network input and the fc output are plain
 * fp32 that the caller reads and writes directly. Parameters are caller-owned
 * plain fp32 arrays in torchvision layout (master weights): a layer reorders
 * them into its primitive's layout/precision when told they changed, and
 * writes gradients back in plain fp32.
 *
 * Usage: cc_tnet_create(), add the input and the layers in topological order,
 * cc_tnet_finalize() (plans buffers), then per batch: fill the input,
 * cc_tnet_forward(), compute the loss gradient into the output's diff,
 * cc_tnet_backward(), update the parameters, cc_tnet_params_changed().
 * Nothing here is thread-safe; a net is used by one thread at a time. */
#ifndef COVIDCAM_DNN_TRAIN_H
#define COVIDCAM_DNN_TRAIN_H

#include <stddef.h>

#include "dnn.h" /* cc_dnn_isa_name() */
#include "error.h"

typedef enum cc_tprec { CC_TPREC_FP32 = 0, CC_TPREC_BF16 = 1 } cc_tprec;

typedef struct cc_tnet cc_tnet;
typedef struct cc_tt cc_tt; /* an activation (data and gradient) owned by its net */

/* 1 if oneDNN can run bf16 training primitives on this CPU at all: oneDNN 2.x
 * needs AVX-512 (emulated bf16 arithmetic without AVX512-BF16). */
int cc_tdnn_has_bf16(void);

/* A new empty net. BF16 on a CPU without cc_tdnn_has_bf16() gives
 * COVIDCAM_ERR_UNSUPPORTED. Without `with_backward` no gradient buffers or backward
 * primitives are made (evaluation only) and BN always uses running statistics. */
covidcam_status cc_tnet_create(cc_tprec prec, int with_backward, cc_tnet **out, cc_err *e);

void cc_tnet_free(cc_tnet *net);

/* The network input: plain fp32, `ndims` 2 (N,C) or 4 (N,C,H,W). Its gradient
 * is computed only if `want_diff` (gradient checks); images need none. */
covidcam_status cc_tnet_input(cc_tnet *net, int ndims, const int *dims, int want_diff,
                              cc_tt **out, cc_err *e);

/* Convolution without bias, square kernel, symmetric padding. w (and dw when
 * training) are OIHW fp32 arrays of oc * C * k * k floats. */
covidcam_status cc_tnet_conv(cc_tnet *net, cc_tt *in, int oc, int kernel, int stride, int pad,
                             const float *w, float *dw, cc_tt **out, cc_err *e);

/* Batch norm parameters: arrays of C floats. In training mode the forward pass
 * normalizes with the batch statistics and updates the running ones as PyTorch
 * does: r = (1 - momentum) * r + momentum * s, with the unbiased batch variance
 * for running_var. dscale/dshift receive the gradients (training nets only). */
typedef struct cc_tbn_params {
    const float *scale, *shift;
    float *running_mean, *running_var;
    float *dscale, *dshift;
    float eps, momentum;
} cc_tbn_params;

/* Data-parallel training: `world` processes train one model, each on an
 * equal share of every batch. `sum` adds n doubles in place across the
 * processes (an allreduce; every process calls it in the same order) and
 * returns 0, or nonzero after a failure (the training step then fails). */
typedef struct cc_tnet_sync {
    int (*sum)(void *ctx, double *buf, int n);
    void *ctx;
    int world;
} cc_tnet_sync;

/* Synchronised batch norm; call before adding the first layer. With world > 1 a training forward normalises with the
 * mean and variance of the whole distributed batch, and the backward pass
 * uses the whole batch's gradient sums, so the processes together compute
 * what one process computes on the whole batch (docs/training.md). The
 * layers' parameter gradients stay this process's share: the caller sums
 * them with the other gradients. world 1 (or sync NULL) is a plain net. */
covidcam_status cc_tnet_set_sync(cc_tnet *net, const cc_tnet_sync *sync, cc_err *e);

/* Batch norm, optionally followed by ReLU (fused). */
covidcam_status cc_tnet_bn(cc_tnet *net, cc_tt *in, int relu, const cc_tbn_params *p,
                           cc_tt **out, cc_err *e);

covidcam_status cc_tnet_relu(cc_tnet *net, cc_tt *in, cc_tt **out, cc_err *e);

/* Max pooling (square kernel, symmetric padding), torch semantics (padding is -inf). */
covidcam_status cc_tnet_maxpool(cc_tnet *net, cc_tt *in, int kernel, int stride, int pad,
                                cc_tt **out, cc_err *e);

/* Average over all spatial positions: N,C,H,W -> N,C,1,1. */
covidcam_status cc_tnet_avgpool_global(cc_tnet *net, cc_tt *in, cc_tt **out, cc_err *e);

/* Fully connected: out[n][k] = sum_c w[k][c] in[n][c] + b[k]. `in` is N,C or
 * N,C,1,1; w is k x C, b is k floats (fp32). The output is plain fp32 N,k. */
covidcam_status cc_tnet_fc(cc_tnet *net, cc_tt *in, int k, const float *w, const float *b,
                           float *dw, float *db, cc_tt **out, cc_err *e);

/* out = a + b, optionally followed by ReLU. a and b have equal dims. */
covidcam_status cc_tnet_add(cc_tnet *net, cc_tt *a, cc_tt *b, int relu, cc_tt **out,
                            cc_err *e);

/* Plan and allocate gradient buffers and the scratchpad. No layers may be
 * added afterwards. */
covidcam_status cc_tnet_finalize(cc_tnet *net, cc_err *e);

/* Run every layer forward. `training` selects batch statistics in BN (and
 * updates the running ones); it requires a net made with_backward. */
covidcam_status cc_tnet_forward(cc_tnet *net, int training, cc_err *e);

/* Run every layer backward after a training forward. The gradient of the loss
 * with respect to every tensor nobody consumes (the outputs) must have been
 * written to its diff first. Parameter gradients are overwritten (not
 * accumulated). */
covidcam_status cc_tnet_backward(cc_tnet *net, cc_err *e);

/* The caller changed parameter values: reorder them before the next forward. */
void cc_tnet_params_changed(cc_tnet *net);

/* Bytes of memory held by the net's buffers (activations, gradients, scratchpad). */
size_t cc_tnet_bytes(const cc_tnet *net);

/* Dims of t; returns ndims (2 or 4). */
int cc_tt_dims(const cc_tt *t, int dims[4]);

/* Host pointers of a plain fp32 tensor (the input, fc outputs); NULL otherwise.
 * The diff pointer exists after finalize in training nets. */
float *cc_tt_host(cc_tt *t);
float *cc_tt_host_diff(cc_tt *t);

/* Copy a tensor's data or gradient to/from a plain fp32 array (NCHW or NC),
 * whatever its layout and precision. For tests and diagnostics. */
covidcam_status cc_tt_read(cc_tnet *net, cc_tt *t, int diff, float *dst, cc_err *e);
covidcam_status cc_tt_write(cc_tnet *net, cc_tt *t, int diff, const float *src, cc_err *e);

#endif
