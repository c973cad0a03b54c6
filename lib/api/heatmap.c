/* Heatmap accessors and rendering (resize, jet colormap, overlay, PNG). */
#include "heatmap.h"

#include <stdlib.h>
#include <string.h>

#include "image_info.h"
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

static int bad_size(int width, int height)
{
    return width <= 0 || height <= 0 || (unsigned)width > COVIDCAM_MAX_IMAGE_DIM ||
           (unsigned)height > COVIDCAM_MAX_IMAGE_DIM ||
           (uint64_t)width * (uint64_t)height > COVIDCAM_MAX_IMAGE_PIXELS;
}

covidcam_status covidcam_heatmap_resize(const covidcam_heatmap *h, int width, int height,
                                        float *out)
{
    if (!h || !out || bad_size(width, height))
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    cc_resize_f32(h->map, h->size, h->size, out, width, height);
    return COVIDCAM_OK;
}

static float *resized(const covidcam_heatmap *h, int width, int height)
{
    float *m = malloc((size_t)width * (size_t)height * sizeof *m);
    if (m)
        cc_resize_f32(h->map, h->size, h->size, m, width, height);
    return m;
}

covidcam_status covidcam_heatmap_colormap(const covidcam_heatmap *h, int width, int height,
                                          uint8_t *rgb)
{
    if (!h || !rgb || bad_size(width, height))
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    float *m = resized(h, width, height);
    if (!m)
        return COVIDCAM_ERR_OUT_OF_MEMORY;
    cc_colormap_jet(m, (size_t)width * (size_t)height, rgb);
    free(m);
    return COVIDCAM_OK;
}

covidcam_status covidcam_heatmap_overlay(const covidcam_heatmap *h, const uint8_t *gray,
                                         int width, int height, size_t stride, float image_weight,
                                         uint8_t *rgb)
{
    if (!h || !gray || !rgb || bad_size(width, height) || !cc_pixels_fit(width, height, stride) ||
        !(image_weight >= 0.0f && image_weight <= 1.0f))
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    size_t n = (size_t)width * (size_t)height;
    float *m = resized(h, width, height);
    uint8_t *packed = stride == (size_t)width ? NULL : malloc(n);
    if (!m || (stride != (size_t)width && !packed)) {
        free(m);
        free(packed);
        return COVIDCAM_ERR_OUT_OF_MEMORY;
    }
    if (packed)
        for (int y = 0; y < height; y++)
            memcpy(packed + (size_t)y * (size_t)width, gray + (size_t)y * stride, (size_t)width);
    cc_overlay(packed ? packed : gray, m, n, image_weight, rgb);
    free(m);
    free(packed);
    return COVIDCAM_OK;
}

/* Render at w x ht (the overlay when `overlay`, else the colormap alone) and
 * write an RGB PNG; the one place both writers allocate and report. */
static covidcam_status write_rgb(const covidcam_heatmap *h, const char *path, int w, int ht,
                                 int overlay, float image_weight, cc_err *e)
{
    uint8_t *rgb = malloc((size_t)w * (size_t)ht * 3);
    if (!rgb)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for a %dx%d image", w, ht);
    covidcam_status rc =
        overlay ? covidcam_heatmap_overlay(h, h->image.pixels, w, ht, (size_t)w, image_weight, rgb)
                : covidcam_heatmap_colormap(h, w, ht, rgb);
    if (rc)
        cc_fail(e, rc, "cannot render the %s: %s", overlay ? "overlay" : "colormap",
                covidcam_status_string(rc));
    else
        rc = cc_png_write_file(path, rgb, w, ht, 3, e);
    free(rgb);
    return rc;
}

covidcam_status covidcam_heatmap_write_overlay(const covidcam_heatmap *h, const char *path,
                                               float image_weight, char *errbuf,
                                               size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc;
    if (!h || !path)
        rc = cc_fail(&e, COVIDCAM_ERR_INVALID_ARGUMENT, "heatmap and path must not be NULL");
    else if (!h->image.pixels)
        rc = cc_fail(&e, COVIDCAM_ERR_INVALID_ARGUMENT,
                     "this heatmap came from a tensor and has no image; use "
                     "covidcam_heatmap_overlay() with your own pixels");
    else if (!(image_weight >= 0.0f && image_weight <= 1.0f))
        rc = cc_fail(&e, COVIDCAM_ERR_INVALID_ARGUMENT, "image_weight must be in [0, 1]");
    else
        rc = write_rgb(h, path, h->image.width, h->image.height, 1, image_weight, &e);
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
        rc = write_rgb(h, path, h->image.width, h->image.height, 0, 0.0f, &e);
    else
        rc = write_rgb(h, path, h->size, h->size, 0, 0.0f, &e);
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}

covidcam_status covidcam_heatmap_image_info(const covidcam_heatmap *h, covidcam_image_info *info)
{
    if (!h)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    return cc_info_export(&h->info, info, NULL);
}
