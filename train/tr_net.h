/* A trainable ResNet: its parameters in torchvision order (one fp32 array of
 * values, gradients and momentum each) and the oneDNN training graph over them. */
#ifndef TR_NET_H
#define TR_NET_H

#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "dnn_train.h"

typedef enum tr_kind {
    TR_CONV_W,
    TR_BN_W,
    TR_BN_B,
    TR_BN_MEAN,
    TR_BN_VAR,
    TR_FC_W,
    TR_FC_B
} tr_kind;

typedef struct tr_param {
    cc_tensor_spec spec;
    tr_kind kind;
    size_t off, numel;
} tr_param;

typedef struct tr_params {
    cc_arch arch;
    int in_channels, classes;
    tr_param *p;
    int n;
    size_t total;
    float *w; /* values, running statistics included */
    float *g; /* gradients (zero for running statistics) */
    float *m; /* SGD momentum buffers */
    float *avg; /* the weight average of --ema or --average-from (every tensor); NULL without one */
} tr_params;

covidcam_status tr_params_create(const cc_arch *a, int in_channels, int classes, tr_params *out,
                                 cc_err *e);
void tr_params_free(tr_params *p);

/* torchvision's initialization: Kaiming normal (fan_out, ReLU gain) for
 * convolutions, BN weight 1 / bias 0 / running stats 0 and 1, nn.Linear's
 * default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for fc. Momentum zeroed. */
void tr_params_init(tr_params *p, uint64_t seed);

/* The tensor called name, or NULL. */
tr_param *tr_params_find(tr_params *p, const char *name);

/* 1 for tensors the optimizer updates (not running statistics). */
int tr_kind_trainable(tr_kind k);

/* Batch norm's running-statistics momentum (PyTorch's default): r = (1 - m) r + m s. */
#define TR_BN_MOMENTUM 0.1f

typedef struct tr_net {
    cc_tnet *tn;
    cc_tt *input, *logits;
    int batch, size, channels, classes;
} tr_net;

/* Build the graph for batches of `batch` images of channels x size x size.
 * `train` adds the backward pass. */
covidcam_status tr_net_build(tr_net *net, tr_params *p, int batch, int size, cc_tprec prec,
                             int train, float bn_eps, cc_err *e);
/* The same for one of several processes that train together: `batch` is
 * this process's share, and batch norm is synchronised through sync
 * (cc_tnet_set_sync; NULL: not distributed). */
covidcam_status tr_net_build_synced(tr_net *net, tr_params *p, int batch, int size,
                                    cc_tprec prec, int train, float bn_eps,
                                    const cc_tnet_sync *sync, cc_err *e);
void tr_net_free(tr_net *net);

#endif
