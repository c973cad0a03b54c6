/* ScoreCAM's channel weights: one forward pass per activation channel. */
#ifndef COVIDCAM_SCORECAM_H
#define COVIDCAM_SCORECAM_H

#include "resnet.h"

/* pytorch-grad-cam's ScoreCAM.get_cam_weights for the plain activations `a`
 * (c x h x w) of one layer: each channel upsampled to the input size
 * (align_corners=True), min-max scaled with 1e-8, multiplied into every
 * channel of the network input `input` (in_ch x size x size), the logit of
 * `cls` of that masked input; the weights are the softmax of those c logits,
 * written to weights (c doubles). Runs c forward passes of n (overwriting its
 * kept activations and logits). OUT_OF_MEMORY / BACKEND with the message in e. */
covidcam_status cc_scorecam_weights(cc_net *n, const float *input, const float *a, int c, int h,
                                    int w, int cls, double *weights, cc_err *e);

#endif
