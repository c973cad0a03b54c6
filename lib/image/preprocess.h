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
