/* Query parameters of the API, checked before the body is read so a bad
 * parameter costs no upload. */
#ifndef COVIDCAM_SERVER_PARAMS_H
#define COVIDCAM_SERVER_PARAMS_H

#include <microhttpd.h>
#include <stddef.h>

#include "covidcam.h"

typedef struct gradcam_params {
    covidcam_gradcam_options opt; /* opt.layer points into layer[] */
    char layer[64];
    double alpha;                 /* heatmap opacity in the overlay, 0..1 */
    int label;                    /* draw the legend on the overlay */
} gradcam_params;

/* Accept only the parameter names in the NULL-terminated `allowed`. 0, or -1
 * with a message naming the first other one in msg. */
int params_only(struct MHD_Connection *c, const char *const *allowed, char *msg, size_t size);

/* layer=, class= (name or index), method= (a name covidcam_cam_method_parse
 * knows: gradcam, gradcam++ or gradcampp, layercam, hirescam, xgradcam,
 * eigencam, eigengradcam, scorecam), eigen= and label= (0 or 1),
 * aug= (none, intensity or flip), alpha= in [0, 1]. 0, or -1 with a message naming the culprit. */
int params_gradcam(struct MHD_Connection *c, const covidcam_model *m, gradcam_params *p,
                   char *msg, size_t size);

#endif
