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

#endif
