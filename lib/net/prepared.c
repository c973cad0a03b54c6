#include "prepared.h"

#include <stdlib.h>

covidcam_status cc_prep_cache_create(cc_prep_cache **out, cc_err *e)
{
    cc_prep_cache *c = calloc(1, sizeof *c);
    if (!c)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    if (pthread_mutex_init(&c->lock, NULL)) {
        free(c);
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "cannot create the model's lock");
    }
    *out = c;
    return COVIDCAM_OK;
}

static void prepared_free(cc_prepared *p)
{
    if (!p)
        return;
    cc_dnn_free(p->stem);
    for (int i = 0; p->blocks && i < p->num_blocks; i++)
        for (int k = 0; k < 4; k++)
            cc_dnn_free(p->blocks[i][k]);
    free(p->blocks);
    cc_layout_plan_free(&p->plan);
    cc_qnet_free(p->q);
    free(p);
}

void cc_prep_cache_free(cc_prep_cache *c)
{
    if (!c)
        return;
    prepared_free(c->bf16);
    prepared_free(c->int8);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* *dst = the weights of slot (block, k) converted into md (NULL md: no such
 * conv): from cw's fp32 weights, or from the quantized plain s8 ones of an
 * int8 preparation. */
static covidcam_status convert(const covidcam_model *m, const cc_prepared *p, int block, int k,
                               const cc_conv_w *cw, const cc_dnn_md *md, void **dst, cc_err *e)
{
    if (!md)
        return COVIDCAM_OK;
    if (!(*dst = cc_dnn_alloc(cc_dnn_md_bytes(md))))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for %zu bytes of %s "
                       "weights", cc_dnn_md_bytes(md), p->q ? "int8" : "bf16");
    if (!p->q)
        return cc_dnn_reorder_now(m->eng, cw->w_md, cw->w, md, *dst, e);
    return cc_qconv_reorder(m, cc_qnet_conv(p->q, block, k), cw, md, *dst, e);
}

static covidcam_status prepare(const covidcam_model *m, cc_dnn_dtype dt, cc_prepared **out,
                               cc_err *e)
{
    cc_prepared *p = calloc(1, sizeof *p);
    covidcam_status rc = COVIDCAM_ERR_OUT_OF_MEMORY;
    if (!p || !(p->blocks = calloc((size_t)m->num_blocks, sizeof *p->blocks))) {
        cc_fail(e, rc, "out of memory");
        goto fail;
    }
    p->num_blocks = m->num_blocks;
    if (dt == CC_DNN_U8 && (rc = cc_qnet_make(m, m->qs, &p->q, e)))
        goto fail;
    if ((rc = cc_net_plan_layouts_q(m, dt, p->q, &p->plan, e)) ||
        (rc = convert(m, p, -1, 0, &m->stem, p->plan.stem, &p->stem, e)))
        goto fail;
    for (int i = 0; i < m->num_blocks; i++) {
        const cc_block_w *b = &m->blocks[i];
        for (int k = 0; k < b->nconv; k++)
            if ((rc = convert(m, p, i, k, &b->conv[k], p->plan.blocks[i][k], &p->blocks[i][k],
                              e)))
                goto fail;
        if (b->has_down &&
            (rc = convert(m, p, i, 3, &b->down, p->plan.blocks[i][3], &p->blocks[i][3], e)))
            goto fail;
    }
    if (p->q)
        cc_qnet_drop_plain(p->q);
    *out = p;
    return COVIDCAM_OK;
fail:
    prepared_free(p);
    return rc;
}

covidcam_status cc_model_prepared(const covidcam_model *m, cc_dnn_dtype dt,
                                  const cc_prepared **out, cc_err *e)
{
    if (dt != CC_DNN_BF16 && !(dt == CC_DNN_U8 && m->qs))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "no prepared weights for this type");
    covidcam_status rc = COVIDCAM_OK;
    cc_prepared **slot = dt == CC_DNN_U8 ? &m->prep->int8 : &m->prep->bf16;
    pthread_mutex_lock(&m->prep->lock);
    if (!*slot)
        rc = prepare(m, dt, slot, e);
    *out = *slot;
    pthread_mutex_unlock(&m->prep->lock);
    return rc;
}
