#include "dnn_train_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cc_tdnn_has_bf16(void)
{
    return cc_dnn_isa_avx512();
}

/* ------------------------------------------------------------ ownership */

static int grow(void **arr, int *cap, int n, size_t elem)
{
    if (n < *cap)
        return 0;
    int nc = *cap ? 2 * *cap : 32;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

covidcam_status cc_tdnn_alloc(cc_tnet *net, size_t bytes, void **out, cc_err *e)
{
    size_t sz = (bytes + 63) & ~(size_t)63;
    if (sz == 0)
        sz = 64;
    if (grow((void **)&net->bufs, &net->capb, net->nb, sizeof *net->bufs))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    void *p = cc_dnn_alloc(sz); /* zeroed: padding of blocked layouts starts clean */
    if (!p)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory (%zu bytes)", sz);
    net->bufs[net->nb++] = p;
    net->bytes += sz;
    *out = p;
    return COVIDCAM_OK;
}

covidcam_status cc_tdnn_mem(cc_tnet *net, const cc_dnn_desc *md, void *handle,
                            dnnl_memory_t *out, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    if (grow((void **)&net->mems, &net->capm, net->nm, sizeof *net->mems))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    dnnl_memory_t m = NULL;
    CC_TDNN_TRY(cc_dnn_mem_create(net->eng, md, handle, &m), "memory creation");
    net->mems[net->nm++] = m;
    *out = m;
fail:
    return st;
}

covidcam_status cc_tdnn_mem_alloc(cc_tnet *net, const cc_dnn_desc *md, dnnl_memory_t *out,
                                  cc_err *e)
{
    void *buf = NULL;
    covidcam_status st = cc_tdnn_alloc(net, cc_dnn_desc_bytes(md), &buf, e);
    if (st)
        return st;
    return cc_tdnn_mem(net, md, buf, out, e);
}

covidcam_status cc_tdnn_prim(cc_tnet *net, const_dnnl_primitive_desc_t pd, tprim *pr, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    if (grow((void **)&net->prims, &net->capp, net->np, sizeof *net->prims))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    memset(pr, 0, sizeof *pr);
    CC_TDNN_CHECK(cc_tdnn_query(net, pd, dnnl_query_scratchpad_md, &pr->smd, e));
    pr->sbytes = cc_dnn_desc_bytes(pr->smd);
    CC_TDNN_TRY(dnnl_primitive_create(&pr->p, pd), "primitive creation");
    net->prims[net->np++] = pr;
    if (pr->sbytes > net->scratch_bytes)
        net->scratch_bytes = pr->sbytes;
fail:
    return st;
}

covidcam_status cc_tdnn_pd_status(dnnl_status_t s, const char *what, cc_err *e)
{
    if (s == dnnl_success)
        return COVIDCAM_OK;
    char name[96];
    snprintf(name, sizeof name, "%s for these shapes", what);
    return cc_dnn_fail(e, s, name);
}

/* Register d (made with status made) with the net, which frees it; the slot
 * was grown beforehand, so a failure here leaks nothing. */
static covidcam_status keep_desc(cc_tnet *net, dnnl_status_t made, cc_dnn_desc *d,
                                 const cc_dnn_desc **out, cc_err *e)
{
    *out = NULL;
    if (made != dnnl_success)
        return cc_dnn_fail(e, made, "memory descriptor");
    net->descs[net->nd++] = d;
    *out = d;
    return COVIDCAM_OK;
}

covidcam_status cc_tdnn_desc(cc_tnet *net, int ndims, const dnnl_dims_t dims, dnnl_data_type_t dt,
                             dnnl_format_tag_t tag, const cc_dnn_desc **out, cc_err *e)
{
    cc_dnn_desc *d = NULL;
    if (grow((void **)&net->descs, &net->capd, net->nd, sizeof *net->descs))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    dnnl_status_t made = cc_dnn_desc_create(ndims, dims, dt, tag, &d);
    return keep_desc(net, made, d, out, e);
}

covidcam_status cc_tdnn_query(cc_tnet *net, const_dnnl_primitive_desc_t pd, dnnl_query_t what,
                              const cc_dnn_desc **out, cc_err *e)
{
    cc_dnn_desc *d = NULL;
    if (grow((void **)&net->descs, &net->capd, net->nd, sizeof *net->descs))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    dnnl_status_t made = cc_dnn_desc_query(pd, what, 0, &d);
    return keep_desc(net, made, d, out, e);
}

covidcam_status cc_tdnn_reorder(cc_tnet *net, const cc_dnn_desc *src,
                                const cc_dnn_desc *dst, int sum, tprim *pr, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    dnnl_primitive_desc_t pd = NULL;
    CC_TDNN_TRY(cc_dnn_reorder_pd(net->eng, src, dst, sum ? net->attr_sum : net->attr, &pd),
                "reorder");
    st = cc_tdnn_prim(net, pd, pr, e);
fail:
    dnnl_primitive_desc_destroy(pd);
    return st;
}

covidcam_status cc_tdnn_run(cc_tnet *net, const tprim *pr, int nargs, const dnnl_exec_arg_t *args,
                            cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    dnnl_exec_arg_t all[CC_TDNN_MAX_ARGS + 1];
    memcpy(all, args, (size_t)nargs * sizeof *args);
    if (pr->scratch)
        all[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, pr->scratch};
    CC_TDNN_TRY(dnnl_primitive_execute(pr->p, net->strm, nargs, all), "execution");
fail:
    return st;
}

covidcam_status cc_tdnn_run_reorder(cc_tnet *net, const tprim *pr, dnnl_memory_t src,
                                    dnnl_memory_t dst, cc_err *e)
{
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    return cc_tdnn_run(net, pr, 2, a, e);
}

dnnl_format_tag_t cc_tdnn_plain_tag(int ndims)
{
    return ndims == 1 ? dnnl_a : ndims == 2 ? dnnl_ab : dnnl_abcd;
}

/* ------------------------------------------------------------ net */

covidcam_status cc_tnet_create(cc_tprec prec, int with_backward, cc_tnet **out, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    if (prec == CC_TPREC_BF16 && !cc_tdnn_has_bf16())
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "bf16 training needs a CPU with AVX-512 (oneDNN reports %s)",
                       cc_dnn_isa_name());
    cc_tnet *net = calloc(1, sizeof *net);
    if (!net)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    net->prec = prec;
    net->dt = prec == CC_TPREC_BF16 ? dnnl_bf16 : dnnl_f32;
    net->train = with_backward != 0;
    net->version = 1;
    CC_TDNN_TRY(dnnl_engine_create(&net->eng, dnnl_cpu, 0), "engine creation");
    CC_TDNN_TRY(dnnl_stream_create(&net->strm, net->eng, dnnl_stream_default_flags),
                "stream creation");
    CC_TDNN_TRY(cc_dnn_attr(0, 0, &net->attr), "attributes");
    CC_TDNN_TRY(cc_dnn_attr(1, 0, &net->attr_sum), "attributes");
    *out = net;
    return COVIDCAM_OK;
fail:
    cc_tnet_free(net);
    return st;
}

covidcam_status cc_tnet_set_sync(cc_tnet *net, const cc_tnet_sync *sync, cc_err *e)
{
    if (!net || (sync && sync->world > 1 && !sync->sum) || (sync && sync->world < 1))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad synchronisation arguments");
    if (net->nl > 0)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "synchronisation must be set before the first layer");
    net->sync = sync ? *sync : (cc_tnet_sync){NULL, NULL, 1};
    return COVIDCAM_OK;
}

void cc_tnet_free(cc_tnet *net)
{
    if (!net)
        return;
    /* Primitives first: their records live inside the layers. */
    for (int i = 0; i < net->np; i++)
        dnnl_primitive_destroy(net->prims[i]->p);
    for (int i = 0; i < net->nl; i++)
        free(net->layers[i]);
    for (int i = 0; i < net->nm; i++)
        dnnl_memory_destroy(net->mems[i]);
    for (int i = 0; i < net->nb; i++)
        cc_dnn_free(net->bufs[i]);
    for (int i = 0; i < net->nt; i++)
        free(net->tensors[i]);
    for (int i = 0; i < net->nd; i++)
        cc_dnn_desc_free(net->descs[i]);
    free(net->descs);
    free(net->layers);
    free(net->prims);
    free(net->mems);
    free(net->bufs);
    free(net->tensors);
    dnnl_primitive_attr_destroy(net->attr);
    dnnl_primitive_attr_destroy(net->attr_sum);
    dnnl_stream_destroy(net->strm);
    dnnl_engine_destroy(net->eng);
    free(net);
}

size_t cc_tnet_bytes(const cc_tnet *net)
{
    return net ? net->bytes : 0;
}

void cc_tnet_params_changed(cc_tnet *net)
{
    if (net)
        net->version++;
}

covidcam_status cc_tdnn_tensor(cc_tnet *net, int ndims, const dnnl_dims_t dims,
                               const cc_dnn_desc *md, int producer, cc_tt **out, cc_err *e)
{
    if (net->finalized)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "net already finalized");
    if (grow((void **)&net->tensors, &net->capt, net->nt, sizeof *net->tensors))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    cc_tt *t = calloc(1, sizeof *t);
    if (!t)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    net->tensors[net->nt++] = t;
    t->ndims = ndims;
    memcpy(t->dims, dims, sizeof(dnnl_dims_t));
    t->md = md;
    t->producer = producer;
    t->last_consumer = -1;
    t->needs_diff = net->train;
    const cc_dnn_desc *plain = NULL;
    covidcam_status st =
        cc_tdnn_desc(net, ndims, dims, dnnl_f32, cc_tdnn_plain_tag(ndims), &plain, e);
    if (st)
        return st;
    t->plain_f32 = cc_dnn_desc_equal(md, plain);
    st = cc_tdnn_alloc(net, cc_dnn_desc_bytes(md), &t->data, e);
    if (st)
        return st;
    st = cc_tdnn_mem(net, md, t->data, &t->mem, e);
    if (st)
        return st;
    *out = t;
    return COVIDCAM_OK;
}

covidcam_status cc_tnet_input(cc_tnet *net, int ndims, const int *dims, int want_diff,
                              cc_tt **out, cc_err *e)
{
    if (!net || !dims || !out || (ndims != 2 && ndims != 4))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad input dims");
    dnnl_dims_t d;
    for (int i = 0; i < ndims; i++) {
        if (dims[i] <= 0)
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "input dim %d is %d", i, dims[i]);
        d[i] = dims[i];
    }
    const cc_dnn_desc *md = NULL;
    covidcam_status st = cc_tdnn_desc(net, ndims, d, dnnl_f32, cc_tdnn_plain_tag(ndims), &md, e);
    if (!st)
        st = cc_tdnn_tensor(net, ndims, d, md, -1, out, e);
    if (st)
        return st;
    (*out)->needs_diff = net->train && want_diff;
    return COVIDCAM_OK;
}

int cc_tt_dims(const cc_tt *t, int dims[4])
{
    for (int i = 0; i < t->ndims; i++)
        dims[i] = (int)t->dims[i];
    return t->ndims;
}

float *cc_tt_host(cc_tt *t)
{
    return t && t->plain_f32 ? t->data : NULL;
}

float *cc_tt_host_diff(cc_tt *t)
{
    return t && t->plain_f32 ? t->diff : NULL;
}

covidcam_status cc_tdnn_layer(cc_tnet *net, const tlayer_ops *ops, tlayer **out, cc_err *e)
{
    if (net->finalized)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "net already finalized");
    if (grow((void **)&net->layers, &net->capl, net->nl, sizeof *net->layers))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    tlayer *l = calloc(1, sizeof *l);
    if (!l)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    l->ops = ops;
    l->index = net->nl;
    net->layers[net->nl++] = l;
    *out = l;
    return COVIDCAM_OK;
}

/* ------------------------------------------------------------ ports */

covidcam_status cc_tdnn_port(cc_tnet *net, tlayer *l, int i, cc_tt *t, const cc_dnn_desc *md,
                             cc_err *e)
{
    tport *p = &l->in[i];
    p->t = t;
    p->md = md;
    p->adapt = !cc_dnn_desc_equal(md, t->md);
    if (l->index > t->last_consumer)
        t->last_consumer = l->index;
    if (i + 1 > l->nin)
        l->nin = i + 1;
    if (!p->adapt)
        return COVIDCAM_OK;
    covidcam_status st = cc_tdnn_mem_alloc(net, md, &p->mem, e);
    if (st)
        return st;
    return cc_tdnn_reorder(net, t->md, md, 0, &p->to_layer, e);
}

covidcam_status cc_tdnn_port_fwd(cc_tnet *net, tport *p, cc_err *e)
{
    if (!p->adapt)
        return COVIDCAM_OK;
    return cc_tdnn_run_reorder(net, &p->to_layer, p->t->mem, p->mem, e);
}

dnnl_memory_t cc_tdnn_port_src(const tport *p)
{
    return p->adapt ? p->mem : p->t->mem;
}

dnnl_memory_t cc_tdnn_port_diff(const tport *p)
{
    return p->direct ? p->t->dmem : p->tmp;
}

covidcam_status cc_tdnn_port_contrib(cc_tnet *net, tport *p, dnnl_memory_t src, cc_err *e)
{
    if (!p->t->needs_diff)
        return COVIDCAM_OK;
    return cc_tdnn_run_reorder(net, &p->contrib, src, p->t->dmem, e);
}

covidcam_status cc_tdnn_port_done(cc_tnet *net, tport *p, cc_err *e)
{
    if (p->direct)
        return COVIDCAM_OK;
    return cc_tdnn_port_contrib(net, p, p->tmp, e);
}

/* Gradient routing, known once every consumer is registered. */
static covidcam_status port_finalize(cc_tnet *net, tlayer *l, tport *p, cc_err *e)
{
    int fresh = p->t->last_consumer == l->index;
    p->direct = fresh && !p->adapt && !p->force_contrib && p->t->needs_diff;
    if (p->direct)
        return COVIDCAM_OK;
    covidcam_status st = cc_tdnn_mem(net, p->md, net->tmp, &p->tmp, e);
    if (st || !p->t->needs_diff)
        return st;
    return cc_tdnn_reorder(net, p->md, p->t->md, !fresh, &p->contrib, e);
}

/* ------------------------------------------------------------ adapters */

covidcam_status cc_tdnn_adapt_in(cc_tnet *net, tadapt *a, const cc_dnn_desc *have,
                                 const cc_dnn_desc *want, cc_err *e)
{
    a->on = !cc_dnn_desc_equal(have, want);
    if (!a->on)
        return COVIDCAM_OK;
    covidcam_status st = cc_tdnn_mem_alloc(net, want, &a->mem, e);
    return st ? st : cc_tdnn_reorder(net, have, want, 0, &a->r, e);
}

covidcam_status cc_tdnn_adapt_out(cc_tnet *net, tadapt *a, const cc_dnn_desc *prim,
                                  const cc_dnn_desc *want, cc_err *e)
{
    a->on = !cc_dnn_desc_equal(prim, want);
    if (!a->on)
        return COVIDCAM_OK;
    covidcam_status st = cc_tdnn_mem_alloc(net, prim, &a->mem, e);
    return st ? st : cc_tdnn_reorder(net, prim, want, 0, &a->r, e);
}

covidcam_status cc_tdnn_adapt_src(cc_tnet *net, tadapt *a, dnnl_memory_t m, dnnl_memory_t *use,
                                  cc_err *e)
{
    *use = a->on ? a->mem : m;
    return a->on ? cc_tdnn_run_reorder(net, &a->r, m, a->mem, e) : COVIDCAM_OK;
}

covidcam_status cc_tdnn_adapt_done(cc_tnet *net, tadapt *a, dnnl_memory_t m, cc_err *e)
{
    return a->on ? cc_tdnn_run_reorder(net, &a->r, a->mem, m, e) : COVIDCAM_OK;
}

/* ------------------------------------------------------------ weights */

covidcam_status cc_tdnn_weights(cc_tnet *net, tweights *w, int ndims, const dnnl_dims_t dims,
                                const float *user, float *duser, const cc_dnn_desc *fwd_md,
                                const cc_dnn_desc *bwd_md, const cc_dnn_desc *dw_md,
                                cc_err *e)
{
    covidcam_status st;
    w->user = user;
    w->duser = duser;
    CC_TDNN_CHECK(
        cc_tdnn_desc(net, ndims, dims, dnnl_f32, cc_tdnn_plain_tag(ndims), &w->user_md, e));
    /* oneDNN only reads weights through this handle; the cast is safe. */
    CC_TDNN_CHECK(cc_tdnn_mem(net, w->user_md, (void *)user, &w->user_mem, e));
    w->fwd_own = !cc_dnn_desc_equal(fwd_md, w->user_md);
    w->fwd_mem = w->user_mem;
    if (w->fwd_own) {
        CC_TDNN_CHECK(cc_tdnn_mem_alloc(net, fwd_md, &w->fwd_mem, e));
        CC_TDNN_CHECK(cc_tdnn_reorder(net, w->user_md, fwd_md, 0, &w->fwd_reorder, e));
    }
    w->bwd_mem = w->fwd_mem;
    if (bwd_md && !cc_dnn_desc_equal(bwd_md, fwd_md)) {
        w->bwd_own = 1;
        CC_TDNN_CHECK(cc_tdnn_mem_alloc(net, bwd_md, &w->bwd_mem, e));
        CC_TDNN_CHECK(cc_tdnn_reorder(net, w->user_md, bwd_md, 0, &w->bwd_reorder, e));
    }
    if (dw_md) {
        CC_TDNN_CHECK(cc_tdnn_mem(net, w->user_md, duser, &w->duser_mem, e));
        w->dw_mem = w->duser_mem;
        w->dw_own = !cc_dnn_desc_equal(dw_md, w->user_md);
        if (w->dw_own) {
            CC_TDNN_CHECK(cc_tdnn_mem_alloc(net, dw_md, &w->dw_mem, e));
            CC_TDNN_CHECK(cc_tdnn_reorder(net, dw_md, w->user_md, 0, &w->dw_reorder, e));
        }
    }
fail:
    return st;
}

covidcam_status cc_tdnn_weights_refresh(cc_tnet *net, tweights *w, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    if (w->version == net->version)
        return COVIDCAM_OK;
    if (w->fwd_own)
        CC_TDNN_CHECK(cc_tdnn_run_reorder(net, &w->fwd_reorder, w->user_mem, w->fwd_mem, e));
    if (w->bwd_own)
        CC_TDNN_CHECK(cc_tdnn_run_reorder(net, &w->bwd_reorder, w->user_mem, w->bwd_mem, e));
    w->version = net->version;
fail:
    return st;
}

covidcam_status cc_tdnn_weights_grad_done(cc_tnet *net, tweights *w, cc_err *e)
{
    if (!w->dw_own)
        return COVIDCAM_OK;
    return cc_tdnn_run_reorder(net, &w->dw_reorder, w->dw_mem, w->duser_mem, e);
}

/* ------------------------------------------------------------ planning */

typedef struct pool_buf {
    size_t bytes;
    int busy_until; /* producer index of the current tenant */
} pool_buf;

static int by_last_consumer_desc(const void *a, const void *b)
{
    const cc_tt *x = *(cc_tt *const *)a, *y = *(cc_tt *const *)b;
    if (x->last_consumer != y->last_consumer)
        return x->last_consumer > y->last_consumer ? -1 : 1;
    return x->producer > y->producer ? -1 : x->producer < y->producer;
}

/* Pick a pool buffer free for t: backward runs from the last layer down, so a
 * tensor's gradient lives from its last consumer down to its producer, and a
 * buffer whose tenant was produced above t's last consumer is free again. */
static int pick_buffer(pool_buf *pool, int npool, const cc_tt *t, size_t need)
{
    int best = -1;
    for (int i = 0; i < npool; i++) {
        if (t->last_consumer >= pool[i].busy_until)
            continue;
        if (best < 0) {
            best = i;
            continue;
        }
        int fits = pool[i].bytes >= need, bfits = pool[best].bytes >= need;
        if ((fits && (!bfits || pool[i].bytes < pool[best].bytes)) ||
            (!fits && !bfits && pool[i].bytes > pool[best].bytes))
            best = i;
    }
    return best;
}

/* Share gradient buffers between tensors whose gradients are never live at
 * the same time; returns the pool index of each tensor in slot[]. */
static covidcam_status plan_diffs(cc_tnet *net, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    cc_tt **order = malloc((size_t)net->nt * sizeof *order);
    pool_buf *pool = calloc((size_t)net->nt + 1, sizeof *pool);
    int *slot = malloc(((size_t)net->nt + 1) * sizeof *slot);
    void **bufs = NULL;
    int n = 0, npool = 0;
    if (!order || !pool || !slot) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    for (int i = 0; i < net->nt; i++) {
        cc_tt *t = net->tensors[i];
        if (!t->needs_diff)
            continue;
        if (t->last_consumer < 0)
            t->last_consumer = net->nl; /* an output: its gradient comes from the caller */
        order[n++] = t;
    }
    qsort(order, (size_t)n, sizeof *order, by_last_consumer_desc);
    for (int i = 0; i < n; i++) {
        size_t need = cc_dnn_desc_bytes(order[i]->md);
        int b = pick_buffer(pool, npool, order[i], need);
        if (b < 0)
            b = npool++;
        if (pool[b].bytes < need)
            pool[b].bytes = need;
        pool[b].busy_until = order[i]->producer;
        slot[i] = b;
    }
    bufs = calloc((size_t)npool + 1, sizeof *bufs);
    if (!bufs) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    for (int b = 0; b < npool; b++)
        CC_TDNN_CHECK(cc_tdnn_alloc(net, pool[b].bytes, &bufs[b], e));
    for (int i = 0; i < n; i++) {
        order[i]->diff = bufs[slot[i]];
        CC_TDNN_CHECK(cc_tdnn_mem(net, order[i]->md, order[i]->diff, &order[i]->dmem, e));
    }
fail:
    free(bufs);
    free(slot);
    free(pool);
    free(order);
    return st;
}

static covidcam_status plan_tmp(cc_tnet *net, cc_err *e)
{
    size_t need = 64;
    for (int i = 0; i < net->nt; i++) {
        size_t b = cc_dnn_desc_bytes(net->tensors[i]->md);
        if (b > need)
            need = b;
    }
    for (int i = 0; i < net->nl; i++)
        for (int j = 0; j < net->layers[i]->nin; j++) {
            size_t b = cc_dnn_desc_bytes(net->layers[i]->in[j].md);
            if (b > need)
                need = b;
        }
    net->tmp_bytes = need;
    return cc_tdnn_alloc(net, need, &net->tmp, e);
}

covidcam_status cc_tnet_finalize(cc_tnet *net, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    if (!net || net->finalized)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "net missing or already finalized");
    if (net->train) {
        CC_TDNN_CHECK(plan_diffs(net, e));
        CC_TDNN_CHECK(plan_tmp(net, e));
        for (int i = 0; i < net->nl; i++)
            for (int j = 0; j < net->layers[i]->nin; j++)
                CC_TDNN_CHECK(port_finalize(net, net->layers[i], &net->layers[i]->in[j], e));
    }
    /* Every primitive runs on the one stream in turn, so they share one
     * scratchpad as large as the largest request. */
    CC_TDNN_CHECK(cc_tdnn_alloc(net, net->scratch_bytes, &net->scratch, e));
    for (int i = 0; i < net->np; i++) {
        tprim *pr = net->prims[i];
        if (pr->sbytes)
            CC_TDNN_CHECK(cc_tdnn_mem(net, pr->smd, net->scratch, &pr->scratch, e));
    }
    net->finalized = 1;
fail:
    return st;
}

/* ------------------------------------------------------------ passes */

covidcam_status cc_tnet_forward(cc_tnet *net, int training, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    if (!net || !net->finalized)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "net not finalized");
    if (training && !net->train)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "evaluation net cannot train");
    for (int i = 0; i < net->nl; i++) {
        tlayer *l = net->layers[i];
        for (int j = 0; j < l->nin; j++)
            CC_TDNN_CHECK(cc_tdnn_port_fwd(net, &l->in[j], e));
        CC_TDNN_CHECK(l->ops->fwd(net, l, training, e));
        l->trained = training;
    }
    CC_TDNN_TRY(dnnl_stream_wait(net->strm), "stream wait");
fail:
    return st;
}

covidcam_status cc_tnet_backward(cc_tnet *net, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    if (!net || !net->finalized || !net->train)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "net not finalized for training");
    for (int i = net->nl - 1; i >= 0; i--) {
        tlayer *l = net->layers[i];
        if (!l->trained)
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                           "backward needs a training forward first");
        CC_TDNN_CHECK(l->ops->bwd(net, l, e));
    }
    CC_TDNN_TRY(dnnl_stream_wait(net->strm), "stream wait");
fail:
    return st;
}

/* ------------------------------------------------------------ host copies */

static covidcam_status copy_tensor(cc_tnet *net, cc_tt *t, int diff, int to_host, float *host,
                                   cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    dnnl_memory_t hm = NULL;
    cc_dnn_desc *hmd = NULL; /* ours, not the net's: this runs at any time */
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    dnnl_memory_t tm = diff ? t->dmem : t->mem;
    if (!tm)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "tensor has no %s buffer",
                       diff ? "gradient" : "data");
    CC_TDNN_TRY(cc_dnn_desc_create(t->ndims, t->dims, dnnl_f32, cc_tdnn_plain_tag(t->ndims), &hmd),
                "memory descriptor");
    CC_TDNN_TRY(cc_dnn_mem_create(net->eng, hmd, host, &hm), "memory creation");
    const cc_dnn_desc *src = to_host ? t->md : hmd, *dst = to_host ? hmd : t->md;
    CC_TDNN_TRY(cc_dnn_reorder_pd(net->eng, src, dst, NULL, &pd), "reorder");
    CC_TDNN_TRY(dnnl_primitive_create(&p, pd), "reorder");
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, to_host ? tm : hm}, {DNNL_ARG_TO, to_host ? hm : tm}};
    CC_TDNN_TRY(dnnl_primitive_execute(p, net->strm, 2, a), "reorder");
    CC_TDNN_TRY(dnnl_stream_wait(net->strm), "stream wait");
fail:
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(hm);
    cc_dnn_desc_free(hmd);
    return st;
}

covidcam_status cc_tt_read(cc_tnet *net, cc_tt *t, int diff, float *dst, cc_err *e)
{
    if (!net || !t || !dst)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad arguments");
    return copy_tensor(net, t, diff, 1, dst, e);
}

covidcam_status cc_tt_write(cc_tnet *net, cc_tt *t, int diff, const float *src, cc_err *e)
{
    if (!net || !t || !src)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad arguments");
    /* The reorder only reads from the host buffer. */
    return copy_tensor(net, t, diff, 0, (float *)src, e);
}
