/* The oneDNN core: what every layer built on oneDNN shares, so that there is
 * one status map, one allocator and one builder for each primitive the layers
 * need. Only the inference layer (dnn.c) and the training engine
 * (dnn_train*.c), both in lib/dnn/, include this header, and with it
 * <oneapi/dnnl/dnnl.h>; the rest of the code sees the opaque dnn.h and
 * dnn_train.h.
 *
 * The core is the one place written against the oneDNN 2.x calls that 3.x
 * replaced: operation descriptors (`dnnl_*_desc_init` plus
 * `dnnl_primitive_desc_create`, in 3.x one `dnnl_*_primitive_desc_create`
 * each), memory-descriptor creation and fields (a plain struct in 2.x, an
 * opaque handle in 3.x), post-op arguments and memory creation. The layers
 * build primitive descriptors, memory descriptors, attributes and memory
 * objects through the functions below and never read a md field. Calls that
 * 3.x kept as they are (engine, stream, primitive creation and execution, the
 * destroy functions, impl-info queries) stay in the layers.
 *
 * Builders: each takes plain arguments (engine, mds, strides/padding arrays,
 * attributes, the forward-training hint a backward pd needs) and returns
 * oneDNN's status. On failure *out is NULL; the caller destroys a returned pd
 * (dnnl_primitive_desc_destroy). attr NULL means oneDNN's default attributes
 * (library-managed scratchpad, no post-ops). Padding is symmetric: `pad` is
 * both the left/top and the right/bottom padding. */
#ifndef COVIDCAM_DNN_CORE_H
#define COVIDCAM_DNN_CORE_H

#include <oneapi/dnnl/dnnl.h>

#include "dnn.h"

/* A short English name of a oneDNN status. Static string. */
const char *cc_dnn_status_str(dnnl_status_t st);

/* The one map from a failed oneDNN call to a covidcam status: out of memory is
 * OUT_OF_MEMORY, unimplemented is UNSUPPORTED, anything else BACKEND. The
 * message names `what` (e.g. "convolution forward"). Returns the status. */
covidcam_status cc_dnn_fail(cc_err *e, dnnl_status_t st, const char *what);

/* ------------------------------------------------------------ memory descriptors */

/* Fill *md with an ndims-D md of dims, data type dt and layout tag
 * (dnnl_format_tag_any: the primitive picks). *md is zeroed first, so it is
 * a valid (empty) md even on failure. */
dnnl_status_t cc_dnn_desc_tag(dnnl_memory_desc_t *md, int ndims, const dnnl_dim_t *dims,
                              dnnl_data_type_t dt, dnnl_format_tag_t tag);
/* The fields of md the layers need: number of dims (0 for an empty md), dim i
 * (1 past ndims, the broadcast convention), all dims into dims[] (returns
 * ndims) and the data type. */
int cc_dnn_desc_ndims(const dnnl_memory_desc_t *md);
dnnl_dim_t cc_dnn_desc_dim(const dnnl_memory_desc_t *md, int i);
int cc_dnn_desc_dims(const dnnl_memory_desc_t *md, dnnl_dim_t *dims);
dnnl_data_type_t cc_dnn_desc_dt(const dnnl_memory_desc_t *md);
/* Bytes a buffer of md needs (0 for an empty md); 1 if a and b are equal. */
size_t cc_dnn_desc_bytes(const dnnl_memory_desc_t *md);
int cc_dnn_desc_equal(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b);

/* The md a pd uses for query q (dnnl_query_src_md, ...) and index, owned by
 * the pd; NULL or an empty md when the pd has no such argument. */
const dnnl_memory_desc_t *cc_dnn_pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t q, int index);
/* 1 when oneDNN picked a reference (slow) implementation for pd. */
int cc_dnn_pd_is_ref(const_dnnl_primitive_desc_t pd);

/* A memory object on eng viewing `handle` (not owned, may be NULL) with md.
 * The caller destroys it (dnnl_memory_destroy). */
dnnl_status_t cc_dnn_mem_create(dnnl_engine_t eng, const dnnl_memory_desc_t *md, void *handle,
                                dnnl_memory_t *out);

/* ------------------------------------------------------------ attributes */

/* Attributes with user-managed scratchpad and, in this order, a sum post-op
 * (scale 1: dst += previous dst) when sum and a ReLU post-op when relu. On
 * failure *out is NULL; the caller destroys it (dnnl_primitive_attr_destroy). */
dnnl_status_t cc_dnn_attr(int sum, int relu, dnnl_primitive_attr_t *out);

/* ------------------------------------------------------------ builders */

/* Direct convolution, no dilation. bias NULL: none. */
dnnl_status_t cc_dnn_conv_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop,
                                 const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *wei,
                                 const dnnl_memory_desc_t *bias, const dnnl_memory_desc_t *dst,
                                 const dnnl_dim_t *strides, const dnnl_dim_t *pad,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out);
dnnl_status_t cc_dnn_conv_bwd_data_pd(dnnl_engine_t eng, const dnnl_memory_desc_t *diff_src,
                                      const dnnl_memory_desc_t *wei,
                                      const dnnl_memory_desc_t *diff_dst,
                                      const dnnl_dim_t *strides, const dnnl_dim_t *pad,
                                      const_dnnl_primitive_attr_t attr,
                                      const_dnnl_primitive_desc_t hint,
                                      dnnl_primitive_desc_t *out);
/* diff_bias NULL: no bias gradient. */
dnnl_status_t cc_dnn_conv_bwd_weights_pd(dnnl_engine_t eng, const dnnl_memory_desc_t *src,
                                         const dnnl_memory_desc_t *diff_wei,
                                         const dnnl_memory_desc_t *diff_bias,
                                         const dnnl_memory_desc_t *diff_dst,
                                         const dnnl_dim_t *strides, const dnnl_dim_t *pad,
                                         const_dnnl_primitive_attr_t attr,
                                         const_dnnl_primitive_desc_t hint,
                                         dnnl_primitive_desc_t *out);

/* Batch normalization with src and dst (and diff_src and diff_dst) on one md;
 * flags: dnnl_use_scale, dnnl_use_shift, dnnl_fuse_norm_relu,
 * dnnl_use_global_stats. Backward is dnnl_backward (data, scale and shift). */
dnnl_status_t cc_dnn_bn_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop,
                               const dnnl_memory_desc_t *data, float eps, unsigned flags,
                               const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out);
dnnl_status_t cc_dnn_bn_bwd_pd(dnnl_engine_t eng, const dnnl_memory_desc_t *diff,
                               const dnnl_memory_desc_t *data, float eps, unsigned flags,
                               const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                               dnnl_primitive_desc_t *out);

/* 2-D pooling, no dilation; kernel, strides and pad have 2 entries. */
dnnl_status_t cc_dnn_pool_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                                 const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst,
                                 const dnnl_dim_t *strides, const dnnl_dim_t *kernel,
                                 const dnnl_dim_t *pad, const_dnnl_primitive_attr_t attr,
                                 dnnl_primitive_desc_t *out);
dnnl_status_t cc_dnn_pool_bwd_pd(dnnl_engine_t eng, dnnl_alg_kind_t alg,
                                 const dnnl_memory_desc_t *diff_src,
                                 const dnnl_memory_desc_t *diff_dst, const dnnl_dim_t *strides,
                                 const dnnl_dim_t *kernel, const dnnl_dim_t *pad,
                                 const_dnnl_primitive_attr_t attr,
                                 const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *out);

/* Inner product; bias / diff_bias NULL: none. */
dnnl_status_t cc_dnn_ip_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop,
                               const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *wei,
                               const dnnl_memory_desc_t *bias, const dnnl_memory_desc_t *dst,
                               const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out);
dnnl_status_t cc_dnn_ip_bwd_data_pd(dnnl_engine_t eng, const dnnl_memory_desc_t *diff_src,
                                    const dnnl_memory_desc_t *wei,
                                    const dnnl_memory_desc_t *diff_dst,
                                    const_dnnl_primitive_attr_t attr,
                                    const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *out);
dnnl_status_t cc_dnn_ip_bwd_weights_pd(dnnl_engine_t eng, const dnnl_memory_desc_t *src,
                                       const dnnl_memory_desc_t *diff_wei,
                                       const dnnl_memory_desc_t *diff_bias,
                                       const dnnl_memory_desc_t *diff_dst,
                                       const_dnnl_primitive_attr_t attr,
                                       const_dnnl_primitive_desc_t hint,
                                       dnnl_primitive_desc_t *out);

/* Elementwise forward with dst on the src md. */
dnnl_status_t cc_dnn_eltwise_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                                    const dnnl_memory_desc_t *src, float alpha, float beta,
                                    const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out);

/* The primitive descriptor of a ReLU backward computed from the ReLU's output
 * (diff_src = diff_dst * (dst > 0)) on md, with the forward-training hint oneDNN
 * requires built internally. attr: the caller's (user scratchpad), or NULL.
 * The one ReLU-backward builder of Grad-CAM (cc_dnn_relu_bwd) and the trainer.
 * On failure *out is NULL; the caller destroys a returned pd. */
dnnl_status_t cc_dnn_relu_bwd_pd(dnnl_engine_t eng, const dnnl_memory_desc_t *md,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out);

/* Binary dst = src0 (alg) src1, e.g. dnnl_binary_add. */
dnnl_status_t cc_dnn_binary_pd(dnnl_engine_t eng, dnnl_alg_kind_t alg,
                               const dnnl_memory_desc_t *src0, const dnnl_memory_desc_t *src1,
                               const dnnl_memory_desc_t *dst, const_dnnl_primitive_attr_t attr,
                               dnnl_primitive_desc_t *out);

/* Layout (and data type) conversion src -> dst, both on eng. */
dnnl_status_t cc_dnn_reorder_pd(dnnl_engine_t eng, const dnnl_memory_desc_t *src,
                                const dnnl_memory_desc_t *dst, const_dnnl_primitive_attr_t attr,
                                dnnl_primitive_desc_t *out);

#endif
