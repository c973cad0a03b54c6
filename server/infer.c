#include "infer.h"

#include <stdio.h>
#include <string.h>

/* What the library decodes (it recognises the format from the bytes). */
const char *const infer_media_types[] = {"image/png", "image/jpeg", "application/dicom", NULL};

int infer_accepts(const char *type)
{
    if (!strcmp(type, "application/octet-stream"))
        return 1;
    for (int i = 0; infer_media_types[i]; i++)
        if (!strcmp(type, infer_media_types[i]))
            return 1;
    return 0;
}

void infer_media_list(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; infer_media_types[i]; i++) {
        int k = snprintf(buf + used, size - used, "%s, ", infer_media_types[i]);
        if (k < 0 || (size_t)k >= size - used)
            return;
        used += (size_t)k;
    }
    snprintf(buf + used, size - used, "application/octet-stream, multipart/form-data");
}

covidcam_status infer_classify(covidcam_session *s, const void *body, size_t n, float *probs,
                               float *logits, size_t capacity, int *top,
                               covidcam_image_info *info, covidcam_assessment *assessment)
{
    covidcam_status rc = covidcam_classify_image(s, body, n, probs, logits, capacity, top);
    if (rc == COVIDCAM_OK) {
        covidcam_session_image_info(s, info);
        covidcam_session_assessment(s, assessment);
    }
    return rc;
}

covidcam_status infer_gradcam(covidcam_session *s, const void *body, size_t n,
                              const covidcam_gradcam_options *opt, covidcam_heatmap **out)
{
    return covidcam_gradcam_image(s, body, n, opt, out);
}
