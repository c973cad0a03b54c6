/* The memory a Grad-CAM call adds to a session: checked against
 * COVIDCAM_MAX_SESSION_BYTES before anything is allocated, and the largest
 * part (the gradient buffers) released after the call. */
#ifndef COVIDCAM_GRADCAM_MEM_H
#define COVIDCAM_GRADCAM_MEM_H

#include "resnet.h"

/* Number of activation-sized gradient buffers the backward pass uses. */
#define CC_GRAD_BUFFERS 5

/* Bytes of the largest activation of any block (input, output or inner),
 * the size of each gradient buffer. */
size_t cc_net_max_activation_bytes(const cc_net *n);

/* Bytes the session holds for the forward pass: every activation buffer and
 * the scratchpad as it is now. */
size_t cc_net_forward_bytes(const cc_net *n);

/* Bytes a Grad-CAM at block `target` adds on top: the plain activation and
 * gradient of the target and the map accumulator, and unless the closed form
 * applies (last block, !general) the gradient buffers and the backward-layout
 * copies of the weights of every later block not made yet (counted at their
 * forward size, an upper bound). */
size_t cc_gradcam_extra_bytes(const cc_net *n, int target, int general);

/* LIMIT, naming the layer and the sizes, if forward + extra bytes exceed
 * COVIDCAM_MAX_SESSION_BYTES. */
covidcam_status cc_gradcam_check_memory(const cc_net *n, int target, int general, cc_err *e);

/* Free the gradient buffers after a call (they are recreated, zeroed, by the
 * next backward pass). The backward primitives and weight copies stay: they
 * are bounded by the model's weights, counted by the check above, and making
 * them again would cost a weight reorder per call. */
void cc_net_release_gradients(cc_net *n);

#endif
