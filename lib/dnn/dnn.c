/* The inference layer on the oneDNN core: every primitive descriptor, memory
 * descriptor and attribute comes from a dnn_core.h builder. See dnn.h. */
#include "dnn_core.h"

#include <omp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct cc_dnn_engine {
    dnnl_engine_t eng;
};

struct cc_dnn_stream {
    dnnl_stream_t stream;
};

struct cc_dnn_prim {
    dnnl_primitive_t prim;
    dnnl_engine_t eng;
    cc_dnn_md *md[CC_ARG_COUNT]; /* the pd's mds, cloned; NULL: no such argument */
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

static dnnl_data_type_t dnnl_dt(cc_dnn_dtype dt)
{
    switch (dt) {
    case CC_DNN_BF16: return dnnl_bf16;
    case CC_DNN_U8: return dnnl_u8;
    case CC_DNN_S8: return dnnl_s8;
    default: return dnnl_f32;
    }
}

static int is_int8(dnnl_data_type_t dt)
{
    return dt == dnnl_u8 || dt == dnnl_s8;
}

static cc_dnn_md *md_by_tag(int ndims, const long *dims, cc_dnn_dtype dt, dnnl_format_tag_t tag)
{
    dnnl_dims_t d = {0};
    for (int i = 0; i < ndims; i++)
        d[i] = dims[i];
    cc_dnn_md *m = NULL;
    cc_dnn_desc_create(ndims, d, dnnl_dt(dt), tag, &m); /* NULL on failure */
    return m;
}

cc_dnn_md *cc_dnn_md_plain(cc_dnn_layout layout, const long *dims)
{
    return cc_dnn_md_plain_dt(layout, dims, CC_DNN_F32);
}

cc_dnn_md *cc_dnn_md_plain_dt(cc_dnn_layout layout, const long *dims, cc_dnn_dtype dt)
{
    static const struct {
        int ndims;
        dnnl_format_tag_t tag;
    } tags[] = {[CC_LAYOUT_NCHW] = {4, dnnl_nchw}, [CC_LAYOUT_OIHW] = {4, dnnl_oihw},
                [CC_LAYOUT_NC] = {2, dnnl_nc},     [CC_LAYOUT_OI] = {2, dnnl_oi},
                [CC_LAYOUT_X] = {1, dnnl_x}};
    return md_by_tag(tags[layout].ndims, dims, dt, tags[layout].tag);
}

cc_dnn_md *cc_dnn_md_nhwc(const long *dims, cc_dnn_dtype dt)
{
    return md_by_tag(4, dims, dt, dnnl_nhwc);
}

cc_dnn_md *cc_dnn_md_any4(const long *dims, cc_dnn_dtype dt)
{
    return md_by_tag(4, dims, dt, dnnl_format_tag_any);
}

cc_dnn_dtype cc_dnn_md_dtype(const cc_dnn_md *m)
{
    switch (cc_dnn_desc_dt(m)) {
    case dnnl_bf16: return CC_DNN_BF16;
    case dnnl_u8: return CC_DNN_U8;
    case dnnl_s8: return CC_DNN_S8;
    default: return CC_DNN_F32;
    }
}

long cc_dnn_md_dim(const cc_dnn_md *m, int d)
{
    return (long)cc_dnn_desc_dim(m, d);
}

cc_dnn_md *cc_dnn_md_clone(const cc_dnn_md *m)
{
    cc_dnn_md *c = NULL;
    cc_dnn_desc_clone(m, &c); /* NULL on failure */
    return c;
}

void cc_dnn_md_free(cc_dnn_md *m)
{
    cc_dnn_desc_free(m);
}

size_t cc_dnn_md_bytes(const cc_dnn_md *m)
{
    return cc_dnn_desc_bytes(m);
}

int cc_dnn_md_equal(const cc_dnn_md *a, const cc_dnn_md *b)
{
    return cc_dnn_desc_equal(a, b);
}

const cc_dnn_md *cc_dnn_prim_md(const cc_dnn_prim *p, cc_dnn_arg arg)
{
    return p->md[arg];
}

size_t cc_dnn_prim_scratchpad(const cc_dnn_prim *p)
{
    return p->scratchpad;
}

void cc_dnn_prim_free(cc_dnn_prim *p)
{
    if (!p)
        return;
    for (int i = 0; i < CC_ARG_COUNT; i++) {
        if (p->mem[i])
            dnnl_memory_destroy(p->mem[i]);
        cc_dnn_desc_free(p->md[i]);
    }
    if (p->prim)
        dnnl_primitive_destroy(p->prim);
    free(p);
}

/* Keep a clone of the md pd uses for arg, as the pd is destroyed once the
 * primitive exists; an argument the pd does not have stays NULL. */
static dnnl_status_t query_md(cc_dnn_prim *p, const_dnnl_primitive_desc_t pd, cc_dnn_arg arg,
                              dnnl_query_t q, int index)
{
    cc_dnn_md *m = NULL;
    dnnl_status_t st = cc_dnn_desc_query(pd, q, index, &m);
    if (st == dnnl_success && cc_dnn_desc_ndims(m) == 0) {
        cc_dnn_desc_free(m);
        m = NULL;
    }
    p->md[arg] = m;
    return st;
}

/* The mds of every argument a primitive can have, into p->md. */
static dnnl_status_t query_mds(cc_dnn_prim *p, const_dnnl_primitive_desc_t pd)
{
    static const struct {
        cc_dnn_arg arg;
        dnnl_query_t q;
        int index;
    } args[] = {
        {CC_ARG_SRC, dnnl_query_src_md, 0},
        {CC_ARG_SRC_1, dnnl_query_src_md, 1},
        {CC_ARG_WEIGHTS, dnnl_query_weights_md, 0},
        {CC_ARG_BIAS, dnnl_query_weights_md, 1},
        {CC_ARG_DST, dnnl_query_dst_md, 0},
        {CC_ARG_DIFF_SRC, dnnl_query_diff_src_md, 0},
        {CC_ARG_DIFF_DST, dnnl_query_diff_dst_md, 0},
        {CC_ARG_WORKSPACE, dnnl_query_workspace_md, 0},
        {CC_ARG_SCRATCHPAD, dnnl_query_scratchpad_md, 0},
    };
    dnnl_status_t st = dnnl_success;
    for (size_t i = 0; i < sizeof args / sizeof args[0] && st == dnnl_success; i++)
        st = query_md(p, pd, args[i].arg, args[i].q, args[i].index);
    return st;
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
    if ((st = query_mds(p, pd)) != dnnl_success)
        goto fail;
    p->scratchpad = p->md[CC_ARG_SCRATCHPAD] ? cc_dnn_md_bytes(p->md[CC_ARG_SCRATCHPAD]) : 0;
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
 * dst may be the caller's), oneDNN-chosen weights and a plain bias, which the
 * args own from conv_args_init to conv_args_free. */
typedef struct conv_args {
    dnnl_prop_kind_t prop;
    const cc_dnn_md *src, *dst;
    cc_dnn_md *wei, *bias, *any_dst; /* owned */
    int with_bias;
    dnnl_dims_t strides, pad;
} conv_args;

/* On failure the args hold what was made so far: conv_args_free in any case. */
static dnnl_status_t conv_args_init(conv_args *a, dnnl_prop_kind_t prop, const cc_dnn_md *src,
                                    const cc_dnn_conv *c, const cc_dnn_md *dst, int with_bias)
{
    dnnl_dims_t wd, dd, bd = {c->oc};
    wd[0] = c->oc;
    wd[1] = cc_dnn_desc_dim(src, 1);
    wd[2] = wd[3] = c->k;
    dd[0] = cc_dnn_desc_dim(src, 0);
    dd[1] = c->oc;
    dd[2] = (cc_dnn_desc_dim(src, 2) + 2 * c->pad - c->k) / c->stride + 1;
    dd[3] = (cc_dnn_desc_dim(src, 3) + 2 * c->pad - c->k) / c->stride + 1;
    a->prop = prop;
    a->src = src;
    a->wei = a->bias = a->any_dst = NULL;
    a->with_bias = with_bias;
    a->strides[0] = a->strides[1] = c->stride;
    a->pad[0] = a->pad[1] = c->pad;
    /* int8: s8 weights and s32 bias; otherwise weights of src's type, fp32 bias */
    dnnl_data_type_t dt = cc_dnn_desc_dt(src);
    dnnl_data_type_t wdt = is_int8(dt) ? dnnl_s8 : dt, bdt = is_int8(dt) ? dnnl_s32 : dnnl_f32;
    dnnl_status_t st = cc_dnn_desc_create(4, wd, wdt, dnnl_format_tag_any, &a->wei);
    if (st == dnnl_success)
        st = cc_dnn_desc_create(1, bd, bdt, dnnl_x, &a->bias);
    if (st == dnnl_success && !dst)
        st = cc_dnn_desc_create(4, dd, dt, dnnl_format_tag_any, &a->any_dst);
    a->dst = dst ? dst : a->any_dst;
    return st;
}

static void conv_args_free(conv_args *a)
{
    cc_dnn_desc_free(a->wei);
    cc_dnn_desc_free(a->bias);
    cc_dnn_desc_free(a->any_dst);
}

static dnnl_status_t conv_fwd_pd(cc_dnn_engine *g, const void *arg,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    const conv_args *a = arg;
    return cc_dnn_conv_fwd_pd(g->eng, a->prop, a->src, a->wei, a->with_bias ? a->bias : NULL,
                              a->dst, a->strides, a->pad, attr, pd);
}

covidcam_status cc_dnn_conv_fwd(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_conv *c,
                                const cc_dnn_md *dst, cc_dnn_prim **out, cc_err *e)
{
    conv_args a;
    covidcam_status rc;
    dnnl_status_t st = conv_args_init(&a, dnnl_forward_inference, src, c, dst, 1);
    if (st != dnnl_success)
        rc = cc_dnn_fail(e, st, "convolution descriptor");
    else
        rc = build_prim(g, conv_fwd_pd, &a, c->sum, c->relu, "convolution", out, e);
    conv_args_free(&a);
    return rc;
}

covidcam_status cc_dnn_conv_fwd_q(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_conv *c,
                                  const cc_dnn_md *dst, const cc_dnn_qconv *q, cc_dnn_prim **out,
                                  cc_err *e)
{
    conv_args a;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    cc_dnn_quant dq = {q->scales, q->num_scales, q->sum_scale, dnnl_dt(q->sum_dt)};
    dnnl_status_t st = conv_args_init(&a, dnnl_forward_inference, src, c, dst, 1);
    if (st != dnnl_success) {
        conv_args_free(&a);
        return cc_dnn_fail(e, st, "int8 convolution descriptor");
    }
    if ((st = cc_dnn_attr_q(&dq, c->sum, c->relu, &attr)) == dnnl_success)
        st = conv_fwd_pd(g, &a, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    conv_args_free(&a);
    return make_prim(g, st, pd, "int8 convolution", out, e);
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
    return cc_dnn_conv_bwd_data_pd(g->eng, b->a->src, b->a->wei, b->a->dst, b->a->strides,
                                   b->a->pad, attr, b->hint, pd);
}

covidcam_status cc_dnn_conv_bwd_data(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_conv *c,
                                     const cc_dnn_md *dst, cc_dnn_prim **out, cc_err *e)
{
    conv_args a;
    dnnl_primitive_desc_t hint = NULL;
    covidcam_status rc;
    dnnl_status_t st = conv_args_init(&a, dnnl_forward_training, src, c, dst, 0);
    if (st == dnnl_success)
        st = hint_pd(g, conv_fwd_pd, &a, &hint);
    if (st != dnnl_success) {
        rc = cc_dnn_fail(e, st, "convolution backward-data descriptor");
    } else {
        conv_bwd_args b = {&a, hint};
        rc = build_prim(g, conv_bwd_data_pd, &b, 0, 0, "convolution backward-data", out, e);
    }
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    conv_args_free(&a);
    return rc;
}

/* ------------------------------------------------------------ pooling */

/* One pooling; any_dst (oneDNN's choice when the caller fixes no dst) is
 * owned from pool_args_init to pool_args_free. */
typedef struct pool_args {
    dnnl_prop_kind_t prop;
    dnnl_alg_kind_t alg;
    const cc_dnn_md *src, *dst;
    cc_dnn_md *any_dst; /* owned */
    dnnl_dims_t strides, kernel, pad;
    const_dnnl_primitive_desc_t hint; /* backward only */
} pool_args;

/* On failure the args hold what was made so far: pool_args_free in any case. */
static dnnl_status_t pool_args_init(pool_args *a, dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                                    const cc_dnn_md *src, const cc_dnn_md *dst, int kh, int kw,
                                    int stride, int pad)
{
    dnnl_dims_t dd = {cc_dnn_desc_dim(src, 0), cc_dnn_desc_dim(src, 1),
                      (cc_dnn_desc_dim(src, 2) + 2 * pad - kh) / stride + 1,
                      (cc_dnn_desc_dim(src, 3) + 2 * pad - kw) / stride + 1};
    a->prop = prop;
    a->alg = alg;
    a->src = src;
    a->strides[0] = a->strides[1] = stride;
    a->kernel[0] = kh;
    a->kernel[1] = kw;
    a->pad[0] = a->pad[1] = pad;
    a->hint = NULL;
    a->any_dst = NULL;
    dnnl_status_t st = dnnl_success;
    if (!dst)
        st = cc_dnn_desc_create(4, dd, cc_dnn_desc_dt(src), dnnl_format_tag_any, &a->any_dst);
    a->dst = dst ? dst : a->any_dst;
    return st;
}

static void pool_args_free(pool_args *a)
{
    cc_dnn_desc_free(a->any_dst);
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

/* A forward pooling primitive of a (made by pool_args_init with status st). */
static covidcam_status pool_fwd(cc_dnn_engine *g, pool_args *a, dnnl_status_t st,
                                const char *what, cc_dnn_prim **out, cc_err *e)
{
    char name[64];
    covidcam_status rc;
    if (st != dnnl_success) {
        snprintf(name, sizeof name, "%s descriptor", what);
        rc = cc_dnn_fail(e, st, name);
    } else {
        rc = build_prim(g, pool_fwd_pd, a, 0, 0, what, out, e);
    }
    pool_args_free(a);
    return rc;
}

covidcam_status cc_dnn_maxpool_fwd(cc_dnn_engine *g, const cc_dnn_md *src, int k, int stride,
                                   int pad, cc_dnn_prim **out, cc_err *e)
{
    pool_args a;
    dnnl_status_t st = pool_args_init(&a, dnnl_forward_inference, dnnl_pooling_max, src, NULL, k,
                                      k, stride, pad);
    return pool_fwd(g, &a, st, "max pooling", out, e);
}

covidcam_status cc_dnn_gap_fwd(cc_dnn_engine *g, const cc_dnn_md *src, cc_dnn_prim **out,
                               cc_err *e)
{
    pool_args a;
    int h = (int)cc_dnn_desc_dim(src, 2), w = (int)cc_dnn_desc_dim(src, 3);
    dnnl_status_t st = pool_args_init(&a, dnnl_forward_inference,
                                      dnnl_pooling_avg_exclude_padding, src, NULL, h, w, 1, 0);
    return pool_fwd(g, &a, st, "average pooling", out, e);
}

covidcam_status cc_dnn_gap_bwd(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_md *dst,
                               cc_dnn_prim **out, cc_err *e)
{
    pool_args a;
    dnnl_primitive_desc_t hint = NULL;
    covidcam_status rc;
    int h = (int)cc_dnn_desc_dim(src, 2), w = (int)cc_dnn_desc_dim(src, 3);
    dnnl_status_t st = pool_args_init(&a, dnnl_forward_training,
                                      dnnl_pooling_avg_exclude_padding, src, dst, h, w, 1, 0);
    if (st == dnnl_success)
        st = hint_pd(g, pool_fwd_pd, &a, &hint);
    if (st != dnnl_success) {
        rc = cc_dnn_fail(e, st, "average pooling backward descriptor");
    } else {
        a.hint = hint;
        rc = build_prim(g, pool_bwd_pd, &a, 0, 0, "average pooling backward", out, e);
    }
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    pool_args_free(&a);
    return rc;
}

/* ------------------------------------------------------------ inner product */

/* One inner product: src is the caller's md, weights oneDNN's choice, dst
 * plain NC; the args own wei, bias and dst from fc_args_init to fc_args_free. */
typedef struct fc_args {
    dnnl_prop_kind_t prop;
    const cc_dnn_md *src;
    cc_dnn_md *wei, *bias, *dst; /* owned */
    int with_bias;
    const_dnnl_primitive_desc_t hint; /* backward only */
} fc_args;

/* On failure the args hold what was made so far: fc_args_free in any case. */
static dnnl_status_t fc_args_init(fc_args *a, dnnl_prop_kind_t prop, const cc_dnn_md *src, int oc,
                                  int with_bias)
{
    dnnl_dims_t wd = {oc, cc_dnn_desc_dim(src, 1), 1, 1}, bd = {oc},
                dd = {cc_dnn_desc_dim(src, 0), oc};
    int nd = cc_dnn_desc_ndims(src);
    for (int i = 2; i < nd; i++)
        wd[i] = cc_dnn_desc_dim(src, i);
    a->prop = prop;
    a->src = src;
    a->wei = a->bias = a->dst = NULL;
    a->with_bias = with_bias;
    a->hint = NULL;
    dnnl_status_t st =
        cc_dnn_desc_create(nd, wd, cc_dnn_desc_dt(src), dnnl_format_tag_any, &a->wei);
    if (st == dnnl_success)
        st = cc_dnn_desc_create(1, bd, dnnl_f32, dnnl_x, &a->bias);
    if (st == dnnl_success)
        st = cc_dnn_desc_create(2, dd, dnnl_f32, dnnl_nc, &a->dst);
    return st;
}

static void fc_args_free(fc_args *a)
{
    cc_dnn_desc_free(a->wei);
    cc_dnn_desc_free(a->bias);
    cc_dnn_desc_free(a->dst);
}

static dnnl_status_t fc_fwd_pd(cc_dnn_engine *g, const void *arg, const_dnnl_primitive_attr_t attr,
                               dnnl_primitive_desc_t *pd)
{
    const fc_args *a = arg;
    return cc_dnn_ip_fwd_pd(g->eng, a->prop, a->src, a->wei, a->with_bias ? a->bias : NULL,
                            a->dst, attr, pd);
}

static dnnl_status_t fc_bwd_data_pd(cc_dnn_engine *g, const void *arg,
                                    const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd)
{
    const fc_args *a = arg;
    return cc_dnn_ip_bwd_data_pd(g->eng, a->src, a->wei, a->dst, attr, a->hint, pd);
}

covidcam_status cc_dnn_fc_fwd(cc_dnn_engine *g, const cc_dnn_md *src, int oc, cc_dnn_prim **out,
                              cc_err *e)
{
    fc_args a;
    covidcam_status rc;
    dnnl_status_t st = fc_args_init(&a, dnnl_forward_inference, src, oc, 1);
    if (st != dnnl_success)
        rc = cc_dnn_fail(e, st, "inner product descriptor");
    else
        rc = build_prim(g, fc_fwd_pd, &a, 0, 0, "inner product", out, e);
    fc_args_free(&a);
    return rc;
}

covidcam_status cc_dnn_fc_bwd_data(cc_dnn_engine *g, const cc_dnn_md *src, int oc,
                                   cc_dnn_prim **out, cc_err *e)
{
    fc_args a;
    dnnl_primitive_desc_t hint = NULL;
    covidcam_status rc;
    dnnl_status_t st = fc_args_init(&a, dnnl_forward_training, src, oc, 0);
    if (st == dnnl_success)
        st = hint_pd(g, fc_fwd_pd, &a, &hint);
    if (st != dnnl_success) {
        rc = cc_dnn_fail(e, st, "inner product backward-data descriptor");
    } else {
        a.hint = hint;
        rc = build_prim(g, fc_bwd_data_pd, &a, 0, 0, "inner product backward-data", out, e);
    }
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    fc_args_free(&a);
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
    return build_prim(g, relu_bwd_pd, m, 0, 0, "ReLU backward", out, e);
}

static dnnl_status_t add_pd(cc_dnn_engine *g, const void *arg, const_dnnl_primitive_attr_t attr,
                            dnnl_primitive_desc_t *pd)
{
    const cc_dnn_md *m = arg;
    return cc_dnn_binary_pd(g->eng, dnnl_binary_add, m, m, m, attr, pd);
}

covidcam_status cc_dnn_add(cc_dnn_engine *g, const cc_dnn_md *m, cc_dnn_prim **out, cc_err *e)
{
    return build_prim(g, add_pd, m, 0, 0, "binary add", out, e);
}

typedef struct reorder_args {
    const cc_dnn_md *src, *dst;
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
    reorder_args a = {src, dst};
    return build_prim(g, reorder_pd, &a, 0, 0, "reorder", out, e);
}

covidcam_status cc_dnn_reorder_scaled(cc_dnn_engine *g, const cc_dnn_md *src,
                                      const cc_dnn_md *dst, float scale, cc_dnn_prim **out,
                                      cc_err *e)
{
    reorder_args a = {src, dst};
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    cc_dnn_quant q = {&scale, 1, 0.0f, dnnl_f32};
    dnnl_status_t st = cc_dnn_attr_q(&q, 0, 0, &attr);
    if (st == dnnl_success)
        st = reorder_pd(g, &a, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    return make_prim(g, st, pd, "scaled reorder", out, e);
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
        if (!p->md[a])
            return cc_fail(e, COVIDCAM_ERR_BACKEND, "oneDNN: primitive has no argument %d", a);
        if (!p->mem[a]) {
            /* Created with the handle, so read-only weights shared between
             * sessions are never written (set_data_handle zero-pads). */
            st = cc_dnn_mem_create(p->eng, p->md[a], binds[i].ptr, &p->mem[a]);
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

/* Slack in front of every buffer. oneDNN 2.6's AVX2 int8 convolution, for a
 * channel count below its vector width (a 2-channel stem), reads and writes
 * back up to 16 bytes in front of its output buffer (valgrind found it on a
 * fuzzing model). With the slack those bytes belong to the buffer's own
 * allocation; a multiple of the alignment keeps the buffer aligned. */
#define CC_DNN_SLACK 64

void *cc_dnn_alloc(size_t bytes)
{
    size_t sz = (bytes + 63) & ~(size_t)63;
    if (sz == 0)
        sz = 64;
    if (sz > SIZE_MAX - 2 * CC_DNN_SLACK)
        return NULL;
    unsigned char *p = aligned_alloc(64, sz + 2 * CC_DNN_SLACK);
    if (!p)
        return NULL;
    memset(p, 0, sz + 2 * CC_DNN_SLACK);
    return p + CC_DNN_SLACK;
}

void cc_dnn_free(void *p)
{
    if (p)
        free((unsigned char *)p - CC_DNN_SLACK);
}
