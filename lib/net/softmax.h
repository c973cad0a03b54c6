/* From logits to the classification: refuse non-finite logits, argmax and a
 * numerically stable softmax. */
#ifndef COVIDCAM_SOFTMAX_H
#define COVIDCAM_SOFTMAX_H

#include "error.h"

/* Softmax of n logits divided by the temperature t > 0 into probs:
 * max-subtracted, accumulated in double, so any finite logits (even +-3e38)
 * give finite probabilities summing to 1. The logits must be finite (see
 * cc_classify_logits). */
void cc_softmax(const float *logits, int n, double t, float *probs);

/* Check that the n logits are finite, then write the argmax to *top and the
 * softmax at temperature t (the model's calibration, > 0) to probs (either
 * may be NULL). A non-finite logit (the network
 * overflowed float, e.g. with huge but finite fc weights) is BAD_FORMAT with a
 * message naming the class index and value; nothing is written then. */
covidcam_status cc_classify_logits(const float *logits, int n, double t, float *probs, int *top,
                                   cc_err *e);

#endif
