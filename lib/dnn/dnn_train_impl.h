/* Internals shared by dnn_train.c (net, tensors, buffer planning) and
 * dnn_train_layers.c (the layer kinds). Not for use outside the engine (and its white-box tests).
 * Status mapping, allocation, primitive-descriptor builders, md helpers and
 * attributes come from the oneDNN core (lib/dnn/dnn_core.h).
 *
 * Every md the engine builds with is a core desc the net owns: cc_tdnn_desc
 * and cc_tdnn_query make it and register it with the net, like memory objects
 * and buffers, and cc_tnet_free frees it. So tensors, ports, primitives and
 * weights share `const cc_dnn_desc *` pointers to immutable descs (never a
 * copy), and an error path between creating a desc and storing it leaks
 * nothing. Only copy_tensor, which runs at any time, frees its own. */
#ifndef COVIDCAM_DNN_TRAIN_IMPL_H
#define COVIDCAM_DNN_TRAIN_IMPL_H

#include "dnn_core.h"
#include "dnn_train.h"

#define CC_TDNN_MAX_ARGS 16

/* Jump to `fail` with the core's status for a failed oneDNN call (BACKEND,
 * OUT_OF_MEMORY or UNSUPPORTED); needs `covidcam_status st` and `cc_err *e`
 * in scope. */
#define CC_TDNN_TRY(call, what)                                                                    \
    do {                                                                                           \
        dnnl_status_t cc_tdnn_s_ = (call);                                                         \
        if (cc_tdnn_s_ != dnnl_success) {                                                          \
            st = cc_dnn_fail(e, cc_tdnn_s_, what);                                                 \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

#define CC_TDNN_CHECK(expr)                                                                        \
    do {                                                                                           \
        st = (expr);                                                                               \
        if (st)                                                                                    \
            goto fail;                                                                             \
    } while (0)

/* A primitive and its view of the shared user-managed scratchpad. */
typedef struct tprim {
    dnnl_primitive_t p;
    const cc_dnn_desc *smd; /* net-owned; empty when the primitive needs no scratchpad */
    size_t sbytes;
    dnnl_memory_t scratch;
} tprim;

struct cc_tt {
    int ndims;
    dnnl_dims_t dims;
    const cc_dnn_desc *md; /* net-owned */
    int plain_f32;
    void *data;
    dnnl_memory_t mem;
    void *diff; /* from the gradient pool, assigned at finalize */
    dnnl_memory_t dmem;
    int needs_diff;
    int producer;      /* layer index; -1 for inputs */
    int last_consumer; /* highest consuming layer index; -1 if none yet */
};

/* One input of a layer: the tensor, the layout the layer's primitives use for
 * it (an adapted copy when that differs), and where its gradient goes.
 * The first gradient contribution (backward runs in reverse, so from the
 * highest-index consumer) overwrites t->diff; later ones are summed into it. */
typedef struct tport {
    cc_tt *t;
    const cc_dnn_desc *md; /* net-owned */
    int adapt;            /* md differs from t->md */
    dnnl_memory_t mem;    /* adapted data (adapt) */
    tprim to_layer;       /* reorder t -> md (adapt) */
    int force_contrib;    /* the layer always hands its gradient over via contrib */
    int direct;           /* the layer writes its gradient straight into t->diff */
    dnnl_memory_t tmp;    /* shared temporary viewed with md (!direct) */
    tprim contrib;        /* reorder md -> t->md, summing unless first (!direct) */
} tport;

/* A layout conversion around one primitive argument, used when the only fast
 * implementation wants another layout than the neighbouring layers use. */
typedef struct tadapt {
    int on;
    dnnl_memory_t mem; /* the buffer in the primitive's layout */
    tprim r;
} tadapt;

typedef struct tlayer tlayer;

typedef struct tlayer_ops {
    covidcam_status (*fwd)(cc_tnet *net, tlayer *l, int training, cc_err *e);
    covidcam_status (*bwd)(cc_tnet *net, tlayer *l, cc_err *e);
} tlayer_ops; /* a layer owns nothing of its own: the net frees every buffer and primitive */

/* A weight tensor: caller's plain fp32 master copy, the copies in the layouts
 * the forward and backward-data primitives want, and the gradient. */
typedef struct tweights {
    const float *user;
    float *duser;
    const cc_dnn_desc *user_md; /* net-owned */
    dnnl_memory_t user_mem, duser_mem;
    dnnl_memory_t fwd_mem; /* == user_mem when the layouts agree */
    tprim fwd_reorder;
    int fwd_own;
    dnnl_memory_t bwd_mem; /* == fwd_mem when the layouts agree */
    tprim bwd_reorder;
    int bwd_own;
    dnnl_memory_t dw_mem; /* == duser_mem when the layouts agree */
    tprim dw_reorder;
    int dw_own;
    unsigned version;
} tweights;

struct tlayer {
    const tlayer_ops *ops;
    int index;
    tport in[2];
    int nin;
    cc_tt *out;
    tprim fwd, fwd_inf, bwd_d, bwd_w;
    int has_bwd_d;
    /* layout conversions for backward primitives (usually off) */
    tadapt bw_src, bw_ddst, bd_ddst, bd_dsrc;
    tweights w;
    dnnl_memory_t bias_mem, dbias_mem;
    /* batch norm */
    cc_tbn_params bn;
    int channels;
    double reduce_n;
    float *mean, *var;
    dnnl_memory_t scale_mem, shift_mem, mean_mem, var_mem, rmean_mem, rvar_mem;
    dnnl_memory_t dscale_mem, dshift_mem;
    /* synchronised batch norm (dnn_train_bn_sync.c): the forward with the
     * distributed batch's statistics, the gradient correction dx += x*b + a,
     * and a buffer of 2 x channels doubles for the sums */
    int synced;
    tprim fwd_sync, fix_add, fix;
    float *fix_a, *fix_b;
    dnnl_memory_t fix_a_mem, fix_b_mem;
    double *sums;
    /* workspace (max pooling, BN with fused ReLU) */
    dnnl_memory_t ws_mem;
    int trained; /* a training forward ran since the last backward */
};

struct cc_tnet {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    dnnl_primitive_attr_t attr, attr_sum;
    cc_tprec prec;
    dnnl_data_type_t dt;
    int train;
    int finalized;
    cc_tt **tensors;
    int nt, capt;
    tlayer **layers;
    int nl, capl;
    tprim **prims;
    int np, capp;
    dnnl_memory_t *mems;
    int nm, capm;
    void **bufs;
    int nb, capb;
    cc_dnn_desc **descs;
    int nd, capd;
    size_t bytes;
    size_t scratch_bytes, tmp_bytes;
    void *scratch, *tmp;
    unsigned version;
    cc_tnet_sync sync; /* world 0 or 1: not distributed */
};

/* Synchronised batch norm (dnn_train_bn_sync.c): primitives and buffers of
 * layer l (flags: the BN flags without global stats; ws_md: the training
 * pass's workspace, NULL without one), its training forward and its
 * backward's correction after the local backward ran. */
covidcam_status cc_tdnn_bn_sync_setup(cc_tnet *net, tlayer *l, const cc_dnn_desc *md,
                                      unsigned flags, const cc_dnn_desc *ws_md, cc_err *e);
covidcam_status cc_tdnn_bn_sync_fwd(cc_tnet *net, tlayer *l, int nargs, dnnl_exec_arg_t *args,
                                    cc_err *e);
covidcam_status cc_tdnn_bn_sync_bwd(cc_tnet *net, tlayer *l, cc_err *e);

/* Buffers and memory objects owned (and freed) by the net. */
covidcam_status cc_tdnn_alloc(cc_tnet *net, size_t bytes, void **out, cc_err *e);
covidcam_status cc_tdnn_mem(cc_tnet *net, const cc_dnn_desc *md, void *handle,
                            dnnl_memory_t *out, cc_err *e);
/* Allocate a buffer for md and wrap it. */
covidcam_status cc_tdnn_mem_alloc(cc_tnet *net, const cc_dnn_desc *md, dnnl_memory_t *out,
                                  cc_err *e);

/* Create the primitive of pd into pr and register it for the scratchpad.
 * Does not destroy pd. */
covidcam_status cc_tdnn_prim(cc_tnet *net, const_dnnl_primitive_desc_t pd, tprim *pr, cc_err *e);
covidcam_status cc_tdnn_reorder(cc_tnet *net, const cc_dnn_desc *src,
                                const cc_dnn_desc *dst, int sum, tprim *pr, cc_err *e);
covidcam_status cc_tdnn_run(cc_tnet *net, const tprim *pr, int nargs, const dnnl_exec_arg_t *args,
                            cc_err *e);
covidcam_status cc_tdnn_run_reorder(cc_tnet *net, const tprim *pr, dnnl_memory_t src,
                                    dnnl_memory_t dst, cc_err *e);

/* The status of a core builder (cc_dnn_*_pd) that made the pd of `what`:
 * failure maps through the core as "<what> for these shapes". */
covidcam_status cc_tdnn_pd_status(dnnl_status_t s, const char *what, cc_err *e);
/* A desc of dims, data type dt and layout tag, owned by the net (freed by
 * cc_tnet_free). On failure *out is NULL and e says why. */
covidcam_status cc_tdnn_desc(cc_tnet *net, int ndims, const dnnl_dims_t dims, dnnl_data_type_t dt,
                             dnnl_format_tag_t tag, const cc_dnn_desc **out, cc_err *e);
/* A net-owned copy of the md (index 0) pd uses for query `what`, so it
 * outlives pd; empty (0 bytes) when pd has no such argument. */
covidcam_status cc_tdnn_query(cc_tnet *net, const_dnnl_primitive_desc_t pd, dnnl_query_t what,
                              const cc_dnn_desc **out, cc_err *e);
dnnl_format_tag_t cc_tdnn_plain_tag(int ndims);

/* A new tensor produced by layer `producer` with layout md (net-owned, kept by
 * reference); data allocated. */
covidcam_status cc_tdnn_tensor(cc_tnet *net, int ndims, const dnnl_dims_t dims,
                               const cc_dnn_desc *md, int producer, cc_tt **out, cc_err *e);

/* Make l->in[i] read t in layout md (net-owned, kept by reference; adapting
 * if needed). */
covidcam_status cc_tdnn_port(cc_tnet *net, tlayer *l, int i, cc_tt *t, const cc_dnn_desc *md,
                             cc_err *e);
covidcam_status cc_tdnn_port_fwd(cc_tnet *net, tport *p, cc_err *e);
dnnl_memory_t cc_tdnn_port_src(const tport *p);
/* Where the layer writes its gradient for p, then cc_tdnn_port_done() hands it over. */
dnnl_memory_t cc_tdnn_port_diff(const tport *p);
covidcam_status cc_tdnn_port_done(cc_tnet *net, tport *p, cc_err *e);
/* Hand over a gradient held in src (layout p->md) explicitly. */
covidcam_status cc_tdnn_port_contrib(cc_tnet *net, tport *p, dnnl_memory_t src, cc_err *e);

/* An input the primitive reads in layout `want` while it is kept in `have`;
 * or (out) an output the primitive writes in `prim` that is wanted in `want`.
 * Either is off when the layouts agree. */
covidcam_status cc_tdnn_adapt_in(cc_tnet *net, tadapt *a, const cc_dnn_desc *have,
                                 const cc_dnn_desc *want, cc_err *e);
covidcam_status cc_tdnn_adapt_out(cc_tnet *net, tadapt *a, const cc_dnn_desc *prim,
                                  const cc_dnn_desc *want, cc_err *e);
/* The memory to give the primitive: for an input, converted from `m` first. */
covidcam_status cc_tdnn_adapt_src(cc_tnet *net, tadapt *a, dnnl_memory_t m, dnnl_memory_t *use,
                                  cc_err *e);
/* After the primitive wrote an adapted output: convert it into `m`. */
covidcam_status cc_tdnn_adapt_done(cc_tnet *net, tadapt *a, dnnl_memory_t m, cc_err *e);

/* Register a new layer (index = position) and its ops. */
covidcam_status cc_tdnn_layer(cc_tnet *net, const tlayer_ops *ops, tlayer **out, cc_err *e);

/* Weights: set up from the caller's array and the primitives' layouts. */
covidcam_status cc_tdnn_weights(cc_tnet *net, tweights *w, int ndims, const dnnl_dims_t dims,
                                const float *user, float *duser, const cc_dnn_desc *fwd_md,
                                const cc_dnn_desc *bwd_md, const cc_dnn_desc *dw_md,
                                cc_err *e);
covidcam_status cc_tdnn_weights_refresh(cc_tnet *net, tweights *w, cc_err *e);
covidcam_status cc_tdnn_weights_grad_done(cc_tnet *net, tweights *w, cc_err *e);

#endif
