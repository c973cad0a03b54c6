/* A packed copy of caller pixels, so that heatmaps of pixel input keep their
 * image as heatmaps of decoded PNGs do. */
#ifndef COVIDCAM_PIXELS_COPY_H
#define COVIDCAM_PIXELS_COPY_H

#include "error.h"
#include "png_io.h"

/* Copy `height` rows of `width` bytes, `stride` apart (geometry already
 * validated), into a new packed image *out (caller frees with cc_image_free).
 * OUT_OF_MEMORY leaves *out untouched. */
covidcam_status cc_image_copy_pixels(const uint8_t *pixels, int width, int height,
                                     size_t stride, cc_image *out, cc_err *e);

#endif
