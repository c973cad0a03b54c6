/* covidcam_gradcam_*: class activation maps as pytorch-grad-cam computes them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cam_compose.h"
#include "finite.h"
#include "gradcam.h"
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
/* 0.4's fields start past 0.3's sizeof, never in its tail padding (abi/README.md). */
_Static_assert(offsetof(covidcam_gradcam_options, eigen_smooth) >= 32 ||
                   sizeof(void *) != 8,
               "eigen_smooth must not reuse the 0.3 struct's tail padding");

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
                           CC_FIELD_END(covidcam_gradcam_options, aug_smooth), sizeof *o, o,
                           "gradcam options", &s->err);
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

/* One name of the layer list into plan (trimmed of spaces). */
static covidcam_status add_layer(covidcam_session *s, const char *name, size_t len,
                                 cc_cam_plan *plan)
{
    char one[64];
    while (len && *name == ' ')
        name++, len--;
    while (len && name[len - 1] == ' ')
        len--;
    if (!len)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "empty name in layer list");
    if (len >= sizeof one)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "layer name '%.*s...' too long",
                       32, name);
    memcpy(one, name, len);
    one[len] = '\0';
    if (plan->num == COVIDCAM_MAX_CAM_LAYERS)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "more than %d target layers", COVIDCAM_MAX_CAM_LAYERS);
    int t = cc_model_find_layer(s->m, one);
    if (t < 0)
        return bad_layer(s, one);
    plan->targets[plan->num++] = t;
    return COVIDCAM_OK;
}

/* "layer3,layer4" into block indices; NULL or "" is the default layer. */
static covidcam_status parse_layers(covidcam_session *s, const char *list, cc_cam_plan *plan)
{
    plan->num = 0;
    if (!list || !*list) {
        plan->targets[plan->num++] = cc_model_find_layer(s->m, NULL);
        return COVIDCAM_OK;
    }
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        covidcam_status rc = add_layer(s, p, len, plan);
        if (rc)
            return rc;
        if (!comma)
            return COVIDCAM_OK;
        p = comma + 1;
    }
}

static covidcam_status check_options(covidcam_session *s, const covidcam_gradcam_options *o,
                                     cc_cam_plan *plan)
{
    if (!covidcam_cam_method_name(o->method))
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "unknown Grad-CAM method %d",
                       (int)o->method);
    if (o->aug_smooth < COVIDCAM_AUG_NONE || o->aug_smooth > COVIDCAM_AUG_FLIP)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "unknown aug_smooth %d (0 none, 1 intensity, 2 intensity and flip)",
                       (int)o->aug_smooth);
    if ((o->target_class < -1 || o->target_class >= s->m->num_classes))
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "target class %d out of range (-1 for the top class, or 0..%d)",
                       o->target_class, s->m->num_classes - 1);
    covidcam_status rc = parse_layers(s, o->layer, plan);
    if (rc)
        return rc;
    plan->first = plan->targets[0];
    for (int i = 1; i < plan->num; i++)
        if (plan->targets[i] < plan->first)
            plan->first = plan->targets[i];
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

/* "layer3.1,layer4.1": the blocks the map was computed at. */
static void layer_label(const covidcam_model *m, const cc_cam_plan *plan, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < plan->num && o + 1 < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%s", i ? "," : "",
                              m->blocks[plan->targets[i]].name);
}

static covidcam_status run(covidcam_session *s, const cc_input *in,
                           const covidcam_gradcam_options *o, int force_general,
                           covidcam_heatmap **out, const cc_cam_plan *plan)
{
    const covidcam_model *m = s->m;
    covidcam_heatmap *h = NULL;
    cc_image img = {0};
    cc_net *cn = NULL;
    int general = force_general || plan->first != m->num_blocks - 1;
    covidcam_status rc = cc_session_set_input(s, in, &img);
    if (rc == COVIDCAM_OK)
        rc = cc_check_input(m, s->input, &s->err);
    if (rc == COVIDCAM_OK)
        rc = cc_session_cam_net(s, &cn);
    if (rc == COVIDCAM_OK)
        rc = cc_gradcam_check_memory(cn, plan->first, general, &s->err);
    if (rc)
        goto fail;
    const cc_dnn_md *md = cn->blocks[plan->targets[0]].out_md;
    int one = plan->num == 1;
    h = heatmap_new(m->num_classes, one ? (int)cc_dnn_md_dim(md, 2) : m->input_size,
                    one ? (int)cc_dnn_md_dim(md, 3) : m->input_size, m->input_size);
    if (!h) {
        rc = cc_fail(&s->err, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for the heatmap");
        goto fail;
    }
    int prev = cc_dnn_threads_set(s->threads);
    /* An int8 session classifies in int8 and takes the map from its bf16 or
     * fp32 Grad-CAM net, for the class the int8 pass chose. */
    rc = cc_net_forward(s->net, s->input, cn == s->net ? plan->targets[0] : m->num_blocks,
                        &s->err);
    if (rc == COVIDCAM_OK && cn != s->net)
        rc = cc_net_forward(cn, s->input, plan->targets[0], &s->err);
    if (rc == COVIDCAM_OK) {
        cc_session_assess(s); /* before the backward pass reuses any buffer */
        const float *z = s->net->logits;
        memcpy(h->logits, z, (size_t)m->num_classes * sizeof *z);
        rc = cc_classify_logits(z, m->num_classes, m->temperature, h->probs, &h->top,
                                &s->err);
    }
    if (rc == COVIDCAM_OK) {
        h->cls = o->target_class >= 0 ? o->target_class : h->top;
        h->prob = h->probs[h->cls];
        h->method = o->method;
        /* applied, not just asked for: the EIGEN methods are projections already */
        h->eigen_smooth = o->eigen_smooth != 0 && o->method != COVIDCAM_CAM_EIGENCAM &&
                          o->method != COVIDCAM_CAM_EIGENGRADCAM;
        h->aug_smooth = o->aug_smooth;
        layer_label(m, plan, h->layer, sizeof h->layer);
        rc = cc_cam_compose(s, plan, h->cls, o, force_general, h);
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
    cc_cam_plan plan;
    covidcam_gradcam_options o;
    if (!out)
        rc = cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "out must not be NULL");
    else if ((rc = read_options(s, user, &o)) == COVIDCAM_OK &&
             (rc = check_options(s, &o, &plan)) == COVIDCAM_OK)
        rc = run(s, in, &o, force_general, out, &plan);
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
