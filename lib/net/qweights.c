#include "qweights.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
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

/* The weight scale of one output channel's `per` weights: max |w| / 127. */
static double channel_scale(const float *w, size_t per)
{
    double amax = 0;
    for (size_t j = 0; j < per; j++)
        amax = fmax(amax, fabs((double)w[j]));
    return amax > 0 ? amax / 127.0 : 1.0;
}

/* The s8 weights of cw (oc x per, plain OIHW) into w8; w_plain: room for
 * cw's fp32 weights, which it receives in plain OIHW. A hostile file's batch
 * norm can fold finite tensors into infinite weights, which fp32 sessions
 * answer with non-finite logits (refused per call) but which have no int8
 * codes: BAD_FORMAT naming the convolution. */
static covidcam_status quantize_weights(const covidcam_model *m, const cc_conv_w *cw,
                                        const char *name, float *w_plain, int8_t *w8,
                                        cc_err *e)
{
    size_t per = (size_t)cw->ic * (size_t)cw->geom.k * (size_t)cw->geom.k;
    long dims[4] = {cw->geom.oc, cw->ic, cw->geom.k, cw->geom.k};
    cc_dnn_md *plain = cc_dnn_md_plain(CC_LAYOUT_OIHW, dims);
    if (!plain)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for int8 weights");
    covidcam_status rc = cc_dnn_reorder_now(m->eng, cw->w_md, cw->w, plain, w_plain, e);
    cc_dnn_md_free(plain);
    for (int o = 0; rc == COVIDCAM_OK && o < cw->geom.oc; o++) {
        const float *w = w_plain + (size_t)o * per;
        double sw = channel_scale(w, per);
        if (!isfinite(sw))
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "int8: the batch-norm-folded weights of %s are infinite at output "
                           "channel %d; they cannot be quantized",
                           name, o);
        for (size_t j = 0; j < per; j++)
            w8[(size_t)o * per + j] = (int8_t)clampr(w[j] / sw, -127, 127);
    }
    return rc;
}

/* cw (weights in their planned fp32 layout) quantized into qc: weights,
 * and per channel the bias and output scale. */
static covidcam_status quantize_conv(const covidcam_model *m, const cc_conv_w *cw,
                                     const char *name, double s_src, double s_dst, cc_qconv *qc,
                                     cc_err *e)
{
    int oc = cw->geom.oc;
    size_t per = (size_t)cw->ic * (size_t)cw->geom.k * (size_t)cw->geom.k;
    covidcam_status rc = COVIDCAM_ERR_OUT_OF_MEMORY;
    float *w = malloc((size_t)oc * per * sizeof *w);
    qc->w = malloc((size_t)oc * per);
    qc->bias = cc_dnn_alloc((size_t)oc * sizeof *qc->bias);
    qc->scales = malloc((size_t)oc * sizeof *qc->scales);
    if (!w || !qc->w || !qc->bias || !qc->scales) {
        cc_fail(e, rc, "out of memory for int8 weights");
        goto done;
    }
    if ((rc = quantize_weights(m, cw, name, w, qc->w, e)))
        goto done;
    for (int o = 0; o < oc && !rc; o++) {
        double sw = channel_scale(w + (size_t)o * per, per), scale = s_src * sw / s_dst;
        if (isnan(cw->b[o]) || !(scale <= FLT_MAX)) {
            rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                         "int8: %s's output channel %d has no float output scale for its "
                         "calibration (weights %g, scales %g -> %g)",
                         name, o, sw * 127, s_src, s_dst);
            break;
        }
        /* oneDNN 2.x adds the bias to the s32 sum before the output scale;
         * 2^30 keeps the sum of the two far from the s32 limits */
        qc->bias[o] = (int32_t)clampr(cw->b[o] / (s_src * sw), -1073741824.0, 1073741824.0);
        qc->scales[o] = (float)scale;
    }
done:
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
    char name[48];
    for (int k = 0; k < b->nconv && !rc; k++) {
        int last = k == b->nconv - 1;
        double dst = last ? s[CC_QS_OUT] : s[k];
        snprintf(name, sizeof name, "%s.conv%d", b->name, k + 1);
        rc = quantize_conv(m, &b->conv[k], name, src, dst, &out[k], e);
        src = dst;
    }
    if (rc)
        return rc;
    cc_qconv *lastc = &out[b->nconv - 1];
    lastc->sum_s8 = b->has_down;
    lastc->sum_scale = (float)((b->has_down ? s[CC_QS_DOWN] : s_in) / s[CC_QS_OUT]);
    snprintf(name, sizeof name, "%s.downsample", b->name);
    return b->has_down ? quantize_conv(m, &b->down, name, s_in, s[CC_QS_DOWN], &out[3], e)
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
    if ((rc = quantize_conv(m, &m->stem, "conv1", q->input, q->stem, &n->stem, e)))
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
    size_t n = (size_t)cw->geom.oc * (size_t)cw->ic * (size_t)cw->geom.k * (size_t)cw->geom.k;
    long dims[4] = {cw->geom.oc, cw->ic, cw->geom.k, cw->geom.k};
    covidcam_status rc = COVIDCAM_ERR_OUT_OF_MEMORY;
    cc_dnn_md *plain = cc_dnn_md_plain_dt(CC_LAYOUT_OIHW, dims, CC_DNN_S8);
    /* after cc_qnet_drop_plain: quantized again from the fp32 weights (the
     * same codes: the rule reads nothing else) */
    int8_t *w8 = qc->w ? NULL : malloc(n);
    float *tmp = qc->w ? NULL : malloc(n * sizeof *tmp);
    if (!plain || (!qc->w && (!w8 || !tmp))) {
        cc_fail(e, rc, "out of memory for int8 weights");
        goto done;
    }
    if (w8 && (rc = quantize_weights(m, cw, "a convolution", tmp, w8, e)))
        goto done;
    rc = cc_dnn_reorder_now(m->eng, plain, qc->w ? qc->w : w8, md, dst, e);
done:
    cc_dnn_md_free(plain);
    free(w8);
    free(tmp);
    return rc;
}

void cc_qnet_drop_plain(cc_qnet *q)
{
    free(q->stem.w);
    q->stem.w = NULL;
    for (int i = 0; i < q->num_blocks; i++)
        for (int k = 0; k < 4; k++) {
            free(q->blocks[i][k].w);
            q->blocks[i][k].w = NULL;
        }
}
