/* The JSON of one classification or Grad-CAM result, field for field and
 * number for number what covidcam-classify --json and covidcam-gradcam --json
 * print (the numbers come from examples/cli_util.c's cli_json_float, printed
 * with result_json_dump). Needs only the public API and jansson, so the example
 * programs can share it. */
#ifndef COVIDCAM_SERVER_RESULT_JSON_H
#define COVIDCAM_SERVER_RESULT_JSON_H

#include <jansson.h>

#include "covidcam.h"

/* Method names as the command-line programs and the query parameter spell them. */
const char *result_method_name(covidcam_cam_method m);

/* {"file", "top", "probabilities": {class: p}, "logits": {class: z}, "ms",
 *  "image", "ood", "ood_score", "warnings"}: covidcam-classify's fields. */
json_t *result_json_classify(const covidcam_model *m, const char *file, const float *probs,
                             const float *logits, int top, double ms,
                             const covidcam_image_info *info, const covidcam_assessment *a);

/* {"file", "top", "probabilities", "class", "probability", "method", "layer",
 *  "raw_size": [h, w], "ms", "image", "ood", "ood_score", "warnings"}:
 *  covidcam-gradcam's fields but "outputs". */
json_t *result_json_gradcam(const covidcam_model *m, const char *file,
                            const covidcam_heatmap *h, double ms);

/* Compact, one line, shortest round-tripping floats; the caller frees. NULL on
 * failure (also when obj is NULL). Releases obj. */
char *result_json_dump(json_t *obj);

#endif
