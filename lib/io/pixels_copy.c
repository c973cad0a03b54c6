#include "pixels_copy.h"

#include <stdlib.h>
#include <string.h>

covidcam_status cc_image_copy_pixels(const uint8_t *pixels, int width, int height,
                                     size_t stride, cc_image *out, cc_err *e)
{
    size_t w = (size_t)width;
    uint8_t *copy = malloc(w * (size_t)height);
    if (!copy)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for a %dx%d image copy",
                       width, height);
    for (int y = 0; y < height; y++)
        memcpy(copy + (size_t)y * w, pixels + (size_t)y * stride, w);
    out->width = width;
    out->height = height;
    out->pixels = copy;
    return COVIDCAM_OK;
}
