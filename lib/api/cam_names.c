/* covidcam_cam_method_name / _parse: the one table of method names the
 * command-line tools, the server and the bindings use. */
#include <string.h>

#include "covidcam.h"

static const char *const names[] = {
    [COVIDCAM_CAM_GRADCAM] = "gradcam",   [COVIDCAM_CAM_GRADCAMPP] = "gradcam++",
    [COVIDCAM_CAM_LAYERCAM] = "layercam", [COVIDCAM_CAM_HIRESCAM] = "hirescam",
    [COVIDCAM_CAM_XGRADCAM] = "xgradcam", [COVIDCAM_CAM_EIGENCAM] = "eigencam",
    [COVIDCAM_CAM_EIGENGRADCAM] = "eigengradcam", [COVIDCAM_CAM_SCORECAM] = "scorecam",
};

const char *covidcam_cam_method_name(covidcam_cam_method method)
{
    if ((int)method < 0 || (size_t)method >= sizeof names / sizeof *names)
        return NULL;
    return names[method];
}

covidcam_status covidcam_cam_method_parse(const char *name, covidcam_cam_method *method)
{
    if (!name || !method)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    if (!strcmp(name, "gradcampp")) {
        *method = COVIDCAM_CAM_GRADCAMPP;
        return COVIDCAM_OK;
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(name, names[i])) {
            *method = (covidcam_cam_method)i;
            return COVIDCAM_OK;
        }
    return COVIDCAM_ERR_INVALID_ARGUMENT;
}
