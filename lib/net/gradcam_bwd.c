/* The backward pass from one logit to a block output, on oneDNN primitives.
 * Primitives and the backward-layout copies of the weights are created on the
 * first Grad-CAM that needs them and kept in the session. */
#include "gradcam_bwd.h"
#include "gradcam_mem.h"

#include <stdlib.h>
#include <string.h>

enum { G_OUT, G_Z, G_MAIN, G_TMP, G_SC, G_COUNT };
_Static_assert(G_COUNT == CC_GRAD_BUFFERS, "gradcam_mem.c counts the gradient buffers");

/* In the net's type, like the activations they are gradients of. */
typedef struct grad_bufs {
    void *g[G_COUNT];
} grad_bufs;

static covidcam_status ensure_buffers(cc_net *n, grad_bufs *gb, cc_err *e)
{
    if (!n->grad_a) {
        size_t each = (cc_net_max_activation_bytes(n) + 63) & ~(size_t)63;
        n->grad_a = cc_dnn_alloc(each * G_COUNT);
        if (!n->grad_a)
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for Grad-CAM gradients");
        n->grad_bytes = each;
    }
    for (int i = 0; i < G_COUNT; i++)
        gb->g[i] = (char *)n->grad_a + (size_t)i * n->grad_bytes;
    if (!n->d_logits)
        n->d_logits = cc_dnn_alloc((size_t)n->m->num_classes * sizeof(float));
    if (!n->d_pooled)
        n->d_pooled = cc_dnn_alloc(cc_dnn_md_bytes(cc_dnn_prim_md(n->gap, CC_ARG_DST)));
    if (n->head_reorder && !n->d_head)
        n->d_head = cc_dnn_alloc(cc_dnn_md_bytes(cc_dnn_prim_md(n->gap, CC_ARG_SRC)));
    if (!n->d_logits || !n->d_pooled || (n->head_reorder && !n->d_head))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for Grad-CAM gradients");
    return COVIDCAM_OK;
}

/* Weights in the layout a backward primitive wants, converted from the
 * forward layout the session already holds. */
static covidcam_status bwd_weights(cc_net *n, cc_dnn_prim *fwd, const void *w_fwd,
                                   cc_dnn_prim *bwd, void **w_bwd, const void **use, cc_err *e)
{
    const cc_dnn_md *from = cc_dnn_prim_md(fwd, CC_ARG_WEIGHTS);
    const cc_dnn_md *to = cc_dnn_prim_md(bwd, CC_ARG_WEIGHTS);
    if (cc_dnn_md_equal(from, to)) {
        *use = w_fwd;
        return COVIDCAM_OK;
    }
    if (!*w_bwd) {
        if (!(*w_bwd = cc_dnn_alloc(cc_dnn_md_bytes(to))))
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for backward weights");
        covidcam_status rc = cc_dnn_reorder_now(n->m->eng, from, w_fwd, to, *w_bwd, e);
        if (rc) {
            cc_dnn_free(*w_bwd);
            *w_bwd = NULL;
            return rc;
        }
    }
    *use = *w_bwd;
    return COVIDCAM_OK;
}

/* Store a new primitive in the session only once the scratchpad can hold
 * what it needs: a primitive kept after a failed reservation would later run
 * with a scratchpad too small for it. */
static covidcam_status keep(cc_net *n, cc_dnn_prim **slot, cc_dnn_prim *p, cc_err *e)
{
    covidcam_status rc = cc_net_reserve_scratch(n, p, e);
    if (rc) {
        cc_dnn_prim_free(p);
        return rc;
    }
    *slot = p;
    return COVIDCAM_OK;
}

static covidcam_status conv_bwd(cc_net *n, cc_net_conv *c, const void *diff_dst, void *diff_src,
                                cc_err *e)
{
    covidcam_status rc;
    if (!c->bwd) {
        const cc_dnn_md *src = cc_dnn_prim_md(c->fwd, CC_ARG_SRC);
        const cc_dnn_md *dst = cc_dnn_prim_md(c->fwd, CC_ARG_DST);
        cc_dnn_prim *p = NULL;
        if ((rc = cc_dnn_conv_bwd_data(n->m->eng, src, &c->cw->geom, dst, &p, e)))
            return rc;
        if ((rc = keep(n, &c->bwd, p, e)))
            return rc;
    }
    const void *w = NULL;
    if ((rc = bwd_weights(n, c->fwd, c->w, c->bwd, &c->w_bwd, &w, e)))
        return rc;
    cc_dnn_bind b[3] = {{CC_ARG_DIFF_DST, (void *)diff_dst},
                        {CC_ARG_WEIGHTS, (void *)w},
                        {CC_ARG_DIFF_SRC, diff_src}};
    return cc_net_exec(n, c->bwd, b, 3, e);
}

static covidcam_status relu_bwd(cc_net *n, cc_dnn_prim **p, const cc_dnn_md *md, const void *dst,
                                const void *diff_dst, void *diff_src, cc_err *e)
{
    covidcam_status rc;
    if (!*p) {
        cc_dnn_prim *fresh = NULL;
        if ((rc = cc_dnn_relu_bwd(n->m->eng, md, &fresh, e)))
            return rc;
        if ((rc = keep(n, p, fresh, e)))
            return rc;
    }
    cc_dnn_bind b[3] = {{CC_ARG_DST, (void *)dst},
                        {CC_ARG_DIFF_DST, (void *)diff_dst},
                        {CC_ARG_DIFF_SRC, diff_src}};
    return cc_net_exec(n, *p, b, 3, e);
}

static covidcam_status add(cc_net *n, cc_net_block *nb, const void *a, const void *b, void *dst,
                           cc_err *e)
{
    covidcam_status rc;
    if (!nb->add) {
        cc_dnn_prim *p = NULL;
        if ((rc = cc_dnn_add(n->m->eng, nb->in_md, &p, e)))
            return rc;
        if ((rc = keep(n, &nb->add, p, e)))
            return rc;
    }
    cc_dnn_bind bd[3] = {{CC_ARG_SRC, (void *)a}, {CC_ARG_SRC_1, (void *)b}, {CC_ARG_DST, dst}};
    return cc_net_exec(n, nb->add, bd, 3, e);
}

/* g->g[G_OUT] holds d/d out(block); leaves d/d in(block) there. */
static covidcam_status block_bwd(cc_net *n, cc_net_block *nb, grad_bufs *g, cc_err *e)
{
    const cc_block_w *bw = nb->bw;
    covidcam_status rc;
    if ((rc = relu_bwd(n, &nb->relu_bwd_out, nb->out_md, nb->out, g->g[G_OUT], g->g[G_Z], e)))
        return rc;
    void *cur = g->g[G_MAIN], *spare = g->g[G_TMP];
    const void *dd = g->g[G_Z];
    for (int i = bw->nconv - 1; i >= 0; i--) {
        if ((rc = conv_bwd(n, &nb->conv[i], dd, cur, e)))
            return rc;
        if (i > 0) {
            const cc_dnn_md *md = cc_dnn_prim_md(nb->conv[i - 1].fwd, CC_ARG_DST);
            if ((rc = relu_bwd(n, &nb->relu_bwd_inner[i - 1], md, nb->inner[i - 1], cur, cur, e)))
                return rc;
        }
        dd = cur;
        void *t = cur;
        cur = spare;
        spare = t;
    }
    /* dd now holds the main branch's gradient at the block input */
    const void *sc = g->g[G_Z];
    if (bw->has_down) {
        if ((rc = conv_bwd(n, &nb->down, g->g[G_Z], g->g[G_SC], e)))
            return rc;
        sc = g->g[G_SC];
    }
    return add(n, nb, dd, sc, g->g[G_OUT], e);
}

static covidcam_status head_bwd(cc_net *n, int cls, float *d_last, cc_err *e)
{
    covidcam_status rc;
    const cc_dnn_md *pooled = cc_dnn_prim_md(n->gap, CC_ARG_DST);
    const cc_dnn_md *last = cc_dnn_prim_md(n->gap, CC_ARG_SRC);
    cc_dnn_prim *p = NULL;
    if (!n->fc_bwd) {
        if ((rc = cc_dnn_fc_bwd_data(n->m->eng, pooled, n->m->num_classes, &p, e)) ||
            (rc = keep(n, &n->fc_bwd, p, e)))
            return rc;
    }
    if (!n->gap_bwd) {
        if ((rc = cc_dnn_gap_bwd(n->m->eng, last, pooled, &p, e)) ||
            (rc = keep(n, &n->gap_bwd, p, e)))
            return rc;
    }
    const void *w = NULL;
    if ((rc = bwd_weights(n, n->fc, n->fc_weights, n->fc_bwd, &n->fc_w_bwd, &w, e)))
        return rc;
    memset(n->d_logits, 0, (size_t)n->m->num_classes * sizeof(float));
    n->d_logits[cls] = 1.0f;
    cc_dnn_bind fb[3] = {{CC_ARG_DIFF_DST, n->d_logits},
                         {CC_ARG_WEIGHTS, (void *)w},
                         {CC_ARG_DIFF_SRC, n->d_pooled}};
    if ((rc = cc_net_exec(n, n->fc_bwd, fb, 3, e)))
        return rc;
    cc_dnn_bind pb[2] = {{CC_ARG_DIFF_DST, n->d_pooled}, {CC_ARG_DIFF_SRC, d_last}};
    return cc_net_exec(n, n->gap_bwd, pb, 2, e);
}

/* The block's output layout to plain NCHW; the reorder is created on first
 * use and kept, like the other backward primitives. */
static covidcam_status to_plain(cc_net *n, cc_net_block *nb, const void *src, float *dst,
                                cc_err *e)
{
    covidcam_status rc = COVIDCAM_OK;
    if (!nb->out_to_plain) {
        const cc_dnn_md *md = nb->out_md;
        long dims[4] = {1, cc_dnn_md_dim(md, 1), cc_dnn_md_dim(md, 2), cc_dnn_md_dim(md, 3)};
        cc_dnn_md *plain = cc_dnn_md_plain(CC_LAYOUT_NCHW, dims);
        if (!plain)
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        rc = cc_dnn_reorder(n->m->eng, md, plain, &nb->out_to_plain, e);
        cc_dnn_md_free(plain);
        if (rc == COVIDCAM_OK && (rc = cc_net_reserve_scratch(n, nb->out_to_plain, e))) {
            cc_dnn_prim_free(nb->out_to_plain);
            nb->out_to_plain = NULL;
        }
        if (rc)
            return rc;
    }
    cc_dnn_bind b[2] = {{CC_ARG_SRC, (void *)src}, {CC_ARG_DST, dst}};
    return cc_net_exec(n, nb->out_to_plain, b, 2, e);
}

covidcam_status cc_net_activation(cc_net *n, int target, float *act, cc_err *e)
{
    cc_net_block *nb = &n->blocks[target];
    return to_plain(n, nb, nb->out, act, e);
}

/* Reduced precision: d_head (plain fp32) into the last block's layout and
 * type, where the blocks' backward pass starts. */
static covidcam_status head_to_blocked(cc_net *n, void *dst, cc_err *e)
{
    covidcam_status rc;
    if (!n->head_to_blocked) {
        cc_dnn_prim *p = NULL;
        if ((rc = cc_dnn_reorder(n->m->eng, cc_dnn_prim_md(n->gap, CC_ARG_SRC),
                                 n->blocks[n->num_blocks - 1].out_md, &p, e)) ||
            (rc = keep(n, &n->head_to_blocked, p, e)))
            return rc;
    }
    cc_dnn_bind b[2] = {{CC_ARG_SRC, n->d_head}, {CC_ARG_DST, dst}};
    return cc_net_exec(n, n->head_to_blocked, b, 2, e);
}

covidcam_status cc_net_gradient(cc_net *n, int target, int cls, float *grad, cc_err *e)
{
    grad_bufs g;
    covidcam_status rc = ensure_buffers(n, &g, e);
    if (rc)
        return rc;
    if (n->head_reorder) {
        /* the head runs in fp32 on plain NCHW: its gradient is the answer for
         * the last block, and is rounded to the net's type for earlier ones */
        if (target == n->num_blocks - 1)
            return head_bwd(n, cls, grad, e);
        if ((rc = head_bwd(n, cls, n->d_head, e)) || (rc = head_to_blocked(n, g.g[G_OUT], e)))
            return rc;
    } else if ((rc = head_bwd(n, cls, g.g[G_OUT], e))) {
        return rc;
    }
    for (int j = n->num_blocks - 1; j > target; j--)
        if ((rc = block_bwd(n, &n->blocks[j], &g, e)))
            return rc;
    return to_plain(n, &n->blocks[target], g.g[G_OUT], grad, e);
}
