/* PNG decoding to 8-bit gray and encoding of gray/RGB images, on libpng. */
#ifndef COVIDCAM_PNG_IO_H
#define COVIDCAM_PNG_IO_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "file_io.h" /* cc_read_file, formerly declared here */

/* An 8-bit gray image, rows packed (stride == width). Owns `pixels` (malloc). */
typedef struct cc_image {
    int width;
    int height;
    uint8_t *pixels;
} cc_image;

/* Release the pixels of `img` (may be NULL) and zero it. */
void cc_image_free(cc_image *img);

/* Decode a PNG of any color type and bit depth (gray, gray+alpha, RGB, RGBA,
 * palette, 1/2/4/8/16-bit, interlaced) to 8-bit gray with libpng's integer
 * arithmetic (docs/preprocessing.md has the table):
 *   gray 1/2/4-bit: v * 255 / (2^d - 1); 16-bit: round(v * 255 / 65535);
 *   RGB 8-bit and palette entries: r if r == g == b, else
 *     (6968 r + 23434 g + 2366 b) >> 15 (truncated);
 *   RGB 16-bit: (6968 r + 23434 g + 2366 b + 16384) >> 15, then scaled to 8 bits;
 *   alpha and tRNS are dropped (not composited).
 * gAMA, sRGB and cHRM chunks are ignored (gamma pinned to 1, fixed weights), so
 * the same samples always give the same gray.
 * Refuses, before allocating pixel memory, width or height above
 * COVIDCAM_MAX_IMAGE_DIM and width*height above COVIDCAM_MAX_IMAGE_PIXELS
 * (COVIDCAM_ERR_LIMIT). Not a PNG / corrupt / truncated / a side of 0:
 * COVIDCAM_ERR_BAD_FORMAT.
 * On success fills *out (caller frees with cc_image_free); on failure *out is
 * untouched. */
covidcam_status cc_png_decode_gray(const void *buf, size_t len, cc_image *out, cc_err *e);

/* Read the file (files above 1 GiB: COVIDCAM_ERR_LIMIT; not starting with the
 * PNG signature: BAD_FORMAT after reading 8 bytes) then cc_png_decode_gray();
 * messages name the path. */
covidcam_status cc_png_read_gray_file(const char *path, cc_image *out, cc_err *e);

/* Write an 8-bit PNG: channels 1 (gray) or 3 (RGB), rows packed, not
 * interlaced. Bad dimensions or channels: COVIDCAM_ERR_INVALID_ARGUMENT; the
 * file cannot be created or written: COVIDCAM_ERR_IO naming the path. */
covidcam_status cc_png_write_file(const char *path, const uint8_t *px, int width, int height,
                                  int channels, cc_err *e);

/* Same, into a malloc'd buffer (*png, *len) the caller frees. */
covidcam_status cc_png_encode(const uint8_t *px, int width, int height, int channels,
                              uint8_t **png, size_t *len, cc_err *e);

#endif
