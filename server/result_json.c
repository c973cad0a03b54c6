#include "result_json.h"

#include <stdlib.h>

#include "cli_util.h"

const char *result_method_name(covidcam_cam_method m)
{
    const char *name = covidcam_cam_method_name(m);
    return name ? name : "unknown";
}

/* "ood", "ood_score" and "warnings", as the CLIs print them. */
static json_t *add_trust(json_t *o, const covidcam_image_info *info,
                         const covidcam_assessment *a)
{
    if (o && cli_json_set_trust(o, info, a)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *result_json_classify(const covidcam_model *m, const char *file, const float *probs,
                             const float *logits, int top, double ms,
                             const covidcam_image_info *info, const covidcam_assessment *a)
{
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:f, s:o}", "file", file, "top",
                          covidcam_model_class_name(m, top), "probabilities",
                          cli_json_class_map(m, probs), "logits", cli_json_class_map(m, logits),
                          "ms", ms, "image", cli_json_image_info(info));
    return add_trust(o, info, a);
}

json_t *result_json_gradcam(const covidcam_model *m, const char *file,
                            const covidcam_heatmap *h, double ms)
{
    json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:o, s:s, s:s, s:[i,i], s:f}", "file", file, "top",
                     covidcam_model_class_name(m, covidcam_heatmap_top_class(h)),
                     "probabilities", cli_json_class_map(m, covidcam_heatmap_probabilities(h)),
                     "class", covidcam_model_class_name(m, covidcam_heatmap_class(h)),
                     "probability", cli_json_float(covidcam_heatmap_probability(h)), "method",
                     result_method_name(covidcam_heatmap_method(h)), "layer",
                     covidcam_heatmap_layer(h), "raw_size", covidcam_heatmap_raw_height(h),
                     covidcam_heatmap_raw_width(h), "ms", ms);
    if (o && cli_json_set_smoothing(o, h)) {
        json_decref(o);
        return NULL;
    }
    covidcam_image_info info;
    covidcam_image_info_init(&info);
    if (o && covidcam_heatmap_image_info(h, &info) == COVIDCAM_OK)
        json_object_set_new(o, "image", cli_json_image_info(&info));
    covidcam_assessment a;
    covidcam_assessment_init(&a);
    covidcam_heatmap_assessment(h, &a);
    return add_trust(o, &info, &a);
}

char *result_json_dump(json_t *obj)
{
    if (!obj)
        return NULL;
    /* Precision 9 prints cli_json_float() values in their shortest form. */
    char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(obj);
    return s;
}
