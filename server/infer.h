/* The only place that hands request bodies to the library, and the media types
 * it accepts. When the library decodes more formats from memory, this file is
 * what changes. */
#ifndef COVIDCAM_SERVER_INFER_H
#define COVIDCAM_SERVER_INFER_H

#include <stddef.h>

#include "covidcam.h"

/* Media types of a raw image body; NULL-terminated. Bodies of these types, of
 * application/octet-stream and multipart/form-data file parts are all decoded
 * by sniffing the bytes, so a mislabelled body gets 400, not a wrong answer. */
extern const char *const infer_media_types[];

/* 1 if `type` (lower-case, no parameters) is a raw body the server decodes. */
int infer_accepts(const char *type);

/* Every accepted request Content-Type as one comma-separated list in `buf`
 * (`size` bytes), for error messages and GET /v1/model. */
void infer_media_list(char *buf, size_t size);

/* Classify the image in `n` bytes at `body` (as covidcam_classify_image);
 * on success also what the input was and the trust assessment. */
covidcam_status infer_classify(covidcam_session *s, const void *body, size_t n, float *probs,
                               float *logits, size_t capacity, int *top,
                               covidcam_image_info *info, covidcam_assessment *assessment);

/* Classify and explain it (as covidcam_gradcam_png). */
covidcam_status infer_gradcam(covidcam_session *s, const void *body, size_t n,
                              const covidcam_gradcam_options *opt, covidcam_heatmap **out);

#endif
