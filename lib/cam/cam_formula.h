/* The map each CAM method makes of a layer's activations and gradients, as
 * pytorch-grad-cam's get_cam_weights / get_cam_image define it. */
#ifndef COVIDCAM_CAM_FORMULA_H
#define COVIDCAM_CAM_FORMULA_H

#include "covidcam.h"
#include "error.h"

/* Non-zero when the method reads d logit / dA (all but EIGENCAM and SCORECAM). */
int cc_cam_needs_gradient(covidcam_cam_method method);

/* One layer's inputs: plain activations a and gradients g (c x h x w; g may
 * be NULL when the method needs none), and for SCORECAM the c channel weights
 * from cc_scorecam_weights(). */
typedef struct cc_cam_layer {
    const float *a, *g;
    const double *score_weights;
    int c, h, w;
} cc_cam_layer;

/* raw = relu(cam) (h x w floats) of `method` on the layer, cam being the
 * weighted sum over channels or, with `eigen` (or for the EIGEN methods), the
 * first principal component of the weighted activations. Sums in double.
 * OUT_OF_MEMORY / BACKEND (the projection) with the message in e. */
covidcam_status cc_cam_raw(covidcam_cam_method method, int eigen, const cc_cam_layer *l,
                           float *raw, cc_err *e);

#endif
