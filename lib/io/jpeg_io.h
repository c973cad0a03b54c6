/* JPEG decoding to 8-bit gray on libjpeg-turbo (the libjpeg API). */
#ifndef COVIDCAM_JPEG_IO_H
#define COVIDCAM_JPEG_IO_H

#include <stddef.h>

#include "error.h"
#include "png_io.h" /* cc_image */

/* A JPEG with more scans than this is refused (COVIDCAM_ERR_LIMIT): each scan
 * of a progressive file costs a pass over the whole coefficient buffer, and the
 * standard allows thousands of tiny legal scans, so a small file could take
 * minutes. libjpeg's and mozjpeg's progressive scripts use at most about 10. */
#define CC_JPEG_MAX_SCANS 64

/* What the JPEG said about itself. */
typedef struct cc_jpeg_meta {
    int width, height;     /* as stored, before the EXIF orientation */
    int components;        /* 1, 3 or 4 */
    int bits;              /* sample precision (8) */
    int progressive;       /* 1 for a progressive (SOF2) file */
    int orientation;       /* EXIF orientation 1..8 applied; 1 without EXIF */
    char photometric[8];   /* "GRAY", "YCbCr", "RGB", "CMYK", "YCCK" */
} cc_jpeg_meta;

/* Decode a JPEG (baseline, extended, progressive, arithmetic, restart markers)
 * to 8-bit gray (docs/preprocessing.md has the rules):
 *   gray: the samples; YCbCr: the Y (luma) channel, ITU-R BT.601 as stored;
 *   RGB: libjpeg's BT.601 luma of R, G, B;
 *   CMYK / YCCK (Adobe inverted when the Adobe marker is present, as Photoshop
 *     writes it): R = (255 - K) - (C (255 - K) / 255) per channel, then
 *     (19595 R + 38470 G + 7471 B + 32768) >> 16, as PIL's convert("L");
 *   then the EXIF orientation (APP1 tag 0x0112) is applied, as a viewer shows it.
 * Refuses before allocating pixel memory dimensions above COVIDCAM_MAX_IMAGE_DIM
 * or COVIDCAM_MAX_IMAGE_PIXELS, and refuses more than CC_JPEG_MAX_SCANS scans
 * (COVIDCAM_ERR_LIMIT). libjpeg's corrupt-data warnings (premature end, bad
 * Huffman code, extraneous bytes, ...) are errors: a damaged radiograph is
 * refused, not decoded with gray fill (COVIDCAM_ERR_BAD_FORMAT). 12-bit and
 * lossless JPEG, and unknown color spaces: COVIDCAM_ERR_UNSUPPORTED.
 * On success fills *out (caller frees with cc_image_free) and *meta (may be
 * NULL); on failure both are untouched. */
covidcam_status cc_jpeg_decode_gray(const void *buf, size_t len, cc_image *out,
                                    cc_jpeg_meta *meta, cc_err *e);

#endif
