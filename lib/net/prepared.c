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
    free(p);
}

void cc_prep_cache_free(cc_prep_cache *c)
{
    if (!c)
        return;
    prepared_free(c->bf16);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* *dst = cw's fp32 weights converted into md (NULL md: no such conv). */
static covidcam_status convert(const covidcam_model *m, const cc_conv_w *cw, const cc_dnn_md *md,
                               void **dst, cc_err *e)
{
    if (!md)
        return COVIDCAM_OK;
    if (!(*dst = cc_dnn_alloc(cc_dnn_md_bytes(md))))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for %zu bytes of bf16 "
                       "weights", cc_dnn_md_bytes(md));
    return cc_dnn_reorder_now(m->eng, cw->w_md, cw->w, md, *dst, e);
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
    if ((rc = cc_net_plan_layouts(m, dt, &p->plan, e)) ||
        (rc = convert(m, &m->stem, p->plan.stem, &p->stem, e)))
        goto fail;
    for (int i = 0; i < m->num_blocks; i++) {
        const cc_block_w *b = &m->blocks[i];
        for (int k = 0; k < b->nconv; k++)
            if ((rc = convert(m, &b->conv[k], p->plan.blocks[i][k], &p->blocks[i][k], e)))
                goto fail;
        if (b->has_down && (rc = convert(m, &b->down, p->plan.blocks[i][3], &p->blocks[i][3], e)))
            goto fail;
    }
    *out = p;
    return COVIDCAM_OK;
fail:
    prepared_free(p);
    return rc;
}

covidcam_status cc_model_prepared(const covidcam_model *m, cc_dnn_dtype dt,
                                  const cc_prepared **out, cc_err *e)
{
    if (dt != CC_DNN_BF16)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "no prepared weights for this type");
    covidcam_status rc = COVIDCAM_OK;
    pthread_mutex_lock(&m->prep->lock);
    if (!m->prep->bf16)
        rc = prepare(m, dt, &m->prep->bf16, e);
    *out = m->prep->bf16;
    pthread_mutex_unlock(&m->prep->lock);
    return rc;
}
