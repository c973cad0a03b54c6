/* Grad-CAM internals exposed for tests. */
#ifndef COVIDCAM_GRADCAM_H
#define COVIDCAM_GRADCAM_H

#include "session.h"

/* The public entry points' common path. force_general = 1 computes the last
 * block's gradient with backward primitives instead of the closed form, so a
 * test can compare the two. */
covidcam_status cc_gradcam(covidcam_session *s, const cc_input *in,
                           const covidcam_gradcam_options *o, int force_general,
                           covidcam_heatmap **out);

/* raw = relu(cam) (h x w) from plain activations a and gradients g (c x h x w);
 * work holds c + h*w doubles. */
void cc_cam_raw(covidcam_cam_method method, const float *a, const float *g, int c, int h, int w,
                double *work, float *raw);

/* The normalised map at size x size from the raw map (pytorch-grad-cam:
 * scale, resize, relu, scale). OUT_OF_MEMORY only. */
covidcam_status cc_cam_normalise(const float *raw, int h, int w, int size, float *map);

#endif
