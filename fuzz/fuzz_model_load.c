/* libFuzzer harness: untrusted model bytes -> covidcam_model_load_from_memory,
 * and for a model that loads: every query, a session, a classification and a
 * Grad-CAM of a fixed input, in fp32 and, for a file with int8 calibration
 * scales, in int8 too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void queries(const covidcam_model *m)
{
    int nc = covidcam_model_num_classes(m);
    fz_check(nc >= 2 && (unsigned)nc <= COVIDCAM_MAX_CLASSES, "class count within limits");
    for (int i = 0; i < nc; i++) {
        const char *name = covidcam_model_class_name(m, i);
        fz_check(name && covidcam_model_class_index(m, name) == i, "class names round-trip");
    }
    fz_check(!covidcam_model_class_name(m, nc), "class index past the end");
    int nl = covidcam_model_num_layers(m);
    for (int i = 0; i < nl; i++)
        fz_check(covidcam_model_layer_name(m, i) != NULL, "layer names");
    int size = covidcam_model_input_size(m);
    fz_check(size >= 8 && (unsigned)size <= COVIDCAM_MAX_INPUT_SIZE, "input size within limits");
    int ch = covidcam_model_input_channels(m);
    fz_check(ch == 1 || ch == 3, "input channels");
    fz_check(covidcam_model_arch(m) && covidcam_model_metadata(m, "format"), "metadata");
}

/* Classify and explain a mid-gray image of the model's own input size in
 * precision p. */
static void run(const covidcam_model *m, covidcam_precision p)
{
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = 1;
    o.precision = p;
    covidcam_session *s = NULL;
    if (covidcam_session_create(m, &o, &s, NULL, 0) != COVIDCAM_OK)
        return; /* e.g. out of memory for a large but valid model */
    int size = covidcam_model_input_size(m), nc = covidcam_model_num_classes(m);
    uint8_t *px = calloc((size_t)size, (size_t)size);
    float *probs = malloc((size_t)nc * sizeof *probs), *logits = malloc((size_t)nc * sizeof *logits);
    int top = -1;
    if (px && probs && logits) {
        memset(px, 128, (size_t)size * (size_t)size);
        covidcam_status st = covidcam_classify_pixels(s, px, size, size, (size_t)size, probs,
                                                      logits, (size_t)nc, &top);
        if (st == COVIDCAM_OK) {
            /* a hostile model (overflowing weights, mean/std) must fail, not answer */
            fz_check_classification(probs, logits, nc, top);
            covidcam_heatmap *h = NULL;
            if (covidcam_gradcam_pixels(s, px, size, size, (size_t)size, NULL, &h) == COVIDCAM_OK) {
                fz_check(covidcam_heatmap_top_class(h) == top, "Grad-CAM agrees with classify");
                fz_check(covidcam_heatmap_image_width(h) == size, "a pixel heatmap keeps its image");
            }
            covidcam_heatmap_free(h);
        } else {
            fz_check(covidcam_session_last_error(s)[0] != '\0', "a failure has a message");
        }
    }
    free(px);
    free(probs);
    free(logits);
    covidcam_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE];
    err[0] = '\0';
    covidcam_status st = covidcam_model_load_from_memory(data, size, &m, err, sizeof err);
    if (st != COVIDCAM_OK) {
        fz_check(m == NULL, "out-parameter untouched on failure");
        fz_check(err[0] != '\0', "a failure has a message");
        return 0;
    }
    queries(m);
    run(m, COVIDCAM_PRECISION_FP32);
    if (covidcam_model_metadata(m, "int8_scales")) /* loaded: the scales passed the checks */
        run(m, COVIDCAM_PRECISION_INT8);
    covidcam_model_free(m);
    return 0;
}
