/* Heatmap accessors and rendering (resize, jet colormap, overlay, PNG). */
#include "heatmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_info.h"
#include "legend.h"
#include "preprocess.h"
#include "render.h"

void covidcam_heatmap_free(covidcam_heatmap *h)
{
    if (!h)
        return;
    free(h->raw);
    free(h->map);
    free(h->probs);
    free(h->logits);
    cc_image_free(&h->image);
    free(h);
}

int covidcam_heatmap_raw_width(const covidcam_heatmap *h)
{
    return h ? h->raw_w : 0;
}

int covidcam_heatmap_raw_height(const covidcam_heatmap *h)
{
    return h ? h->raw_h : 0;
}

const float *covidcam_heatmap_raw(const covidcam_heatmap *h)
{
    return h ? h->raw : NULL;
}

int covidcam_heatmap_size(const covidcam_heatmap *h)
{
    return h ? h->size : 0;
}

const float *covidcam_heatmap_data(const covidcam_heatmap *h)
{
    return h ? h->map : NULL;
}

int covidcam_heatmap_class(const covidcam_heatmap *h)
{
    return h ? h->cls : -1;
}

float covidcam_heatmap_probability(const covidcam_heatmap *h)
{
    return h ? h->prob : 0.0f;
}

const char *covidcam_heatmap_layer(const covidcam_heatmap *h)
{
    return h ? h->layer : NULL;
}

covidcam_cam_method covidcam_heatmap_method(const covidcam_heatmap *h)
{
    return h ? h->method : COVIDCAM_CAM_GRADCAM;
}

int covidcam_heatmap_eigen_smooth(const covidcam_heatmap *h)
{
    return h ? h->eigen_smooth : 0;
}

covidcam_aug_smooth covidcam_heatmap_aug_smooth(const covidcam_heatmap *h)
{
    return h ? h->aug_smooth : COVIDCAM_AUG_NONE;
}

int covidcam_heatmap_num_classes(const covidcam_heatmap *h)
{
    return h ? h->num_classes : 0;
}

const float *covidcam_heatmap_probabilities(const covidcam_heatmap *h)
{
    return h ? h->probs : NULL;
}

const float *covidcam_heatmap_logits(const covidcam_heatmap *h)
{
    return h ? h->logits : NULL;
}

int covidcam_heatmap_top_class(const covidcam_heatmap *h)
{
    return h ? h->top : -1;
}

int covidcam_heatmap_image_width(const covidcam_heatmap *h)
{
    return h ? h->image.width : 0;
}

int covidcam_heatmap_image_height(const covidcam_heatmap *h)
{
    return h ? h->image.height : 0;
}

/* The output geometry check every renderer shares; names the culprit. */
static covidcam_status check_size(int width, int height, cc_err *e)
{
    if (width <= 0 || height <= 0)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "output size %d x %d: width and height must be positive", width, height);
    if ((unsigned)width > COVIDCAM_MAX_IMAGE_DIM || (unsigned)height > COVIDCAM_MAX_IMAGE_DIM ||
        (uint64_t)width * (uint64_t)height > COVIDCAM_MAX_IMAGE_PIXELS)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "output size %d x %d is over the limits (%u per side, %llu pixels)", width,
                       height, (unsigned)COVIDCAM_MAX_IMAGE_DIM,
                       (unsigned long long)COVIDCAM_MAX_IMAGE_PIXELS);
    return COVIDCAM_OK;
}

/* NULL heatmap or output buffer: the first check of every renderer. */
static covidcam_status check_args(const covidcam_heatmap *h, const void *out, const char *out_name,
                                  cc_err *e)
{
    if (!h)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "heatmap must not be NULL");
    if (!out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "%s must not be NULL", out_name);
    return COVIDCAM_OK;
}

/* [start, start + len) of an axis of n samples, scaled to an axis of m and
 * rounded, kept at least one sample wide inside [0, m). */
static void scaled_span(int start, int len, int n, int m, int *lo, int *hi)
{
    int a = (int)((double)start * m / n + 0.5), b = (int)((double)(start + len) * m / n + 0.5);
    if (a > m - 1)
        a = m - 1;
    if (b <= a)
        b = a + 1;
    *lo = a;
    *hi = b > m ? m : b;
}

/* The normalised map drawn back onto the source image's frame at width x
 * height: the inverse of the model's resize mode. Under center_crop the map
 * covers the cropped square and is 0 outside it; under pad the part of the map
 * the image filled is stretched over the frame. Tensor input has no frame. */
static void map_in_frame(const covidcam_heatmap *h, int width, int height, float *out)
{
    int iw = h->info.width, ih = h->info.height, s = h->size;
    if (h->resize == CC_RESIZE_STRETCH || h->info.format == COVIDCAM_FORMAT_TENSOR || iw <= 0 ||
        ih <= 0) {
        cc_resize_f32(h->map, s, s, out, width, height);
        return;
    }
    cc_fit f;
    cc_fit_plan((cc_resize_mode)h->resize, iw, ih, s, &f);
    if (h->resize == CC_RESIZE_PAD) {
        cc_resize_f32_rect(h->map + (size_t)f.dy * s + f.dx, f.dw, f.dh, (size_t)s, out, width,
                           height, (size_t)width);
        return;
    }
    int x0, x1, y0, y1;
    scaled_span(f.sx, f.sw, iw, width, &x0, &x1);
    scaled_span(f.sy, f.sh, ih, height, &y0, &y1);
    for (size_t i = 0; i < (size_t)width * height; i++)
        out[i] = 0.0f;
    cc_resize_f32_rect(h->map, s, s, (size_t)s, out + (size_t)y0 * width + x0, x1 - x0, y1 - y0,
                       (size_t)width);
}

static covidcam_status heatmap_resize(const covidcam_heatmap *h, int width, int height,
                                      float *out, cc_err *e)
{
    covidcam_status rc = check_args(h, out, "out", e);
    if (!rc)
        rc = check_size(width, height, e);
    if (rc)
        return rc;
    map_in_frame(h, width, height, out);
    return COVIDCAM_OK;
}

static float *resized(const covidcam_heatmap *h, int width, int height)
{
    float *m = malloc((size_t)width * (size_t)height * sizeof *m);
    if (m)
        map_in_frame(h, width, height, m);
    return m;
}

static covidcam_status heatmap_colormap(const covidcam_heatmap *h, int width, int height,
                                        uint8_t *rgb, cc_err *e)
{
    covidcam_status rc = check_args(h, rgb, "rgb", e);
    if (!rc)
        rc = check_size(width, height, e);
    if (rc)
        return rc;
    float *m = resized(h, width, height);
    if (!m)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for a %d x %d map", width,
                       height);
    cc_colormap_jet(m, (size_t)width * (size_t)height, rgb);
    free(m);
    return COVIDCAM_OK;
}

static covidcam_status overlay_args(const covidcam_heatmap *h, const uint8_t *gray, int width,
                                    int height, size_t stride, float image_weight,
                                    const uint8_t *rgb, cc_err *e)
{
    covidcam_status rc = check_args(h, rgb, "rgb", e);
    if (!rc)
        rc = check_args(h, gray, "gray", e);
    if (!rc)
        rc = check_size(width, height, e);
    if (rc)
        return rc;
    if (!cc_pixels_fit(width, height, stride))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "stride %zu is smaller than the width %d or the rows overflow", stride,
                       width);
    if (!(image_weight >= 0.0f && image_weight <= 1.0f))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "image_weight %g is not in [0, 1]",
                       (double)image_weight);
    return COVIDCAM_OK;
}

static covidcam_status heatmap_overlay(const covidcam_heatmap *h, const uint8_t *gray, int width,
                                       int height, size_t stride, float image_weight,
                                       uint8_t *rgb, cc_err *e)
{
    covidcam_status rc = overlay_args(h, gray, width, height, stride, image_weight, rgb, e);
    if (rc)
        return rc;
    size_t n = (size_t)width * (size_t)height;
    float *m = resized(h, width, height);
    uint8_t *packed = stride == (size_t)width ? NULL : malloc(n);
    if (!m || (stride != (size_t)width && !packed)) {
        free(m);
        free(packed);
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for a %d x %d overlay",
                       width, height);
    }
    if (packed)
        for (int y = 0; y < height; y++)
            memcpy(packed + (size_t)y * (size_t)width, gray + (size_t)y * stride, (size_t)width);
    cc_overlay(packed ? packed : gray, m, n, image_weight, rgb);
    free(m);
    free(packed);
    return COVIDCAM_OK;
}

covidcam_status covidcam_heatmap_resize(const covidcam_heatmap *h, int width, int height,
                                        float *out)
{
    return heatmap_resize(h, width, height, out, NULL);
}

covidcam_status covidcam_heatmap_colormap(const covidcam_heatmap *h, int width, int height,
                                          uint8_t *rgb)
{
    return heatmap_colormap(h, width, height, rgb, NULL);
}

covidcam_status covidcam_heatmap_overlay(const covidcam_heatmap *h, const uint8_t *gray,
                                         int width, int height, size_t stride, float image_weight,
                                         uint8_t *rgb)
{
    return heatmap_overlay(h, gray, width, height, stride, image_weight, rgb, NULL);
}

covidcam_status covidcam_heatmap_resize_errbuf(const covidcam_heatmap *h, int width, int height,
                                               float *out, char *errbuf, size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc = heatmap_resize(h, width, height, out, &e);
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}

covidcam_status covidcam_heatmap_colormap_errbuf(const covidcam_heatmap *h, int width, int height,
                                                 uint8_t *rgb, char *errbuf, size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc = heatmap_colormap(h, width, height, rgb, &e);
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}

covidcam_status covidcam_heatmap_overlay_errbuf(const covidcam_heatmap *h, const uint8_t *gray,
                                                int width, int height, size_t stride,
                                                float image_weight, uint8_t *rgb, char *errbuf,
                                                size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc = heatmap_overlay(h, gray, width, height, stride, image_weight, rgb, &e);
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}

/* Render at w x ht (the overlay when `overlay`, else the colormap alone) and
 * write an RGB PNG; the one place both writers allocate and report. */
static covidcam_status write_rgb(const covidcam_heatmap *h, const char *path, int w, int ht,
                                 int overlay, float image_weight, const char *label, cc_err *e)
{
    uint8_t *rgb = malloc((size_t)w * (size_t)ht * 3);
    if (!rgb)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for a %dx%d image", w, ht);
    covidcam_status rc =
        overlay ? heatmap_overlay(h, h->image.pixels, w, ht, (size_t)w, image_weight, rgb, e)
                : heatmap_colormap(h, w, ht, rgb, e);
    if (rc)
        cc_err_prefix(e, "cannot render the %s", overlay ? "overlay" : "colormap");
    else {
        if (label)
            cc_legend_draw(rgb, w, ht, label);
        rc = cc_png_write_file(path, rgb, w, ht, 3, e);
    }
    free(rgb);
    return rc;
}

/* The overlay PNG at the original size, with the legend `label` if not NULL. */
static covidcam_status write_overlay(const covidcam_heatmap *h, const char *path,
                                     float image_weight, const char *label, cc_err *e)
{
    if (!h || !path)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "heatmap and path must not be NULL");
    if (!h->image.pixels)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "this heatmap came from a tensor and has no image; use "
                       "covidcam_heatmap_overlay() with your own pixels");
    if (!(image_weight >= 0.0f && image_weight <= 1.0f))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "image_weight must be in [0, 1]");
    return write_rgb(h, path, h->image.width, h->image.height, 1, image_weight, label, e);
}

covidcam_status covidcam_heatmap_write_overlay(const covidcam_heatmap *h, const char *path,
                                               float image_weight, char *errbuf,
                                               size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc = write_overlay(h, path, image_weight, NULL, &e);
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}

covidcam_status covidcam_heatmap_write_labelled_overlay(const covidcam_heatmap *h,
                                                        const char *path, float image_weight,
                                                        const char *label, char *errbuf,
                                                        size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc = label ? write_overlay(h, path, image_weight, label, &e)
                               : cc_fail(&e, COVIDCAM_ERR_INVALID_ARGUMENT,
                                         "label must not be NULL");
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}

covidcam_status covidcam_heatmap_write_colormap(const covidcam_heatmap *h, const char *path,
                                                char *errbuf, size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc;
    if (!h || !path)
        rc = cc_fail(&e, COVIDCAM_ERR_INVALID_ARGUMENT, "heatmap and path must not be NULL");
    else if (h->image.pixels)
        rc = write_rgb(h, path, h->image.width, h->image.height, 0, 0.0f, NULL, &e);
    else
        rc = write_rgb(h, path, h->size, h->size, 0, 0.0f, NULL, &e);
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}

covidcam_status covidcam_heatmap_image_info(const covidcam_heatmap *h, covidcam_image_info *info)
{
    if (!h)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    return cc_info_export(&h->info, info, NULL);
}

covidcam_status covidcam_draw_legend(uint8_t *rgb, int width, int height, const char *text,
                                     char *errbuf, size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc = check_size(width, height, &e);
    if (rc == COVIDCAM_OK && (!rgb || !text))
        rc = cc_fail(&e, COVIDCAM_ERR_INVALID_ARGUMENT, "%s must not be NULL",
                     !rgb ? "rgb" : "text");
    if (rc == COVIDCAM_OK)
        cc_legend_draw(rgb, width, height, text);
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}

covidcam_status covidcam_heatmap_label(const covidcam_heatmap *h, const covidcam_model *m,
                                       char *buf, size_t size)
{
    static const char *const aug[] = {"", " aug", " aug+flip"};
    if (!h || !m || !buf || !size)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    if (covidcam_model_num_classes(m) != h->num_classes) {
        buf[0] = '\0';
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    }
    snprintf(buf, size, "%s %.1f%% | %s %s%s%s", covidcam_model_class_name(m, h->cls),
             100.0 * h->prob, covidcam_cam_method_name(h->method), h->layer,
             h->eigen_smooth ? " eigen" : "", aug[h->aug_smooth]);
    return COVIDCAM_OK;
}
