/* Channel weights and weighted sums of the CAM methods. */
#include <stdlib.h>
#include <string.h>

#include "cam_formula.h"
#include "cam_projection.h"

int cc_cam_needs_gradient(covidcam_cam_method method)
{
    return method != COVIDCAM_CAM_EIGENCAM && method != COVIDCAM_CAM_SCORECAM;
}

/* Methods whose cam is A weighted per position (no channel weight). */
static int elementwise(covidcam_cam_method m)
{
    return m == COVIDCAM_CAM_LAYERCAM || m == COVIDCAM_CAM_HIRESCAM ||
           m == COVIDCAM_CAM_EIGENCAM || m == COVIDCAM_CAM_EIGENGRADCAM;
}

/* The Grad-CAM++ weight of one channel (pytorch-grad-cam's GradCAMPlusPlus). */
static double gradcampp_weight(const float *ak, const float *gk, size_t hw)
{
    double sum_a = 0, w = 0;
    for (size_t i = 0; i < hw; i++)
        sum_a += ak[i];
    for (size_t i = 0; i < hw; i++) {
        double g1 = gk[i], g2 = g1 * g1, g3 = g2 * g1;
        if (g1 <= 0)
            continue; /* relu(g) * aij vanishes; aij is 0 where g == 0 */
        w += g1 * (g2 / (2 * g2 + sum_a * g3 + 1e-6));
    }
    return w;
}

/* XGradCAM: sum_ij g * A / (sum_ij A + 1e-7). */
static double xgradcam_weight(const float *ak, const float *gk, size_t hw)
{
    double sum_a = 0, w = 0;
    for (size_t i = 0; i < hw; i++) {
        sum_a += ak[i];
        w += (double)gk[i] * ak[i];
    }
    return w / (sum_a + 1e-7);
}

/* alpha_k of the channel-weighted methods. */
static double channel_weight(covidcam_cam_method m, const cc_cam_layer *l, int k)
{
    size_t hw = (size_t)l->h * (size_t)l->w;
    const float *ak = l->a + (size_t)k * hw, *gk = l->g ? l->g + (size_t)k * hw : NULL;
    double w = 0;
    switch (m) {
    case COVIDCAM_CAM_GRADCAM:
        for (size_t i = 0; i < hw; i++)
            w += gk[i];
        return w / (double)hw;
    case COVIDCAM_CAM_GRADCAMPP:
        return gradcampp_weight(ak, gk, hw);
    case COVIDCAM_CAM_XGRADCAM:
        return xgradcam_weight(ak, gk, hw);
    default: /* COVIDCAM_CAM_SCORECAM */
        return l->score_weights[k];
    }
}

/* The weight of A_kij in the cam: alpha_k, or the per-position factor. */
static double position_weight(covidcam_cam_method m, const cc_cam_layer *l, size_t ki)
{
    switch (m) {
    case COVIDCAM_CAM_LAYERCAM:
        return l->g[ki] > 0 ? l->g[ki] : 0;
    case COVIDCAM_CAM_EIGENCAM:
        return 1;
    default: /* HIRESCAM, EIGENGRADCAM */
        return l->g[ki];
    }
}

/* The weighted activations w * A (c x hw floats) into wa. */
static void weighted(covidcam_cam_method m, const cc_cam_layer *l, float *wa)
{
    size_t hw = (size_t)l->h * (size_t)l->w;
    for (int k = 0; k < l->c; k++) {
        size_t base = (size_t)k * hw;
        if (elementwise(m)) {
            for (size_t i = 0; i < hw; i++)
                wa[base + i] = (float)(position_weight(m, l, base + i) * l->a[base + i]);
        } else {
            double alpha = channel_weight(m, l, k);
            for (size_t i = 0; i < hw; i++)
                wa[base + i] = (float)(alpha * l->a[base + i]);
        }
    }
}

/* The weighted sum over channels, in double, without storing w * A. */
static void weighted_sum(covidcam_cam_method m, const cc_cam_layer *l, double *acc)
{
    size_t hw = (size_t)l->h * (size_t)l->w;
    memset(acc, 0, hw * sizeof *acc);
    for (int k = 0; k < l->c; k++) {
        size_t base = (size_t)k * hw;
        if (elementwise(m)) {
            for (size_t i = 0; i < hw; i++)
                acc[i] += position_weight(m, l, base + i) * l->a[base + i];
        } else {
            double alpha = channel_weight(m, l, k);
            for (size_t i = 0; i < hw; i++)
                acc[i] += alpha * l->a[base + i];
        }
    }
}

covidcam_status cc_cam_raw(covidcam_cam_method method, int eigen, const cc_cam_layer *l,
                           float *raw, cc_err *e)
{
    size_t hw = (size_t)l->h * (size_t)l->w;
    int project = eigen || method == COVIDCAM_CAM_EIGENCAM || method == COVIDCAM_CAM_EIGENGRADCAM;
    covidcam_status rc = COVIDCAM_OK;
    if (!project) {
        double *acc = malloc(hw * sizeof *acc);
        if (!acc)
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for the %s map",
                           covidcam_cam_method_name(method));
        weighted_sum(method, l, acc);
        for (size_t i = 0; i < hw; i++)
            raw[i] = acc[i] > 0 ? (float)acc[i] : 0.0f;
        free(acc);
        return COVIDCAM_OK;
    }
    /* pytorch-grad-cam projects the float32 weighted activations */
    float *wa = malloc((size_t)l->c * hw * sizeof *wa);
    if (!wa)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for the %s projection",
                       covidcam_cam_method_name(method));
    weighted(method, l, wa);
    rc = cc_cam_projection(wa, l->c, hw, raw, e);
    for (size_t i = 0; rc == COVIDCAM_OK && i < hw; i++)
        raw[i] = raw[i] > 0 ? raw[i] : 0.0f;
    free(wa);
    return rc;
}
