/* The layer kinds of the training graph: each has a constructor that picks
 * oneDNN primitives and layouts (building every primitive descriptor and md
 * through the core, dnn_core.h), a forward and a backward pass. */
#include "dnn_train_impl.h"

#include <string.h>

static const dnnl_dims_t k_one = {1, 1};

#define ARG(a, m) ((dnnl_exec_arg_t){(a), (m)})

static covidcam_status check_in(cc_tnet *net, const cc_tt *in, int ndims, cc_err *e)
{
    if (!net || !in)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "missing net or input");
    if (net->finalized)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "net already finalized");
    if (ndims && in->ndims != ndims)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "layer needs a %dD input, got %dD", ndims,
                       in->ndims);
    return COVIDCAM_OK;
}

/* A net-owned desc whose layout the primitive picks. */
static covidcam_status md_any(cc_tnet *net, int ndims, const dnnl_dims_t dims, dnnl_data_type_t dt,
                              const cc_dnn_desc **out, cc_err *e)
{
    return cc_tdnn_desc(net, ndims, dims, dt, dnnl_format_tag_any, out, e);
}

/* ------------------------------------------------------------ convolution */

static covidcam_status conv_fwd(cc_tnet *net, tlayer *l, int training, cc_err *e)
{
    (void)training;
    covidcam_status st = cc_tdnn_weights_refresh(net, &l->w, e);
    if (st)
        return st;
    dnnl_exec_arg_t a[] = {ARG(DNNL_ARG_SRC, cc_tdnn_port_src(&l->in[0])),
                           ARG(DNNL_ARG_WEIGHTS, l->w.fwd_mem), ARG(DNNL_ARG_DST, l->out->mem)};
    return cc_tdnn_run(net, &l->fwd, 3, a, e);
}

static covidcam_status conv_bwd(cc_tnet *net, tlayer *l, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    dnnl_memory_t src, ddst, dsrc;
    CC_TDNN_CHECK(cc_tdnn_adapt_src(net, &l->bw_src, cc_tdnn_port_src(&l->in[0]), &src, e));
    CC_TDNN_CHECK(cc_tdnn_adapt_src(net, &l->bw_ddst, l->out->dmem, &ddst, e));
    dnnl_exec_arg_t w[] = {ARG(DNNL_ARG_SRC, src), ARG(DNNL_ARG_DIFF_DST, ddst),
                           ARG(DNNL_ARG_DIFF_WEIGHTS, l->w.dw_mem)};
    CC_TDNN_CHECK(cc_tdnn_run(net, &l->bwd_w, 3, w, e));
    CC_TDNN_CHECK(cc_tdnn_weights_grad_done(net, &l->w, e));
    if (!l->has_bwd_d)
        return COVIDCAM_OK;
    CC_TDNN_CHECK(cc_tdnn_adapt_src(net, &l->bd_ddst, l->out->dmem, &ddst, e));
    dsrc = l->bd_dsrc.on ? l->bd_dsrc.mem : cc_tdnn_port_diff(&l->in[0]);
    dnnl_exec_arg_t d[] = {ARG(DNNL_ARG_DIFF_DST, ddst), ARG(DNNL_ARG_WEIGHTS, l->w.bwd_mem),
                           ARG(DNNL_ARG_DIFF_SRC, dsrc)};
    CC_TDNN_CHECK(cc_tdnn_run(net, &l->bwd_d, 3, d, e));
    CC_TDNN_CHECK(cc_tdnn_adapt_done(net, &l->bd_dsrc, cc_tdnn_port_diff(&l->in[0]), e));
    CC_TDNN_CHECK(cc_tdnn_port_done(net, &l->in[0], e));
fail:
    return st;
}

static const tlayer_ops conv_ops = {conv_fwd, conv_bwd};

typedef struct conv_shape {
    dnnl_dims_t src, wei, dst, strides, pad;
} conv_shape;

/* *plain: 1 when t is in the plain layout of its own data type. */
static covidcam_status is_plain(cc_tnet *net, const cc_tt *t, int *plain, cc_err *e)
{
    const cc_dnn_desc *md = NULL;
    covidcam_status st = cc_tdnn_desc(net, t->ndims, t->dims, cc_dnn_desc_dt(t->md),
                                      cc_tdnn_plain_tag(t->ndims), &md, e);
    *plain = !st && cc_dnn_desc_equal(md, t->md);
    return st;
}

/* Forward pd: reuse the layout of an input another primitive produced when a
 * fast implementation takes it (no reorder between layers); for a plain input
 * (the image) let oneDNN choose, as a plain layout would pick gemm and carry
 * plain layouts through the whole network. */
static covidcam_status conv_fwd_pd(cc_tnet *net, const cc_tt *in, const conv_shape *s,
                                   dnnl_primitive_desc_t *pd, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    dnnl_prop_kind_t prop = net->train ? dnnl_forward_training : dnnl_forward_inference;
    const cc_dnn_desc *any_src = NULL, *wei = NULL, *dst = NULL;
    int plain = 0;
    CC_TDNN_CHECK(md_any(net, 4, s->src, net->dt, &any_src, e));
    CC_TDNN_CHECK(md_any(net, 4, s->wei, net->dt, &wei, e));
    CC_TDNN_CHECK(md_any(net, 4, s->dst, net->dt, &dst, e));
    CC_TDNN_CHECK(is_plain(net, in, &plain, e));
    if (cc_dnn_desc_dt(in->md) == net->dt && !plain &&
        cc_tdnn_pd_status(cc_dnn_conv_fwd_pd(net->eng, prop, in->md, wei, NULL, dst, s->strides,
                                             s->pad, net->attr, pd),
                          "convolution", e) == COVIDCAM_OK) {
        if (!cc_dnn_pd_is_ref(*pd))
            return COVIDCAM_OK;
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
    }
    st = cc_tdnn_pd_status(cc_dnn_conv_fwd_pd(net->eng, prop, any_src, wei, NULL, dst, s->strides,
                                              s->pad, net->attr, pd),
                           "convolution", e);
fail:
    return st;
}

/* A backward pd on the layouts the forward pass uses, unless that leaves only
 * a reference implementation (oneDNN's jit kernels do not cover, e.g., one
 * input channel or 2x2 maps): then on the layouts oneDNN prefers, converted
 * at run time. `make` builds the pd for the given layouts through the core. */
typedef dnnl_status_t (*conv_pd_fn)(cc_tnet *net, const conv_shape *s, const cc_dnn_desc *a,
                                    const cc_dnn_desc *w, const cc_dnn_desc *b,
                                    const_dnnl_primitive_desc_t fwd, dnnl_primitive_desc_t *pd);

static dnnl_status_t pd_bwd_d(cc_tnet *net, const conv_shape *s, const cc_dnn_desc *dsrc,
                              const cc_dnn_desc *w, const cc_dnn_desc *ddst,
                              const_dnnl_primitive_desc_t fwd, dnnl_primitive_desc_t *pd)
{
    return cc_dnn_conv_bwd_data_pd(net->eng, dsrc, w, ddst, s->strides, s->pad, net->attr, fwd,
                                   pd);
}

static dnnl_status_t pd_bwd_w(cc_tnet *net, const conv_shape *s, const cc_dnn_desc *src,
                              const cc_dnn_desc *dw, const cc_dnn_desc *ddst,
                              const_dnnl_primitive_desc_t fwd, dnnl_primitive_desc_t *pd)
{
    return cc_dnn_conv_bwd_weights_pd(net->eng, src, dw, NULL, ddst, s->strides, s->pad,
                                      net->attr, fwd, pd);
}

/* A desc with the dims and data type of a 4-D md and the layout left to oneDNN. */
static covidcam_status md_any_like(cc_tnet *net, const cc_dnn_desc *md, const cc_dnn_desc **out,
                                   cc_err *e)
{
    dnnl_dims_t d = {0};
    cc_dnn_desc_dims(md, d);
    return md_any(net, 4, d, cc_dnn_desc_dt(md), out, e);
}

static covidcam_status conv_bwd_pd(cc_tnet *net, const conv_shape *s, conv_pd_fn make,
                                   const cc_dnn_desc *a, const cc_dnn_desc *w,
                                   const cc_dnn_desc *b, const_dnnl_primitive_desc_t fwd,
                                   dnnl_primitive_desc_t *pd, const char *what, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    const cc_dnn_desc *any_a = NULL, *any_b = NULL;
    CC_TDNN_CHECK(md_any_like(net, a, &any_a, e));
    CC_TDNN_CHECK(md_any_like(net, b, &any_b, e));
    if (cc_tdnn_pd_status(make(net, s, a, w, b, fwd, pd), what, e) == COVIDCAM_OK) {
        if (!cc_dnn_pd_is_ref(*pd))
            return COVIDCAM_OK;
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
    }
    st = cc_tdnn_pd_status(make(net, s, any_a, w, any_b, fwd, pd), what, e);
fail:
    return st;
}

static covidcam_status conv_bwd_pds(cc_tnet *net, tlayer *l, const conv_shape *s,
                                    const_dnnl_primitive_desc_t fwd, dnnl_primitive_desc_t *bd,
                                    dnnl_primitive_desc_t *bw, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    const cc_dnn_desc *wei = NULL, *dwei = NULL, *q = NULL;
    const cc_dnn_desc *dst = l->out->md, *src = l->in[0].md;
    CC_TDNN_CHECK(md_any(net, 4, s->wei, net->dt, &wei, e));
    CC_TDNN_CHECK(md_any(net, 4, s->wei, dnnl_f32, &dwei, e));
    if (l->has_bwd_d) {
        CC_TDNN_CHECK(conv_bwd_pd(net, s, pd_bwd_d, src, wei, dst, fwd, bd,
                                  "convolution backward data", e));
        CC_TDNN_CHECK(cc_tdnn_query(net, *bd, dnnl_query_diff_dst_md, &q, e));
        CC_TDNN_CHECK(cc_tdnn_adapt_in(net, &l->bd_ddst, dst, q, e));
        CC_TDNN_CHECK(cc_tdnn_query(net, *bd, dnnl_query_diff_src_md, &q, e));
        CC_TDNN_CHECK(cc_tdnn_adapt_out(net, &l->bd_dsrc, q, src, e));
    }
    CC_TDNN_CHECK(conv_bwd_pd(net, s, pd_bwd_w, src, dwei, dst, fwd, bw,
                              "convolution backward weights", e));
    CC_TDNN_CHECK(cc_tdnn_query(net, *bw, dnnl_query_src_md, &q, e));
    CC_TDNN_CHECK(cc_tdnn_adapt_in(net, &l->bw_src, src, q, e));
    CC_TDNN_CHECK(cc_tdnn_query(net, *bw, dnnl_query_diff_dst_md, &q, e));
    CC_TDNN_CHECK(cc_tdnn_adapt_in(net, &l->bw_ddst, dst, q, e));
fail:
    return st;
}

/* The layer's weights in the layouts the pds chose: fwd's weights, bd's (the
 * backward-data pd, NULL: none) and bw's weight gradient (NULL: none). */
static covidcam_status weights_of(cc_tnet *net, tweights *w, int ndims, const dnnl_dims_t dims,
                                  const float *user, float *duser, const_dnnl_primitive_desc_t fwd,
                                  const_dnnl_primitive_desc_t bd, const_dnnl_primitive_desc_t bw,
                                  cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    const cc_dnn_desc *fwd_md = NULL, *bwd_md = NULL, *dw_md = NULL;
    CC_TDNN_CHECK(cc_tdnn_query(net, fwd, dnnl_query_weights_md, &fwd_md, e));
    if (bd)
        CC_TDNN_CHECK(cc_tdnn_query(net, bd, dnnl_query_weights_md, &bwd_md, e));
    if (bw)
        CC_TDNN_CHECK(cc_tdnn_query(net, bw, dnnl_query_diff_weights_md, &dw_md, e));
    st = cc_tdnn_weights(net, w, ndims, dims, user, duser, fwd_md, bwd_md, dw_md, e);
fail:
    return st;
}

covidcam_status cc_tnet_conv(cc_tnet *net, cc_tt *in, int oc, int kernel, int stride, int pad,
                             const float *w, float *dw, cc_tt **out, cc_err *e)
{
    covidcam_status st = check_in(net, in, 4, e);
    if (st)
        return st;
    if (oc <= 0 || kernel <= 0 || stride <= 0 || pad < 0 || !w || !out || (net->train && !dw))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad convolution arguments");
    int64_t oh = (in->dims[2] + 2 * pad - kernel) / stride + 1;
    int64_t ow = (in->dims[3] + 2 * pad - kernel) / stride + 1;
    if (oh <= 0 || ow <= 0 || in->dims[2] + 2 * pad < kernel)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "convolution input %ldx%ld too small",
                       (long)in->dims[2], (long)in->dims[3]);
    conv_shape s = {{in->dims[0], in->dims[1], in->dims[2], in->dims[3]},
                    {oc, in->dims[1], kernel, kernel},
                    {in->dims[0], oc, oh, ow},
                    {stride, stride},
                    {pad, pad}};
    dnnl_primitive_desc_t fwd = NULL, bd = NULL, bw = NULL;
    const cc_dnn_desc *q = NULL;
    tlayer *l = NULL;
    CC_TDNN_CHECK(cc_tdnn_layer(net, &conv_ops, &l, e));
    CC_TDNN_CHECK(conv_fwd_pd(net, in, &s, &fwd, e));
    CC_TDNN_CHECK(cc_tdnn_query(net, fwd, dnnl_query_src_md, &q, e));
    CC_TDNN_CHECK(cc_tdnn_port(net, l, 0, in, q, e));
    CC_TDNN_CHECK(cc_tdnn_query(net, fwd, dnnl_query_dst_md, &q, e));
    CC_TDNN_CHECK(cc_tdnn_tensor(net, 4, s.dst, q, l->index, &l->out, e));
    CC_TDNN_CHECK(cc_tdnn_prim(net, fwd, &l->fwd, e));
    if (net->train) {
        l->has_bwd_d = in->needs_diff;
        CC_TDNN_CHECK(conv_bwd_pds(net, l, &s, fwd, &bd, &bw, e));
        if (bd)
            CC_TDNN_CHECK(cc_tdnn_prim(net, bd, &l->bwd_d, e));
        CC_TDNN_CHECK(cc_tdnn_prim(net, bw, &l->bwd_w, e));
    }
    CC_TDNN_CHECK(weights_of(net, &l->w, 4, s.wei, w, dw, fwd, bd, bw, e));
    *out = l->out;
fail:
    dnnl_primitive_desc_destroy(fwd);
    dnnl_primitive_desc_destroy(bd);
    dnnl_primitive_desc_destroy(bw);
    return st;
}

/* ------------------------------------------------------------ batch norm */

static void bn_update_running(const cc_tnet *net, tlayer *l)
{
    const cc_tbn_params *p = &l->bn;
    double m = p->momentum;
    /* PyTorch stores the unbiased variance in running_var; synchronised, the
     * variance is the whole distributed batch's. */
    double n = l->reduce_n * (l->synced ? net->sync.world : 1);
    double unbias = n > 1 ? n / (n - 1) : 1.0;
    for (int c = 0; c < l->channels; c++) {
        p->running_mean[c] = (float)((1 - m) * p->running_mean[c] + m * l->mean[c]);
        p->running_var[c] = (float)((1 - m) * p->running_var[c] + m * l->var[c] * unbias);
    }
}

static covidcam_status bn_fwd(cc_tnet *net, tlayer *l, int training, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    dnnl_exec_arg_t a[8] = {ARG(DNNL_ARG_SRC, cc_tdnn_port_src(&l->in[0])),
                            ARG(DNNL_ARG_DST, l->out->mem), ARG(DNNL_ARG_SCALE, l->scale_mem),
                            ARG(DNNL_ARG_SHIFT, l->shift_mem)};
    int n = 4;
    if (!training) {
        a[n++] = ARG(DNNL_ARG_MEAN, l->rmean_mem);
        a[n++] = ARG(DNNL_ARG_VARIANCE, l->rvar_mem);
        return cc_tdnn_run(net, &l->fwd_inf, n, a, e);
    }
    a[n++] = ARG(DNNL_ARG_MEAN, l->mean_mem);
    a[n++] = ARG(DNNL_ARG_VARIANCE, l->var_mem);
    if (l->ws_mem)
        a[n++] = ARG(DNNL_ARG_WORKSPACE, l->ws_mem);
    if (l->synced)
        CC_TDNN_CHECK(cc_tdnn_bn_sync_fwd(net, l, n, a, e));
    else
        CC_TDNN_CHECK(cc_tdnn_run(net, &l->fwd, n, a, e));
    CC_TDNN_TRY(dnnl_stream_wait(net->strm), "stream wait");
    bn_update_running(net, l);
fail:
    return st;
}

static covidcam_status bn_bwd(cc_tnet *net, tlayer *l, cc_err *e)
{
    dnnl_exec_arg_t a[10] = {ARG(DNNL_ARG_SRC, cc_tdnn_port_src(&l->in[0])),
                             ARG(DNNL_ARG_MEAN, l->mean_mem),
                             ARG(DNNL_ARG_VARIANCE, l->var_mem),
                             ARG(DNNL_ARG_SCALE, l->scale_mem),
                             ARG(DNNL_ARG_SHIFT, l->shift_mem),
                             ARG(DNNL_ARG_DIFF_DST, l->out->dmem),
                             ARG(DNNL_ARG_DIFF_SRC, cc_tdnn_port_diff(&l->in[0])),
                             ARG(DNNL_ARG_DIFF_SCALE, l->dscale_mem),
                             ARG(DNNL_ARG_DIFF_SHIFT, l->dshift_mem)};
    int n = 9;
    if (l->ws_mem)
        a[n++] = ARG(DNNL_ARG_WORKSPACE, l->ws_mem);
    covidcam_status st = cc_tdnn_run(net, &l->bwd_d, n, a, e);
    if (!st && l->synced)
        st = cc_tdnn_bn_sync_bwd(net, l, e);
    if (st)
        return st;
    return cc_tdnn_port_done(net, &l->in[0], e);
}

static const tlayer_ops bn_ops = {bn_fwd, bn_bwd};

static covidcam_status bn_param_mems(cc_tnet *net, tlayer *l, cc_err *e)
{
    covidcam_status st;
    const cc_tbn_params *p = &l->bn;
    dnnl_dims_t c = {l->channels};
    const cc_dnn_desc *md = NULL;
    CC_TDNN_CHECK(cc_tdnn_desc(net, 1, c, dnnl_f32, dnnl_a, &md, e));
    /* oneDNN only reads scale/shift/running stats through these handles. */
    CC_TDNN_CHECK(cc_tdnn_mem(net, md, (void *)p->scale, &l->scale_mem, e));
    CC_TDNN_CHECK(cc_tdnn_mem(net, md, (void *)p->shift, &l->shift_mem, e));
    CC_TDNN_CHECK(cc_tdnn_mem(net, md, p->running_mean, &l->rmean_mem, e));
    CC_TDNN_CHECK(cc_tdnn_mem(net, md, p->running_var, &l->rvar_mem, e));
    if (!net->train)
        return COVIDCAM_OK;
    CC_TDNN_CHECK(cc_tdnn_alloc(net, (size_t)l->channels * sizeof(float), (void **)&l->mean, e));
    CC_TDNN_CHECK(cc_tdnn_alloc(net, (size_t)l->channels * sizeof(float), (void **)&l->var, e));
    CC_TDNN_CHECK(cc_tdnn_mem(net, md, l->mean, &l->mean_mem, e));
    CC_TDNN_CHECK(cc_tdnn_mem(net, md, l->var, &l->var_mem, e));
    CC_TDNN_CHECK(cc_tdnn_mem(net, md, p->dscale, &l->dscale_mem, e));
    CC_TDNN_CHECK(cc_tdnn_mem(net, md, p->dshift, &l->dshift_mem, e));
fail:
    return st;
}

covidcam_status cc_tnet_bn(cc_tnet *net, cc_tt *in, int relu, const cc_tbn_params *p,
                           cc_tt **out, cc_err *e)
{
    covidcam_status st = check_in(net, in, 0, e);
    if (st)
        return st;
    if (!p || !p->scale || !p->shift || !p->running_mean || !p->running_var || !out ||
        (net->train && (!p->dscale || !p->dshift)) || !(p->eps > 0))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad batch norm arguments");
    unsigned flags = dnnl_use_scale | dnnl_use_shift | (relu ? dnnl_fuse_norm_relu : 0u);
    dnnl_primitive_desc_t inf = NULL, tr = NULL, bwd = NULL;
    tlayer *l = NULL;
    CC_TDNN_CHECK(cc_tdnn_layer(net, &bn_ops, &l, e));
    l->bn = *p;
    l->channels = (int)in->dims[1];
    l->reduce_n = (double)in->dims[0] * (in->ndims == 4 ? (double)(in->dims[2] * in->dims[3]) : 1);
    CC_TDNN_CHECK(cc_tdnn_port(net, l, 0, in, in->md, e));
    CC_TDNN_CHECK(cc_tdnn_tensor(net, in->ndims, in->dims, in->md, l->index, &l->out, e));
    CC_TDNN_CHECK(cc_tdnn_pd_status(cc_dnn_bn_fwd_pd(net->eng, dnnl_forward_inference, in->md,
                                                     p->eps, flags | dnnl_use_global_stats,
                                                     net->attr, &inf),
                                    "batch norm", e));
    CC_TDNN_CHECK(cc_tdnn_prim(net, inf, &l->fwd_inf, e));
    CC_TDNN_CHECK(bn_param_mems(net, l, e));
    if (net->train) {
        CC_TDNN_CHECK(cc_tdnn_pd_status(cc_dnn_bn_fwd_pd(net->eng, dnnl_forward_training, in->md,
                                                         p->eps, flags, net->attr, &tr),
                                        "batch norm training", e));
        CC_TDNN_CHECK(cc_tdnn_prim(net, tr, &l->fwd, e));
        CC_TDNN_CHECK(cc_tdnn_pd_status(cc_dnn_bn_bwd_pd(net->eng, in->md, in->md, p->eps, flags,
                                                         net->attr, tr, &bwd),
                                        "batch norm backward", e));
        CC_TDNN_CHECK(cc_tdnn_prim(net, bwd, &l->bwd_d, e));
        const cc_dnn_desc *ws = NULL;
        if (relu) {
            CC_TDNN_CHECK(cc_tdnn_query(net, tr, dnnl_query_workspace_md, &ws, e));
            CC_TDNN_CHECK(cc_tdnn_mem_alloc(net, ws, &l->ws_mem, e));
        }
        if (net->sync.world > 1)
            CC_TDNN_CHECK(cc_tdnn_bn_sync_setup(net, l, in->md, flags, ws, e));
    }
    *out = l->out;
fail:
    dnnl_primitive_desc_destroy(inf);
    dnnl_primitive_desc_destroy(tr);
    dnnl_primitive_desc_destroy(bwd);
    return st;
}

/* ------------------------------------------------------------ ReLU */

static covidcam_status relu_fwd(cc_tnet *net, tlayer *l, int training, cc_err *e)
{
    (void)training;
    dnnl_exec_arg_t a[] = {ARG(DNNL_ARG_SRC, cc_tdnn_port_src(&l->in[0])),
                           ARG(DNNL_ARG_DST, l->out->mem)};
    return cc_tdnn_run(net, &l->fwd, 2, a, e);
}

/* ReLU backward from its output: used by the ReLU layer and by add+ReLU. */
static covidcam_status relu_bwd_run(cc_tnet *net, tlayer *l, dnnl_memory_t diff_src, cc_err *e)
{
    dnnl_exec_arg_t a[] = {ARG(DNNL_ARG_DST, l->out->mem), ARG(DNNL_ARG_DIFF_DST, l->out->dmem),
                           ARG(DNNL_ARG_DIFF_SRC, diff_src)};
    return cc_tdnn_run(net, &l->bwd_d, 3, a, e);
}

static covidcam_status relu_bwd(cc_tnet *net, tlayer *l, cc_err *e)
{
    covidcam_status st = relu_bwd_run(net, l, cc_tdnn_port_diff(&l->in[0]), e);
    if (st)
        return st;
    return cc_tdnn_port_done(net, &l->in[0], e);
}

static const tlayer_ops relu_ops = {relu_fwd, relu_bwd};

/* Backward primitive of a ReLU on md, from the core's one builder. */
static covidcam_status relu_bwd_prim(cc_tnet *net, tlayer *l, const cc_dnn_desc *md,
                                     cc_err *e)
{
    dnnl_primitive_desc_t bwd = NULL;
    covidcam_status st = cc_tdnn_pd_status(cc_dnn_relu_bwd_pd(net->eng, md, net->attr, &bwd),
                                           "relu backward", e);
    if (!st)
        st = cc_tdnn_prim(net, bwd, &l->bwd_d, e);
    dnnl_primitive_desc_destroy(bwd);
    return st;
}

covidcam_status cc_tnet_relu(cc_tnet *net, cc_tt *in, cc_tt **out, cc_err *e)
{
    covidcam_status st = check_in(net, in, 0, e);
    if (st)
        return st;
    if (!out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad relu arguments");
    dnnl_primitive_desc_t fwd = NULL;
    const cc_dnn_desc *dst = NULL;
    tlayer *l = NULL;
    CC_TDNN_CHECK(cc_tdnn_layer(net, &relu_ops, &l, e));
    CC_TDNN_CHECK(cc_tdnn_port(net, l, 0, in, in->md, e));
    CC_TDNN_CHECK(cc_tdnn_pd_status(cc_dnn_eltwise_fwd_pd(net->eng, dnnl_forward_training,
                                                          dnnl_eltwise_relu_use_dst_for_bwd,
                                                          in->md, 0.f, 0.f, net->attr, &fwd),
                                    "relu", e));
    CC_TDNN_CHECK(cc_tdnn_prim(net, fwd, &l->fwd, e));
    CC_TDNN_CHECK(cc_tdnn_query(net, fwd, dnnl_query_dst_md, &dst, e));
    CC_TDNN_CHECK(cc_tdnn_tensor(net, in->ndims, in->dims, dst, l->index, &l->out, e));
    if (net->train)
        CC_TDNN_CHECK(relu_bwd_prim(net, l, l->out->md, e));
    *out = l->out;
fail:
    dnnl_primitive_desc_destroy(fwd);
    return st;
}

/* ------------------------------------------------------------ pooling */

static covidcam_status pool_fwd(cc_tnet *net, tlayer *l, int training, cc_err *e)
{
    (void)training;
    dnnl_exec_arg_t a[3] = {ARG(DNNL_ARG_SRC, cc_tdnn_port_src(&l->in[0])),
                            ARG(DNNL_ARG_DST, l->out->mem)};
    int n = 2;
    if (l->ws_mem)
        a[n++] = ARG(DNNL_ARG_WORKSPACE, l->ws_mem);
    return cc_tdnn_run(net, &l->fwd, n, a, e);
}

static covidcam_status pool_bwd(cc_tnet *net, tlayer *l, cc_err *e)
{
    dnnl_exec_arg_t a[3] = {ARG(DNNL_ARG_DIFF_DST, l->out->dmem),
                            ARG(DNNL_ARG_DIFF_SRC, cc_tdnn_port_diff(&l->in[0]))};
    int n = 2;
    if (l->ws_mem)
        a[n++] = ARG(DNNL_ARG_WORKSPACE, l->ws_mem);
    covidcam_status st = cc_tdnn_run(net, &l->bwd_d, n, a, e);
    if (st)
        return st;
    return cc_tdnn_port_done(net, &l->in[0], e);
}

static const tlayer_ops pool_ops = {pool_fwd, pool_bwd};

static covidcam_status pool_make(cc_tnet *net, cc_tt *in, dnnl_alg_kind_t alg,
                                 const dnnl_dims_t kernel, const dnnl_dims_t strides,
                                 const dnnl_dims_t pad, cc_tt **out, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    dnnl_dims_t od = {in->dims[0], in->dims[1],
                      (in->dims[2] + 2 * pad[0] - kernel[0]) / strides[0] + 1,
                      (in->dims[3] + 2 * pad[1] - kernel[1]) / strides[1] + 1};
    if (od[2] <= 0 || od[3] <= 0 || pad[0] >= kernel[0] || pad[1] >= kernel[1])
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad pooling shapes");
    dnnl_prop_kind_t prop = net->train ? dnnl_forward_training : dnnl_forward_inference;
    const cc_dnn_desc *dst = NULL, *q = NULL;
    dnnl_primitive_desc_t fwd = NULL, bwd = NULL;
    tlayer *l = NULL;
    CC_TDNN_CHECK(md_any(net, 4, od, cc_dnn_desc_dt(in->md), &dst, e));
    CC_TDNN_CHECK(cc_tdnn_layer(net, &pool_ops, &l, e));
    CC_TDNN_CHECK(cc_tdnn_port(net, l, 0, in, in->md, e));
    CC_TDNN_CHECK(cc_tdnn_pd_status(cc_dnn_pool_fwd_pd(net->eng, prop, alg, in->md, dst, strides,
                                                       kernel, pad, net->attr, &fwd),
                                    "pooling", e));
    CC_TDNN_CHECK(cc_tdnn_prim(net, fwd, &l->fwd, e));
    CC_TDNN_CHECK(cc_tdnn_query(net, fwd, dnnl_query_dst_md, &q, e));
    CC_TDNN_CHECK(cc_tdnn_tensor(net, 4, od, q, l->index, &l->out, e));
    CC_TDNN_CHECK(cc_tdnn_query(net, fwd, dnnl_query_workspace_md, &q, e));
    if (cc_dnn_desc_bytes(q))
        CC_TDNN_CHECK(cc_tdnn_mem_alloc(net, q, &l->ws_mem, e));
    if (net->train) {
        CC_TDNN_CHECK(cc_tdnn_pd_status(cc_dnn_pool_bwd_pd(net->eng, alg, in->md, l->out->md,
                                                           strides, kernel, pad, net->attr, fwd,
                                                           &bwd),
                                        "pooling backward", e));
        CC_TDNN_CHECK(cc_tdnn_prim(net, bwd, &l->bwd_d, e));
    }
    *out = l->out;
fail:
    dnnl_primitive_desc_destroy(fwd);
    dnnl_primitive_desc_destroy(bwd);
    return st;
}

covidcam_status cc_tnet_maxpool(cc_tnet *net, cc_tt *in, int kernel, int stride, int pad,
                                cc_tt **out, cc_err *e)
{
    covidcam_status st = check_in(net, in, 4, e);
    if (st)
        return st;
    if (kernel <= 0 || stride <= 0 || pad < 0 || !out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad max pooling arguments");
    dnnl_dims_t k = {kernel, kernel}, s = {stride, stride}, p = {pad, pad};
    return pool_make(net, in, dnnl_pooling_max, k, s, p, out, e);
}

covidcam_status cc_tnet_avgpool_global(cc_tnet *net, cc_tt *in, cc_tt **out, cc_err *e)
{
    covidcam_status st = check_in(net, in, 4, e);
    if (st)
        return st;
    if (!out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad average pooling arguments");
    dnnl_dims_t k = {in->dims[2], in->dims[3]}, p = {0, 0};
    return pool_make(net, in, dnnl_pooling_avg_exclude_padding, k, k_one, p, out, e);
}

/* ------------------------------------------------------------ inner product */

static covidcam_status fc_fwd(cc_tnet *net, tlayer *l, int training, cc_err *e)
{
    (void)training;
    covidcam_status st = cc_tdnn_weights_refresh(net, &l->w, e);
    if (st)
        return st;
    dnnl_exec_arg_t a[] = {ARG(DNNL_ARG_SRC, cc_tdnn_port_src(&l->in[0])),
                           ARG(DNNL_ARG_WEIGHTS, l->w.fwd_mem), ARG(DNNL_ARG_BIAS, l->bias_mem),
                           ARG(DNNL_ARG_DST, l->out->mem)};
    return cc_tdnn_run(net, &l->fwd, 4, a, e);
}

static covidcam_status fc_bwd(cc_tnet *net, tlayer *l, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    dnnl_exec_arg_t w[] = {
        ARG(DNNL_ARG_SRC, cc_tdnn_port_src(&l->in[0])), ARG(DNNL_ARG_DIFF_DST, l->out->dmem),
        ARG(DNNL_ARG_DIFF_WEIGHTS, l->w.dw_mem), ARG(DNNL_ARG_DIFF_BIAS, l->dbias_mem)};
    CC_TDNN_CHECK(cc_tdnn_run(net, &l->bwd_w, 4, w, e));
    CC_TDNN_CHECK(cc_tdnn_weights_grad_done(net, &l->w, e));
    if (!l->has_bwd_d)
        return COVIDCAM_OK;
    dnnl_exec_arg_t d[] = {ARG(DNNL_ARG_DIFF_DST, l->out->dmem),
                           ARG(DNNL_ARG_WEIGHTS, l->w.bwd_mem),
                           ARG(DNNL_ARG_DIFF_SRC, cc_tdnn_port_diff(&l->in[0]))};
    CC_TDNN_CHECK(cc_tdnn_run(net, &l->bwd_d, 3, d, e));
    CC_TDNN_CHECK(cc_tdnn_port_done(net, &l->in[0], e));
fail:
    return st;
}

static const tlayer_ops fc_ops = {fc_fwd, fc_bwd};

/* Source layout: the input's own when it is fp32 (a 1x1 spatial blocked
 * layout is fine for an inner product), else fp32 chosen by oneDNN. The fc is
 * tiny, so it always runs in fp32 and its logits are plain fp32. */
static covidcam_status fc_pds(cc_tnet *net, tlayer *l, const cc_tt *in, int k,
                              dnnl_primitive_desc_t *fwd, dnnl_primitive_desc_t *bd,
                              dnnl_primitive_desc_t *bw, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    int nd = in->ndims;
    dnnl_dims_t wd = {k, in->dims[1], 1, 1}, bdims = {k}, dd = {in->dims[0], k};
    const cc_dnn_desc *src = in->md, *wei = NULL, *bias = NULL, *dst = NULL;
    if (cc_dnn_desc_dt(in->md) != dnnl_f32)
        CC_TDNN_CHECK(md_any(net, nd, in->dims, dnnl_f32, &src, e));
    CC_TDNN_CHECK(md_any(net, nd, wd, dnnl_f32, &wei, e));
    CC_TDNN_CHECK(cc_tdnn_desc(net, 1, bdims, dnnl_f32, dnnl_a, &bias, e));
    CC_TDNN_CHECK(cc_tdnn_desc(net, 2, dd, dnnl_f32, dnnl_ab, &dst, e));
    dnnl_prop_kind_t prop = net->train ? dnnl_forward_training : dnnl_forward_inference;
    CC_TDNN_CHECK(cc_tdnn_pd_status(
        cc_dnn_ip_fwd_pd(net->eng, prop, src, wei, bias, dst, net->attr, fwd), "inner product", e));
    if (!net->train)
        return COVIDCAM_OK;
    CC_TDNN_CHECK(cc_tdnn_query(net, *fwd, dnnl_query_src_md, &src, e));
    if (l->has_bwd_d) {
        CC_TDNN_CHECK(cc_tdnn_pd_status(
            cc_dnn_ip_bwd_data_pd(net->eng, src, wei, dst, net->attr, *fwd, bd),
            "inner product backward data", e));
    }
    CC_TDNN_CHECK(cc_tdnn_pd_status(
        cc_dnn_ip_bwd_weights_pd(net->eng, src, wei, bias, dst, net->attr, *fwd, bw),
        "inner product backward weights", e));
fail:
    return st;
}

covidcam_status cc_tnet_fc(cc_tnet *net, cc_tt *in, int k, const float *w, const float *b,
                           float *dw, float *db, cc_tt **out, cc_err *e)
{
    covidcam_status st = check_in(net, in, 0, e);
    if (st)
        return st;
    if (k <= 0 || !w || !b || !out || (net->train && (!dw || !db)) ||
        !(in->ndims == 2 || (in->dims[2] == 1 && in->dims[3] == 1)))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad inner product arguments");
    dnnl_primitive_desc_t fwd = NULL, bd = NULL, bw = NULL;
    dnnl_dims_t wd = {k, in->dims[1], 1, 1}, bdims = {k}, dd = {in->dims[0], k};
    const cc_dnn_desc *bmd = NULL, *dmd = NULL, *q = NULL;
    tlayer *l = NULL;
    CC_TDNN_CHECK(cc_tdnn_desc(net, 1, bdims, dnnl_f32, dnnl_a, &bmd, e));
    CC_TDNN_CHECK(cc_tdnn_desc(net, 2, dd, dnnl_f32, dnnl_ab, &dmd, e));
    CC_TDNN_CHECK(cc_tdnn_layer(net, &fc_ops, &l, e));
    l->has_bwd_d = net->train && in->needs_diff;
    CC_TDNN_CHECK(fc_pds(net, l, in, k, &fwd, &bd, &bw, e));
    CC_TDNN_CHECK(cc_tdnn_query(net, fwd, dnnl_query_src_md, &q, e));
    CC_TDNN_CHECK(cc_tdnn_port(net, l, 0, in, q, e));
    CC_TDNN_CHECK(cc_tdnn_tensor(net, 2, dd, dmd, l->index, &l->out, e));
    CC_TDNN_CHECK(cc_tdnn_prim(net, fwd, &l->fwd, e));
    if (bd)
        CC_TDNN_CHECK(cc_tdnn_prim(net, bd, &l->bwd_d, e));
    if (bw)
        CC_TDNN_CHECK(cc_tdnn_prim(net, bw, &l->bwd_w, e));
    CC_TDNN_CHECK(weights_of(net, &l->w, in->ndims, wd, w, dw, fwd, bd, bw, e));
    /* oneDNN only reads the bias through this handle. */
    CC_TDNN_CHECK(cc_tdnn_mem(net, bmd, (void *)b, &l->bias_mem, e));
    if (net->train)
        CC_TDNN_CHECK(cc_tdnn_mem(net, bmd, db, &l->dbias_mem, e));
    *out = l->out;
fail:
    dnnl_primitive_desc_destroy(fwd);
    dnnl_primitive_desc_destroy(bd);
    dnnl_primitive_desc_destroy(bw);
    return st;
}

/* ------------------------------------------------------------ residual add */

static covidcam_status add_fwd(cc_tnet *net, tlayer *l, int training, cc_err *e)
{
    (void)training;
    dnnl_exec_arg_t a[] = {ARG(DNNL_ARG_SRC_0, cc_tdnn_port_src(&l->in[0])),
                           ARG(DNNL_ARG_SRC_1, cc_tdnn_port_src(&l->in[1])),
                           ARG(DNNL_ARG_DST, l->out->mem)};
    return cc_tdnn_run(net, &l->fwd, 3, a, e);
}

/* Both inputs receive the same gradient g: ReLU'(out) * dout, or dout. */
static covidcam_status add_bwd(cc_tnet *net, tlayer *l, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    if (!l->bwd_d.p) {
        CC_TDNN_CHECK(cc_tdnn_port_contrib(net, &l->in[0], l->out->dmem, e));
        return cc_tdnn_port_contrib(net, &l->in[1], l->out->dmem, e);
    }
    dnnl_memory_t g = cc_tdnn_port_diff(&l->in[0]);
    CC_TDNN_CHECK(relu_bwd_run(net, l, g, e));
    CC_TDNN_CHECK(cc_tdnn_port_done(net, &l->in[0], e));
    CC_TDNN_CHECK(cc_tdnn_port_contrib(net, &l->in[1], g, e));
fail:
    return st;
}

static const tlayer_ops add_ops = {add_fwd, add_bwd};

static int same_dims(const cc_tt *a, const cc_tt *b)
{
    if (a->ndims != b->ndims)
        return 0;
    for (int i = 0; i < a->ndims; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

covidcam_status cc_tnet_add(cc_tnet *net, cc_tt *a, cc_tt *b, int relu, cc_tt **out, cc_err *e)
{
    covidcam_status st = check_in(net, a, 0, e);
    if (st)
        return st;
    if (!b || a == b || !same_dims(a, b) || !out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "residual add needs two distinct "
                                                         "inputs of equal dims");
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t fwd = NULL;
    tlayer *l = NULL;
    CC_TDNN_CHECK(cc_tdnn_layer(net, &add_ops, &l, e));
    CC_TDNN_CHECK(cc_tdnn_port(net, l, 0, a, a->md, e));
    CC_TDNN_CHECK(cc_tdnn_port(net, l, 1, b, a->md, e));
    l->in[0].force_contrib = !relu;
    l->in[1].force_contrib = 1;
    CC_TDNN_TRY(cc_dnn_attr(0, relu, &attr), "attributes"); /* the ReLU fused as a post-op */
    CC_TDNN_CHECK(cc_tdnn_pd_status(
        cc_dnn_binary_pd(net->eng, dnnl_binary_add, a->md, a->md, a->md, attr, &fwd),
        "residual add", e));
    CC_TDNN_CHECK(cc_tdnn_prim(net, fwd, &l->fwd, e));
    CC_TDNN_CHECK(cc_tdnn_tensor(net, a->ndims, a->dims, a->md, l->index, &l->out, e));
    if (net->train && relu)
        CC_TDNN_CHECK(relu_bwd_prim(net, l, l->out->md, e));
    *out = l->out;
fail:
    dnnl_primitive_desc_destroy(fwd);
    dnnl_primitive_attr_destroy(attr);
    return st;
}
