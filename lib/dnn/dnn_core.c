/* The oneDNN core (2.x C API). See dnn_core.h: a port to oneDNN 3.x rewrites
 * the bodies below and nothing else of the layers' oneDNN use. */
#include "dnn_core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

const char *cc_dnn_status_str(dnnl_status_t s)
{
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented (no implementation for these shapes/types)";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown error";
    }
}

covidcam_status cc_dnn_fail(cc_err *e, dnnl_status_t st, const char *what)
{
    if (st == dnnl_out_of_memory)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "oneDNN: out of memory in %s", what);
    if (st == dnnl_unimplemented)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED, "oneDNN: %s is not implemented on this CPU",
                       what);
    return cc_fail(e, COVIDCAM_ERR_BACKEND, "oneDNN: %s failed (%s, status %d)", what,
                   cc_dnn_status_str(st), (int)st);
}

/* ------------------------------------------------------------ CPU ISA */

/* The ISA is oneDNN's effective one: the CPU's, capped by ONEDNN_MAX_CPU_ISA
 * or dnnl_set_max_cpu_isa, so a capped process refuses what it cannot run. */
static int isa_has(dnnl_cpu_isa_t want)
{
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), w = (unsigned)want;
    return (isa & w) == w;
}

int cc_dnn_isa_avx512(void)
{
    return isa_has(dnnl_cpu_isa_avx512_core);
}

int cc_dnn_isa_bf16(void)
{
    return isa_has(dnnl_cpu_isa_avx512_core_bf16) || isa_has(dnnl_cpu_isa_avx512_core_amx);
}

int cc_dnn_isa_vnni(void)
{
    return isa_has(dnnl_cpu_isa_avx512_core_vnni) || isa_has(dnnl_cpu_isa_avx512_core_amx);
}

const char *cc_dnn_isa_name(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

/* ------------------------------------------------------------ memory descriptors */

/* 2.x: the md struct itself. In 3.x this holds the dnnl_memory_desc_t handle;
 * create/clone/query become dnnl_memory_desc_create_with_tag / _clone (a pd's
 * md cloned before the caller may destroy the pd), free calls
 * dnnl_memory_desc_destroy and the field reads dnnl_memory_desc_query. */
struct cc_dnn_desc {
    dnnl_memory_desc_t md;
};

/* Descs alive in the process (cc_dnn_desc_live): a debugging aid only, never
 * read by the library itself. Atomic because sessions build on several
 * threads. */
static atomic_long live_descs;

/* The raw md the 2.x calls take; NULL stays NULL (no bias, no diff bias). */
static const dnnl_memory_desc_t *raw(const cc_dnn_desc *d)
{
    return d ? &d->md : NULL;
}

/* A zeroed (empty) desc, counted as live. NULL if out of memory. */
static cc_dnn_desc *desc_new(void)
{
    cc_dnn_desc *d = calloc(1, sizeof *d);
    if (d)
        atomic_fetch_add(&live_descs, 1);
    return d;
}

void cc_dnn_desc_free(cc_dnn_desc *d)
{
    if (!d)
        return;
    atomic_fetch_sub(&live_descs, 1);
    free(d);
}

long cc_dnn_desc_live(void)
{
    return atomic_load(&live_descs);
}

dnnl_status_t cc_dnn_desc_create(int ndims, const dnnl_dim_t *dims, dnnl_data_type_t dt,
                                 dnnl_format_tag_t tag, cc_dnn_desc **out)
{
    cc_dnn_desc *d = desc_new();
    *out = NULL;
    if (!d)
        return dnnl_out_of_memory;
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(&d->md, ndims, dims, dt, tag);
    if (st != dnnl_success) {
        cc_dnn_desc_free(d);
        return st;
    }
    *out = d;
    return dnnl_success;
}

dnnl_status_t cc_dnn_desc_clone(const cc_dnn_desc *src, cc_dnn_desc **out)
{
    cc_dnn_desc *d = desc_new();
    *out = d;
    if (!d)
        return dnnl_out_of_memory;
    d->md = src->md; /* 2.x: a struct copy is the clone */
    return dnnl_success;
}

dnnl_status_t cc_dnn_desc_query(const_dnnl_primitive_desc_t pd, dnnl_query_t q, int index,
                                cc_dnn_desc **out)
{
    const dnnl_memory_desc_t *m = dnnl_primitive_desc_query_md(pd, q, index);
    cc_dnn_desc *d = desc_new();
    *out = d;
    if (!d)
        return dnnl_out_of_memory;
    if (m)
        d->md = *m; /* copied: the pd's md dies with the pd */
    return dnnl_success;
}

int cc_dnn_desc_ndims(const cc_dnn_desc *d)
{
    return d->md.ndims;
}

dnnl_dim_t cc_dnn_desc_dim(const cc_dnn_desc *d, int i)
{
    return i < d->md.ndims ? d->md.dims[i] : 1;
}

int cc_dnn_desc_dims(const cc_dnn_desc *d, dnnl_dim_t *dims)
{
    for (int i = 0; i < d->md.ndims; i++)
        dims[i] = d->md.dims[i];
    return d->md.ndims;
}

dnnl_data_type_t cc_dnn_desc_dt(const cc_dnn_desc *d)
{
    return d->md.data_type;
}

size_t cc_dnn_desc_bytes(const cc_dnn_desc *d)
{
    return dnnl_memory_desc_get_size(&d->md);
}

int cc_dnn_desc_equal(const cc_dnn_desc *a, const cc_dnn_desc *b)
{
    return dnnl_memory_desc_equal(&a->md, &b->md);
}

int cc_dnn_pd_is_ref(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
        return 0;
    return strncmp(impl, "ref", 3) == 0;
}

dnnl_status_t cc_dnn_mem_create(dnnl_engine_t eng, const cc_dnn_desc *d, void *handle,
                                dnnl_memory_t *out)
{
    return dnnl_memory_create(out, raw(d), eng, handle);
}

/* ------------------------------------------------------------ attributes */

/* The post-ops of cc_dnn_attr_q, set on attr (which copies them): a sum of
 * the previous dst read as sum_dt (undef: dst's type) and scaled by
 * sum_scale, then ReLU. In 3.x: dnnl_post_ops_append_sum(po, scale, 0, dt)
 * and an eltwise without its scale argument. */
static dnnl_status_t set_post_ops(dnnl_primitive_attr_t attr, const cc_dnn_quant *q, int sum,
                                  int relu)
{
    dnnl_post_ops_t po = NULL;
    dnnl_status_t st = dnnl_post_ops_create(&po);
    if (st == dnnl_success && sum)
        st = dnnl_post_ops_append_sum_v2(po, q->sum_scale, q->sum_dt);
    if (st == dnnl_success && relu)
        st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_post_ops_destroy(po);
    return st;
}

dnnl_status_t cc_dnn_attr(int sum, int relu, dnnl_primitive_attr_t *out)
{
    static const cc_dnn_quant plain = {NULL, 0, 1.0f, dnnl_data_type_undef};
    return cc_dnn_attr_q(&plain, sum, relu, out);
}

dnnl_status_t cc_dnn_attr_q(const cc_dnn_quant *q, int sum, int relu, dnnl_primitive_attr_t *out)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_status_t st = dnnl_primitive_attr_create(&attr);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    /* 2.x output scales: one per output channel (mask bit 1) or one for all */
    if (st == dnnl_success && q->num_scales > 0)
        st = dnnl_primitive_attr_set_output_scales(attr, q->num_scales,
                                                   q->num_scales > 1 ? 1 << 1 : 0, q->scales);
    if (st == dnnl_success && (sum || relu))
        st = set_post_ops(attr, q, sum, relu);
    if (st != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        attr = NULL;
    }
    *out = attr;
    return st;
}

/* ------------------------------------------------------------ builders */

/* The pd of an initialised 2.x op descriptor; in 3.x each builder calls its
 * dnnl_*_primitive_desc_create instead. init: the op descriptor's status. */
static dnnl_status_t pd_of(dnnl_status_t init, const void *op, const_dnnl_primitive_attr_t attr,
                           dnnl_engine_t eng, const_dnnl_primitive_desc_t hint,
                           dnnl_primitive_desc_t *out)
{
    *out = NULL;
    if (init != dnnl_success)
        return init;
    dnnl_status_t st = dnnl_primitive_desc_create(out, op, attr, eng, hint);
    if (st != dnnl_success)
        *out = NULL;
    return st;
}

dnnl_status_t cc_dnn_conv_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop,
                                 const cc_dnn_desc *src, const cc_dnn_desc *wei,
                                 const cc_dnn_desc *bias, const cc_dnn_desc *dst,
                                 const dnnl_dim_t *strides, const dnnl_dim_t *pad,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out)
{
    dnnl_convolution_desc_t d;
    dnnl_status_t st =
        dnnl_convolution_forward_desc_init(&d, prop, dnnl_convolution_direct, raw(src), raw(wei),
                                           raw(bias), raw(dst), strides, pad, pad);
    return pd_of(st, &d, attr, eng, NULL, out);
}

dnnl_status_t cc_dnn_conv_bwd_data_pd(dnnl_engine_t eng, const cc_dnn_desc *diff_src,
                                      const cc_dnn_desc *wei,
                                      const cc_dnn_desc *diff_dst,
                                      const dnnl_dim_t *strides, const dnnl_dim_t *pad,
                                      const_dnnl_primitive_attr_t attr,
                                      const_dnnl_primitive_desc_t hint,
                                      dnnl_primitive_desc_t *out)
{
    dnnl_convolution_desc_t d;
    dnnl_status_t st = dnnl_convolution_backward_data_desc_init(
        &d, dnnl_convolution_direct, raw(diff_src), raw(wei), raw(diff_dst), strides, pad, pad);
    return pd_of(st, &d, attr, eng, hint, out);
}

dnnl_status_t cc_dnn_conv_bwd_weights_pd(dnnl_engine_t eng, const cc_dnn_desc *src,
                                         const cc_dnn_desc *diff_wei,
                                         const cc_dnn_desc *diff_bias,
                                         const cc_dnn_desc *diff_dst,
                                         const dnnl_dim_t *strides, const dnnl_dim_t *pad,
                                         const_dnnl_primitive_attr_t attr,
                                         const_dnnl_primitive_desc_t hint,
                                         dnnl_primitive_desc_t *out)
{
    dnnl_convolution_desc_t d;
    dnnl_status_t st = dnnl_convolution_backward_weights_desc_init(
        &d, dnnl_convolution_direct, raw(src), raw(diff_wei), raw(diff_bias), raw(diff_dst),
        strides, pad, pad);
    return pd_of(st, &d, attr, eng, hint, out);
}

dnnl_status_t cc_dnn_bn_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop,
                               const cc_dnn_desc *data, float eps, unsigned flags,
                               const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out)
{
    dnnl_batch_normalization_desc_t d;
    dnnl_status_t st = dnnl_batch_normalization_forward_desc_init(&d, prop, raw(data), eps, flags);
    return pd_of(st, &d, attr, eng, NULL, out);
}

dnnl_status_t cc_dnn_bn_bwd_pd(dnnl_engine_t eng, const cc_dnn_desc *diff,
                               const cc_dnn_desc *data, float eps, unsigned flags,
                               const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                               dnnl_primitive_desc_t *out)
{
    dnnl_batch_normalization_desc_t d;
    dnnl_status_t st = dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward, raw(diff),
                                                                   raw(data), eps, flags);
    return pd_of(st, &d, attr, eng, hint, out);
}

dnnl_status_t cc_dnn_pool_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                                 const cc_dnn_desc *src, const cc_dnn_desc *dst,
                                 const dnnl_dim_t *strides, const dnnl_dim_t *kernel,
                                 const dnnl_dim_t *pad, const_dnnl_primitive_attr_t attr,
                                 dnnl_primitive_desc_t *out)
{
    dnnl_pooling_desc_t d;
    dnnl_status_t st = dnnl_pooling_forward_desc_init(&d, prop, alg, raw(src), raw(dst), strides,
                                                      kernel, pad, pad);
    return pd_of(st, &d, attr, eng, NULL, out);
}

dnnl_status_t cc_dnn_pool_bwd_pd(dnnl_engine_t eng, dnnl_alg_kind_t alg,
                                 const cc_dnn_desc *diff_src,
                                 const cc_dnn_desc *diff_dst, const dnnl_dim_t *strides,
                                 const dnnl_dim_t *kernel, const dnnl_dim_t *pad,
                                 const_dnnl_primitive_attr_t attr,
                                 const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *out)
{
    dnnl_pooling_desc_t d;
    dnnl_status_t st = dnnl_pooling_backward_desc_init(&d, alg, raw(diff_src), raw(diff_dst),
                                                       strides, kernel, pad, pad);
    return pd_of(st, &d, attr, eng, hint, out);
}

dnnl_status_t cc_dnn_ip_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop,
                               const cc_dnn_desc *src, const cc_dnn_desc *wei,
                               const cc_dnn_desc *bias, const cc_dnn_desc *dst,
                               const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out)
{
    dnnl_inner_product_desc_t d;
    dnnl_status_t st =
        dnnl_inner_product_forward_desc_init(&d, prop, raw(src), raw(wei), raw(bias), raw(dst));
    return pd_of(st, &d, attr, eng, NULL, out);
}

dnnl_status_t cc_dnn_ip_bwd_data_pd(dnnl_engine_t eng, const cc_dnn_desc *diff_src,
                                    const cc_dnn_desc *wei,
                                    const cc_dnn_desc *diff_dst,
                                    const_dnnl_primitive_attr_t attr,
                                    const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *out)
{
    dnnl_inner_product_desc_t d;
    dnnl_status_t st =
        dnnl_inner_product_backward_data_desc_init(&d, raw(diff_src), raw(wei), raw(diff_dst));
    return pd_of(st, &d, attr, eng, hint, out);
}

dnnl_status_t cc_dnn_ip_bwd_weights_pd(dnnl_engine_t eng, const cc_dnn_desc *src,
                                       const cc_dnn_desc *diff_wei,
                                       const cc_dnn_desc *diff_bias,
                                       const cc_dnn_desc *diff_dst,
                                       const_dnnl_primitive_attr_t attr,
                                       const_dnnl_primitive_desc_t hint,
                                       dnnl_primitive_desc_t *out)
{
    dnnl_inner_product_desc_t d;
    dnnl_status_t st = dnnl_inner_product_backward_weights_desc_init(&d, raw(src), raw(diff_wei),
                                                                     raw(diff_bias), raw(diff_dst));
    return pd_of(st, &d, attr, eng, hint, out);
}

dnnl_status_t cc_dnn_eltwise_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                                    const cc_dnn_desc *src, float alpha, float beta,
                                    const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out)
{
    dnnl_eltwise_desc_t d;
    dnnl_status_t st = dnnl_eltwise_forward_desc_init(&d, prop, alg, raw(src), alpha, beta);
    return pd_of(st, &d, attr, eng, NULL, out);
}

dnnl_status_t cc_dnn_relu_bwd_pd(dnnl_engine_t eng, const cc_dnn_desc *md,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out)
{
    dnnl_eltwise_desc_t bd;
    dnnl_primitive_desc_t hint = NULL;
    *out = NULL;
    dnnl_status_t st = cc_dnn_eltwise_fwd_pd(eng, dnnl_forward_training,
                                             dnnl_eltwise_relu_use_dst_for_bwd, md, 0.f, 0.f, NULL,
                                             &hint);
    if (st == dnnl_success) {
        st = dnnl_eltwise_backward_desc_init(&bd, dnnl_eltwise_relu_use_dst_for_bwd, raw(md),
                                             raw(md), 0.f, 0.f);
        st = pd_of(st, &bd, attr, eng, hint, out);
    }
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    return st;
}

dnnl_status_t cc_dnn_binary_pd(dnnl_engine_t eng, dnnl_alg_kind_t alg,
                               const cc_dnn_desc *src0, const cc_dnn_desc *src1,
                               const cc_dnn_desc *dst, const_dnnl_primitive_attr_t attr,
                               dnnl_primitive_desc_t *out)
{
    dnnl_binary_desc_t d;
    dnnl_status_t st = dnnl_binary_desc_init(&d, alg, raw(src0), raw(src1), raw(dst));
    return pd_of(st, &d, attr, eng, NULL, out);
}

dnnl_status_t cc_dnn_reorder_pd(dnnl_engine_t eng, const cc_dnn_desc *src,
                                const cc_dnn_desc *dst, const_dnnl_primitive_attr_t attr,
                                dnnl_primitive_desc_t *out)
{
    *out = NULL;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(out, raw(src), eng, raw(dst), eng, attr);
    if (st != dnnl_success)
        *out = NULL;
    return st;
}
