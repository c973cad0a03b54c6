/* Finite checks on float buffers: cheap enough to run on every network input
 * and every set of logits. */
#ifndef COVIDCAM_FINITE_H
#define COVIDCAM_FINITE_H

#include <stddef.h>

#include "error.h"
#include "model.h"

/* Index of the first element of x[0..n) that is NaN or infinite, or n if all
 * are finite. */
size_t cc_first_nonfinite(const float *x, size_t n);

/* "NaN", "+inf" or "-inf" for a non-finite x, "finite" otherwise. */
const char *cc_nonfinite_name(float x);

/* Check the network input `x` (C x S x S, as preprocessing wrote it for model
 * `m`) before a forward pass. A non-finite element can only come from the
 * model's mean/std metadata (8-bit pixels are finite), so it is BAD_FORMAT with
 * a message naming the element, its channel and that channel's mean and std. */
covidcam_status cc_check_input(const covidcam_model *m, const float *x, cc_err *e);

#endif
