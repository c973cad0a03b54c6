/* The first principal component of a layer's (weighted) activations, the map
 * of EigenCAM, EigenGradCAM and eigen_smooth. */
#ifndef COVIDCAM_CAM_PROJECTION_H
#define COVIDCAM_CAM_PROJECTION_H

#include <stddef.h>

#include "error.h"

/* pytorch-grad-cam's get_2d_projection of x (c channels of hw positions,
 * planar): the positions as rows, each channel centred over the positions,
 * projected on the first right singular vector. The sign of a singular vector
 * is arbitrary (pytorch-grad-cam leaves it to LAPACK), so the result is
 * flipped when |min| > |max|, as get_2d_projection_with_sign_correction does.
 * Computed in double through the eigenvector of the smaller Gram matrix
 * (hw x hw or c x c) with LAPACKE_dsyevr. Writes hw floats to `proj`.
 * OUT_OF_MEMORY or BACKEND (LAPACK failed), with the message in e. */
covidcam_status cc_cam_projection(const float *x, int c, size_t hw, float *proj, cc_err *e);

#endif
