#include "tr_net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_rng.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static tr_kind kind_of(const cc_tensor_spec *t)
{
    if (strncmp(t->name, "fc.", 3) == 0)
        return ends_with(t->name, "weight") ? TR_FC_W : TR_FC_B;
    if (t->ndim == 4)
        return TR_CONV_W;
    if (ends_with(t->name, "running_mean"))
        return TR_BN_MEAN;
    if (ends_with(t->name, "running_var"))
        return TR_BN_VAR;
    return ends_with(t->name, "weight") ? TR_BN_W : TR_BN_B;
}

int tr_kind_trainable(tr_kind k)
{
    return k != TR_BN_MEAN && k != TR_BN_VAR;
}

covidcam_status tr_params_create(const cc_arch *a, int in_channels, int classes, tr_params *out,
                                 cc_err *e)
{
    memset(out, 0, sizeof *out);
    int n = 0;
    cc_tensor_spec *specs = cc_arch_tensors(a, in_channels, classes, &n);
    if (!specs)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    out->p = calloc((size_t)n, sizeof *out->p);
    if (!out->p) {
        free(specs);
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    out->arch = *a;
    out->in_channels = in_channels;
    out->classes = classes;
    out->n = n;
    for (int i = 0; i < n; i++) {
        tr_param *p = &out->p[i];
        p->spec = specs[i];
        p->kind = kind_of(&specs[i]);
        p->numel = 1;
        for (int d = 0; d < specs[i].ndim; d++)
            p->numel *= (size_t)specs[i].shape[d];
        p->off = out->total;
        /* 16-float alignment keeps every tensor 64-byte aligned. */
        out->total += (p->numel + 15) & ~(size_t)15;
    }
    free(specs);
    out->w = aligned_alloc(64, out->total * sizeof(float));
    out->g = aligned_alloc(64, out->total * sizeof(float));
    out->m = aligned_alloc(64, out->total * sizeof(float));
    if (!out->w || !out->g || !out->m) {
        tr_params_free(out);
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for parameters");
    }
    memset(out->w, 0, out->total * sizeof(float));
    memset(out->g, 0, out->total * sizeof(float));
    memset(out->m, 0, out->total * sizeof(float));
    return COVIDCAM_OK;
}

void tr_params_free(tr_params *p)
{
    if (!p)
        return;
    free(p->p);
    free(p->w);
    free(p->g);
    free(p->m);
    free(p->avg);
    memset(p, 0, sizeof *p);
}

tr_param *tr_params_find(tr_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->p[i].spec.name, name) == 0)
            return &p->p[i];
    return NULL;
}

void tr_params_init(tr_params *p, uint64_t seed)
{
    for (int i = 0; i < p->n; i++) {
        tr_param *t = &p->p[i];
        float *w = p->w + t->off;
        /* One stream per tensor: adding a layer does not reshuffle the others. */
        tr_rng r = tr_rng_make(seed, TR_RNG_INIT, (uint64_t)i, 0);
        const int64_t *sh = t->spec.shape;
        double fan_out = (double)sh[0] * (t->spec.ndim == 4 ? (double)(sh[2] * sh[3]) : 1.0);
        double bound = 1.0 / sqrt((double)p->p[i].spec.shape[t->spec.ndim == 2 ? 1 : 0]);
        switch (t->kind) {
        case TR_CONV_W:
            for (size_t k = 0; k < t->numel; k++)
                w[k] = (float)(tr_rng_normal(&r) * sqrt(2.0 / fan_out));
            break;
        case TR_BN_W:
        case TR_BN_VAR:
            for (size_t k = 0; k < t->numel; k++)
                w[k] = 1.0f;
            break;
        case TR_BN_B:
        case TR_BN_MEAN:
            memset(w, 0, t->numel * sizeof *w);
            break;
        case TR_FC_W:
            for (size_t k = 0; k < t->numel; k++)
                w[k] = (float)tr_rng_sym(&r, bound);
            break;
        case TR_FC_B:
            /* fan_in of the bias is fc.weight's row length: the features. */
            bound = 1.0 / sqrt((double)cc_arch_features(&p->arch));
            for (size_t k = 0; k < t->numel; k++)
                w[k] = (float)tr_rng_sym(&r, bound);
            break;
        }
    }
    memset(p->m, 0, p->total * sizeof(float));
    memset(p->g, 0, p->total * sizeof(float));
}

/* ------------------------------------------------------------ graph */

typedef struct builder {
    tr_net *net;
    tr_params *p;
    float eps;
    cc_err *e;
} builder;

static float *W(builder *b, const char *name)
{
    tr_param *t = tr_params_find(b->p, name);
    return t ? b->p->w + t->off : NULL;
}

static float *G(builder *b, const char *name)
{
    tr_param *t = tr_params_find(b->p, name);
    return t ? b->p->g + t->off : NULL;
}

static covidcam_status conv(builder *b, cc_tt *x, const char *name, int oc, int k, int stride,
                            int pad, cc_tt **y)
{
    const float *w = W(b, name);
    if (!w)
        return cc_fail(b->e, COVIDCAM_ERR_INVALID_ARGUMENT, "no parameter %s", name);
    return cc_tnet_conv(b->net->tn, x, oc, k, stride, pad, w, G(b, name), y, b->e);
}

static covidcam_status bn(builder *b, cc_tt *x, const char *prefix, int relu, cc_tt **y)
{
    char n[4][64];
    static const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++)
        snprintf(n[i], sizeof n[i], "%s.%s", prefix, suffix[i]);
    cc_tbn_params p = {W(b, n[0]), W(b, n[1]), W(b, n[2]), W(b, n[3]),
                       G(b, n[0]), G(b, n[1]), b->eps, TR_BN_MOMENTUM};
    if (!p.scale || !p.shift || !p.running_mean || !p.running_var)
        return cc_fail(b->e, COVIDCAM_ERR_INVALID_ARGUMENT, "no batch norm %s", prefix);
    return cc_tnet_bn(b->net->tn, x, relu, &p, y, b->e);
}

/* conv + BN (+ ReLU), torchvision names "<pre>conv<i>" and "<pre>bn<i>". */
static covidcam_status conv_bn(builder *b, cc_tt *x, const char *pre, int i, int oc, int k,
                               int stride, int relu, cc_tt **y)
{
    char cn[64], bnn[64];
    snprintf(cn, sizeof cn, "%sconv%d.weight", pre, i);
    snprintf(bnn, sizeof bnn, "%sbn%d", pre, i);
    covidcam_status st = conv(b, x, cn, oc, k, stride, k / 2, y);
    return st ? st : bn(b, *y, bnn, relu, y);
}

static covidcam_status block(builder *b, cc_tt *x, int s, int i, cc_tt **out)
{
    cc_block_geom g;
    cc_arch_block(&b->p->arch, s, i, &g);
    char pre[32];
    snprintf(pre, sizeof pre, "layer%d.%d.", s + 1, i);
    cc_tt *y = x, *sc = x;
    covidcam_status st;
    /* ReLU after every conv but the last, which comes after the residual add */
    for (int c = 0; c < g.nconv; c++)
        if ((st = conv_bn(b, y, pre, c + 1, cc_block_conv_out(&g, c), g.k[c],
                          cc_block_conv_stride(&g, c), c < g.nconv - 1, &y)))
            return st;
    if (g.has_down) {
        char cn[64], bnn[64];
        snprintf(cn, sizeof cn, "%sdownsample.0.weight", pre);
        snprintf(bnn, sizeof bnn, "%sdownsample.1", pre);
        if ((st = conv(b, x, cn, g.out_ch, 1, g.stride, 0, &sc)) || (st = bn(b, sc, bnn, 0, &sc)))
            return st;
    }
    return cc_tnet_add(b->net->tn, y, sc, 1, out, b->e);
}

static covidcam_status build(builder *b)
{
    tr_net *net = b->net;
    const cc_arch *a = &b->p->arch;
    int dims[4] = {net->batch, net->channels, net->size, net->size};
    cc_tt *x = NULL;
    covidcam_status st;
    if ((st = cc_tnet_input(net->tn, 4, dims, 0, &net->input, b->e)) ||
        (st = conv(b, net->input, "conv1.weight", a->stem_width, 7, 2, 3, &x)) ||
        (st = bn(b, x, "bn1", 1, &x)) || (st = cc_tnet_maxpool(net->tn, x, 3, 2, 1, &x, b->e)))
        return st;
    for (int s = 0; s < a->num_stages; s++)
        for (int i = 0; i < a->layers[s]; i++)
            if ((st = block(b, x, s, i, &x)))
                return st;
    if ((st = cc_tnet_avgpool_global(net->tn, x, &x, b->e)))
        return st;
    return cc_tnet_fc(net->tn, x, net->classes, W(b, "fc.weight"), W(b, "fc.bias"),
                      G(b, "fc.weight"), G(b, "fc.bias"), &net->logits, b->e);
}

covidcam_status tr_net_build(tr_net *net, tr_params *p, int batch, int size, cc_tprec prec,
                             int train, float bn_eps, cc_err *e)
{
    return tr_net_build_synced(net, p, batch, size, prec, train, bn_eps, NULL, e);
}

covidcam_status tr_net_build_synced(tr_net *net, tr_params *p, int batch, int size,
                                    cc_tprec prec, int train, float bn_eps,
                                    const cc_tnet_sync *sync, cc_err *e)
{
    memset(net, 0, sizeof *net);
    net->batch = batch;
    net->size = size;
    net->channels = p->in_channels;
    net->classes = p->classes;
    covidcam_status st = cc_tnet_create(prec, train, &net->tn, e);
    if (st)
        return st;
    builder b = {net, p, bn_eps, e};
    st = cc_tnet_set_sync(net->tn, sync, e);
    if (!st)
        st = build(&b);
    if (!st)
        st = cc_tnet_finalize(net->tn, e);
    if (st) {
        cc_err_prefix(e, "building the network");
        tr_net_free(net);
    }
    return st;
}

void tr_net_free(tr_net *net)
{
    if (!net)
        return;
    cc_tnet_free(net->tn);
    memset(net, 0, sizeof *net);
}
