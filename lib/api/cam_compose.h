/* A Grad-CAM call's map from its parts: the views of aug_smooth, the target
 * layers, and each layer's method (lib/cam). */
#ifndef COVIDCAM_CAM_COMPOSE_H
#define COVIDCAM_CAM_COMPOSE_H

#include "heatmap.h"
#include "session.h"

/* The target blocks of one call, in the caller's order; `first` is the
 * earliest (the one the memory check and the backward pass reach). */
typedef struct cc_cam_plan {
    int targets[COVIDCAM_MAX_CAM_LAYERS];
    int num;
    int first;
} cc_cam_plan;

/* Fill h->raw and h->map for class cls. Expects s->input to hold the network
 * input and a forward pass of it that kept block plan->targets[0] (the
 * classification the map comes with). h->raw is the unaugmented view's
 * relu(cam) at the layer's resolution (one layer) or the mean of the per-layer
 * scaled maps at the input size (several layers, raw_w = raw_h = size). The
 * map is, per view, pytorch-grad-cam's aggregate_multi_layers of its layers,
 * mirrored back for flipped views; with aug_smooth, the mean of the views'
 * maps (not rescaled, as forward_augmentation_smoothing). force_general runs
 * the backward primitives at the last block too (tests). OUT_OF_MEMORY,
 * BACKEND, with the message in the session. */
covidcam_status cc_cam_compose(covidcam_session *s, const cc_cam_plan *plan, int cls,
                               const covidcam_gradcam_options *o, int force_general,
                               covidcam_heatmap *h);

#endif
