/* Building a model from a safetensors file: metadata validation, tensor
 * checks, batch-norm folding and the one-time reorder into oneDNN layouts. */
#include "model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "png_io.h"
#include "resnet.h"

static const char *meta_req(const cc_safetensors *st, const char *key, cc_err *e,
                            covidcam_status *rc)
{
    const char *v = cc_st_meta_get(st, key);
    if (!v)
        *rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "metadata: missing key '%s'", key);
    return v;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1; /* strtol would accept blanks and signs */
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static covidcam_status parse_floats(const char *key, const char *text, int n, float *out,
                                    int positive, cc_err *e)
{
    json_error_t jerr;
    json_t *a = json_loads(text, JSON_DECODE_ANY, &jerr);
    covidcam_status rc = COVIDCAM_OK;
    if (!json_is_array(a) || (int)json_array_size(a) != n) {
        rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                     "metadata: %s must be a JSON list of %d numbers (one per input channel), "
                     "not '%.64s'",
                     key, n, text);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        json_t *v = json_array_get(a, (size_t)i);
        double d = json_number_value(v);
        if (!json_is_number(v) || !isfinite(d) || (positive && d <= 0)) {
            rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "metadata: %s[%d] must be a finite%s number",
                         key, i, positive ? " positive" : "");
            goto done;
        }
        out[i] = (float)d;
    }
done:
    json_decref(a);
    return rc;
}

static covidcam_status parse_classes(covidcam_model *m, const char *text, cc_err *e)
{
    json_error_t jerr;
    json_t *a = json_loads(text, JSON_DECODE_ANY, &jerr);
    covidcam_status rc = COVIDCAM_OK;
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    if (n < 2 || n > COVIDCAM_MAX_CLASSES) {
        rc = cc_fail(e, n > COVIDCAM_MAX_CLASSES ? COVIDCAM_ERR_LIMIT : COVIDCAM_ERR_BAD_FORMAT,
                     "metadata: classes must be a JSON list of 2 to %u names", COVIDCAM_MAX_CLASSES);
        goto done;
    }
    if (!(m->classes = calloc(n, sizeof *m->classes))) {
        rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    m->num_classes = (int)n;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s || !*s || strlen(s) > 255) {
            rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                         "metadata: classes[%zu] must be a non-empty string of at most 255 bytes",
                         i);
            goto done;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->classes[j], s) == 0) {
                rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "metadata: class '%s' appears twice", s);
                goto done;
            }
        if (!(m->classes[i] = strdup(s))) {
            rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
            goto done;
        }
    }
done:
    json_decref(a);
    return rc;
}

static covidcam_status parse_arch(covidcam_model *m, const cc_safetensors *st, cc_err *e)
{
    covidcam_status rc = COVIDCAM_OK;
    const char *arch = meta_req(st, "arch", e, &rc);
    if (!arch)
        return rc;
    if (strcmp(arch, "resnet") == 0)
        return cc_arch_custom(cc_st_meta_get(st, "block"), cc_st_meta_get(st, "layers"),
                              cc_st_meta_get(st, "widths"), cc_st_meta_get(st, "stem_width"),
                              &m->arch, e);
    return cc_arch_from_name(arch, &m->arch, e);
}

static covidcam_status parse_meta(covidcam_model *m, const cc_safetensors *st, cc_err *e)
{
    covidcam_status rc = COVIDCAM_OK;
    const char *fmt = meta_req(st, "format", e, &rc);
    if (!fmt)
        return rc;
    if (strcmp(fmt, "covidcam") != 0)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "metadata: format is '%s', not 'covidcam'",
                       fmt);
    const char *ver = meta_req(st, "format_version", e, &rc);
    if (!ver)
        return rc;
    if (strcmp(ver, "1") != 0)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "metadata: format_version '%s' is not supported (this library reads 1)", ver);
    if ((rc = parse_arch(m, st, e)))
        return rc;
    long v;
    const char *s = meta_req(st, "input_size", e, &rc);
    if (!s)
        return rc;
    if (parse_int(s, 8, 1L << 30, &v))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: input_size must be an integer >= 8, not '%s'", s);
    if (v > (long)COVIDCAM_MAX_INPUT_SIZE)
        return cc_fail(e, COVIDCAM_ERR_LIMIT, "metadata: input_size %ld exceeds the limit %u", v,
                       COVIDCAM_MAX_INPUT_SIZE);
    m->input_size = (int)v;
    if (!(s = meta_req(st, "input_channels", e, &rc)))
        return rc;
    if (parse_int(s, 1, 3, &v) || v == 2)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "metadata: input_channels must be 1 or 3, not '%s'",
                       s);
    m->in_ch = (int)v;
    if (!(s = meta_req(st, "mean", e, &rc)) || (rc = parse_floats("mean", s, m->in_ch, m->mean, 0, e)))
        return rc;
    if (!(s = meta_req(st, "std", e, &rc)) || (rc = parse_floats("std", s, m->in_ch, m->std, 1, e)))
        return rc;
    if (!(s = meta_req(st, "classes", e, &rc)) || (rc = parse_classes(m, s, e)))
        return rc;
    m->bn_eps = 1e-5;
    if ((s = cc_st_meta_get(st, "bn_eps"))) {
        char *end;
        double d = strtod(s, &end);
        if (end == s || *end || !(d > 0 && d < 1))
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "metadata: bn_eps must be a number in (0, 1), not '%s'", s);
        m->bn_eps = d;
    }
    return COVIDCAM_OK;
}

static covidcam_status copy_meta(covidcam_model *m, const cc_safetensors *st, cc_err *e)
{
    m->meta = calloc(st->num_meta ? st->num_meta : 1, sizeof *m->meta);
    if (!m->meta)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < st->num_meta; i++) {
        m->meta[i].key = strdup(st->meta[i].key);
        m->meta[i].value = strdup(st->meta[i].value);
        m->num_meta++;
        if (!m->meta[i].key || !m->meta[i].value)
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return COVIDCAM_OK;
}

static int is_ignored(const char *name)
{
    const char *suffix = ".num_batches_tracked";
    size_t l = strlen(name), s = strlen(suffix);
    return l > s && strcmp(name + l - s, suffix) == 0;
}

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && d < CC_MAX_NDIM && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (ndim > CC_MAX_NDIM && o < len)
        o += (size_t)snprintf(buf + o, len - o, ", ...");
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

static covidcam_status check_tensor(const cc_safetensors *st, const cc_tensor_spec *sp,
                                    cc_err *e)
{
    const cc_st_tensor *t = cc_st_find(st, sp->name);
    if (!t)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "missing tensor '%s'", sp->name);
    int same = t->ndim == sp->ndim;
    for (int d = 0; same && d < sp->ndim; d++)
        same = t->shape[d] == sp->shape[d];
    if (!same) {
        char got[96], want[96];
        shape_str(got, sizeof got, t->ndim, t->shape);
        shape_str(want, sizeof want, sp->ndim, sp->shape);
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "tensor '%s' has shape %s, expected %s%s",
                       sp->name, got, want,
                       strncmp(sp->name, "fc.", 3) == 0 ? " (rows = classes in metadata)" : "");
    }
    if (t->dtype == CC_DT_OTHER)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "tensor '%s' has dtype %s; F32, BF16 or F16 expected", sp->name,
                       t->dtype_name);
    return COVIDCAM_OK;
}

static covidcam_status check_tensors(const covidcam_model *m, const cc_safetensors *st,
                                     cc_err *e)
{
    int n = 0;
    long need = cc_arch_num_tensors(&m->arch, m->in_ch);
    if (need > (long)COVIDCAM_MAX_TENSORS)
        return cc_fail(e, COVIDCAM_ERR_LIMIT,
                       "arch %s needs %ld tensors, more than the limit of %u", m->arch.name, need,
                       COVIDCAM_MAX_TENSORS);
    cc_tensor_spec *specs = cc_arch_tensors(&m->arch, m->in_ch, m->num_classes, &n);
    covidcam_status rc = COVIDCAM_OK;
    if (!specs)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < n && !rc; i++)
        rc = check_tensor(st, &specs[i], e);
    for (size_t i = 0; i < st->num_tensors && !rc; i++) {
        const char *name = st->tensors[i].name;
        int known = is_ignored(name);
        for (int k = 0; k < n && !known; k++)
            known = strcmp(specs[k].name, name) == 0;
        if (!known)
            rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                         "unexpected tensor '%s' for arch %s (wrong architecture metadata?)", name,
                         m->arch.name);
    }
    free(specs);
    return rc;
}

/* Convert a (validated) tensor to fp32 and refuse NaN/Inf, naming the element. */
static float *load_f32(const cc_safetensors *st, const char *name, cc_err *e, covidcam_status *rc)
{
    const cc_st_tensor *t = cc_st_find(st, name);
    size_t n = cc_st_numel(t);
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) {
        *rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for tensor '%s'", name);
        return NULL;
    }
    cc_st_to_f32(t, v);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            *rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "tensor '%s' contains %s at element %zu",
                          name, isnan(v[i]) ? "NaN" : "Inf", i);
            free(v);
            return NULL;
        }
    }
    return v;
}

/* Fold eval-mode batch norm into the preceding convolution and reorder the
 * result into the layout planned for it. */
static covidcam_status fold_conv(const covidcam_model *m, const cc_safetensors *st, cc_conv_w *cw,
                                 const char *wname, const char *bn, cc_err *e)
{
    static const char *const parts[4] = {"weight", "bias", "running_mean", "running_var"};
    covidcam_status rc = COVIDCAM_OK;
    float *w = NULL, *p[4] = {0};
    cc_dnn_md *plain = NULL;
    char name[80];
    if (!(w = load_f32(st, wname, e, &rc)))
        goto done;
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", bn, parts[i]);
        if (!(p[i] = load_f32(st, name, e, &rc)))
            goto done;
    }
    int oc = cw->geom.oc;
    size_t per = (size_t)cw->ic * (size_t)cw->geom.k * (size_t)cw->geom.k;
    if (!(cw->b = cc_dnn_alloc((size_t)oc * sizeof(float)))) {
        rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    for (int o = 0; o < oc; o++) {
        if (p[3][o] < 0) {
            rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                         "tensor '%s.running_var' is negative at channel %d", bn, o);
            goto done;
        }
        double s = p[0][o] / sqrt((double)p[3][o] + m->bn_eps);
        for (size_t j = 0; j < per; j++)
            w[(size_t)o * per + j] = (float)(w[(size_t)o * per + j] * s);
        cw->b[o] = (float)(p[1][o] - p[2][o] * s);
    }
    long dims[4] = {oc, cw->ic, cw->geom.k, cw->geom.k};
    if (!(plain = cc_dnn_md_plain(CC_LAYOUT_OIHW, dims)) ||
        !(cw->w = cc_dnn_alloc(cc_dnn_md_bytes(cw->w_md)))) {
        rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for '%s'", wname);
        goto done;
    }
    rc = cc_dnn_reorder_now(m->eng, plain, w, cw->w_md, cw->w, e);
done:
    cc_dnn_md_free(plain);
    free(w);
    for (int i = 0; i < 4; i++)
        free(p[i]);
    return rc;
}

static covidcam_status load_fc(const covidcam_model *m, const cc_safetensors *st, cc_conv_w *fc,
                               float **fc_plain, cc_err *e)
{
    covidcam_status rc = COVIDCAM_OK;
    cc_dnn_md *plain = NULL;
    float *w = load_f32(st, "fc.weight", e, &rc);
    float *b = w ? load_f32(st, "fc.bias", e, &rc) : NULL;
    if (!b)
        goto done;
    long dims[4] = {fc->geom.oc, fc->ic, 1, 1};
    if (!(plain = cc_dnn_md_plain(CC_LAYOUT_OIHW, dims)) ||
        !(fc->w = cc_dnn_alloc(cc_dnn_md_bytes(fc->w_md))) ||
        !(fc->b = cc_dnn_alloc((size_t)fc->geom.oc * sizeof(float)))) {
        rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for fc");
        goto done;
    }
    memcpy(fc->b, b, (size_t)fc->geom.oc * sizeof(float));
    rc = cc_dnn_reorder_now(m->eng, plain, w, fc->w_md, fc->w, e);
    if (rc == COVIDCAM_OK) {
        *fc_plain = w; /* kept for the Grad-CAM closed form */
        w = NULL;
    }
done:
    cc_dnn_md_free(plain);
    free(w);
    free(b);
    return rc;
}

static void set_conv(cc_conv_w *c, int ic, int oc, int k, int stride, int relu, int sum)
{
    c->ic = ic;
    c->geom.oc = oc;
    c->geom.k = k;
    c->geom.stride = stride;
    c->geom.pad = k / 2;
    c->geom.relu = relu;
    c->geom.sum = sum;
}

static int out_side(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

/* Activation memory a session of this model will hold (every block output and
 * inner activation, fp32), so that a small file cannot make every session
 * allocate gigabytes. */
static covidcam_status check_activation_memory(const covidcam_model *m, cc_err *e)
{
    const cc_arch *a = &m->arch;
    int side = out_side(m->input_size, 7, 2, 3);
    double floats = (double)a->stem_width * side * side;
    side = out_side(side, 3, 2, 1);
    floats += (double)a->stem_width * side * side;
    for (int s = 0; s < a->num_stages; s++) {
        if (s > 0)
            side = out_side(side, 3, 2, 1);
        double per = (double)side * side *
                     (cc_arch_stage_channels(a, s) + 2.0 * a->widths[s]);
        floats += per * a->layers[s];
    }
    double bytes = floats * sizeof(float);
    if (bytes > (double)COVIDCAM_MAX_SESSION_BYTES)
        return cc_fail(e, COVIDCAM_ERR_LIMIT,
                       "a session of this model would need %.0f MiB of activations, more than the "
                       "limit of %llu MiB",
                       bytes / 1048576.0, (unsigned long long)COVIDCAM_MAX_SESSION_BYTES >> 20);
    return COVIDCAM_OK;
}

static covidcam_status set_geometry(covidcam_model *m, cc_err *e)
{
    const cc_arch *a = &m->arch;
    int nb = 0;
    for (int s = 0; s < a->num_stages; s++)
        nb += a->layers[s];
    if (!(m->blocks = calloc((size_t)nb, sizeof *m->blocks)))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    m->num_blocks = nb;
    set_conv(&m->stem, m->in_ch, a->stem_width, 7, 2, 1, 0);
    m->stem.geom.pad = 3;
    int ch = a->stem_width, i = 0, bottleneck = a->block == CC_BLOCK_BOTTLENECK;
    for (int s = 0; s < a->num_stages; s++) {
        for (int k = 0; k < a->layers[s]; k++, i++) {
            cc_block_w *b = &m->blocks[i];
            int w = a->widths[s], out = cc_arch_stage_channels(a, s);
            snprintf(b->name, sizeof b->name, "layer%d.%d", s + 1, k);
            b->stage = s;
            b->index = k;
            b->in_ch = ch;
            b->out_ch = out;
            b->stride = (s > 0 && k == 0) ? 2 : 1;
            b->nconv = bottleneck ? 3 : 2;
            if (bottleneck) {
                set_conv(&b->conv[0], ch, w, 1, 1, 1, 0);
                set_conv(&b->conv[1], w, w, 3, b->stride, 1, 0);
                set_conv(&b->conv[2], w, out, 1, 1, 1, 1);
            } else {
                set_conv(&b->conv[0], ch, w, 3, b->stride, 1, 0);
                set_conv(&b->conv[1], w, out, 3, 1, 1, 1);
            }
            b->has_down = b->stride != 1 || ch != out;
            if (b->has_down)
                set_conv(&b->down, ch, out, 1, b->stride, 0, 0);
            ch = out;
        }
    }
    set_conv(&m->fc, ch, m->num_classes, 1, 1, 0, 0);
    return COVIDCAM_OK;
}

static covidcam_status load_weights(covidcam_model *m, const cc_safetensors *st, cc_err *e)
{
    covidcam_status rc = fold_conv(m, st, &m->stem, "conv1.weight", "bn1", e);
    char w[64], bn[64];
    for (int i = 0; i < m->num_blocks && !rc; i++) {
        cc_block_w *b = &m->blocks[i];
        for (int c = 0; c < b->nconv && !rc; c++) {
            snprintf(w, sizeof w, "%s.conv%d.weight", b->name, c + 1);
            snprintf(bn, sizeof bn, "%s.bn%d", b->name, c + 1);
            rc = fold_conv(m, st, &b->conv[c], w, bn, e);
        }
        if (!rc && b->has_down) {
            snprintf(w, sizeof w, "%s.downsample.0.weight", b->name);
            snprintf(bn, sizeof bn, "%s.downsample.1", b->name);
            rc = fold_conv(m, st, &b->down, w, bn, e);
        }
    }
    return rc ? rc : load_fc(m, st, &m->fc, &m->fc_plain, e);
}

static covidcam_status make_layer_names(covidcam_model *m, cc_err *e)
{
    int n = m->num_blocks + m->arch.num_stages;
    if (!(m->layer_names = calloc((size_t)n, sizeof *m->layer_names)))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < m->num_blocks; i++)
        if (!(m->layer_names[m->num_layers++] = strdup(m->blocks[i].name)))
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    for (int s = 0; s < m->arch.num_stages; s++) {
        char name[16];
        snprintf(name, sizeof name, "layer%d", s + 1);
        if (!(m->layer_names[m->num_layers++] = strdup(name)))
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return COVIDCAM_OK;
}

covidcam_status cc_model_from_safetensors(const cc_safetensors *st, covidcam_model **out,
                                          cc_err *e)
{
    covidcam_model *m = calloc(1, sizeof *m);
    if (!m)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    covidcam_status rc;
    if ((rc = parse_meta(m, st, e)) || (rc = check_activation_memory(m, e)) ||
        (rc = check_tensors(m, st, e)) ||
        (rc = set_geometry(m, e)) || (rc = copy_meta(m, st, e)) ||
        (rc = make_layer_names(m, e)) || (rc = cc_dnn_engine_create(&m->eng, e)) ||
        (rc = cc_net_plan_layouts(m, e)) || (rc = load_weights(m, st, e)))
        goto fail;
    *out = m;
    return COVIDCAM_OK;
fail:
    covidcam_model_free(m);
    return rc;
}

covidcam_status covidcam_model_load_from_memory(const void *buf, size_t len, covidcam_model **out,
                                                char *errbuf, size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc;
    cc_safetensors st = {0};
    if (!buf || !out) {
        rc = cc_fail(&e, COVIDCAM_ERR_INVALID_ARGUMENT, "model buffer and out must not be NULL");
        goto done;
    }
    if ((unsigned long long)len > COVIDCAM_MAX_MODEL_BYTES) {
        rc = cc_fail(&e, COVIDCAM_ERR_LIMIT, "model of %zu bytes exceeds the limit of %llu", len,
                     (unsigned long long)COVIDCAM_MAX_MODEL_BYTES);
        goto done;
    }
    if ((rc = cc_st_parse(buf, len, &st, &e)) == COVIDCAM_OK)
        rc = cc_model_from_safetensors(&st, out, &e);
    cc_st_free(&st);
done:
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}

covidcam_status covidcam_model_load(const char *path, covidcam_model **out, char *errbuf,
                                    size_t errbuf_size)
{
    cc_err e = {{0}};
    uint8_t *data = NULL;
    size_t len = 0;
    covidcam_status rc;
    if (!path || !out) {
        rc = cc_fail(&e, COVIDCAM_ERR_INVALID_ARGUMENT, "model path and out must not be NULL");
        cc_err_export(&e, errbuf, errbuf_size);
        return rc;
    }
    rc = cc_read_file_checked(path, (size_t)COVIDCAM_MAX_MODEL_BYTES, 8, cc_st_check_prefix, NULL,
                              &data, &len, &e);
    if (rc == COVIDCAM_OK) {
        rc = covidcam_model_load_from_memory(data, len, out, errbuf, errbuf_size);
        free(data);
        if (rc && errbuf && errbuf_size) {
            /* The culprit comes first so a long path cannot push it out. */
            char tmp[COVIDCAM_ERRBUF_SIZE];
            snprintf(tmp, sizeof tmp, "%s", errbuf);
            snprintf(errbuf, errbuf_size, "%s (in %s)", tmp, path);
        }
        return rc;
    }
    /* A header refused before the tensor data was read: name the file too. */
    if (rc != COVIDCAM_ERR_IO && !strstr(e.msg, path)) {
        cc_err tmp = e;
        cc_fail(&e, rc, "%s (in %s)", tmp.msg, path);
    }
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}
