/* Views x layers x method: the loops of a Grad-CAM call. */
#include <stdlib.h>
#include <string.h>

#include "cam_compose.h"
#include "cam_formula.h"
#include "cam_scale.h"
#include "gradcam_bwd.h"
#include "gradcam_mem.h"
#include "scorecam.h"

/* pytorch-grad-cam's tta.Compose([HorizontalFlip(), Multiply([0.9, 1, 1.1])]):
 * the unaugmented view first, so its forward pass is the classification's. */
typedef struct cam_view {
    int flip;
    float factor;
} cam_view;

static const cam_view views[] = {{0, 1.0f}, {0, 0.9f}, {0, 1.1f},
                                 {1, 0.9f}, {1, 1.0f}, {1, 1.1f}};

static int num_views(covidcam_aug_smooth aug)
{
    return aug == COVIDCAM_AUG_FLIP ? 6 : aug == COVIDCAM_AUG_INTENSITY ? 3 : 1;
}

/* Scratch of one call: the view's input, one layer's activations, gradients,
 * ScoreCAM weights and raw map, and the per-layer maps at the input size. */
typedef struct cam_work {
    float *input, *a, *g, *raw, *tmp, *per, *view_map;
    double *score_weights;
} cam_work;

static void work_free(cam_work *w)
{
    free(w->input);
    free(w->a);
    free(w->g);
    free(w->raw);
    free(w->tmp);
    free(w->per);
    free(w->view_map);
    free(w->score_weights);
}

/* The net the maps come from (cc_session_cam_net made it before). */
static cc_net *cam_net(const covidcam_session *s)
{
    return s->cam_net ? s->cam_net : s->net;
}

static covidcam_status work_alloc(covidcam_session *s, const cc_cam_plan *plan, cam_work *w)
{
    const covidcam_model *m = s->m;
    size_t s2 = (size_t)m->input_size * (size_t)m->input_size, chw = 0, hw = 0;
    int c = 0;
    for (int i = 0; i < plan->num; i++) {
        const cc_dnn_md *md = cam_net(s)->blocks[plan->targets[i]].out_md;
        size_t lhw = (size_t)cc_dnn_md_dim(md, 2) * (size_t)cc_dnn_md_dim(md, 3);
        int lc = m->blocks[plan->targets[i]].out_ch;
        hw = lhw > hw ? lhw : hw;
        chw = lhw * (size_t)lc > chw ? lhw * (size_t)lc : chw;
        c = lc > c ? lc : c;
    }
    memset(w, 0, sizeof *w);
    w->input = malloc((size_t)m->in_ch * s2 * sizeof *w->input);
    w->a = malloc(chw * sizeof *w->a);
    w->g = malloc(chw * sizeof *w->g);
    w->raw = malloc(hw * sizeof *w->raw);
    w->tmp = malloc(hw * sizeof *w->tmp);
    w->per = malloc((size_t)plan->num * s2 * sizeof *w->per);
    w->view_map = malloc(s2 * sizeof *w->view_map);
    w->score_weights = malloc((size_t)c * sizeof *w->score_weights);
    if (w->input && w->a && w->g && w->raw && w->tmp && w->per && w->view_map &&
        w->score_weights)
        return COVIDCAM_OK;
    work_free(w);
    return cc_fail(&s->err, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for Grad-CAM");
}

/* The view's network input: the session's input times the factor, mirrored. */
static void view_input(const covidcam_session *s, const cam_view *v, float *out)
{
    int size = s->m->input_size;
    size_t n = (size_t)s->m->in_ch * (size_t)size * (size_t)size;
    for (size_t i = 0; i < n; i++)
        out[i] = s->input[i] * v->factor;
    if (v->flip)
        cc_cam_flip(out, s->m->in_ch * size, size);
}

/* Fill g with the closed-form gradient of the last block: fc row / (h*w). */
static void last_block_gradient(const covidcam_model *m, int cls, int c, size_t hw, float *g)
{
    const float *row = m->fc_plain + (size_t)cls * (size_t)c;
    for (int k = 0; k < c; k++)
        for (size_t i = 0; i < hw; i++)
            g[(size_t)k * hw + i] = (float)(row[k] / (double)hw);
}

/* The raw map of one target block into w->raw, after a forward pass of
 * `input` that kept it. */
static covidcam_status layer_raw(covidcam_session *s, const float *input, int target, int cls,
                                 const covidcam_gradcam_options *o, int force_general,
                                 cam_work *w, cc_cam_layer *l)
{
    cc_net *n = cam_net(s);
    const cc_dnn_md *md = n->blocks[target].out_md;
    *l = (cc_cam_layer){.a = w->a,
                        .c = s->m->blocks[target].out_ch,
                        .h = (int)cc_dnn_md_dim(md, 2),
                        .w = (int)cc_dnn_md_dim(md, 3)};
    size_t hw = (size_t)l->h * (size_t)l->w;
    covidcam_status rc = cc_net_activation(n, target, w->a, &s->err);
    if (rc == COVIDCAM_OK && cc_cam_needs_gradient(o->method)) {
        l->g = w->g;
        if (target == n->num_blocks - 1 && !force_general)
            last_block_gradient(s->m, cls, l->c, hw, w->g);
        else {
            rc = cc_net_gradient(n, target, cls, w->g, &s->err);
            cc_net_release_gradients(n);
        }
    }
    if (rc == COVIDCAM_OK && o->method == COVIDCAM_CAM_SCORECAM) {
        l->score_weights = w->score_weights;
        rc = cc_scorecam_weights(n, input, w->a, l->c, l->h, l->w, cls, w->score_weights,
                                 &s->err);
    }
    return rc ? rc : cc_cam_raw(o->method, o->eigen_smooth, l, w->raw, &s->err);
}

/* One view's map (aggregated over the layers) into w->view_map; the
 * unaugmented view (index 0) also fills h->raw. */
static covidcam_status view_map(covidcam_session *s, const cc_cam_plan *plan, int cls,
                                const covidcam_gradcam_options *o, int force_general, int vi,
                                cam_work *w, covidcam_heatmap *h)
{
    int size = s->m->input_size;
    size_t s2 = (size_t)size * (size_t)size;
    const float *input = s->input;
    if (vi > 0) {
        view_input(s, &views[vi], w->input);
        input = w->input;
    }
    for (int i = 0; i < plan->num; i++) {
        cc_cam_layer l;
        covidcam_status rc = COVIDCAM_OK;
        if (vi > 0 || i > 0) /* view 0, layer 0: the classification's pass */
            rc = cc_net_forward(cam_net(s), input, plan->targets[i], &s->err);
        if (rc == COVIDCAM_OK)
            rc = layer_raw(s, input, plan->targets[i], cls, o, force_general, w, &l);
        if (rc)
            return rc;
        if (vi == 0 && plan->num == 1)
            memcpy(h->raw, w->raw, (size_t)l.h * (size_t)l.w * sizeof *h->raw);
        cc_cam_scale_layer(w->raw, l.h, l.w, size, w->tmp, w->per + (size_t)i * s2);
    }
    cc_cam_mean_relu(w->per, plan->num, size, w->view_map);
    if (vi == 0 && plan->num > 1)
        memcpy(h->raw, w->view_map, s2 * sizeof *h->raw);
    cc_cam_min_max(w->view_map, s2);
    if (views[vi].flip)
        cc_cam_flip(w->view_map, size, size);
    return COVIDCAM_OK;
}

covidcam_status cc_cam_compose(covidcam_session *s, const cc_cam_plan *plan, int cls,
                               const covidcam_gradcam_options *o, int force_general,
                               covidcam_heatmap *h)
{
    size_t s2 = (size_t)h->size * (size_t)h->size;
    int nv = num_views(o->aug_smooth);
    cam_work w;
    covidcam_status rc = work_alloc(s, plan, &w);
    if (rc)
        return rc;
    double *sum = nv > 1 ? calloc(s2, sizeof *sum) : NULL;
    if (nv > 1 && !sum)
        rc = cc_fail(&s->err, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for aug_smooth");
    for (int vi = 0; vi < nv && rc == COVIDCAM_OK; vi++) {
        rc = view_map(s, plan, cls, o, force_general, vi, &w, h);
        for (size_t i = 0; rc == COVIDCAM_OK && sum && i < s2; i++)
            sum[i] += w.view_map[i];
    }
    for (size_t i = 0; rc == COVIDCAM_OK && i < s2; i++)
        h->map[i] = sum ? (float)(sum[i] / nv) : w.view_map[i];
    /* Other passes (views, layers, ScoreCAM's masks) left their features in
     * the net; the session's features are the image's (covidcam_session_features). */
    if (rc == COVIDCAM_OK && (nv > 1 || plan->num > 1 || o->method == COVIDCAM_CAM_SCORECAM))
        rc = cc_net_forward(cam_net(s), s->input, cam_net(s)->num_blocks, &s->err);
    free(sum);
    work_free(&w);
    return rc;
}
