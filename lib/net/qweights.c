#include "qweights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void free_qconv(cc_qconv *c)
{
    free(c->w);
    cc_dnn_free(c->bias);
    free(c->scales);
}

void cc_qnet_free(cc_qnet *q)
{
    if (!q)
        return;
    free_qconv(&q->stem);
    for (int i = 0; q->blocks && i < q->num_blocks; i++)
        for (int k = 0; k < 4; k++)
            free_qconv(&q->blocks[i][k]);
    free(q->blocks);
    free(q);
}

const cc_qconv *cc_qnet_conv(const cc_qnet *q, int block, int k)
{
    return block < 0 ? &q->stem : &q->blocks[block][k];
}

/* A rounded value clamped to [lo, hi]. */
static double clampr(double v, double lo, double hi)
{
    v = nearbyint(v);
    return v < lo ? lo : v > hi ? hi : v;
}

/* Channel o of w (per values): weights, bias and output scale. */
static void quantize_channel(const float *w, size_t per, float b, double s_src, double s_dst,
                             cc_qconv *qc, int o)
{
    double amax = 0;
    for (size_t j = 0; j < per; j++)
        amax = fmax(amax, fabs((double)w[j]));
    double sw = amax > 0 ? amax / 127.0 : 1.0;
    for (size_t j = 0; j < per; j++)
        qc->w[(size_t)o * per + j] = (int8_t)clampr(w[j] / sw, -127, 127);
    /* oneDNN 2.x adds the bias to the s32 sum before the output scale; 2^30
     * keeps the sum of the two far from the s32 limits */
    qc->bias[o] = (int32_t)clampr(b / (s_src * sw), -1073741824.0, 1073741824.0);
    qc->scales[o] = (float)(s_src * sw / s_dst);
}

/* cw (weights in their planned fp32 layout) quantized into qc. */
static covidcam_status quantize_conv(const covidcam_model *m, const cc_conv_w *cw, double s_src,
                                     double s_dst, cc_qconv *qc, cc_err *e)
{
    int oc = cw->geom.oc;
    size_t per = (size_t)cw->ic * (size_t)cw->geom.k * (size_t)cw->geom.k;
    long dims[4] = {oc, cw->ic, cw->geom.k, cw->geom.k};
    covidcam_status rc = COVIDCAM_ERR_OUT_OF_MEMORY;
    cc_dnn_md *plain = cc_dnn_md_plain(CC_LAYOUT_OIHW, dims);
    float *w = malloc((size_t)oc * per * sizeof *w);
    qc->w = malloc((size_t)oc * per);
    qc->bias = cc_dnn_alloc((size_t)oc * sizeof *qc->bias);
    qc->scales = malloc((size_t)oc * sizeof *qc->scales);
    if (!plain || !w || !qc->w || !qc->bias || !qc->scales) {
        cc_fail(e, rc, "out of memory for int8 weights");
        goto done;
    }
    if ((rc = cc_dnn_reorder_now(m->eng, cw->w_md, cw->w, plain, w, e)))
        goto done;
    for (int o = 0; o < oc; o++)
        quantize_channel(w + (size_t)o * per, per, cw->b[o], s_src, s_dst, qc, o);
done:
    cc_dnn_md_free(plain);
    free(w);
    return rc;
}

static covidcam_status quantize_block(const covidcam_model *m, const cc_qscales *q, int i,
                                      cc_qconv *out, cc_err *e)
{
    const cc_block_w *b = &m->blocks[i];
    const float *s = q->blocks[i];
    double s_in = i == 0 ? q->stem : q->blocks[i - 1][CC_QS_OUT];
    double src = s_in;
    covidcam_status rc = COVIDCAM_OK;
    for (int k = 0; k < b->nconv && !rc; k++) {
        int last = k == b->nconv - 1;
        double dst = last ? s[CC_QS_OUT] : s[k];
        rc = quantize_conv(m, &b->conv[k], src, dst, &out[k], e);
        src = dst;
    }
    if (rc)
        return rc;
    cc_qconv *lastc = &out[b->nconv - 1];
    lastc->sum_s8 = b->has_down;
    lastc->sum_scale = (float)((b->has_down ? s[CC_QS_DOWN] : s_in) / s[CC_QS_OUT]);
    return b->has_down ? quantize_conv(m, &b->down, s_in, s[CC_QS_DOWN], &out[3], e)
                       : COVIDCAM_OK;
}

covidcam_status cc_qnet_make(const covidcam_model *m, const cc_qscales *q, cc_qnet **out,
                             cc_err *e)
{
    cc_qnet *n = calloc(1, sizeof *n);
    covidcam_status rc = COVIDCAM_ERR_OUT_OF_MEMORY;
    if (!n || !(n->blocks = calloc((size_t)m->num_blocks, sizeof *n->blocks))) {
        cc_fail(e, rc, "out of memory");
        goto fail;
    }
    n->num_blocks = m->num_blocks;
    n->in_scale = q->input;
    n->out_scale = q->blocks[m->num_blocks - 1][CC_QS_OUT];
    if ((rc = quantize_conv(m, &m->stem, q->input, q->stem, &n->stem, e)))
        goto fail;
    for (int i = 0; i < m->num_blocks; i++)
        if ((rc = quantize_block(m, q, i, n->blocks[i], e)))
            goto fail;
    *out = n;
    return COVIDCAM_OK;
fail:
    cc_qnet_free(n);
    return rc;
}

covidcam_status cc_qconv_reorder(const covidcam_model *m, const cc_qconv *qc, const cc_conv_w *cw,
                                 const cc_dnn_md *md, void *dst, cc_err *e)
{
    long dims[4] = {cw->geom.oc, cw->ic, cw->geom.k, cw->geom.k};
    cc_dnn_md *plain = cc_dnn_md_plain_dt(CC_LAYOUT_OIHW, dims, CC_DNN_S8);
    if (!plain)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    covidcam_status rc = cc_dnn_reorder_now(m->eng, plain, qc->w, md, dst, e);
    cc_dnn_md_free(plain);
    return rc;
}
