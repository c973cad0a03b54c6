#include "tr_optim.h"

#include <math.h>
#include <string.h>

static int decays(tr_kind k, int decay_all)
{
    return decay_all || k == TR_CONV_W || k == TR_FC_W;
}

void tr_sgd_step(tr_params *p, const tr_sgd *o, double lr)
{
    const float mom = (float)o->momentum, flr = (float)lr;
    for (int i = 0; i < p->n; i++) {
        const tr_param *t = &p->p[i];
        if (!tr_kind_trainable(t->kind))
            continue;
        float wd = decays(t->kind, o->decay_all) ? (float)o->weight_decay : 0.f;
        float *w = p->w + t->off, *g = p->g + t->off, *m = p->m + t->off;
        long n = (long)t->numel;
#pragma omp parallel for simd schedule(static) if (n > 65536)
        for (long k = 0; k < n; k++) {
            float d = g[k] + wd * w[k];
            m[k] = mom * m[k] + d;
            w[k] -= flr * m[k];
        }
    }
}

double tr_lr_at(double base, long it, long warmup, long total)
{
    if (it < warmup)
        return base * (double)it / (double)warmup;
    long span = total - warmup;
    if (span <= 0 || it >= total)
        return 0.0;
    return base * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)(it - warmup) / (double)span));
}

double tr_ema_decay_at(double decay, long it)
{
    double warm = (1.0 + (double)it) / (10.0 + (double)it);
    return warm < decay ? warm : decay;
}

void tr_ema_update(tr_params *p, double d)
{
    const float fd = (float)d, fw = (float)(1.0 - d);
    float *a = p->avg;
    const float *w = p->w;
    long n = (long)p->total;
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (long k = 0; k < n; k++)
        a[k] = fd * a[k] + fw * w[k];
}

void tr_ema_swap(tr_params *p)
{
    float *a = p->avg, *w = p->w;
    long n = (long)p->total;
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (long k = 0; k < n; k++) {
        float t = a[k];
        a[k] = w[k];
        w[k] = t;
    }
}

void tr_swa_fold(tr_params *p, int count)
{
    const double f = 1.0 / (count + 1.0);
    float *w = p->w;
    const float *a = p->avg;
    long n = (long)p->total;
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (long k = 0; k < n; k++)
        w[k] = (float)(a[k] + ((double)w[k] - a[k]) * f);
}

static int is_bn_stat(tr_kind k)
{
    return k == TR_BN_MEAN || k == TR_BN_VAR;
}

size_t tr_bn_stat_floats(const tr_params *p)
{
    size_t n = 0;
    for (int i = 0; i < p->n; i++)
        if (is_bn_stat(p->p[i].kind))
            n += p->p[i].numel;
    return n;
}

void tr_bn_restat_begin(tr_params *p)
{
    for (int i = 0; i < p->n; i++)
        if (is_bn_stat(p->p[i].kind))
            memset(p->w + p->p[i].off, 0, p->p[i].numel * sizeof *p->w);
}

void tr_bn_restat_add(const tr_params *p, float *acc, long k, float momentum)
{
    size_t j = 0;
    for (int i = 0; i < p->n; i++) {
        if (!is_bn_stat(p->p[i].kind))
            continue;
        const float *r = p->w + p->p[i].off;
        for (size_t c = 0; c < p->p[i].numel; c++, j++)
            acc[j] += (float)(((double)r[c] / momentum - acc[j]) / (double)k);
    }
}

void tr_bn_restat_end(tr_params *p, const float *acc)
{
    size_t j = 0;
    for (int i = 0; i < p->n; i++) {
        if (!is_bn_stat(p->p[i].kind))
            continue;
        memcpy(p->w + p->p[i].off, acc + j, p->p[i].numel * sizeof *acc);
        j += p->p[i].numel;
    }
}
