/* From raw per-layer maps to the normalised map: pytorch-grad-cam's
 * scale_cam_image and aggregate_multi_layers, and the geometry of the views. */
#ifndef COVIDCAM_CAM_SCALE_H
#define COVIDCAM_CAM_SCALE_H

#include <stddef.h>

/* m = (m - min) / (1e-7 + max(m - min)), in place (scale_cam_image). */
void cc_cam_min_max(float *m, size_t n);

/* One layer's contribution at the input size: min-max of raw (h x w), then
 * the half-pixel bilinear resize to size x size (cv2.resize), into out.
 * `tmp` holds h * w floats. Allocation-free. */
void cc_cam_scale_layer(const float *raw, int h, int w, int size, float *tmp, float *out);

/* aggregate_multi_layers before its final scaling: the mean of the relu of
 * the n maps (size x size, one after the other in `per`) into out. */
void cc_cam_mean_relu(const float *per, int n, int size, float *out);

/* Mirror a rows x cols map left-right in place (a view's map back to the
 * input's geometry). */
void cc_cam_flip(float *m, int rows, int cols);

/* torch.nn.UpsamplingBilinear2d (align_corners=True) of one h x w channel to
 * size x size, as ScoreCAM upsamples its masks. Allocation-free. */
void cc_cam_upsample_corners(const float *src, int h, int w, int size, float *dst);

#endif
