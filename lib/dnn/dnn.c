/* The inference layer on the oneDNN core (2.x C API). See dnn.h. */
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
    if (dnnl_memory_desc_init_by_tag(&m->md, ndims, d, dnnl_f32, tag) != dnnl_success) {
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
    return d < m->md.ndims ? (long)m->md.dims[d] : 1;
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
    return dnnl_memory_desc_get_size(&m->md);
}

int cc_dnn_md_equal(const cc_dnn_md *a, const cc_dnn_md *b)
{
    return dnnl_memory_desc_equal(&a->md, &b->md);
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
    const dnnl_memory_desc_t *m = dnnl_primitive_desc_query_md(pd, q, index);
    if (!m || m->ndims == 0)
        return;
    p->md[arg].md = *m;
    p->has_md[arg] = 1;
}

/* Build a primitive from an op descriptor (or a ready pd when op is NULL), with
 * user scratchpad and optional post-ops; records the mds of every argument. */
static covidcam_status make_prim(cc_dnn_engine *g, const void *op, dnnl_primitive_desc_t ready_pd,
                                 const_dnnl_post_ops_t po, const_dnnl_primitive_desc_t hint,
                                 const char *what, cc_dnn_prim **out, cc_err *e)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = ready_pd;
    cc_dnn_prim *p = calloc(1, sizeof *p);
    dnnl_status_t st = dnnl_out_of_memory;
    if (!p)
        goto fail;
    if (!pd) {
        if ((st = dnnl_primitive_attr_create(&attr)) != dnnl_success)
            goto fail;
        if ((st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)))
            goto fail;
        if (po && (st = dnnl_primitive_attr_set_post_ops(attr, po)) != dnnl_success)
            goto fail;
        if ((st = dnnl_primitive_desc_create(&pd, op, attr, g->eng, hint)) != dnnl_success)
            goto fail;
    }
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
    dnnl_primitive_attr_destroy(attr);
    *out = p;
    return COVIDCAM_OK;
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    cc_dnn_prim_free(p);
    return cc_dnn_fail(e, st, what);
}

static void conv_geometry(const cc_dnn_md *src, const cc_dnn_conv *c, dnnl_dims_t wd,
                          dnnl_dims_t dd, dnnl_dims_t strides, dnnl_dims_t pad)
{
    const dnnl_dims_t *sd = &src->md.dims;
    wd[0] = c->oc;
    wd[1] = (*sd)[1];
    wd[2] = wd[3] = c->k;
    dd[0] = (*sd)[0];
    dd[1] = c->oc;
    dd[2] = ((*sd)[2] + 2 * c->pad - c->k) / c->stride + 1;
    dd[3] = ((*sd)[3] + 2 * c->pad - c->k) / c->stride + 1;
    strides[0] = strides[1] = c->stride;
    pad[0] = pad[1] = c->pad;
}

/* Op descriptor of the forward convolution (shared by the inference primitive
 * and the training-mode hint that backward primitives require). */
static dnnl_status_t conv_desc(dnnl_convolution_desc_t *cd, dnnl_prop_kind_t prop,
                               const cc_dnn_md *src, const cc_dnn_conv *c, const cc_dnn_md *dst,
                               int with_bias)
{
    dnnl_dims_t wd, dd, strides, pad, bd;
    dnnl_memory_desc_t wmd, bmd, dmd;
    conv_geometry(src, c, wd, dd, strides, pad);
    bd[0] = c->oc;
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x);
    if (st == dnnl_success && !dst)
        st = dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_f32, dnnl_format_tag_any);
    if (st != dnnl_success)
        return st;
    return dnnl_convolution_forward_desc_init(cd, prop, dnnl_convolution_direct, &src->md, &wmd,
                                              with_bias ? &bmd : NULL, dst ? &dst->md : &dmd,
                                              strides, pad, pad);
}

covidcam_status cc_dnn_conv_fwd(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_conv *c,
                                const cc_dnn_md *dst, cc_dnn_prim **out, cc_err *e)
{
    dnnl_convolution_desc_t cd;
    dnnl_post_ops_t po = NULL;
    dnnl_status_t st = conv_desc(&cd, dnnl_forward_inference, src, c, dst, 1);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "convolution descriptor");
    if (c->sum || c->relu) {
        if ((st = dnnl_post_ops_create(&po)) != dnnl_success)
            return cc_dnn_fail(e, st, "post-ops");
        if (c->sum)
            st = dnnl_post_ops_append_sum(po, 1.0f);
        if (st == dnnl_success && c->relu)
            st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        if (st != dnnl_success) {
            dnnl_post_ops_destroy(po);
            return cc_dnn_fail(e, st, "post-ops");
        }
    }
    covidcam_status rc = make_prim(g, &cd, NULL, po, NULL, "convolution", out, e);
    if (po)
        dnnl_post_ops_destroy(po);
    return rc;
}

/* A forward-training primitive descriptor, only as the hint backward needs. */
static dnnl_status_t hint_pd(cc_dnn_engine *g, const void *op, dnnl_primitive_desc_t *pd)
{
    return dnnl_primitive_desc_create(pd, op, NULL, g->eng, NULL);
}

covidcam_status cc_dnn_conv_bwd_data(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_conv *c,
                                     const cc_dnn_md *dst, cc_dnn_prim **out, cc_err *e)
{
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_desc_t hint = NULL;
    dnnl_dims_t wd, dd, strides, pad;
    dnnl_memory_desc_t wmd;
    conv_geometry(src, c, wd, dd, strides, pad);
    dnnl_status_t st = conv_desc(&fd, dnnl_forward_training, src, c, dst, 0);
    if (st == dnnl_success)
        st = hint_pd(g, &fd, &hint);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &src->md,
                                                      &wmd, &dst->md, strides, pad, pad);
    if (st != dnnl_success) {
        if (hint)
            dnnl_primitive_desc_destroy(hint);
        return cc_dnn_fail(e, st, "convolution backward-data descriptor");
    }
    covidcam_status rc = make_prim(g, &bd, NULL, NULL, hint, "convolution backward-data", out, e);
    dnnl_primitive_desc_destroy(hint);
    return rc;
}

static dnnl_status_t pool_desc(dnnl_pooling_desc_t *pd, dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                               const cc_dnn_md *src, const cc_dnn_md *dst, int kh, int kw,
                               int stride, int pad)
{
    const dnnl_dims_t *sd = &src->md.dims;
    dnnl_dims_t dd = {(*sd)[0], (*sd)[1], ((*sd)[2] + 2 * pad - kh) / stride + 1,
                      ((*sd)[3] + 2 * pad - kw) / stride + 1};
    dnnl_dims_t strides = {stride, stride}, kernel = {kh, kw}, padding = {pad, pad};
    dnnl_memory_desc_t dmd;
    if (!dst) {
        dnnl_status_t st = dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_f32,
                                                        dnnl_format_tag_any);
        if (st != dnnl_success)
            return st;
    }
    return dnnl_pooling_forward_desc_init(pd, prop, alg, &src->md, dst ? &dst->md : &dmd, strides,
                                          kernel, padding, padding);
}

covidcam_status cc_dnn_maxpool_fwd(cc_dnn_engine *g, const cc_dnn_md *src, int k, int stride,
                                   int pad, cc_dnn_prim **out, cc_err *e)
{
    dnnl_pooling_desc_t pd;
    dnnl_status_t st =
        pool_desc(&pd, dnnl_forward_inference, dnnl_pooling_max, src, NULL, k, k, stride, pad);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "max pooling descriptor");
    return make_prim(g, &pd, NULL, NULL, NULL, "max pooling", out, e);
}

covidcam_status cc_dnn_gap_fwd(cc_dnn_engine *g, const cc_dnn_md *src, cc_dnn_prim **out,
                               cc_err *e)
{
    dnnl_pooling_desc_t pd;
    int h = (int)src->md.dims[2], w = (int)src->md.dims[3];
    dnnl_status_t st = pool_desc(&pd, dnnl_forward_inference, dnnl_pooling_avg_exclude_padding,
                                 src, NULL, h, w, 1, 0);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "average pooling descriptor");
    return make_prim(g, &pd, NULL, NULL, NULL, "average pooling", out, e);
}

covidcam_status cc_dnn_gap_bwd(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_md *dst,
                               cc_dnn_prim **out, cc_err *e)
{
    dnnl_pooling_desc_t fd, bd;
    dnnl_primitive_desc_t hint = NULL;
    int h = (int)src->md.dims[2], w = (int)src->md.dims[3];
    dnnl_dims_t strides = {1, 1}, kernel = {h, w}, padding = {0, 0};
    dnnl_status_t st = pool_desc(&fd, dnnl_forward_training, dnnl_pooling_avg_exclude_padding, src,
                                 dst, h, w, 1, 0);
    if (st == dnnl_success)
        st = hint_pd(g, &fd, &hint);
    if (st == dnnl_success)
        st = dnnl_pooling_backward_desc_init(&bd, dnnl_pooling_avg_exclude_padding, &src->md,
                                             &dst->md, strides, kernel, padding, padding);
    if (st != dnnl_success) {
        if (hint)
            dnnl_primitive_desc_destroy(hint);
        return cc_dnn_fail(e, st, "average pooling backward descriptor");
    }
    covidcam_status rc = make_prim(g, &bd, NULL, NULL, hint, "average pooling backward", out, e);
    dnnl_primitive_desc_destroy(hint);
    return rc;
}

static dnnl_status_t fc_desc(dnnl_inner_product_desc_t *d, dnnl_prop_kind_t prop,
                             const cc_dnn_md *src, int oc, int with_bias)
{
    dnnl_dims_t wd = {oc, src->md.dims[1], 1, 1}, bd = {oc}, dd = {src->md.dims[0], oc};
    for (int i = 2; i < src->md.ndims; i++)
        wd[i] = src->md.dims[i];
    dnnl_memory_desc_t wmd, bmd, dmd;
    dnnl_status_t st =
        dnnl_memory_desc_init_by_tag(&wmd, src->md.ndims, wd, dnnl_f32, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&dmd, 2, dd, dnnl_f32, dnnl_nc);
    if (st != dnnl_success)
        return st;
    return dnnl_inner_product_forward_desc_init(d, prop, &src->md, &wmd, with_bias ? &bmd : NULL,
                                                &dmd);
}

covidcam_status cc_dnn_fc_fwd(cc_dnn_engine *g, const cc_dnn_md *src, int oc, cc_dnn_prim **out,
                              cc_err *e)
{
    dnnl_inner_product_desc_t d;
    dnnl_status_t st = fc_desc(&d, dnnl_forward_inference, src, oc, 1);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "inner product descriptor");
    return make_prim(g, &d, NULL, NULL, NULL, "inner product", out, e);
}

covidcam_status cc_dnn_fc_bwd_data(cc_dnn_engine *g, const cc_dnn_md *src, int oc,
                                   cc_dnn_prim **out, cc_err *e)
{
    dnnl_inner_product_desc_t fd, bd;
    dnnl_primitive_desc_t hint = NULL;
    dnnl_dims_t wd = {oc, src->md.dims[1], 1, 1}, dd = {src->md.dims[0], oc};
    for (int i = 2; i < src->md.ndims; i++)
        wd[i] = src->md.dims[i];
    dnnl_memory_desc_t wmd, dmd;
    dnnl_status_t st = fc_desc(&fd, dnnl_forward_training, src, oc, 0);
    if (st == dnnl_success)
        st = hint_pd(g, &fd, &hint);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&wmd, src->md.ndims, wd, dnnl_f32, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&dmd, 2, dd, dnnl_f32, dnnl_nc);
    if (st == dnnl_success)
        st = dnnl_inner_product_backward_data_desc_init(&bd, &src->md, &wmd, &dmd);
    if (st != dnnl_success) {
        if (hint)
            dnnl_primitive_desc_destroy(hint);
        return cc_dnn_fail(e, st, "inner product backward-data descriptor");
    }
    covidcam_status rc = make_prim(g, &bd, NULL, NULL, hint, "inner product backward-data", out, e);
    dnnl_primitive_desc_destroy(hint);
    return rc;
}

covidcam_status cc_dnn_relu_bwd(cc_dnn_engine *g, const cc_dnn_md *m, cc_dnn_prim **out,
                                cc_err *e)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success)
        st = cc_dnn_relu_bwd_pd(g->eng, &m->md, attr, &pd);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "ReLU backward");
    return make_prim(g, NULL, pd, NULL, NULL, "ReLU backward", out, e); /* takes pd */
}

covidcam_status cc_dnn_add(cc_dnn_engine *g, const cc_dnn_md *m, cc_dnn_prim **out, cc_err *e)
{
    dnnl_binary_desc_t d;
    dnnl_status_t st = dnnl_binary_desc_init(&d, dnnl_binary_add, &m->md, &m->md, &m->md);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "binary add descriptor");
    return make_prim(g, &d, NULL, NULL, NULL, "binary add", out, e);
}

covidcam_status cc_dnn_reorder(cc_dnn_engine *g, const cc_dnn_md *src, const cc_dnn_md *dst,
                               cc_dnn_prim **out, cc_err *e)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success)
        st = dnnl_reorder_primitive_desc_create(&pd, &src->md, g->eng, &dst->md, g->eng, attr);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return cc_dnn_fail(e, st, "reorder descriptor");
    return make_prim(g, NULL, pd, NULL, NULL, "reorder", out, e);
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
            st = dnnl_memory_create(&p->mem[a], &p->md[a].md, p->eng, binds[i].ptr);
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
