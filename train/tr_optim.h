/* SGD with momentum and weight decay (torch.optim.SGD semantics), the
 * warm-up + cosine learning-rate schedule, and the weight averages (--ema and
 * --average-from's uniform average with its batch-norm re-estimation). */
#ifndef TR_OPTIM_H
#define TR_OPTIM_H

#include "tr_net.h"

typedef struct tr_sgd {
    double momentum;
    double weight_decay;
    int decay_all; /* also decay BN weights/biases and the fc bias */
} tr_sgd;

/* For every trainable tensor: d = g + wd * w (wd only on conv/fc weights
 * unless decay_all), m = momentum * m + d, w -= lr * m. With m starting at
 * zero the first step equals PyTorch's (which starts from m = d). */
void tr_sgd_step(tr_params *p, const tr_sgd *o, double lr);

/* Learning rate at iteration `it` (0-based) of `total`: linear warm-up from 0
 * to base over `warmup` iterations (it / warmup), then cosine annealing from
 * base to 0 over the rest: base * (1 + cos(pi * (it - warmup) / (total - warmup))) / 2. */
double tr_lr_at(double base, long it, long warmup, long total);

/* The decay of the weight average after `it` (1-based) updates:
 * min(decay, (1 + it) / (10 + it)), so that the first updates, far from
 * where training ends, fade fast (timm's ModelEmaV2 warm-up). */
double tr_ema_decay_at(double decay, long it);

/* avg = d * avg + (1 - d) * w for every tensor, running statistics included
 * (p->avg must be allocated). */
void tr_ema_update(tr_params *p, double d);

/* Exchange the values and the average in place (no allocation): evaluate or
 * save the average, then swap back. The caller tells the graph
 * (cc_tnet_params_changed). */
void tr_ema_swap(tr_params *p);

/* Stochastic weight averaging's fold, in place: w = avg + (w - avg) / (count + 1)
 * for every tensor, so that w becomes the uniform average of the `count`
 * weights already in avg and the current ones (count 0: w unchanged). The
 * running statistics are folded too; tr_bn_restat_* then replaces them. */
void tr_swa_fold(tr_params *p, int count);

/* Re-estimating batch-norm statistics for given weights, as
 * torch.optim.swa_utils.update_bn does (a cumulative average of the batch
 * statistics over a pass of the training split): before each training-mode
 * forward, tr_bn_restat_begin zeroes the running statistics, so the forward
 * leaves momentum * (batch statistic) in them; tr_bn_restat_add folds that
 * into acc (tr_bn_stat_floats(p) floats, zeroed first) as the k-th (1-based)
 * batch of equal weight; tr_bn_restat_end writes acc back as the running
 * statistics. */
size_t tr_bn_stat_floats(const tr_params *p);
void tr_bn_restat_begin(tr_params *p);
void tr_bn_restat_add(const tr_params *p, float *acc, long k, float momentum);
void tr_bn_restat_end(tr_params *p, const float *acc);

#endif
