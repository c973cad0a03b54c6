#include "gradcam_mem.h"

static size_t conv_dst_bytes(const cc_net_conv *c)
{
    return cc_dnn_md_bytes(cc_dnn_prim_md(c->fwd, CC_ARG_DST));
}

size_t cc_net_max_activation_bytes(const cc_net *n)
{
    size_t mx = 0;
    for (int i = 0; i < n->num_blocks; i++) {
        const cc_net_block *b = &n->blocks[i];
        size_t v = cc_dnn_md_bytes(b->in_md);
        if (cc_dnn_md_bytes(b->out_md) > v)
            v = cc_dnn_md_bytes(b->out_md);
        for (int k = 0; k + 1 < b->bw->nconv; k++)
            if (conv_dst_bytes(&b->conv[k]) > v)
                v = conv_dst_bytes(&b->conv[k]);
        if (v > mx)
            mx = v;
    }
    return mx;
}

size_t cc_net_forward_bytes(const cc_net *n)
{
    size_t sum = conv_dst_bytes(&n->stem) * 2 + n->scratch_bytes; /* stem and pool outputs */
    for (int i = 0; i < n->num_blocks; i++) {
        const cc_net_block *b = &n->blocks[i];
        sum += cc_dnn_md_bytes(b->out_md);
        for (int k = 0; k + 1 < b->bw->nconv; k++)
            sum += conv_dst_bytes(&b->conv[k]);
    }
    return sum;
}

static size_t pending_weights(const cc_net_conv *c)
{
    return c->fwd && !c->bwd ? cc_dnn_md_bytes(cc_dnn_prim_md(c->fwd, CC_ARG_WEIGHTS)) : 0;
}

size_t cc_gradcam_extra_bytes(const cc_net *n, int target, int general)
{
    const cc_net_block *t = &n->blocks[target];
    size_t hw = (size_t)cc_dnn_md_dim(t->out_md, 2) * (size_t)cc_dnn_md_dim(t->out_md, 3);
    size_t chw = (size_t)cc_dnn_md_dim(t->out_md, 1) * hw; /* the plain fp32 maps */
    size_t extra = 2 * chw * sizeof(float) + (chw / hw + hw) * sizeof(double);
    if (target == n->num_blocks - 1 && !general)
        return extra;
    extra += CC_GRAD_BUFFERS * ((cc_net_max_activation_bytes(n) + 63) & ~(size_t)63);
    if (n->head_reorder)
        extra += cc_dnn_md_bytes(cc_dnn_prim_md(n->gap, CC_ARG_SRC)); /* d_head */
    for (int j = target + 1; j < n->num_blocks; j++) {
        const cc_net_block *b = &n->blocks[j];
        for (int k = 0; k < b->bw->nconv; k++)
            extra += pending_weights(&b->conv[k]);
        if (b->bw->has_down)
            extra += pending_weights(&b->down);
    }
    if (!n->fc_bwd)
        extra += cc_dnn_md_bytes(cc_dnn_prim_md(n->fc, CC_ARG_WEIGHTS));
    return extra;
}

covidcam_status cc_gradcam_check_memory(const cc_net *n, int target, int general, cc_err *e)
{
    size_t fwd = cc_net_forward_bytes(n), extra = cc_gradcam_extra_bytes(n, target, general);
    if (fwd + extra <= COVIDCAM_MAX_SESSION_BYTES)
        return COVIDCAM_OK;
    return cc_fail(e, COVIDCAM_ERR_LIMIT,
                   "Grad-CAM at %s would add %zu MiB to the session's %zu MiB, more than the "
                   "limit of %llu MiB per session; explain a later layer",
                   n->blocks[target].bw->name, extra >> 20, fwd >> 20,
                   (unsigned long long)COVIDCAM_MAX_SESSION_BYTES >> 20);
}

void cc_net_release_gradients(cc_net *n)
{
    cc_dnn_free(n->grad_a);
    n->grad_a = NULL;
    n->grad_bytes = 0;
}
