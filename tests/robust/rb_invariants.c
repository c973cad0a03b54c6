#include "rb_invariants.h"

#include <stdio.h>

#include "session.h"

static char msg[160];

static int too_big(const cc_net *n, const cc_dnn_prim *p, const char *what, int block)
{
    if (!p || cc_dnn_prim_scratchpad(p) <= n->scratch_bytes)
        return 0;
    snprintf(msg, sizeof msg, "%s of block %d needs a %zu-byte scratchpad; the session has %zu",
             what, block, cc_dnn_prim_scratchpad(p), n->scratch_bytes);
    return 1;
}

static int conv_too_big(const cc_net *n, const cc_net_conv *c, int block)
{
    return too_big(n, c->fwd, "a forward convolution", block) ||
           too_big(n, c->bwd, "a backward-data convolution", block);
}

const char *rb_scratchpad_violation(const covidcam_session *s)
{
    const cc_net *n = s->net;
    if (conv_too_big(n, &n->stem, -1) || too_big(n, n->maxpool, "max pooling", -1) ||
        too_big(n, n->gap, "average pooling", -1) || too_big(n, n->fc, "fc", -1) ||
        too_big(n, n->fc_bwd, "fc backward", -1) || too_big(n, n->gap_bwd, "pooling backward", -1))
        return msg;
    for (int i = 0; i < n->num_blocks; i++) {
        const cc_net_block *b = &n->blocks[i];
        for (int k = 0; k < 3; k++)
            if (conv_too_big(n, &b->conv[k], i))
                return msg;
        if (conv_too_big(n, &b->down, i) || too_big(n, b->relu_bwd_out, "ReLU backward", i) ||
            too_big(n, b->relu_bwd_inner[0], "ReLU backward", i) ||
            too_big(n, b->relu_bwd_inner[1], "ReLU backward", i) ||
            too_big(n, b->add, "residual add", i))
            return msg;
    }
    return NULL;
}
