/* The inference layer on the oneDNN core: every primitive descriptor, memory
 * descriptor and attribute comes from a dnn_core.h builder. See dnn.h. */
#include "dnn_core.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct cc_dnn_engine {
    dnnl_engine_t eng;
};

struct cc_dnn_stream {
    dnnl_stream_t stream;
};

struct cc_dnn_md {
    dnnl_memory_desc_t md;
};

struct cc_dnn_prim {
    dnnl_primitive_t prim;
    dnnl_engine_t eng;
    cc_dnn_md md[CC_ARG_COUNT];
    int has_md[CC_ARG_COUNT];
    dnnl_memory_t mem[CC_ARG_COUNT];
    size_t scratchpad;
};

static const int arg_ids[CC_ARG_COUNT] = {
    [CC_ARG_SRC] = DNNL_ARG_SRC,           [CC_ARG_SRC_1] = DNNL_ARG_SRC_1,
    [CC_ARG_WEIGHTS] = DNNL_ARG_WEIGHTS,   [CC_ARG_BIAS] = DNNL_ARG_BIAS,
    [CC_ARG_DST] = DNNL_ARG_DST,           [CC_ARG_DIFF_SRC] = DNNL_ARG_DIFF_SRC,
    [CC_ARG_DIFF_DST] = DNNL_ARG_DIFF_DST, [CC_ARG_WORKSPACE] = DNNL_ARG_WORKSPACE,
    [CC_ARG_SCRATCHPAD] = DNNL_ARG_SCRATCHPAD,
};

covidcam_status cc_dnn_engine_create(cc_dnn_engine **out, cc_err *e)
{
    cc_dnn_engine *g = calloc(1, sizeof *g);
    if (!g)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    dnnl_status_t st = dnnl_engine_create(&g->eng, dnnl_cpu, 0);
    if (st != dnnl_success) {
        free(g);
        return cc_dnn_fail(e, st, "engine creation");
    }
    *out = g;
    return COVIDCAM_OK;
}

void cc_dnn_engine_free(cc_dnn_engine *g)
{
    if (!g)
        return;
    dnnl_engine_destroy(g->eng);
    free(g);
}

covidcam_status cc_dnn_stream_create(cc_dnn_engine *g, cc_dnn_stream **out, cc_err *e)
{
    cc_dnn_stream *s = calloc(1, sizeof *s);
    if (!s)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    dnnl_status_t st = dnnl_stream_create(&s->stream, g->eng, dnnl_stream_default_flags);
    if (st != dnnl_success) {
        free(s);
        return cc_dnn_fail(e, st, "stream creation");
    }
    *out = s;
    return COVIDCAM_OK;
}

void cc_dnn_stream_free(cc_dnn_stream *s)
{
    if (!s)
        return;
    dnnl_stream_destroy(s->stream);
    free(s);
}

static cc_dnn_md *md_by_tag(int ndims, const long *dims, dnnl_format_tag_t tag)
{
    dnnl_dims_t d = {0};
    for (int i = 0; i < ndims; i++)
        d[i] = dims[i];
    cc_dnn_md *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (cc_dnn_desc_tag(&m->md, ndims, d, dnnl_f32, tag) != dnnl_success) {
        free(m);
        return NULL;
    }
    return m;
}

cc_dnn_md *cc_dnn_md_plain(cc_dnn_layout layout, const long *dims)
{
    switch (layout) {
    case CC_LAYOUT_NCHW: return md_by_tag(4, dims, dnnl_nchw);
    case CC_LAYOUT_OIHW: return md_by_tag(4, dims, dnnl_oihw);
    case CC_LAYOUT_NC: return md_by_tag(2, dims, dnnl_nc);
    case CC_LAYOUT_OI: return md_by_tag(2, dims, dnnl_oi);
    case CC_LAYOUT_X: return md_by_tag(1, dims, dnnl_x);
    }
    return NULL;
}

cc_dnn_md *cc_dnn_md_any4(const long *dims)
{
    return md_by_tag(4, dims, dnnl_format_tag_any);
}

long cc_dnn_md_dim(const cc_dnn_md *m, int d)
{
    return (long)cc_dnn_desc_dim(&m->md, d);
}

cc_dnn_md *cc_dnn_md_clone(const cc_dnn_md *m)
{
    cc_dnn_md *c = malloc(sizeof *c);
    if (c)
        *c = *m;
    return c;
}

void cc_dnn_md_free(cc_dnn_md *m)
{
    free(m);
}

size_t cc_dnn_md_bytes(const cc_dnn_md *m)
{
    return cc_dnn_desc_bytes(&m->md);
}

int cc_dnn_md_equal(const cc_dnn_md *a, const cc_dnn_md *b)
{
    return cc_dnn_desc_equal(&a->md, &b->md);
}

const cc_dnn_md *cc_dnn_prim_md(const cc_dnn_prim *p, cc_dnn_arg arg)
{
    return p->has_md[arg] ? &p->md[arg] : NULL;
}

size_t cc_dnn_prim_scratchpad(const cc_dnn_prim *p)
{
    return p->scratchpad;
}

void cc_dnn_prim_free(cc_dnn_prim *p)
{
    if (!p)
        return;
    for (int i = 0; i < CC_ARG_COUNT; i++)
        if (p->mem[i])
            dnnl_memory_destroy(p->mem[i]);
    if (p->prim)
        dnnl_primitive_destroy(p->prim);
    free(p);
}

static void query_md(cc_dnn_prim *p, const_dnnl_primitive_desc_t pd, cc_dnn_arg arg,
                     dnnl_query_t q, int index)
{
    const dnnl_memory_desc_t *m = cc_dnn_pd_md(pd, q, index);
    if (!m || cc_dnn_desc_ndims(m) == 0)
        return;
    p->md[arg].md = *m;
    p->has_md[arg] = 1;
}

/* Build the primitive of pd, which the core's builder returned with status
 * st (pd NULL on failure), and record the mds of every argument. Takes pd. */
static covidcam_status make_prim(cc_dnn_engine *g, dnnl_status_t st, dnnl_primitive_desc_t pd,
                                 const char *what, cc_dnn_prim **out, cc_err *e)
{
    cc_dnn_prim *p = NULL;
    if (st != dnnl_success)
        goto fail;
    st = dnnl_out_of_memory;
    if (!(p = calloc(1, sizeof *p)))
        goto fail;
    if ((st = dnnl_primitive_create(&p->prim, pd)) != dnnl_success)
        goto fail;
    p->eng = g->eng;
    query_md(p, pd, CC_ARG_SRC, dnnl_query_src_md, 0);
    query_md(p, pd, CC_ARG_SRC_1, dnnl_query_src_md, 1);
    query_md(p, pd, CC_ARG_WEIGHTS, dnnl_query_weights_md, 0);
    query_md(p, pd, CC_ARG_BIAS, dnnl_query_weights_md, 1);
    query_md(p, pd, CC_ARG_DST, dnnl_query_dst_md, 0);
    query_md(p, pd, CC_ARG_DIFF_SRC, dnnl_query_diff_src_md, 0);
    query_md(p, pd, CC_ARG_DIFF_DST, dnnl_query_diff_dst_md, 0);
    query_md(p, pd, CC_ARG_WORKSPACE, dnnl_query_workspace_md, 0);
    query_md(p, pd, CC_ARG_SCRATCHPAD, dnnl_query_scratchpad_md, 0);
    p->scratchpad = p->has_md[CC_ARG_SCRATCHPAD] ? cc_dnn_md_bytes(&p->md[CC_ARG_SCRATCHPAD]) : 0;
    dnnl_primitive_desc_destroy(pd);
    *out = p;
    return COVIDCAM_OK;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    cc_dnn_prim_free(p);
    return cc_dnn_fail(e, st, what);
}

/* The primitive of the pd `build` makes with the layer's attributes: user
 * scratchpad (so sessions never share oneDNN's scratch buffers), plus a sum
 * and/or ReLU post-op when asked. */
typedef dnnl_status_t (*pd_builder)(cc_dnn_engine *g, const void *arg,
                                    const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd);

static covidcam_status build_prim(cc_dnn_engine *g, pd_builder build, const void *arg, int sum,
                                  int relu, const char *what, cc_dnn_prim **out, cc_err *e)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = cc_dnn_attr(sum, relu, &attr);
    if (st == dnnl_success)
        st = build(g, arg, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    return make_prim(g, st, pd, what, out, e);
}

/* A forward-training pd, only as the hint a backward pd needs. */
static dnnl_status_t hint_pd(cc_dnn_engine *g, pd_builder build, const void *arg,
                             dnnl_primitive_desc_t *pd)
{
    return build(g, arg, NULL, pd);
}

/* ------------------------------------------------------------ convolution */

/* One convolution as the core's builders take it: the layer's mds (src and
 * dst may be the caller's), oneDNN-chosen weights and a plain bias. */
typedef struct conv_args {
    dnnl_prop_kind_t prop;
    const dnnl_memory_desc_t *src, *dst;
    dnnl_memory_desc_t wei, bias, any_dst;
    int with_bias;
    dnnl_dims_t strides, pad;
} conv_args;

static dnnl_status_t conv_args_init(conv_args *a, dnnl_prop_kind_t prop, const cc_dnn_md *src,
                                    const cc_dnn_conv *c, const cc_dnn_md *dst, int with_bias)
{
    dnnl_dims_t wd, dd, bd = {c->oc};
    wd[0] = c->oc;
    wd[1] = cc_dnn_desc_dim(&src->md, 1);
    wd[2] = wd[3] = c->k;
    dd[0] = cc_dnn_desc_dim(&src->md, 0);
    dd[1] = c->oc;
    dd[2] = (cc_dnn_desc_dim(&src->md, 2) + 2 * c->pad - c->k) / c->stride + 1;
    dd[3] = (cc_dnn_desc_dim(&src->md, 3) + 2 * c->pad - c->k) / c->stride + 1;
    a->prop = prop;
    a->src = &src->md;
    a->with_bias = with_bias;
    a->strides[0] = a->strides[1] = c->stride;
    a->pad[0] = a->pad[1] = c->pad;
    dnnl_status_t st = cc_dnn_desc_tag(&a->wei, 4, wd, dnnl_f32, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = cc_dnn_desc_tag(&a->bias, 1, bd, dnnl_f32, dnnl_x);
    if (st == dnnl_success && !dst)
        st = cc_dnn_desc_tag(&a->any_dst, 4, dd, dnnl_f32, dnnl_format_tag_any);
    a->dst = dst ? &dst->md : &a->any_dst;
    return st;
}

static dnnl_status_t conv_fwd_pd(cc_dnn_engine *g, const void *arg,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    const conv_args *a = arg;
    return cc_dnn_conv_fwd_pd(g->eng, a->prop, a->src, &a->wei, a->with_bias ? &a->bias : NULL,
                              a->dst, a->strides, a->pad, attr, pd);
}

covidcam_status cc_dnn_conv_fwd(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_conv *c,
                                const cc_dnn_md *dst, cc_dnn_prim **out, cc_err *e)
{
    conv_args a;
    dnnl_status_t st = conv_args_init(&a, dnnl_forward_inference, src, c, dst, 1);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "convolution descriptor");
    return build_prim(g, conv_fwd_pd, &a, c->sum, c->relu, "convolution", out, e);
}

/* Backward data of the convolution a, with the forward-training hint. */
typedef struct conv_bwd_args {
    const conv_args *a;
    const_dnnl_primitive_desc_t hint;
} conv_bwd_args;

static dnnl_status_t conv_bwd_data_pd(cc_dnn_engine *g, const void *arg,
                                      const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    const conv_bwd_args *b = arg;
    return cc_dnn_conv_bwd_data_pd(g->eng, b->a->src, &b->a->wei, b->a->dst, b->a->strides,
                                   b->a->pad, attr, b->hint, pd);
}

covidcam_status cc_dnn_conv_bwd_data(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_conv *c,
                                     const cc_dnn_md *dst, cc_dnn_prim **out, cc_err *e)
{
    conv_args a;
    dnnl_primitive_desc_t hint = NULL;
    dnnl_status_t st = conv_args_init(&a, dnnl_forward_training, src, c, dst, 0);
    if (st == dnnl_success)
        st = hint_pd(g, conv_fwd_pd, &a, &hint);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "convolution backward-data descriptor");
    conv_bwd_args b = {&a, hint};
    covidcam_status rc =
        build_prim(g, conv_bwd_data_pd, &b, 0, 0, "convolution backward-data", out, e);
    dnnl_primitive_desc_destroy(hint);
    return rc;
}

/* ------------------------------------------------------------ pooling */

typedef struct pool_args {
    dnnl_prop_kind_t prop;
    dnnl_alg_kind_t alg;
    const dnnl_memory_desc_t *src, *dst;
    dnnl_memory_desc_t any_dst;
    dnnl_dims_t strides, kernel, pad;
    const_dnnl_primitive_desc_t hint; /* backward only */
} pool_args;

static dnnl_status_t pool_args_init(pool_args *a, dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                                    const cc_dnn_md *src, const cc_dnn_md *dst, int kh, int kw,
                                    int stride, int pad)
{
    const dnnl_memory_desc_t *s = &src->md;
    dnnl_dims_t dd = {cc_dnn_desc_dim(s, 0), cc_dnn_desc_dim(s, 1),
                      (cc_dnn_desc_dim(s, 2) + 2 * pad - kh) / stride + 1,
                      (cc_dnn_desc_dim(s, 3) + 2 * pad - kw) / stride + 1};
    a->prop = prop;
    a->alg = alg;
    a->src = s;
    a->strides[0] = a->strides[1] = stride;
    a->kernel[0] = kh;
    a->kernel[1] = kw;
    a->pad[0] = a->pad[1] = pad;
    a->hint = NULL;
    a->dst = dst ? &dst->md : &a->any_dst;
    if (dst)
        return dnnl_success;
    return cc_dnn_desc_tag(&a->any_dst, 4, dd, dnnl_f32, dnnl_format_tag_any);
}

static dnnl_status_t pool_fwd_pd(cc_dnn_engine *g, const void *arg,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    const pool_args *a = arg;
    return cc_dnn_pool_fwd_pd(g->eng, a->prop, a->alg, a->src, a->dst, a->strides, a->kernel,
                              a->pad, attr, pd);
}

static dnnl_status_t pool_bwd_pd(cc_dnn_engine *g, const void *arg,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    const pool_args *a = arg;
    return cc_dnn_pool_bwd_pd(g->eng, a->alg, a->src, a->dst, a->strides, a->kernel, a->pad, attr,
                              a->hint, pd);
}

covidcam_status cc_dnn_maxpool_fwd(cc_dnn_engine *g, const cc_dnn_md *src, int k, int stride,
                                   int pad, cc_dnn_prim **out, cc_err *e)
{
    pool_args a;
    dnnl_status_t st = pool_args_init(&a, dnnl_forward_inference, dnnl_pooling_max, src, NULL, k,
                                      k, stride, pad);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "max pooling descriptor");
    return build_prim(g, pool_fwd_pd, &a, 0, 0, "max pooling", out, e);
}

covidcam_status cc_dnn_gap_fwd(cc_dnn_engine *g, const cc_dnn_md *src, cc_dnn_prim **out,
                               cc_err *e)
{
    pool_args a;
    int h = (int)cc_dnn_desc_dim(&src->md, 2), w = (int)cc_dnn_desc_dim(&src->md, 3);
    dnnl_status_t st = pool_args_init(&a, dnnl_forward_inference,
                                      dnnl_pooling_avg_exclude_padding, src, NULL, h, w, 1, 0);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "average pooling descriptor");
    return build_prim(g, pool_fwd_pd, &a, 0, 0, "average pooling", out, e);
}

covidcam_status cc_dnn_gap_bwd(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_md *dst,
                               cc_dnn_prim **out, cc_err *e)
{
    pool_args a;
    dnnl_primitive_desc_t hint = NULL;
    int h = (int)cc_dnn_desc_dim(&src->md, 2), w = (int)cc_dnn_desc_dim(&src->md, 3);
    dnnl_status_t st = pool_args_init(&a, dnnl_forward_training,
                                      dnnl_pooling_avg_exclude_padding, src, dst, h, w, 1, 0);
    if (st == dnnl_success)
        st = hint_pd(g, pool_fwd_pd, &a, &hint);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "average pooling backward descriptor");
    a.hint = hint;
    covidcam_status rc = build_prim(g, pool_bwd_pd, &a, 0, 0, "average pooling backward", out, e);
    dnnl_primitive_desc_destroy(hint);
    return rc;
}

/* ------------------------------------------------------------ inner product */

/* One inner product: src is the caller's md, weights oneDNN's choice, dst
 * plain NC. */
typedef struct fc_args {
    dnnl_prop_kind_t prop;
    const dnnl_memory_desc_t *src;
    dnnl_memory_desc_t wei, bias, dst;
    int with_bias;
    const_dnnl_primitive_desc_t hint; /* backward only */
} fc_args;

static dnnl_status_t fc_args_init(fc_args *a, dnnl_prop_kind_t prop, const cc_dnn_md *src, int oc,
                                  int with_bias)
{
    dnnl_dims_t wd = {oc, cc_dnn_desc_dim(&src->md, 1), 1, 1}, bd = {oc},
                dd = {cc_dnn_desc_dim(&src->md, 0), oc};
    int nd = cc_dnn_desc_ndims(&src->md);
    for (int i = 2; i < nd; i++)
        wd[i] = cc_dnn_desc_dim(&src->md, i);
    a->prop = prop;
    a->src = &src->md;
    a->with_bias = with_bias;
    a->hint = NULL;
    dnnl_status_t st = cc_dnn_desc_tag(&a->wei, nd, wd, dnnl_f32, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = cc_dnn_desc_tag(&a->bias, 1, bd, dnnl_f32, dnnl_x);
    if (st == dnnl_success)
        st = cc_dnn_desc_tag(&a->dst, 2, dd, dnnl_f32, dnnl_nc);
    return st;
}

static dnnl_status_t fc_fwd_pd(cc_dnn_engine *g, const void *arg, const_dnnl_primitive_attr_t attr,
                               dnnl_primitive_desc_t *pd)
{
    const fc_args *a = arg;
    return cc_dnn_ip_fwd_pd(g->eng, a->prop, a->src, &a->wei, a->with_bias ? &a->bias : NULL,
                            &a->dst, attr, pd);
}

static dnnl_status_t fc_bwd_data_pd(cc_dnn_engine *g, const void *arg,
                                    const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    const fc_args *a = arg;
    return cc_dnn_ip_bwd_data_pd(g->eng, a->src, &a->wei, &a->dst, attr, a->hint, pd);
}

covidcam_status cc_dnn_fc_fwd(cc_dnn_engine *g, const cc_dnn_md *src, int oc, cc_dnn_prim **out,
                              cc_err *e)
{
    fc_args a;
    dnnl_status_t st = fc_args_init(&a, dnnl_forward_inference, src, oc, 1);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "inner product descriptor");
    return build_prim(g, fc_fwd_pd, &a, 0, 0, "inner product", out, e);
}

covidcam_status cc_dnn_fc_bwd_data(cc_dnn_engine *g, const cc_dnn_md *src, int oc,
                                   cc_dnn_prim **out, cc_err *e)
{
    fc_args a;
    dnnl_primitive_desc_t hint = NULL;
    dnnl_status_t st = fc_args_init(&a, dnnl_forward_training, src, oc, 0);
    if (st == dnnl_success)
        st = hint_pd(g, fc_fwd_pd, &a, &hint);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "inner product backward-data descriptor");
    a.hint = hint;
    covidcam_status rc =
        build_prim(g, fc_bwd_data_pd, &a, 0, 0, "inner product backward-data", out, e);
    dnnl_primitive_desc_destroy(hint);
    return rc;
}

/* ------------------------------------------------------------ eltwise, binary, reorder */

static dnnl_status_t relu_bwd_pd(cc_dnn_engine *g, const void *arg,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    return cc_dnn_relu_bwd_pd(g->eng, arg, attr, pd);
}

covidcam_status cc_dnn_relu_bwd(cc_dnn_engine *g, const cc_dnn_md *m, cc_dnn_prim **out,
                                cc_err *e)
{
    return build_prim(g, relu_bwd_pd, &m->md, 0, 0, "ReLU backward", out, e);
}

static dnnl_status_t add_pd(cc_dnn_engine *g, const void *arg, const_dnnl_primitive_attr_t attr,
                            dnnl_primitive_desc_t *pd)
{
    const dnnl_memory_desc_t *m = arg;
    return cc_dnn_binary_pd(g->eng, dnnl_binary_add, m, m, m, attr, pd);
}

covidcam_status cc_dnn_add(cc_dnn_engine *g, const cc_dnn_md *m, cc_dnn_prim **out, cc_err *e)
{
    return build_prim(g, add_pd, &m->md, 0, 0, "binary add", out, e);
}

typedef struct reorder_args {
    const dnnl_memory_desc_t *src, *dst;
} reorder_args;

static dnnl_status_t reorder_pd(cc_dnn_engine *g, const void *arg,
                                const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    const reorder_args *a = arg;
    return cc_dnn_reorder_pd(g->eng, a->src, a->dst, attr, pd);
}

covidcam_status cc_dnn_reorder(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_md *dst,
                               cc_dnn_prim **out, cc_err *e)
{
    reorder_args a = {&src->md, &dst->md};
    return build_prim(g, reorder_pd, &a, 0, 0, "reorder", out, e);
}

covidcam_status cc_dnn_exec(cc_dnn_stream *s, cc_dnn_prim *p, const cc_dnn_bind *binds, int n,
                            cc_err *e)
{
    dnnl_exec_arg_t args[CC_ARG_COUNT];
    if (n > CC_ARG_COUNT)
        return cc_fail(e, COVIDCAM_ERR_BACKEND, "oneDNN: too many arguments");
    for (int i = 0; i < n; i++) {
        cc_dnn_arg a = binds[i].arg;
        dnnl_status_t st;
        if (!p->has_md[a])
            return cc_fail(e, COVIDCAM_ERR_BACKEND, "oneDNN: primitive has no argument %d", a);
        if (!p->mem[a]) {
            /* Created with the handle, so read-only weights shared between
             * sessions are never written (set_data_handle zero-pads). */
            st = cc_dnn_mem_create(p->eng, &p->md[a].md, binds[i].ptr, &p->mem[a]);
        } else {
            void *cur = NULL;
            st = dnnl_memory_get_data_handle(p->mem[a], &cur);
            if (st == dnnl_success && cur != binds[i].ptr)
                st = dnnl_memory_set_data_handle(p->mem[a], binds[i].ptr);
        }
        if (st != dnnl_success)
            return cc_dnn_fail(e, st, "memory binding");
        args[i].arg = arg_ids[a];
        args[i].memory = p->mem[a];
    }
    dnnl_status_t st = dnnl_primitive_execute(p->prim, s->stream, n, args);
    if (st == dnnl_success)
        st = dnnl_stream_wait(s->stream);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "execution");
    return COVIDCAM_OK;
}

covidcam_status cc_dnn_reorder_now(cc_dnn_engine *g, const cc_dnn_md *src_md, const void *src,
                                   const cc_dnn_md *dst_md, void *dst, cc_err *e)
{
    cc_dnn_prim *p = NULL;
    cc_dnn_stream *s = NULL;
    void *scratch = NULL;
    covidcam_status rc = cc_dnn_reorder(g, src_md, dst_md, &p, e);
    if (rc)
        goto done;
    if ((rc = cc_dnn_stream_create(g, &s, e)))
        goto done;
    cc_dnn_bind b[3] = {{CC_ARG_SRC, (void *)src}, {CC_ARG_DST, dst}, {CC_ARG_SCRATCHPAD, NULL}};
    int n = 2;
    if (p->scratchpad) {
        if (!(scratch = cc_dnn_alloc(p->scratchpad))) {
            rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for reorder scratchpad");
            goto done;
        }
        b[2].ptr = scratch;
        n = 3;
    }
    rc = cc_dnn_exec(s, p, b, n, e);
done:
    cc_dnn_free(scratch);
    cc_dnn_stream_free(s);
    cc_dnn_prim_free(p);
    return rc;
}

int cc_dnn_threads_set(int n)
{
    int prev = omp_get_max_threads();
    omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
    return prev;
}

void cc_dnn_threads_restore(int previous)
{
    omp_set_num_threads(previous);
}

int cc_dnn_max_threads(void)
{
    return omp_get_num_procs();
}

void *cc_dnn_alloc(size_t bytes)
{
    size_t sz = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, sz ? sz : 64);
    if (p)
        memset(p, 0, sz ? sz : 64);
    return p;
}

void cc_dnn_free(void *p)
{
    free(p);
}
