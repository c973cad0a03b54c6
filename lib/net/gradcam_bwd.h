/* Activations and gradients of a residual block's output, for Grad-CAM. */
#ifndef COVIDCAM_GRADCAM_BWD_H
#define COVIDCAM_GRADCAM_BWD_H

#include "resnet.h"

/* After cc_net_forward(n, input, target, e): write the output of block
 * `target` as plain C x h x w floats to `act`. */
covidcam_status cc_net_activation(cc_net *n, int target, float *act, cc_err *e);

/* After cc_net_forward(n, input, target, e): d logit[cls] / d out(target) as
 * plain C x h x w floats in `grad`, by backward-data primitives from the fc
 * through global average pooling and every later block (ReLU masks, the
 * convolutions with folded BN, the shortcut and the residual sum). */
covidcam_status cc_net_gradient(cc_net *n, int target, int cls, float *grad, cc_err *e);

#endif
