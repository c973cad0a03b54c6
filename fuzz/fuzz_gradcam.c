/* libFuzzer harness: the Grad-CAM path with fuzzer-chosen options.
 *
 * Input layout (bytes, missing ones read as 0):
 *   0     method (the values covidcam_cam_method_name knows are valid, 0-7 in
 *         0.4; anything else must be refused); bit 7 of byte 3 turns on
 *         eigen_smooth and bits 5-6 pick aug_smooth (3 must be refused)
 *   1     layer: k < num_layers picks layer k; 250-255 pick NULL, "", an
 *         unknown name, a stage past the last, a long name, "layer1."
 *   2     target class as int8 (-1 = top class; out of range must be refused)
 *   3     source: bit 0 clear = PNG bytes, set = raw gray pixels
 *   4-5   width of the raw pixels (0 = square-ish from the length)
 *   6-7   size (w, h) of the resize/colormap/overlay renders, 1..64
 *   8-    PNG bytes or pixels
 * A successful map must satisfy the documented invariants. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *pick_layer(const covidcam_model *m, uint8_t k, char *buf, size_t len)
{
    int nl = covidcam_model_num_layers(m);
    if (k < nl)
        return covidcam_model_layer_name(m, k);
    switch (k % 6) {
    case 0: return NULL;
    case 1: return "";
    case 2: return "layer9.9";
    case 3: snprintf(buf, len, "layer%d", 5); return buf; /* there are at most 4 stages */
    case 4: memset(buf, 'x', len - 1); buf[len - 1] = '\0'; return buf;
    default: return "layer1.";
    }
}

static void check_map(const covidcam_heatmap *h, const covidcam_gradcam_options *o, int nc)
{
    int rw = covidcam_heatmap_raw_width(h), rh = covidcam_heatmap_raw_height(h);
    int s = covidcam_heatmap_size(h);
    const float *raw = covidcam_heatmap_raw(h), *map = covidcam_heatmap_data(h);
    fz_check(rw > 0 && rh > 0 && s == covidcam_model_input_size(fz_model()), "map sizes");
    for (int i = 0; i < rw * rh; i++)
        fz_check(raw[i] >= 0 && isfinite(raw[i]), "raw map is relu'd and finite");
    for (int i = 0; i < s * s; i++)
        fz_check(map[i] >= 0 && map[i] <= 1, "normalised map in [0, 1]");
    int cls = covidcam_heatmap_class(h);
    fz_check(o->target_class < 0 ? cls == covidcam_heatmap_top_class(h) : cls == o->target_class,
             "explained class");
    fz_check(covidcam_heatmap_method(h) == o->method, "method");
    fz_check_classification(covidcam_heatmap_probabilities(h), covidcam_heatmap_logits(h), nc,
                            covidcam_heatmap_top_class(h));
}

static void render(const covidcam_heatmap *h, fz_reader *r)
{
    int w = 1 + fz_u8(r) % 64, ht = 1 + fz_u8(r) % 64;
    float out[64 * 64];
    uint8_t rgb[3 * 64 * 64], gray[64 * 64];
    memset(gray, 77, sizeof gray);
    fz_check(covidcam_heatmap_resize(h, w, ht, out) == COVIDCAM_OK, "resize");
    for (int i = 0; i < w * ht; i++)
        fz_check(out[i] >= 0 && out[i] <= 1, "resized map in [0, 1]");
    fz_check(covidcam_heatmap_colormap(h, w, ht, rgb) == COVIDCAM_OK, "colormap");
    fz_check(covidcam_heatmap_overlay(h, gray, w, ht, 64, 0.5f, rgb) == COVIDCAM_OK, "overlay");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const covidcam_model *m = fz_model();
    covidcam_session *s = fz_session();
    fz_reader r = {data, size};
    covidcam_gradcam_options o;
    covidcam_gradcam_options_init(&o);
    char name[40];
    o.method = (covidcam_cam_method)fz_u8(&r);
    uint8_t lk = fz_u8(&r);
    o.layer = pick_layer(m, lk, name, sizeof name);
    o.target_class = (int8_t)fz_u8(&r);
    uint8_t src = fz_u8(&r);
    int raw = src & 1;
    o.eigen_smooth = src >> 7;
    o.aug_smooth = (covidcam_aug_smooth)((src >> 5) & 3);
    int width = fz_u16(&r);
    fz_reader sizes = {r.p, r.n >= 2 ? 2 : r.n};
    fz_u16(&r);
    covidcam_heatmap *h = NULL;
    covidcam_status st;
    int height = 0;
    if (raw) {
        if (!width)
            width = (int)sqrt((double)r.n) + 1;
        height = r.n ? (int)(r.n / (size_t)width) : 0;
        st = covidcam_gradcam_pixels(s, r.p, width, height, (size_t)width, &o, &h);
    } else {
        st = covidcam_gradcam_png(s, r.p, r.n, &o, &h);
    }
    int nc = covidcam_model_num_classes(m);
    int known_layer = lk < covidcam_model_num_layers(m) || lk % 6 < 2;
    int valid = covidcam_cam_method_name(o.method) != NULL && o.aug_smooth <= COVIDCAM_AUG_FLIP &&
                o.target_class >= -1 && o.target_class < nc && known_layer;
    if (!valid)
        fz_check(st == COVIDCAM_ERR_INVALID_ARGUMENT, "bad options refused");
    if (st != COVIDCAM_OK) {
        fz_check(h == NULL, "out-parameter untouched on failure");
        return 0;
    }
    check_map(h, &o, nc);
    if (raw)
        fz_check(covidcam_heatmap_image_width(h) == width &&
                     covidcam_heatmap_image_height(h) == height,
                 "a pixel heatmap keeps its image");
    render(h, &sizes);
    covidcam_heatmap_free(h);
    return 0;
}
