#include "tr_io.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_meta.h"
#include "png_io.h"
#include "safetensors_write.h"

#define TR_MAX_FILE_BYTES ((size_t)8 << 30)

void tr_model_info_free(tr_model_info *mi)
{
    if (!mi)
        return;
    tr_classes_free(&mi->classes);
    free(mi->description);
    mi->description = NULL;
}

static void float_list(char *buf, size_t n, const float *v, int k)
{
    size_t l = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < k && l < n; i++)
        l += (size_t)snprintf(buf + l, n - l, "%s%.9g", i ? "," : "", v[i]);
    if (l < n)
        snprintf(buf + l, n - l, "]");
}

static void int_list(char *buf, size_t n, const int *v, int k)
{
    size_t l = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < k && l < n; i++)
        l += (size_t)snprintf(buf + l, n - l, "%s%d", i ? "," : "", v[i]);
    if (l < n)
        snprintf(buf + l, n - l, "]");
}

static char *classes_json(const tr_classes *c)
{
    json_t *a = json_array();
    for (int i = 0; a && i < c->n; i++)
        json_array_append_new(a, json_string(c->names[i]));
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

static covidcam_status add_arch_meta(cc_stw *w, const cc_arch *a, cc_err *e)
{
    covidcam_status st = cc_stw_add_meta(w, "arch", a->name, e);
    if (st || strcmp(a->name, "resnet") != 0)
        return st;
    char buf[128];
    if ((st = cc_stw_add_meta(w, "block", a->block == CC_BLOCK_BASIC ? "basic" : "bottleneck", e)))
        return st;
    int_list(buf, sizeof buf, a->layers, a->num_stages);
    if ((st = cc_stw_add_meta(w, "layers", buf, e)))
        return st;
    int_list(buf, sizeof buf, a->widths, a->num_stages);
    if ((st = cc_stw_add_meta(w, "widths", buf, e)))
        return st;
    snprintf(buf, sizeof buf, "%d", a->stem_width);
    return cc_stw_add_meta(w, "stem_width", buf, e);
}

/* Tensors and metadata shared by models and checkpoints. */
static covidcam_status add_model(cc_stw *w, const tr_params *p, const tr_model_info *mi,
                                 const char *format, cc_err *e)
{
    covidcam_status st;
    char buf[256];
    char *cls = NULL;
    for (int i = 0; i < p->n; i++) {
        const tr_param *t = &p->p[i];
        if ((st = cc_stw_add_f32(w, t->spec.name, t->spec.ndim, t->spec.shape, p->w + t->off, e)))
            return st;
    }
    if ((st = cc_stw_add_meta(w, "format", format, e)) ||
        (st = cc_stw_add_meta(w, "format_version", "1", e)) ||
        (st = add_arch_meta(w, &p->arch, e)))
        return st;
    snprintf(buf, sizeof buf, "%d", mi->input_size);
    if ((st = cc_stw_add_meta(w, "input_size", buf, e)))
        return st;
    snprintf(buf, sizeof buf, "%d", mi->in_channels);
    if ((st = cc_stw_add_meta(w, "input_channels", buf, e)))
        return st;
    float_list(buf, sizeof buf, mi->mean, mi->in_channels);
    if ((st = cc_stw_add_meta(w, "mean", buf, e)))
        return st;
    float_list(buf, sizeof buf, mi->std, mi->in_channels);
    if ((st = cc_stw_add_meta(w, "std", buf, e)))
        return st;
    snprintf(buf, sizeof buf, "%.9g", mi->bn_eps);
    if ((st = cc_stw_add_meta(w, "bn_eps", buf, e)))
        return st;
    /* stretch, the default, is left out so that files stay as they were */
    if (mi->resize && (st = cc_stw_add_meta(w, "resize", cc_meta_resize_name(mi->resize), e)))
        return st;
    if (mi->description && (st = cc_stw_add_meta(w, "description", mi->description, e)))
        return st;
    cls = classes_json(&mi->classes);
    if (!cls)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    st = cc_stw_add_meta(w, "classes", cls, e);
    free(cls);
    return st;
}

covidcam_status tr_save_model(const char *path, const tr_params *p, const tr_model_info *mi,
                              const char *training_json, cc_err *e)
{
    cc_stw *w = NULL;
    covidcam_status st = cc_stw_create(&w, e);
    if (st)
        return st;
    if (!(st = add_model(w, p, mi, "covidcam", e)) &&
        !(st = training_json ? cc_stw_add_meta(w, "training", training_json, e) : COVIDCAM_OK))
        st = cc_stw_write_file(w, path, e);
    cc_stw_free(w);
    return st;
}

/* "<prefix><name>" for the tensors of p (the trainable ones only, or all)
 * with their values in `base` at each tensor's offset; names[*k...] hold
 * the names until the file is written. */
static covidcam_status add_buffers(cc_stw *w, const tr_params *p, const char *prefix,
                                   const float *base, int trainable_only, char (*names)[128],
                                   int *k, cc_err *e)
{
    for (int i = 0; i < p->n; i++) {
        const tr_param *t = &p->p[i];
        if (trainable_only && !tr_kind_trainable(t->kind))
            continue;
        snprintf(names[*k], 128, "%s%s", prefix, t->spec.name);
        covidcam_status st = cc_stw_add_f32(w, names[(*k)++], t->spec.ndim, t->spec.shape,
                                            base + t->off, e);
        if (st)
            return st;
    }
    return COVIDCAM_OK;
}

static covidcam_status add_extras(cc_stw *w, const tr_params *p, const tr_history *h,
                                  const tr_confusion *best, float *conf, char (*names)[128],
                                  cc_err *e)
{
    covidcam_status st;
    int k = 0;
    if ((st = add_buffers(w, p, "momentum.", p->m, 1, names, &k, e)) ||
        (p->avg && (st = add_buffers(w, p, "average.", p->avg, 0, names, &k, e))))
        return st;
    int64_t ish[2] = {h->nit, TH_IT_COLS}, esh[2] = {h->nep, TH_EP_COLS};
    if (h->nit && (st = cc_stw_add_f32(w, "history.iterations", 2, ish, h->it, e)))
        return st;
    if (h->nep && (st = cc_stw_add_f32(w, "history.epochs", 2, esh, h->ep, e)))
        return st;
    if (!best)
        return COVIDCAM_OK;
    int64_t csh[2] = {best->k, best->k};
    for (int i = 0; i < best->k * best->k; i++)
        conf[i] = (float)best->m[i];
    return cc_stw_add_f32(w, "best.confusion", 2, csh, conf, e);
}

covidcam_status tr_save_checkpoint(const char *path, const tr_params *p, const tr_model_info *mi,
                                   const char *state_json, const tr_history *h,
                                   const tr_confusion *best, cc_err *e)
{
    cc_stw *w = NULL;
    char(*names)[128] = calloc(2 * (size_t)p->n + 1, sizeof *names); /* momentum, average */
    float *conf = best ? calloc((size_t)best->k * best->k + 1, sizeof *conf) : NULL;
    covidcam_status st;
    if (!names || (best && !conf)) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    if ((st = cc_stw_create(&w, e)))
        goto fail;
    if (!(st = add_model(w, p, mi, TR_CKPT_FORMAT, e)) &&
        !(st = cc_stw_add_meta(w, "state", state_json, e)) &&
        !(st = add_extras(w, p, h, best, conf, names, e)))
        st = cc_stw_write_file(w, path, e);
fail:
    cc_stw_free(w);
    free(names);
    free(conf);
    return st;
}

covidcam_status tr_file_read(const char *path, tr_file *f, cc_err *e)
{
    memset(f, 0, sizeof *f);
    covidcam_status st = cc_read_file(path, TR_MAX_FILE_BYTES, &f->buf, &f->len, e);
    if (st)
        return st;
    st = cc_st_parse(f->buf, f->len, &f->st, e);
    if (st) {
        cc_err_prefix(e, "%s", path);
        free(f->buf);
        f->buf = NULL;
    }
    return st;
}

void tr_file_free(tr_file *f)
{
    if (!f)
        return;
    cc_st_free(&f->st);
    free(f->buf);
    memset(f, 0, sizeof *f);
}

/* The metadata by the library's rules (lib/net/model_meta.c), as tr_model_info. */
covidcam_status tr_file_info(const tr_file *f, cc_arch *a, tr_model_info *mi, cc_err *e)
{
    cc_model_meta mm;
    memset(mi, 0, sizeof *mi);
    covidcam_status s = cc_model_meta_parse(&f->st, 1, &mm, e);
    if (s)
        return s;
    *a = mm.arch;
    mi->input_size = mm.input_size;
    mi->resize = mm.resize;
    mi->in_channels = mm.in_ch;
    memcpy(mi->mean, mm.mean, sizeof mi->mean);
    memcpy(mi->std, mm.std, sizeof mi->std);
    mi->bn_eps = mm.bn_eps;
    mi->classes.names = mm.classes;
    mi->classes.n = mm.num_classes;
    if (mm.description && !(mi->description = strdup(mm.description))) {
        tr_model_info_free(mi);
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return COVIDCAM_OK;
}

static covidcam_status copy_tensor(const cc_safetensors *st, const char *name,
                                   const tr_param *t, float *dst, cc_err *e)
{
    const cc_st_tensor *x = cc_st_find(st, name);
    if (!x)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "tensor %s missing", name);
    int same = x->ndim == t->spec.ndim && x->dtype != CC_DT_OTHER;
    for (int d = 0; same && d < x->ndim; d++)
        same = x->shape[d] == t->spec.shape[d];
    if (!same)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "tensor %s has the wrong shape or dtype", name);
    cc_st_to_f32(x, dst);
    return COVIDCAM_OK;
}

/* The file's "<prefix><name>" for tensor t into dst. */
static covidcam_status copy_prefixed(const cc_safetensors *st, const char *prefix,
                                     const tr_param *t, float *dst, cc_err *e)
{
    char name[128];
    snprintf(name, sizeof name, "%s%s", prefix, t->spec.name);
    return copy_tensor(st, name, t, dst, e);
}

covidcam_status tr_file_params(const tr_file *f, const cc_arch *a, const tr_model_info *mi,
                               int with_momentum, tr_params *p, cc_err *e)
{
    covidcam_status st = tr_params_create(a, mi->in_channels, mi->classes.n, p, e);
    if (st)
        return st;
    for (int i = 0; i < p->n && !st; i++) {
        const tr_param *t = &p->p[i];
        st = copy_tensor(&f->st, t->spec.name, t, p->w + t->off, e);
        if (!st && with_momentum && tr_kind_trainable(t->kind))
            st = copy_prefixed(&f->st, "momentum.", t, p->m + t->off, e);
    }
    if (st)
        tr_params_free(p);
    return st;
}

covidcam_status tr_file_average(const tr_file *f, tr_params *p, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    for (int i = 0; i < p->n && !st; i++)
        st = copy_prefixed(&f->st, "average.", &p->p[i], p->avg + p->p[i].off, e);
    return st;
}

covidcam_status tr_file_copy_weights(const tr_file *f, tr_params *p, int skip_fc, int *copied,
                                     cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    *copied = 0;
    for (int i = 0; i < p->n && !st; i++) {
        const tr_param *t = &p->p[i];
        if (skip_fc && (t->kind == TR_FC_W || t->kind == TR_FC_B))
            continue;
        if (!(st = copy_tensor(&f->st, t->spec.name, t, p->w + t->off, e)))
            (*copied)++;
    }
    return st;
}

/* Raw bytes of an F32 rows x cols table (possibly unaligned in the file). */
static const uint8_t *table(const cc_safetensors *st, const char *name, int cols, long *rows)
{
    const cc_st_tensor *t = cc_st_find(st, name);
    *rows = 0;
    if (!t || t->dtype != CC_DT_F32 || t->ndim != 2 || t->shape[1] != cols)
        return NULL;
    *rows = (long)t->shape[0];
    return t->data;
}

covidcam_status tr_file_history(const tr_file *f, tr_history *h, cc_err *e)
{
    long nit = 0, nep = 0;
    int cols = TH_EP_COLS;
    const uint8_t *it = table(&f->st, "history.iterations", TH_IT_COLS, &nit);
    const uint8_t *ep = table(&f->st, "history.epochs", TH_EP_COLS, &nep);
    if (!ep) /* a checkpoint from before the weight average */
        ep = table(&f->st, "history.epochs", cols = TH_EP_COLS_V1, &nep);
    float *a = malloc(((size_t)nit * TH_IT_COLS + 1) * sizeof *a);
    float *b = malloc(((size_t)nep * TH_EP_COLS + 1) * sizeof *b);
    int bad = !a || !b;
    if (!bad) {
        if (nit)
            memcpy(a, it, (size_t)nit * TH_IT_COLS * sizeof *a);
        for (long r = 0; r < nep; r++) {
            float *row = b + r * TH_EP_COLS;
            for (int c = cols; c < TH_EP_COLS; c++)
                row[c] = NAN;
            memcpy(row, ep + (size_t)r * cols * sizeof(float), (size_t)cols * sizeof(float));
        }
        bad = tr_history_set(h, a, nit, b, nep);
    }
    free(a);
    free(b);
    return bad ? cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory") : COVIDCAM_OK;
}

void tr_file_confusion(const tr_file *f, tr_confusion *c)
{
    long rows = 0;
    const uint8_t *m = table(&f->st, "best.confusion", c->k, &rows);
    if (!m || rows != c->k)
        return;
    for (int i = 0; i < c->k * c->k; i++) {
        float v;
        memcpy(&v, m + (size_t)i * sizeof v, sizeof v);
        c->m[i] = (long)v;
    }
}
