#include "tr_optim.h"

#include <math.h>

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
