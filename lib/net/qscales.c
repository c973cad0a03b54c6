#include "qscales.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const block_suffix[CC_QS_PER_BLOCK] = {".conv1", ".conv2", "", ".downsample"};

const char *cc_qscale_name(const covidcam_model *m, int block, int k, char *buf, size_t size)
{
    if (block < 0)
        snprintf(buf, size, "%s", k == 0 ? "input" : "conv1");
    else
        snprintf(buf, size, "%s%s", m->blocks[block].name, block_suffix[k]);
    return buf;
}

int cc_qscale_exists(const covidcam_model *m, int block, int k)
{
    const cc_block_w *b = &m->blocks[block];
    switch (k) {
    case CC_QS_INNER0: return 1;
    case CC_QS_INNER1: return b->nconv == 3;
    case CC_QS_OUT: return 1;
    default: return b->has_down;
    }
}

void cc_qscales_free(cc_qscales *q)
{
    if (!q)
        return;
    free(q->blocks);
    free(q);
}

/* One entry of the object into *out, checked. */
static covidcam_status take(json_t *obj, const char *name, float *out, cc_err *e)
{
    json_t *v = json_object_get(obj, name);
    if (!v)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: " CC_META_INT8_SCALES " has no scale for tensor '%s'", name);
    if (!json_is_number(v))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: " CC_META_INT8_SCALES " entry '%s' must be a number", name);
    double d = json_number_value(v);
    float f = (float)d;
    if (!isfinite(d) || !(f >= (float)CC_META_MIN_INT8_SCALE) ||
        !(f <= (float)CC_META_MAX_INT8_SCALE))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: " CC_META_INT8_SCALES " entry '%s' is %g; a scale must be in "
                       "[%g, %g]",
                       name, d, CC_META_MIN_INT8_SCALE, CC_META_MAX_INT8_SCALE);
    *out = f;
    json_object_del(obj, name); /* what is left at the end is unknown */
    return COVIDCAM_OK;
}

static covidcam_status take_all(const covidcam_model *m, json_t *obj, cc_qscales *q, cc_err *e)
{
    char name[64];
    covidcam_status rc = take(obj, cc_qscale_name(m, -1, 0, name, sizeof name), &q->input, e);
    if (!rc)
        rc = take(obj, cc_qscale_name(m, -1, 1, name, sizeof name), &q->stem, e);
    for (int i = 0; i < m->num_blocks && !rc; i++)
        for (int k = 0; k < CC_QS_PER_BLOCK && !rc; k++)
            if (cc_qscale_exists(m, i, k))
                rc = take(obj, cc_qscale_name(m, i, k, name, sizeof name), &q->blocks[i][k], e);
    if (!rc && json_object_size(obj) > 0)
        rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                     "metadata: " CC_META_INT8_SCALES " has an entry '%.64s' that is no "
                     "activation of this %s",
                     json_object_iter_key(json_object_iter(obj)), m->arch.name);
    return rc;
}

covidcam_status cc_qscales_parse(const covidcam_model *m, const cc_safetensors *st,
                                 cc_qscales **out, cc_err *e)
{
    *out = NULL;
    const char *text = cc_st_meta_get(st, CC_META_INT8_SCALES);
    if (!text)
        return COVIDCAM_OK;
    json_error_t jerr;
    json_t *obj = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: " CC_META_INT8_SCALES " must be a JSON object of tensor name "
                       "to scale, not '%.48s'%s%s",
                       text, obj ? "" : ": ", obj ? "" : jerr.text);
    }
    cc_qscales *q = calloc(1, sizeof *q);
    covidcam_status rc = COVIDCAM_OK;
    if (!q || !(q->blocks = calloc((size_t)m->num_blocks, sizeof *q->blocks)))
        rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    else {
        q->num_blocks = m->num_blocks;
        rc = take_all(m, obj, q, e);
    }
    json_decref(obj);
    if (rc) {
        cc_qscales_free(q);
        return rc;
    }
    *out = q;
    return COVIDCAM_OK;
}
