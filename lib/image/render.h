/* Rendering heatmaps: the jet colormap and pytorch-grad-cam's show_cam_on_image. */
#ifndef COVIDCAM_RENDER_H
#define COVIDCAM_RENDER_H

#include <stddef.h>
#include <stdint.h>

/* Map values in [0,1] (clamped) to RGB with OpenCV's COLORMAP_JET, as
 * cv2.applyColorMap(np.uint8(255 * map), cv2.COLORMAP_JET) followed by BGR->RGB:
 * the value is first quantised to uint8 by truncation of the float product
 * 255*v (NaN counts as 0).
 * Writes 3*n bytes to rgb. */
void cc_colormap_jet(const float *map, size_t n, uint8_t *rgb);

/* pytorch-grad-cam show_cam_on_image(img/255, mask, use_rgb=True, image_weight=w):
 *   heat = jet(mask) / 255; cam = (1 - w) * heat + w * gray/255 (gray replicated to
 *   RGB); cam = cam / max(cam); out = uint8(255 * cam) (truncation).
 * `gray` and `map` are n values each (same size); writes 3*n bytes to rgb.
 * Every step is float32 in numpy's order, so the result is bit-identical. The
 * map is clamped as in cc_colormap_jet, w is clamped to [0, 1], and an all-zero
 * cam (w = 1 on a black image) gives black instead of numpy's division by 0. */
void cc_overlay(const uint8_t *gray, const float *map, size_t n, float image_weight,
                uint8_t *rgb);

#endif
