/* Image preprocessing: bilinear resize and per-channel normalization. */
#ifndef COVIDCAM_PREPROCESS_H
#define COVIDCAM_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

/* Bilinear resize of an 8-bit gray image (rows `stride` bytes apart) to a float
 * image dw x dh, with half-pixel centres like OpenCV INTER_LINEAR and PyTorch
 * F.interpolate(mode="bilinear", align_corners=False, antialias=False):
 *   sx = (x + 0.5) * sw / dw - 0.5, clamped below at 0; x0 = floor(sx),
 *   x1 = min(x0 + 1, sw - 1), weights (1 - fx, fx); same for y.
 * Output is not rounded (float in [0, 255]). dw == sw and dh == sh is the identity.
 * Allocates nothing, so it cannot fail. */
void cc_resize_u8_to_f32(const uint8_t *src, int sw, int sh, size_t stride, float *dst, int dw,
                         int dh);

/* The same resize for a float map (rows packed). */
void cc_resize_f32(const float *src, int sw, int sh, float *dst, int dw, int dh);

/* How an image of another shape becomes the square network input (metadata
 * `resize`, docs/preprocessing.md). */
typedef enum cc_resize_mode {
    CC_RESIZE_STRETCH = 0,     /* the whole image to size x size (aspect lost) */
    CC_RESIZE_CENTER_CROP = 1, /* the central min(w, h) square to size x size */
    CC_RESIZE_PAD = 2          /* the whole image, aspect kept, centred on black */
} cc_resize_mode;

/* Where the image goes: source rectangle (sx, sy, sw, sh) of the w x h image
 * to destination rectangle (dx, dy, dw, dh) of the size x size input; the rest
 * of the input is black (value 0, then normalised). */
typedef struct cc_fit {
    int sx, sy, sw, sh;
    int dx, dy, dw, dh;
} cc_fit;

/* The fit of a w x h image into size x size under `mode`: center_crop takes
 * the square of side min(w, h) at ((w - s) / 2, (h - s) / 2); pad scales the
 * longer side to size and the shorter to round(size * shorter / longer) (at
 * least 1), centred at ((size - dw) / 2, (size - dh) / 2). */
void cc_fit_plan(cc_resize_mode mode, int w, int h, int size, cc_fit *f);

/* Bilinear resize (as above) of the sw x sh float map at src (rows src_stride
 * floats apart) into the dw x dh rectangle at dst (rows dst_stride floats apart). */
void cc_resize_f32_rect(const float *src, int sw, int sh, size_t src_stride, float *dst, int dw,
                        int dh, size_t dst_stride);

/* The gray image fitted into size x size under `mode` (0 outside the fitted
 * rectangle), not normalised: what cc_preprocess_gray_mode normalises. */
void cc_resize_fit_u8(const uint8_t *px, int w, int h, size_t stride, int size,
                      cc_resize_mode mode, float *out);

/* cc_preprocess_gray() with a resize mode: the fitted part of the image is
 * resized into its rectangle, the rest is 0 before normalisation. */
void cc_preprocess_gray_mode(const uint8_t *px, int w, int h, size_t stride, int size,
                             cc_resize_mode mode, int channels, const float *mean,
                             const float *std, float *tmp, float *out);

/* Resize gray pixels to size x size, then write `channels` planes of
 * (x - mean[c]) / std[c] to `out` (channels * size * size floats), with x the
 * resized value in 0..255 and mean/std in the same pixel units (as in the model
 * metadata). Gray input is replicated to every channel. `tmp` is size*size
 * floats of scratch. Allocates nothing. */
void cc_preprocess_gray(const uint8_t *px, int w, int h, size_t stride, int size, int channels,
                        const float *mean, const float *std, float *tmp, float *out);

/* 1 if width, height > 0, stride >= width and the last pixel's offset
 * (height - 1) * stride + width fits in size_t. */
int cc_pixels_fit(int width, int height, size_t stride);

#endif
