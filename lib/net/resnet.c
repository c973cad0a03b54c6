#include "resnet.h"

#include <stdlib.h>
#include <string.h>

#include "prepared.h"
#include "qweights.h"

/* While planning layouts at load time there are no weights to bind yet and no
 * buffers are needed; the chosen weight mds are recorded into the plan. */
typedef struct build_ctx {
    cc_net *n;
    cc_layout_plan *plan;      /* non-NULL only in planning mode */
    const cc_prepared *shared; /* a reduced-precision net: the model's converted weights */
    const cc_qnet *q;          /* an int8 net: the quantized model */
} build_ctx;

/* Which convolution a weight slot is: the stem, conv k (3: the downsample) of
 * block `block`, or the fc. */
typedef struct slot_id {
    int block; /* -1: the stem, -2: the fc */
    int k;
} slot_id;

static const slot_id STEM = {-1, 0}, FC = {-2, 0};

static cc_dnn_md **plan_slot(const build_ctx *b, slot_id id)
{
    if (!b->plan)
        return NULL;
    if (id.block == -1)
        return &b->plan->stem;
    if (id.block == -2)
        return &b->plan->fc;
    return &b->plan->blocks[id.block][id.k];
}

/* The shared converted weights of a slot if they are in layout md, else NULL. */
static const void *shared_weights(const build_ctx *b, slot_id id, const cc_dnn_md *md)
{
    const cc_prepared *p = b->shared;
    if (!p || id.block == -2)
        return NULL;
    const cc_dnn_md *have = id.block == -1 ? p->plan.stem : p->plan.blocks[id.block][id.k];
    void *w = id.block == -1 ? p->stem : p->blocks[id.block][id.k];
    return have && cc_dnn_md_equal(have, md) ? w : NULL;
}

covidcam_status cc_net_reserve_scratch(cc_net *n, const cc_dnn_prim *p, cc_err *e)
{
    size_t need = cc_dnn_prim_scratchpad(p);
    if (need <= n->scratch_bytes)
        return COVIDCAM_OK;
    void *s = cc_dnn_alloc(need);
    if (!s)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for a %zu-byte scratchpad",
                       need);
    cc_dnn_free(n->scratch);
    n->scratch = s;
    n->scratch_bytes = need;
    return COVIDCAM_OK;
}

covidcam_status cc_net_exec(cc_net *n, cc_dnn_prim *p, cc_dnn_bind *b, int nb, cc_err *e)
{
    cc_dnn_bind all[CC_ARG_COUNT];
    memcpy(all, b, (size_t)nb * sizeof *b);
    if (cc_dnn_prim_scratchpad(p) > 0)
        all[nb++] = (cc_dnn_bind){CC_ARG_SCRATCHPAD, n->scratch};
    return cc_dnn_exec(n->stream, p, all, nb, e);
}

static void *alloc_for(const cc_dnn_md *md, cc_err *e, covidcam_status *rc)
{
    void *p = cc_dnn_alloc(cc_dnn_md_bytes(md));
    if (!p)
        *rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for a %zu-byte activation",
                      cc_dnn_md_bytes(md));
    return p;
}

/* Planning: record the layout in the plan's slot. A session: use the model's
 * weights (fp32, or the shared converted ones), or a private copy when this
 * session's primitive chose another layout. */
static covidcam_status bind_weights(build_ctx *b, cc_net_conv *c, const cc_conv_w *cw,
                                    slot_id id, cc_err *e)
{
    const cc_dnn_md *wmd = cc_dnn_prim_md(c->fwd, CC_ARG_WEIGHTS);
    cc_dnn_md **slot = plan_slot(b, id);
    if (slot) {
        cc_dnn_md_free(*slot);
        *slot = cc_dnn_md_clone(wmd);
        return *slot ? COVIDCAM_OK : cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (cc_dnn_md_equal(wmd, cw->w_md)) {
        c->w = cw->w;
        return COVIDCAM_OK;
    }
    if ((c->w = shared_weights(b, id, wmd)))
        return COVIDCAM_OK;
    /* This session's primitive prefers another layout than the one chosen at
     * load (e.g. a different thread count changed the heuristics). */
    c->w_private = cc_dnn_alloc(cc_dnn_md_bytes(wmd));
    if (!c->w_private)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for private weights");
    c->w = c->w_private;
    if (b->q && id.block != FC.block) /* the fc stays fp32 in int8 nets */
        return cc_qconv_reorder(b->n->m, cc_qnet_conv(b->q, id.block, id.k), cw, wmd,
                                c->w_private, e);
    return cc_dnn_reorder_now(b->n->m->eng, cw->w_md, cw->w, wmd, c->w_private, e);
}

/* An int8 convolution: its own NHWC dst (s8 for a downsample, which has no
 * ReLU; u8 otherwise) and the quantized model's scales and bias. */
static covidcam_status make_qconv(build_ctx *b, cc_net_conv *c, const cc_conv_w *cw,
                                  const cc_dnn_md *src, slot_id id, cc_err *e)
{
    const cc_qconv *qc = cc_qnet_conv(b->q, id.block, id.k);
    const cc_dnn_conv *g = &cw->geom;
    long dims[4] = {cc_dnn_md_dim(src, 0), g->oc,
                    (cc_dnn_md_dim(src, 2) + 2 * g->pad - g->k) / g->stride + 1,
                    (cc_dnn_md_dim(src, 3) + 2 * g->pad - g->k) / g->stride + 1};
    if (!(c->q_dst = cc_dnn_md_nhwc(dims, id.block >= 0 && id.k == 3 ? CC_DNN_S8 : CC_DNN_U8)))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    cc_dnn_qconv q = {qc->scales, g->oc, qc->sum_scale, qc->sum_s8 ? CC_DNN_S8 : CC_DNN_U8};
    c->bias = qc->bias;
    return cc_dnn_conv_fwd_q(b->n->m->eng, src, g, c->q_dst, &q, &c->fwd, e);
}

static covidcam_status make_conv(build_ctx *b, cc_net_conv *c, const cc_conv_w *cw,
                                 const cc_dnn_md *src, const cc_dnn_md *dst, slot_id id,
                                 cc_err *e)
{
    c->cw = cw;
    c->bias = cw->b;
    /* int8: the residual's layout is NHWC by construction, so dst is made there */
    covidcam_status rc = b->q ? make_qconv(b, c, cw, src, id, e)
                              : cc_dnn_conv_fwd(b->n->m->eng, src, &cw->geom, dst, &c->fwd, e);
    if (rc)
        return rc;
    if ((rc = cc_net_reserve_scratch(b->n, c->fwd, e)))
        return rc;
    return bind_weights(b, c, cw, id, e);
}

static const cc_dnn_md *dst_of(const cc_net_conv *c)
{
    return cc_dnn_prim_md(c->fwd, CC_ARG_DST);
}

static covidcam_status build_block(build_ctx *b, int index, const cc_dnn_md *in_md, cc_err *e)
{
    cc_net_block *nb = &b->n->blocks[index];
    const cc_block_w *bw = &b->n->m->blocks[index];
    covidcam_status rc = COVIDCAM_OK;
    const cc_dnn_md *src = in_md;
    nb->bw = bw;
    nb->in_md = in_md;
    /* The residual decides the layout of the block output: the last conv sums
     * into it, so its dst md is fixed to the shortcut's md. */
    const cc_dnn_md *res_md = in_md;
    if (bw->has_down) {
        if ((rc = make_conv(b, &nb->down, &bw->down, in_md, NULL, (slot_id){index, 3}, e)))
            return rc;
        res_md = dst_of(&nb->down);
    }
    for (int i = 0; i < bw->nconv; i++) {
        int last = i == bw->nconv - 1;
        if ((rc = make_conv(b, &nb->conv[i], &bw->conv[i], src, last ? res_md : NULL,
                            (slot_id){index, i}, e)))
            return rc;
        src = dst_of(&nb->conv[i]);
        if (!last && !b->plan && !(nb->inner[i] = alloc_for(src, e, &rc)))
            return rc;
    }
    nb->out_md = dst_of(&nb->conv[bw->nconv - 1]); /* res_md, retyped u8 in int8 */
    if (!b->plan && !(nb->out_buf = alloc_for(nb->out_md, e, &rc)))
        return rc;
    return COVIDCAM_OK;
}

static covidcam_status build_input(build_ctx *b, cc_err *e)
{
    cc_net *n = b->n;
    const covidcam_model *m = n->m;
    covidcam_status rc = COVIDCAM_OK;
    long dims[4] = {n->mb, m->in_ch, m->input_size, m->input_size};
    /* int8: the input is quantized to s8 (normalised pixels can be negative) */
    cc_dnn_md *any = b->q ? cc_dnn_md_nhwc(dims, CC_DNN_S8) : cc_dnn_md_any4(dims, n->dt);
    n->in_plain_md = cc_dnn_md_plain(CC_LAYOUT_NCHW, dims);
    if (!any || !n->in_plain_md) {
        cc_dnn_md_free(any);
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    rc = make_conv(b, &n->stem, &m->stem, any, NULL, STEM, e);
    cc_dnn_md_free(any);
    if (rc)
        return rc;
    const cc_dnn_md *src = cc_dnn_prim_md(n->stem.fwd, CC_ARG_SRC);
    if (b->plan || cc_dnn_md_equal(src, n->in_plain_md))
        return COVIDCAM_OK;
    if ((rc = b->q ? cc_dnn_reorder_scaled(m->eng, n->in_plain_md, src, 1.0f / b->q->in_scale,
                                           &n->in_reorder, e)
                   : cc_dnn_reorder(m->eng, n->in_plain_md, src, &n->in_reorder, e)))
        return rc;
    if ((rc = cc_net_reserve_scratch(n, n->in_reorder, e)))
        return rc;
    n->in_blocked = alloc_for(src, e, &rc);
    return rc;
}

/* Reduced precision: the last block's output as plain fp32 for the head. *md
 * becomes that plain md (owned by the reorder primitive). */
static covidcam_status build_head_input(build_ctx *b, const cc_dnn_md **md, cc_err *e)
{
    cc_net *n = b->n;
    covidcam_status rc = COVIDCAM_OK;
    long dims[4] = {cc_dnn_md_dim(*md, 0), cc_dnn_md_dim(*md, 1), cc_dnn_md_dim(*md, 2),
                    cc_dnn_md_dim(*md, 3)};
    cc_dnn_md *plain = cc_dnn_md_plain(CC_LAYOUT_NCHW, dims);
    if (!plain)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    /* int8: dequantized on the way, real = out_scale * u8 */
    rc = b->q ? cc_dnn_reorder_scaled(n->m->eng, *md, plain, b->q->out_scale, &n->head_reorder, e)
              : cc_dnn_reorder(n->m->eng, *md, plain, &n->head_reorder, e);
    cc_dnn_md_free(plain);
    if (rc || (rc = cc_net_reserve_scratch(n, n->head_reorder, e)))
        return rc;
    *md = cc_dnn_prim_md(n->head_reorder, CC_ARG_DST);
    if (!b->plan && !(n->head_in = alloc_for(*md, e, &rc)))
        return rc;
    return COVIDCAM_OK;
}

static covidcam_status build(build_ctx *b, cc_err *e)
{
    cc_net *n = b->n;
    const covidcam_model *m = n->m;
    covidcam_status rc;
    if ((rc = build_input(b, e)))
        return rc;
    const cc_dnn_md *md = dst_of(&n->stem);
    if (!b->plan && !(n->stem_out = alloc_for(md, e, &rc)))
        return rc;
    if ((rc = cc_dnn_maxpool_fwd(m->eng, md, 3, 2, 1, &n->maxpool, e)))
        return rc;
    if ((rc = cc_net_reserve_scratch(n, n->maxpool, e)))
        return rc;
    md = cc_dnn_prim_md(n->maxpool, CC_ARG_DST);
    if (!b->plan && !(n->pool_out = alloc_for(md, e, &rc)))
        return rc;
    n->num_blocks = m->num_blocks;
    n->blocks = calloc((size_t)m->num_blocks, sizeof *n->blocks);
    if (!n->blocks)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < m->num_blocks; i++) {
        if ((rc = build_block(b, i, md, e)))
            return rc;
        md = n->blocks[i].out_md;
    }
    if ((n->dt != CC_DNN_F32 || n->mb > 1) && (rc = build_head_input(b, &md, e)))
        return rc;
    if ((rc = cc_dnn_gap_fwd(m->eng, md, &n->gap, e)))
        return rc;
    if ((rc = cc_net_reserve_scratch(n, n->gap, e)))
        return rc;
    md = cc_dnn_prim_md(n->gap, CC_ARG_DST);
    if (!b->plan && !(n->gap_out = alloc_for(md, e, &rc)))
        return rc;
    if ((rc = cc_dnn_fc_fwd(m->eng, md, m->num_classes, &n->fc, e)))
        return rc;
    if ((rc = cc_net_reserve_scratch(n, n->fc, e)))
        return rc;
    /* fc goes through the same layout check as the convolutions */
    cc_net_conv fcw = {0};
    fcw.fwd = n->fc;
    rc = bind_weights(b, &fcw, &m->fc, FC, e);
    n->fc_w_private = fcw.w_private; /* the net frees it, whether or not the copy worked */
    if (rc)
        return rc;
    if (!b->plan) {
        n->fc_weights = fcw.w;
        if (!(n->logits = cc_dnn_alloc((size_t)n->mb * (size_t)m->num_classes * sizeof(float))))
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return COVIDCAM_OK;
}

static void free_conv(cc_net_conv *c)
{
    cc_dnn_md_free(c->q_dst);
    cc_dnn_prim_free(c->fwd);
    cc_dnn_prim_free(c->bwd);
    cc_dnn_free(c->w_private);
    cc_dnn_free(c->w_bwd);
}

void cc_net_free(cc_net *n)
{
    if (!n)
        return;
    for (int i = 0; n->blocks && i < n->num_blocks; i++) {
        cc_net_block *b = &n->blocks[i];
        for (int k = 0; k < 3; k++)
            free_conv(&b->conv[k]);
        free_conv(&b->down);
        cc_dnn_free(b->inner[0]);
        cc_dnn_free(b->inner[1]);
        cc_dnn_free(b->out_buf);
        cc_dnn_prim_free(b->relu_bwd_out);
        cc_dnn_prim_free(b->relu_bwd_inner[0]);
        cc_dnn_prim_free(b->relu_bwd_inner[1]);
        cc_dnn_prim_free(b->add);
        cc_dnn_prim_free(b->out_to_plain);
    }
    free(n->blocks);
    free_conv(&n->stem);
    cc_dnn_md_free(n->in_plain_md);
    cc_dnn_prim_free(n->in_reorder);
    cc_dnn_free(n->in_blocked);
    cc_dnn_free(n->stem_out);
    cc_dnn_prim_free(n->maxpool);
    cc_dnn_free(n->pool_out);
    cc_dnn_prim_free(n->head_reorder);
    cc_dnn_free(n->head_in);
    cc_dnn_prim_free(n->gap);
    cc_dnn_free(n->gap_out);
    cc_dnn_prim_free(n->fc);
    cc_dnn_free(n->fc_w_private);
    cc_dnn_free(n->logits);
    cc_dnn_prim_free(n->fc_bwd);
    cc_dnn_free(n->fc_w_bwd);
    cc_dnn_prim_free(n->gap_bwd);
    cc_dnn_free(n->d_head);
    cc_dnn_prim_free(n->head_to_blocked);
    cc_dnn_free(n->grad_a);
    cc_dnn_free(n->d_logits);
    cc_dnn_free(n->d_pooled);
    cc_dnn_free(n->scratch);
    cc_dnn_stream_free(n->stream);
    free(n);
}

covidcam_status cc_net_create(const covidcam_model *m, cc_dnn_dtype dt, int mb, cc_net **out,
                              cc_err *e)
{
    cc_net *n = calloc(1, sizeof *n);
    if (!n)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    n->m = m;
    n->dt = dt;
    n->mb = mb;
    build_ctx b = {n, NULL, NULL, NULL};
    covidcam_status rc = cc_dnn_stream_create(m->eng, &n->stream, e);
    if (rc == COVIDCAM_OK && dt != CC_DNN_F32)
        rc = cc_model_prepared(m, dt, &b.shared, e);
    if (rc == COVIDCAM_OK && dt == CC_DNN_U8)
        b.q = b.shared->q;
    if (rc == COVIDCAM_OK)
        rc = build(&b, e);
    if (rc) {
        cc_net_free(n);
        return rc;
    }
    *out = n;
    return COVIDCAM_OK;
}

void cc_layout_plan_free(cc_layout_plan *p)
{
    if (!p)
        return;
    cc_dnn_md_free(p->stem);
    cc_dnn_md_free(p->fc);
    for (int i = 0; p->blocks && i < p->num_blocks; i++)
        for (int k = 0; k < 4; k++)
            cc_dnn_md_free(p->blocks[i][k]);
    free(p->blocks);
    memset(p, 0, sizeof *p);
}

covidcam_status cc_net_plan_layouts(const covidcam_model *m, cc_dnn_dtype dt, cc_layout_plan *plan,
                                    cc_err *e)
{
    return cc_net_plan_layouts_q(m, dt, NULL, plan, e);
}

covidcam_status cc_net_plan_layouts_q(const covidcam_model *m, cc_dnn_dtype dt, const cc_qnet *q,
                                      cc_layout_plan *plan, cc_err *e)
{
    memset(plan, 0, sizeof *plan);
    cc_net *n = calloc(1, sizeof *n);
    plan->blocks = calloc((size_t)m->num_blocks, sizeof *plan->blocks);
    if (!n || !plan->blocks) {
        free(n);
        free(plan->blocks);
        plan->blocks = NULL;
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    plan->num_blocks = m->num_blocks;
    n->m = m;
    n->dt = dt;
    n->mb = 1;
    build_ctx b = {n, plan, NULL, q};
    covidcam_status rc = build(&b, e);
    cc_net_free(n);
    if (rc)
        cc_layout_plan_free(plan);
    return rc;
}

static covidcam_status run_conv(cc_net *n, cc_net_conv *c, const void *src, void *dst,
                                cc_err *e)
{
    cc_dnn_bind b[4] = {{CC_ARG_SRC, (void *)src},
                        {CC_ARG_WEIGHTS, (void *)c->w},
                        {CC_ARG_BIAS, (void *)c->bias},
                        {CC_ARG_DST, dst}};
    return cc_net_exec(n, c->fwd, b, 4, e);
}

static void observe(cc_net *n, int block, int k, const void *x, const cc_dnn_md *md)
{
    if (n->observe)
        n->observe(n->observe_ctx, block, k, x, cc_dnn_md_bytes(md) / sizeof(float));
}

static covidcam_status run_block(cc_net *n, int index, void *x, int keep, cc_err *e)
{
    cc_net_block *nb = &n->blocks[index];
    const cc_block_w *bw = nb->bw;
    covidcam_status rc;
    void *y;
    nb->in = x;
    if (bw->has_down) {
        y = nb->out_buf;
        if ((rc = run_conv(n, &nb->down, x, y, e)))
            return rc;
        observe(n, index, CC_QS_DOWN, y, dst_of(&nb->down));
    } else if (keep) {
        y = nb->out_buf;
        memcpy(y, x, cc_dnn_md_bytes(nb->in_md));
    } else {
        y = x; /* the residual is already there: sum in place */
    }
    const void *src = x;
    for (int i = 0; i < bw->nconv; i++) {
        int last = i == bw->nconv - 1;
        void *dst = last ? y : nb->inner[i];
        if ((rc = run_conv(n, &nb->conv[i], src, dst, e)))
            return rc;
        observe(n, index, last ? CC_QS_OUT : i, dst, dst_of(&nb->conv[i]));
        src = dst;
    }
    nb->out = y;
    return COVIDCAM_OK;
}

covidcam_status cc_net_forward(cc_net *n, const float *input, int keep_from, cc_err *e)
{
    covidcam_status rc;
    const void *x = input;
    observe(n, -1, 0, input, n->in_plain_md);
    if (n->in_reorder) {
        cc_dnn_bind b[2] = {{CC_ARG_SRC, (void *)input}, {CC_ARG_DST, n->in_blocked}};
        if ((rc = cc_net_exec(n, n->in_reorder, b, 2, e)))
            return rc;
        x = n->in_blocked;
    }
    if ((rc = run_conv(n, &n->stem, x, n->stem_out, e)))
        return rc;
    observe(n, -1, 1, n->stem_out, dst_of(&n->stem));
    cc_dnn_bind pb[2] = {{CC_ARG_SRC, n->stem_out}, {CC_ARG_DST, n->pool_out}};
    if ((rc = cc_net_exec(n, n->maxpool, pb, 2, e)))
        return rc;
    void *cur = n->pool_out;
    for (int i = 0; i < n->num_blocks; i++) {
        cc_net_block *nb = &n->blocks[i];
        if ((rc = run_block(n, i, cur, i > keep_from, e)))
            return rc;
        cur = nb->out;
    }
    if (n->head_reorder) {
        cc_dnn_bind hb[2] = {{CC_ARG_SRC, cur}, {CC_ARG_DST, n->head_in}};
        if ((rc = cc_net_exec(n, n->head_reorder, hb, 2, e)))
            return rc;
        cur = n->head_in;
    }
    cc_dnn_bind gb[2] = {{CC_ARG_SRC, cur}, {CC_ARG_DST, n->gap_out}};
    if ((rc = cc_net_exec(n, n->gap, gb, 2, e)))
        return rc;
    cc_dnn_bind fb[4] = {{CC_ARG_SRC, n->gap_out},
                         {CC_ARG_WEIGHTS, (void *)n->fc_weights},
                         {CC_ARG_BIAS, n->m->fc.b},
                         {CC_ARG_DST, n->logits}};
    return cc_net_exec(n, n->fc, fb, 4, e);
}
