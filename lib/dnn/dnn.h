/* The internal oneDNN layer for inference and Grad-CAM.
 *
 * Only lib/dnn/ includes <oneapi/dnnl/dnnl.h> in the library (dnn.c on the
 * shared core dnn_core.h): oneDNN 3.x changed the C API (operation descriptors
 * gone, memory descriptors became handles), and the calls it changed, md
 * lifetimes included, sit in the core's builders and desc functions
 * (dnn_core.c), so a port touches that file alone. Everything here is opaque
 * to the rest of lib/.
 *
 * Threads: an engine may be shared by threads. Streams, primitives and their
 * bound memory belong to one session (one thread at a time). Primitives are
 * created in user-managed scratchpad mode, so concurrent sessions never share
 * oneDNN's internal scratch buffers. */
#ifndef COVIDCAM_DNN_H
#define COVIDCAM_DNN_H

#include <stddef.h>

#include "error.h"

typedef struct cc_dnn_engine cc_dnn_engine;
typedef struct cc_dnn_stream cc_dnn_stream;
/* An md is the core's desc (dnn_core.h: cc_dnn_desc), so it is cloned, never
 * copied, and freed by its owner. */
typedef struct cc_dnn_desc cc_dnn_md;
typedef struct cc_dnn_prim cc_dnn_prim;

/* Which tensor of a primitive an md query or an execution argument means. */
typedef enum cc_dnn_arg {
    CC_ARG_SRC = 0,
    CC_ARG_SRC_1,
    CC_ARG_WEIGHTS,
    CC_ARG_BIAS,
    CC_ARG_DST,
    CC_ARG_DIFF_SRC,
    CC_ARG_DIFF_DST,
    CC_ARG_WORKSPACE,
    CC_ARG_SCRATCHPAD,
    CC_ARG_COUNT
} cc_dnn_arg;

/* A pointer bound to one argument of one execution. */
typedef struct cc_dnn_bind {
    cc_dnn_arg arg;
    void *ptr;
} cc_dnn_bind;

/* Element type of a network's activations and weights. Inputs, logits,
 * pooled features and biases stay fp32 in every precision. */
typedef enum cc_dnn_dtype {
    CC_DNN_F32 = 0,
    CC_DNN_BF16,
    CC_DNN_U8, /* int8 nets: activations after ReLU (and the net's dt) */
    CC_DNN_S8  /* int8 nets: the stem input, downsample outputs, weights */
} cc_dnn_dtype;

/* The instruction set oneDNN dispatches to, after any cap by
 * ONEDNN_MAX_CPU_ISA or dnnl_set_max_cpu_isa (process-wide settings read
 * once by oneDNN): its short name ("avx2", "avx512_core_bf16"...), whether it
 * is AVX-512 (oneDNN 2.x runs bf16 training only there, emulating bf16
 * arithmetic without AVX512-BF16), and whether it computes bf16 natively
 * (AVX512-BF16 or AMX), which bf16 inference requires to be worth running. */
const char *cc_dnn_isa_name(void);
int cc_dnn_isa_avx512(void);
int cc_dnn_isa_bf16(void);
/* Whether it has the int8 dot-product instructions (AVX512-VNNI or AMX): without
 * them oneDNN's int8 kernels use 7-bit weights (see docs/precision.md). */
int cc_dnn_isa_vnni(void);

/* Plain layouts for tensors that cross the boundary with user code. */
typedef enum cc_dnn_layout {
    CC_LAYOUT_NCHW, /* activations, 4-D */
    CC_LAYOUT_OIHW, /* conv weights, 4-D */
    CC_LAYOUT_NC,   /* 2-D activations */
    CC_LAYOUT_OI,   /* fc weights */
    CC_LAYOUT_X     /* 1-D (bias) */
} cc_dnn_layout;

covidcam_status cc_dnn_engine_create(cc_dnn_engine **out, cc_err *e);
void cc_dnn_engine_free(cc_dnn_engine *eng);

covidcam_status cc_dnn_stream_create(cc_dnn_engine *eng, cc_dnn_stream **out, cc_err *e);
void cc_dnn_stream_free(cc_dnn_stream *s);

/* A plain fp32 md; dims has 1, 2 or 4 entries as the layout implies. NULL if OOM. */
cc_dnn_md *cc_dnn_md_plain(cc_dnn_layout layout, const long *dims);
/* A plain md of type dt (int8 weights before their reorder). NULL if OOM. */
cc_dnn_md *cc_dnn_md_plain_dt(cc_dnn_layout layout, const long *dims, cc_dnn_dtype dt);
/* A 4-D md of type dt in NHWC, the activation layout of int8 nets: fixed
 * rather than oneDNN's choice so that a u8 block output and its s8 shortcut
 * share one layout (the sum post-op reads the shortcut in place). */
cc_dnn_md *cc_dnn_md_nhwc(const long *dims, cc_dnn_dtype dt);
/* A 4-D md of type dt whose layout oneDNN picks when a primitive is created. */
cc_dnn_md *cc_dnn_md_any4(const long *dims, cc_dnn_dtype dt);
/* The element type of md (fp32 for types this layer does not make). */
cc_dnn_dtype cc_dnn_md_dtype(const cc_dnn_md *md);
/* Dimension d (0-based) of md. */
long cc_dnn_md_dim(const cc_dnn_md *md, int d);
/* A copy of md the caller owns (frees); NULL if OOM. */
cc_dnn_md *cc_dnn_md_clone(const cc_dnn_md *md);
/* Release an md from md_plain, md_any4 or md_clone (NULL: nothing). */
void cc_dnn_md_free(cc_dnn_md *md);
size_t cc_dnn_md_bytes(const cc_dnn_md *md);
int cc_dnn_md_equal(const cc_dnn_md *a, const cc_dnn_md *b);

/* The md a primitive uses for `arg` (owned by the primitive), or NULL. */
const cc_dnn_md *cc_dnn_prim_md(const cc_dnn_prim *p, cc_dnn_arg arg);

/* Bytes of user scratchpad the primitive needs. */
size_t cc_dnn_prim_scratchpad(const cc_dnn_prim *p);

void cc_dnn_prim_free(cc_dnn_prim *p);

/* Convolution geometry; src/dst spatial sizes follow from the src md. */
typedef struct cc_dnn_conv {
    int oc;
    int k;
    int stride;
    int pad;
    int relu; /* fuse ReLU after the (optional) sum */
    int sum;  /* add the previous contents of dst before the ReLU (residual) */
} cc_dnn_conv;

/* Forward-inference convolution with bias; weights and dst take src's type
 * (bias is fp32). src: the producer's md (or an
 * md_any4 for the network input; query the chosen one with CC_ARG_SRC); dst: a fixed md (needed with
 * sum, so the residual's layout is kept) or NULL for oneDNN's choice. */
covidcam_status cc_dnn_conv_fwd(cc_dnn_engine *eng, const cc_dnn_md *src, const cc_dnn_conv *c,
                                const cc_dnn_md *dst, cc_dnn_prim **out, cc_err *e);

/* The quantization of an int8 convolution: dst = scales[oc] * (s32 sum of
 * u8/s8 src times s8 weights + s32 bias), then dst += sum_scale * previous
 * dst read as sum_dt (when c->sum), then ReLU (when c->relu), rounded to
 * nearest and saturated to dst's type. num_scales: 1, or one per output
 * channel. The arrays are copied into the primitive. */
typedef struct cc_dnn_qconv {
    const float *scales;
    int num_scales;
    float sum_scale;
    cc_dnn_dtype sum_dt;
} cc_dnn_qconv;

/* Forward-inference int8 convolution: src u8 or s8, weights s8 in oneDNN's
 * layout, bias s32, dst the caller's md (u8 or s8, cc_dnn_md_nhwc). */
covidcam_status cc_dnn_conv_fwd_q(cc_dnn_engine *eng, const cc_dnn_md *src, const cc_dnn_conv *c,
                                  const cc_dnn_md *dst, const cc_dnn_qconv *q, cc_dnn_prim **out,
                                  cc_err *e);

/* Backward-data of the convolution whose forward is described by the same
 * src md, geometry and dst md: diff_src = conv^T(diff_dst). */
covidcam_status cc_dnn_conv_bwd_data(cc_dnn_engine *eng, const cc_dnn_md *src,
                                     const cc_dnn_conv *c, const cc_dnn_md *dst,
                                     cc_dnn_prim **out, cc_err *e);

/* Max pooling 3x3 / stride 2 / pad 1 for inference (ResNet stem). */
covidcam_status cc_dnn_maxpool_fwd(cc_dnn_engine *eng, const cc_dnn_md *src, int k, int stride,
                                   int pad, cc_dnn_prim **out, cc_err *e);

/* Global average pooling (kernel = spatial size) forward, and its backward. */
covidcam_status cc_dnn_gap_fwd(cc_dnn_engine *eng, const cc_dnn_md *src, cc_dnn_prim **out,
                               cc_err *e);
covidcam_status cc_dnn_gap_bwd(cc_dnn_engine *eng, const cc_dnn_md *src, const cc_dnn_md *dst,
                               cc_dnn_prim **out, cc_err *e);

/* Inner product (fc) forward inference with bias, weights of src's type, dst
 * fp32 in plain NC; and its backward-data. */
covidcam_status cc_dnn_fc_fwd(cc_dnn_engine *eng, const cc_dnn_md *src, int oc, cc_dnn_prim **out,
                              cc_err *e);
covidcam_status cc_dnn_fc_bwd_data(cc_dnn_engine *eng, const cc_dnn_md *src, int oc,
                                   cc_dnn_prim **out, cc_err *e);

/* ReLU backward from the ReLU's output: diff_src = diff_dst * (dst > 0). */
covidcam_status cc_dnn_relu_bwd(cc_dnn_engine *eng, const cc_dnn_md *md, cc_dnn_prim **out,
                                cc_err *e);

/* Elementwise dst = src + src_1, all with the same md (in place allowed). */
covidcam_status cc_dnn_add(cc_dnn_engine *eng, const cc_dnn_md *md, cc_dnn_prim **out, cc_err *e);

/* Layout conversion src md -> dst md. */
covidcam_status cc_dnn_reorder(cc_dnn_engine *eng, const cc_dnn_md *src, const cc_dnn_md *dst,
                               cc_dnn_prim **out, cc_err *e);

/* Conversion src md -> dst md with dst = round(scale * src), saturated to
 * dst's type (int8 quantization of the input, dequantization for the head). */
covidcam_status cc_dnn_reorder_scaled(cc_dnn_engine *eng, const cc_dnn_md *src,
                                      const cc_dnn_md *dst, float scale, cc_dnn_prim **out,
                                      cc_err *e);

/* Execute p on stream s with the given pointers (the scratchpad among them when
 * cc_dnn_prim_scratchpad(p) > 0) and wait for completion. */
covidcam_status cc_dnn_exec(cc_dnn_stream *s, cc_dnn_prim *p, const cc_dnn_bind *binds, int n,
                            cc_err *e);

/* One-off conversion of `src` (md src_md) into `dst` (md dst_md) on a private
 * stream, used at load time to reorder weights. */
covidcam_status cc_dnn_reorder_now(cc_dnn_engine *eng, const cc_dnn_md *src_md, const void *src,
                                   const cc_dnn_md *dst_md, void *dst, cc_err *e);

/* Run the following oneDNN calls of this thread on n threads (0: all cores).
 * Returns the previous setting for cc_dnn_threads_restore(). oneDNN's OpenMP
 * runtime reads the calling thread's nthreads ICV, so this has no effect on
 * other threads. */
int cc_dnn_threads_set(int n);
void cc_dnn_threads_restore(int previous);

/* Number of cores the runtime would use by default. */
int cc_dnn_max_threads(void);

/* Allocate/free memory aligned for oneDNN (64 bytes), zeroed, with 64 bytes of
 * slack on each side (dnn.c says why). Free only with cc_dnn_free. */
void *cc_dnn_alloc(size_t bytes);
void cc_dnn_free(void *p);

#endif
