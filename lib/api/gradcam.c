/* covidcam_gradcam_*: class activation maps as pytorch-grad-cam computes them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finite.h"
#include "gradcam.h"
#include "gradcam_bwd.h"
#include "gradcam_mem.h"
#include "heatmap.h"
#include "options.h"
#include "preprocess.h"
#include "session.h"
#include "softmax.h"

_Static_assert(offsetof(covidcam_gradcam_options, method) ==
                       offsetof(cc_gradcam_options_v0_1, method) &&
                   offsetof(covidcam_gradcam_options, layer) ==
                       offsetof(cc_gradcam_options_v0_1, layer) &&
                   offsetof(covidcam_gradcam_options, target_class) ==
                       offsetof(cc_gradcam_options_v0_1, target_class) &&
                   sizeof(covidcam_gradcam_options) >= sizeof(cc_gradcam_options_v0_1),
               "covidcam_gradcam_options may only grow at the end");

/* The ABI entry point of programs built against the 0.1 header (see
 * covidcam_session_options_init in session.c). */
void(covidcam_gradcam_options_init)(covidcam_gradcam_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof(cc_gradcam_options_v0_1));
    o->struct_size = sizeof(cc_gradcam_options_v0_1);
    o->method = COVIDCAM_CAM_GRADCAM;
    o->layer = NULL;
    o->target_class = -1;
}

/* The caller's options as this library's struct, defaults where it has none. */
static covidcam_status read_options(covidcam_session *s, const covidcam_gradcam_options *user,
                                    covidcam_gradcam_options *o)
{
    covidcam_gradcam_options_init(o);
    if (!user)
        return COVIDCAM_OK;
    return cc_options_read(user, CC_FIELD_END(cc_gradcam_options_v0_1, target_class),
                           CC_FIELD_END(covidcam_gradcam_options, target_class), sizeof *o, o,
                           "gradcam options", &s->err);
}

/* Channel weights alpha_k for the methods that have them (pytorch-grad-cam's
 * get_cam_weights), in double. */
static void cam_weights(covidcam_cam_method method, const float *a, const float *g, int c,
                        size_t hw, double *alpha)
{
    for (int k = 0; k < c; k++) {
        const float *ak = a + (size_t)k * hw, *gk = g + (size_t)k * hw;
        double w = 0;
        if (method == COVIDCAM_CAM_GRADCAM) {
            for (size_t i = 0; i < hw; i++)
                w += gk[i];
            w /= (double)hw;
        } else {
            double sum_a = 0;
            for (size_t i = 0; i < hw; i++)
                sum_a += ak[i];
            for (size_t i = 0; i < hw; i++) {
                double g1 = gk[i], g2 = g1 * g1, g3 = g2 * g1;
                if (g1 <= 0)
                    continue; /* relu(g) * aij vanishes; aij is 0 where g == 0 */
                w += g1 * (g2 / (2 * g2 + sum_a * g3 + 1e-6));
            }
        }
        alpha[k] = w;
    }
}

void cc_cam_raw(covidcam_cam_method method, const float *a, const float *g, int c, int h, int w,
                double *alpha, float *raw)
{
    size_t hw = (size_t)h * (size_t)w;
    double *acc = alpha + c; /* hw doubles after the c weights */
    memset(acc, 0, hw * sizeof *acc);
    if (method == COVIDCAM_CAM_LAYERCAM) {
        for (int k = 0; k < c; k++)
            for (size_t i = 0; i < hw; i++) {
                double gv = g[(size_t)k * hw + i];
                if (gv > 0)
                    acc[i] += gv * a[(size_t)k * hw + i];
            }
    } else {
        cam_weights(method, a, g, c, hw, alpha);
        for (int k = 0; k < c; k++)
            for (size_t i = 0; i < hw; i++)
                acc[i] += alpha[k] * a[(size_t)k * hw + i];
    }
    for (size_t i = 0; i < hw; i++)
        raw[i] = acc[i] > 0 ? (float)acc[i] : 0.0f;
}

/* pytorch-grad-cam's scale_cam_image: subtract the min, divide by 1e-7 + max. */
static void min_max(float *m, size_t n)
{
    float lo = m[0], hi;
    for (size_t i = 1; i < n; i++)
        if (m[i] < lo)
            lo = m[i];
    hi = m[0] - lo;
    for (size_t i = 0; i < n; i++) {
        m[i] -= lo;
        if (m[i] > hi)
            hi = m[i];
    }
    for (size_t i = 0; i < n; i++)
        m[i] = (float)(m[i] / (1e-7 + hi));
}

covidcam_status cc_cam_normalise(const float *raw, int h, int w, int size, float *map)
{
    size_t hw = (size_t)h * (size_t)w;
    float *tmp = malloc(hw * sizeof *tmp);
    if (!tmp)
        return COVIDCAM_ERR_OUT_OF_MEMORY;
    memcpy(tmp, raw, hw * sizeof *tmp);
    min_max(tmp, hw);
    cc_resize_f32(tmp, w, h, map, size, size);
    free(tmp);
    size_t n = (size_t)size * (size_t)size;
    /* aggregate_multi_layers: relu, then scale again */
    for (size_t i = 0; i < n; i++)
        if (map[i] < 0)
            map[i] = 0;
    min_max(map, n);
    return COVIDCAM_OK;
}

static covidcam_status bad_layer(covidcam_session *s, const char *name)
{
    char list[COVIDCAM_ERRBUF_SIZE - 64];
    size_t o = 0;
    list[0] = '\0';
    for (int i = 0; i < s->m->num_layers && o + 1 < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                              s->m->layer_names[i]);
    return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "unknown layer '%s'; valid: %s", name,
                   list);
}

static covidcam_status check_options(covidcam_session *s, const covidcam_gradcam_options *o,
                                     int *target)
{
    if ((o->method < COVIDCAM_CAM_GRADCAM || o->method > COVIDCAM_CAM_LAYERCAM))
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "unknown Grad-CAM method %d",
                       (int)o->method);
    if ((o->target_class < -1 || o->target_class >= s->m->num_classes))
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "target class %d out of range (-1 for the top class, or 0..%d)",
                       o->target_class, s->m->num_classes - 1);
    *target = cc_model_find_layer(s->m, o->layer);
    if (*target < 0)
        return bad_layer(s, o->layer);
    return COVIDCAM_OK;
}

static covidcam_heatmap *heatmap_new(int nc, int rh, int rw, int size)
{
    covidcam_heatmap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->num_classes = nc;
    h->raw_h = rh;
    h->raw_w = rw;
    h->size = size;
    h->probs = malloc((size_t)nc * sizeof(float));
    h->logits = malloc((size_t)nc * sizeof(float));
    h->raw = malloc((size_t)rh * (size_t)rw * sizeof(float));
    h->map = malloc((size_t)size * (size_t)size * sizeof(float));
    if (!h->probs || !h->logits || !h->raw || !h->map) {
        covidcam_heatmap_free(h);
        return NULL;
    }
    return h;
}

/* Fill g with the closed-form gradient of the last block: fc row / (h*w). */
static void last_block_gradient(const covidcam_model *m, int cls, int c, size_t hw, float *g)
{
    const float *row = m->fc_plain + (size_t)cls * (size_t)c;
    for (int k = 0; k < c; k++)
        for (size_t i = 0; i < hw; i++)
            g[(size_t)k * hw + i] = (float)(row[k] / (double)hw);
}

/* Activations and gradients of the target block (plain), then the maps. */
static covidcam_status compute_maps(covidcam_session *s, int target, int cls,
                                    covidcam_cam_method method, int force_general,
                                    covidcam_heatmap *h)
{
    cc_net *n = s->net;
    const cc_block_w *bw = &s->m->blocks[target];
    int c = bw->out_ch;
    size_t hw = (size_t)h->raw_h * (size_t)h->raw_w, chw = (size_t)c * hw;
    float *a = malloc(chw * sizeof *a), *g = malloc(chw * sizeof *g);
    double *work = malloc(((size_t)c + hw) * sizeof *work);
    covidcam_status rc;
    if (!a || !g || !work) {
        rc = cc_fail(&s->err, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for Grad-CAM");
        goto done;
    }
    if ((rc = cc_net_activation(n, target, a, &s->err)))
        goto done;
    if (target == n->num_blocks - 1 && !force_general)
        last_block_gradient(s->m, cls, c, hw, g);
    else {
        rc = cc_net_gradient(n, target, cls, g, &s->err);
        cc_net_release_gradients(n);
        if (rc)
            goto done;
    }
    cc_cam_raw(method, a, g, c, h->raw_h, h->raw_w, work, h->raw);
    if (cc_cam_normalise(h->raw, h->raw_h, h->raw_w, h->size, h->map))
        rc = cc_fail(&s->err, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for Grad-CAM");
done:
    free(a);
    free(g);
    free(work);
    return rc;
}

static covidcam_status run(covidcam_session *s, const cc_input *in,
                           const covidcam_gradcam_options *o, int force_general,
                           covidcam_heatmap **out, int target)
{
    const covidcam_model *m = s->m;
    covidcam_heatmap *h = NULL;
    cc_image img = {0};
    covidcam_status rc = cc_session_set_input(s, in, &img);
    if (rc == COVIDCAM_OK)
        rc = cc_check_input(m, s->input, &s->err);
    if (rc == COVIDCAM_OK)
        rc = cc_gradcam_check_memory(s->net, target, force_general, &s->err);
    if (rc)
        goto fail;
    const cc_dnn_md *md = s->net->blocks[target].out_md;
    h = heatmap_new(m->num_classes, (int)cc_dnn_md_dim(md, 2), (int)cc_dnn_md_dim(md, 3),
                    m->input_size);
    if (!h) {
        rc = cc_fail(&s->err, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for the heatmap");
        goto fail;
    }
    int prev = cc_dnn_threads_set(s->threads);
    rc = cc_net_forward(s->net, s->input, target, &s->err);
    if (rc == COVIDCAM_OK) {
        cc_session_assess(s); /* before the backward pass reuses any buffer */
        const float *z = s->net->logits;
        memcpy(h->logits, z, (size_t)m->num_classes * sizeof *z);
        rc = cc_classify_logits(z, m->num_classes, m->temperature, h->probs, &h->top,
                                &s->err);
    }
    if (rc == COVIDCAM_OK) {
        h->cls = o && o->target_class >= 0 ? o->target_class : h->top;
        h->prob = h->probs[h->cls];
        h->method = o ? o->method : COVIDCAM_CAM_GRADCAM;
        snprintf(h->layer, sizeof h->layer, "%s", m->blocks[target].name);
        rc = compute_maps(s, target, h->cls, h->method, force_general, h);
    }
    cc_dnn_threads_restore(prev);
    if (rc)
        goto fail;
    h->image = img;
    h->info = s->info;
    h->resize = m->resize;
    h->assess = s->assess;
    *out = h;
    return COVIDCAM_OK;
fail:
    cc_image_free(&img);
    covidcam_heatmap_free(h);
    return rc;
}

covidcam_status cc_gradcam(covidcam_session *s, const cc_input *in,
                           const covidcam_gradcam_options *user, int force_general,
                           covidcam_heatmap **out)
{
    covidcam_status rc = cc_session_begin(s);
    if (rc)
        return rc;
    int target = -1;
    covidcam_gradcam_options o;
    if (!out)
        rc = cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "out must not be NULL");
    else if ((rc = read_options(s, user, &o)) == COVIDCAM_OK &&
             (rc = check_options(s, &o, &target)) == COVIDCAM_OK)
        rc = run(s, in, &o, force_general, out, target);
    if (rc)
        s->assessed = 0;
    cc_session_end(s);
    return rc;
}

covidcam_status covidcam_gradcam_file(covidcam_session *s, const char *path,
                                      const covidcam_gradcam_options *o, covidcam_heatmap **out)
{
    cc_input in = {.kind = CC_IN_FILE, .path = path};
    return cc_gradcam(s, &in, o, 0, out);
}

covidcam_status covidcam_gradcam_png(covidcam_session *s, const void *png, size_t len,
                                     const covidcam_gradcam_options *o, covidcam_heatmap **out)
{
    cc_input in = {.kind = CC_IN_PNG, .png = png, .len = len};
    return cc_gradcam(s, &in, o, 0, out);
}

covidcam_status covidcam_gradcam_image(covidcam_session *s, const void *image, size_t len,
                                       const covidcam_gradcam_options *o, covidcam_heatmap **out)
{
    cc_input in = {.kind = CC_IN_IMAGE, .png = image, .len = len};
    return cc_gradcam(s, &in, o, 0, out);
}

covidcam_status covidcam_gradcam_pixels(covidcam_session *s, const uint8_t *pixels, int width,
                                        int height, size_t stride,
                                        const covidcam_gradcam_options *o, covidcam_heatmap **out)
{
    cc_input in = {.kind = CC_IN_PIXELS,
                   .pixels = pixels,
                   .width = width,
                   .height = height,
                   .stride = stride};
    return cc_gradcam(s, &in, o, 0, out);
}

covidcam_status covidcam_gradcam_tensor(covidcam_session *s, const float *tensor, int channels,
                                        int height, int width, const covidcam_gradcam_options *o,
                                        covidcam_heatmap **out)
{
    cc_input in = {.kind = CC_IN_TENSOR,
                   .tensor = tensor,
                   .channels = channels,
                   .height = height,
                   .width = width};
    return cc_gradcam(s, &in, o, 0, out);
}
