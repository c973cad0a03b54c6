/* Building a model from a safetensors file: metadata validation, tensor
 * checks, batch-norm folding and the one-time reorder into oneDNN layouts. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "denormal.h"
#include "file_io.h"
#include "model_meta.h"
#include "ood.h"
#include "png_io.h"
#include "prepared.h"
#include "qscales.h"
#include "resnet.h"

/* The validated metadata (lib/net/model_meta.c) moved into the model. */
static covidcam_status parse_meta(covidcam_model *m, const cc_safetensors *st, cc_err *e)
{
    cc_model_meta mm;
    covidcam_status rc = cc_model_meta_parse(st, 0, &mm, e);
    if (rc)
        return rc;
    m->arch = mm.arch;
    m->input_size = mm.input_size;
    m->in_ch = mm.in_ch;
    memcpy(m->mean, mm.mean, sizeof m->mean);
    memcpy(m->std, mm.std, sizeof m->std);
    m->bn_eps = mm.bn_eps;
    m->temperature = mm.temperature;
    m->resize = mm.resize;
    m->classes = mm.classes;
    m->num_classes = mm.num_classes;
    m->has_ood_meta = mm.has_ood;
    m->ood_threshold = mm.ood_threshold;
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
        int known = is_ignored(name) || (m->has_ood_meta && cc_ood_is_tensor(name));
        for (int k = 0; k < n && !known; k++)
            known = strcmp(specs[k].name, name) == 0;
        if (!known && cc_ood_is_tensor(name))
            rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                         "tensor '%s' without the metadata ood_method and ood_threshold", name);
        else if (!known)
            rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                         "unexpected tensor '%s' for arch %s (wrong architecture metadata?)", name,
                         m->arch.name);
    }
    free(specs);
    if (!rc && m->has_ood_meta)
        rc = cc_ood_check(st, m->num_classes, cc_arch_features(&m->arch), e);
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
    if ((*rc = cc_st_read_f32(st, t, v, e))) {
        free(v);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            *rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "tensor '%s' contains %s at element %zu",
                          name, isnan(v[i]) ? "NaN" : "Inf", i);
            free(v);
            return NULL;
        }
    }
    cc_flush_denormals(v, n);
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
    cc_flush_denormals(w, (size_t)oc * per); /* folding can make new ones */
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
    int i = 0;
    for (int s = 0; s < a->num_stages; s++) {
        for (int k = 0; k < a->layers[s]; k++, i++) {
            cc_block_w *b = &m->blocks[i];
            cc_block_geom g;
            cc_arch_block(a, s, k, &g);
            snprintf(b->name, sizeof b->name, "layer%d.%d", s + 1, k);
            b->stage = s;
            b->index = k;
            b->in_ch = g.in_ch;
            b->out_ch = g.out_ch;
            b->stride = g.stride;
            b->nconv = g.nconv;
            /* ReLU after every conv; the last one adds the shortcut first */
            for (int c = 0; c < g.nconv; c++)
                set_conv(&b->conv[c], cc_block_conv_in(&g, c), cc_block_conv_out(&g, c), g.k[c],
                         cc_block_conv_stride(&g, c), 1, c == g.nconv - 1);
            b->has_down = g.has_down;
            if (b->has_down)
                set_conv(&b->down, g.in_ch, g.out_ch, 1, g.stride, 0, 0);
        }
    }
    set_conv(&m->fc, cc_arch_features(a), m->num_classes, 1, 1, 0, 0);
    return COVIDCAM_OK;
}

/* Plan the weight layouts (a step of its own, lib/net/resnet.c) and hand the
 * result to the model, which owns it from here on; sessions only read it. */
static covidcam_status plan_layouts(covidcam_model *m, cc_err *e)
{
    cc_layout_plan plan;
    covidcam_status rc = cc_net_plan_layouts(m, CC_DNN_F32, &plan, e);
    if (rc)
        return rc;
    m->stem.w_md = plan.stem;
    m->fc.w_md = plan.fc;
    plan.stem = plan.fc = NULL;
    for (int i = 0; i < m->num_blocks; i++) {
        cc_block_w *b = &m->blocks[i];
        for (int c = 0; c < b->nconv; c++) {
            b->conv[c].w_md = plan.blocks[i][c];
            plan.blocks[i][c] = NULL;
        }
        if (b->has_down) {
            b->down.w_md = plan.blocks[i][3];
            plan.blocks[i][3] = NULL;
        }
    }
    cc_layout_plan_free(&plan);
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
        (rc = set_geometry(m, e)) || (rc = cc_qscales_parse(m, st, &m->qs, e)) ||
        (rc = copy_meta(m, st, e)) ||
        (rc = make_layer_names(m, e)) || (rc = cc_dnn_engine_create(&m->eng, e)) ||
        (rc = cc_prep_cache_create(&m->prep, e)) ||
        (rc = plan_layouts(m, e)) || (rc = load_weights(m, st, e)) ||
        (m->has_ood_meta && (rc = cc_ood_load(st, m->num_classes, m->fc.ic, m->ood_threshold,
                                              &m->ood, e))))
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

/* The file's header is read and checked first, the tensor data one tensor at
 * a time while the weights are built, so loading holds the header, the
 * weights and one tensor, never the whole file (docs/precision.md, load). */
static covidcam_status load_file(const char *path, covidcam_model **out, cc_err *e)
{
    int fd = -1;
    uint8_t *head = NULL;
    size_t have = 0, size = 0;
    cc_safetensors st = {0};
    covidcam_status rc = cc_open_checked(path, (size_t)COVIDCAM_MAX_MODEL_BYTES, 8,
                                         cc_st_check_prefix, NULL, &fd, &head, &have, &size, e);
    if (rc)
        return rc;
    if ((rc = cc_st_parse_header(head, have, size, &st, e)) == COVIDCAM_OK) {
        st.path = path;
        st.fd = fd;
        rc = cc_model_from_safetensors(&st, out, e);
    }
    cc_st_free(&st);
    free(head);
    close(fd);
    return rc;
}

covidcam_status covidcam_model_load(const char *path, covidcam_model **out, char *errbuf,
                                    size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc;
    if (!path || !out) {
        rc = cc_fail(&e, COVIDCAM_ERR_INVALID_ARGUMENT, "model path and out must not be NULL");
        cc_err_export(&e, errbuf, errbuf_size);
        return rc;
    }
    /* I/O errors name the file already; name it in the others, after the
     * culprit, so a long path cannot push the culprit out. */
    if ((rc = load_file(path, out, &e)) && rc != COVIDCAM_ERR_IO && !strstr(e.msg, path)) {
        cc_err tmp = e;
        cc_fail(&e, rc, "%s (in %s)", tmp.msg, path);
    }
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}
