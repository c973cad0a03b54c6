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
 * opaque handle in 3.x, so its lifetime is kept here too: see cc_dnn_desc),
 * post-op arguments and memory creation. The layers build primitive
 * descriptors, memory descriptors, attributes and memory objects through the
 * functions below, hold mds only as cc_dnn_desc pointers and never see a
 * dnnl_memory_desc_t. Calls that
 * 3.x kept as they are (engine, stream, primitive creation and execution, the
 * destroy functions, impl-info queries) stay in the layers.
 *
 * Builders: each takes plain arguments (engine, descs, strides/padding arrays,
 * attributes, the forward-training hint a backward pd needs; the pd copies
 * what it keeps, so the descs stay the caller's) and returns
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

/* A memory descriptor, owned by whoever created or cloned it and opaque
 * outside dnn_core.c. oneDNN 2.x's md is a plain struct the layers used to
 * copy with `=`; 3.x's is a handle that must be cloned and destroyed, and a
 * md a pd returns belongs to the pd. So the layers hold only cc_dnn_desc
 * pointers, get every one from create, clone or query below, and free each
 * one exactly once: a port to 3.x changes the bodies here and not the
 * layers. It is heap-allocated in 2.x too (one block per desc), so a leak or
 * a use after free shows under ASan/valgrind and the allocation-failure
 * tests reach every error path a 3.x create or clone will have. */
typedef struct cc_dnn_desc cc_dnn_desc;

/* A new ndims-D desc of dims, data type dt and layout tag
 * (dnnl_format_tag_any: the primitive picks). On failure (bad dims, out of
 * memory) *out is NULL; the caller frees it (cc_dnn_desc_free). */
dnnl_status_t cc_dnn_desc_create(int ndims, const dnnl_dim_t *dims, dnnl_data_type_t dt,
                                 dnnl_format_tag_t tag, cc_dnn_desc **out);
/* A copy of d that the caller owns (frees). *out NULL on failure. */
dnnl_status_t cc_dnn_desc_clone(const cc_dnn_desc *d, cc_dnn_desc **out);
/* A copy, owned by the caller, of the md pd uses for query q (dnnl_query_src_md,
 * ...) and index; it outlives pd. When pd has no such argument the copy is an
 * empty desc (ndims 0, 0 bytes), never NULL on success. *out NULL on failure. */
dnnl_status_t cc_dnn_desc_query(const_dnnl_primitive_desc_t pd, dnnl_query_t q, int index,
                                cc_dnn_desc **out);
/* Release d (NULL: nothing). */
void cc_dnn_desc_free(cc_dnn_desc *d);
/* Debugging and test aid: descs created, cloned or queried and not freed yet,
 * process-wide (an atomic counter in dnn_core.c, touched only by the four
 * functions above). Tests compare it before and after a create/free pair. */
long cc_dnn_desc_live(void);

/* The fields of d the layers need: number of dims (0 for an empty desc), dim
 * i (1 past ndims, the broadcast convention), all dims into dims[] (returns
 * ndims) and the data type. */
int cc_dnn_desc_ndims(const cc_dnn_desc *d);
dnnl_dim_t cc_dnn_desc_dim(const cc_dnn_desc *d, int i);
int cc_dnn_desc_dims(const cc_dnn_desc *d, dnnl_dim_t *dims);
dnnl_data_type_t cc_dnn_desc_dt(const cc_dnn_desc *d);
/* Bytes a buffer of d needs (0 for an empty desc); 1 if a and b are equal. */
size_t cc_dnn_desc_bytes(const cc_dnn_desc *d);
int cc_dnn_desc_equal(const cc_dnn_desc *a, const cc_dnn_desc *b);

/* 1 when oneDNN picked a reference (slow) implementation for pd. */
int cc_dnn_pd_is_ref(const_dnnl_primitive_desc_t pd);

/* A memory object on eng viewing `handle` (not owned, may be NULL) with d
 * (which it copies: d may be freed afterwards). The caller destroys it
 * (dnnl_memory_destroy). */
dnnl_status_t cc_dnn_mem_create(dnnl_engine_t eng, const cc_dnn_desc *d, void *handle,
                                dnnl_memory_t *out);

/* ------------------------------------------------------------ attributes */

/* Attributes with user-managed scratchpad and, in this order, a sum post-op
 * (scale 1: dst += previous dst) when sum and a ReLU post-op when relu. On
 * failure *out is NULL; the caller destroys it (dnnl_primitive_attr_destroy). */
dnnl_status_t cc_dnn_attr(int sum, int relu, dnnl_primitive_attr_t *out);

/* The quantization attributes of an int8 primitive (2.x semantics, which
 * 3.x replaced by per-argument scales: the one place to change): output
 * scales (num_scales 1: one for all, > 1: one per output channel, 0: none),
 * dst = scale * (s32 accumulator + s32 bias), then, in this order, a sum
 * post-op dst += sum_scale * previous dst read as sum_dt, and ReLU. */
typedef struct cc_dnn_quant {
    const float *scales;
    long num_scales;
    float sum_scale;
    dnnl_data_type_t sum_dt;
} cc_dnn_quant;

/* Attributes with user-managed scratchpad and q's scales and post-ops. On
 * failure *out is NULL; the caller destroys it (dnnl_primitive_attr_destroy). */
dnnl_status_t cc_dnn_attr_q(const cc_dnn_quant *q, int sum, int relu, dnnl_primitive_attr_t *out);

/* ------------------------------------------------------------ builders */

/* Direct convolution, no dilation. bias NULL: none. */
dnnl_status_t cc_dnn_conv_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop,
                                 const cc_dnn_desc *src, const cc_dnn_desc *wei,
                                 const cc_dnn_desc *bias, const cc_dnn_desc *dst,
                                 const dnnl_dim_t *strides, const dnnl_dim_t *pad,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out);
dnnl_status_t cc_dnn_conv_bwd_data_pd(dnnl_engine_t eng, const cc_dnn_desc *diff_src,
                                      const cc_dnn_desc *wei,
                                      const cc_dnn_desc *diff_dst,
                                      const dnnl_dim_t *strides, const dnnl_dim_t *pad,
                                      const_dnnl_primitive_attr_t attr,
                                      const_dnnl_primitive_desc_t hint,
                                      dnnl_primitive_desc_t *out);
/* diff_bias NULL: no bias gradient. */
dnnl_status_t cc_dnn_conv_bwd_weights_pd(dnnl_engine_t eng, const cc_dnn_desc *src,
                                         const cc_dnn_desc *diff_wei,
                                         const cc_dnn_desc *diff_bias,
                                         const cc_dnn_desc *diff_dst,
                                         const dnnl_dim_t *strides, const dnnl_dim_t *pad,
                                         const_dnnl_primitive_attr_t attr,
                                         const_dnnl_primitive_desc_t hint,
                                         dnnl_primitive_desc_t *out);

/* Batch normalization with src and dst (and diff_src and diff_dst) on one md;
 * flags: dnnl_use_scale, dnnl_use_shift, dnnl_fuse_norm_relu,
 * dnnl_use_global_stats. Backward is dnnl_backward (data, scale and shift). */
dnnl_status_t cc_dnn_bn_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop,
                               const cc_dnn_desc *data, float eps, unsigned flags,
                               const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out);
dnnl_status_t cc_dnn_bn_bwd_pd(dnnl_engine_t eng, const cc_dnn_desc *diff,
                               const cc_dnn_desc *data, float eps, unsigned flags,
                               const_dnnl_primitive_attr_t attr, const_dnnl_primitive_desc_t hint,
                               dnnl_primitive_desc_t *out);

/* 2-D pooling, no dilation; kernel, strides and pad have 2 entries. */
dnnl_status_t cc_dnn_pool_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                                 const cc_dnn_desc *src, const cc_dnn_desc *dst,
                                 const dnnl_dim_t *strides, const dnnl_dim_t *kernel,
                                 const dnnl_dim_t *pad, const_dnnl_primitive_attr_t attr,
                                 dnnl_primitive_desc_t *out);
dnnl_status_t cc_dnn_pool_bwd_pd(dnnl_engine_t eng, dnnl_alg_kind_t alg,
                                 const cc_dnn_desc *diff_src,
                                 const cc_dnn_desc *diff_dst, const dnnl_dim_t *strides,
                                 const dnnl_dim_t *kernel, const dnnl_dim_t *pad,
                                 const_dnnl_primitive_attr_t attr,
                                 const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *out);

/* Inner product; bias / diff_bias NULL: none. */
dnnl_status_t cc_dnn_ip_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop,
                               const cc_dnn_desc *src, const cc_dnn_desc *wei,
                               const cc_dnn_desc *bias, const cc_dnn_desc *dst,
                               const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out);
dnnl_status_t cc_dnn_ip_bwd_data_pd(dnnl_engine_t eng, const cc_dnn_desc *diff_src,
                                    const cc_dnn_desc *wei,
                                    const cc_dnn_desc *diff_dst,
                                    const_dnnl_primitive_attr_t attr,
                                    const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *out);
dnnl_status_t cc_dnn_ip_bwd_weights_pd(dnnl_engine_t eng, const cc_dnn_desc *src,
                                       const cc_dnn_desc *diff_wei,
                                       const cc_dnn_desc *diff_bias,
                                       const cc_dnn_desc *diff_dst,
                                       const_dnnl_primitive_attr_t attr,
                                       const_dnnl_primitive_desc_t hint,
                                       dnnl_primitive_desc_t *out);

/* Elementwise forward with dst on the src md. */
dnnl_status_t cc_dnn_eltwise_fwd_pd(dnnl_engine_t eng, dnnl_prop_kind_t prop, dnnl_alg_kind_t alg,
                                    const cc_dnn_desc *src, float alpha, float beta,
                                    const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out);

/* The primitive descriptor of a ReLU backward computed from the ReLU's output
 * (diff_src = diff_dst * (dst > 0)) on md, with the forward-training hint oneDNN
 * requires built internally. attr: the caller's (user scratchpad), or NULL.
 * The one ReLU-backward builder of Grad-CAM (cc_dnn_relu_bwd) and the trainer.
 * On failure *out is NULL; the caller destroys a returned pd. */
dnnl_status_t cc_dnn_relu_bwd_pd(dnnl_engine_t eng, const cc_dnn_desc *md,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out);

/* Binary dst = src0 (alg) src1, e.g. dnnl_binary_add. */
dnnl_status_t cc_dnn_binary_pd(dnnl_engine_t eng, dnnl_alg_kind_t alg,
                               const cc_dnn_desc *src0, const cc_dnn_desc *src1,
                               const cc_dnn_desc *dst, const_dnnl_primitive_attr_t attr,
                               dnnl_primitive_desc_t *out);

/* Layout (and data type) conversion src -> dst, both on eng. */
dnnl_status_t cc_dnn_reorder_pd(dnnl_engine_t eng, const cc_dnn_desc *src,
                                const cc_dnn_desc *dst, const_dnnl_primitive_attr_t attr,
                                dnnl_primitive_desc_t *out);

#endif
