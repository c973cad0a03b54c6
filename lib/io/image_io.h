/* The image-format layer: recognise PNG / JPEG / DICOM from the first bytes,
 * refuse anything else by name, and decode to 8-bit gray with a description of
 * the input (covidcam_image_info). */
#ifndef COVIDCAM_IMAGE_IO_H
#define COVIDCAM_IMAGE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "png_io.h" /* cc_image */

/* Bytes the sniffer needs to see ("DICM" ends at offset 132). */
#define CC_SNIFF_BYTES 256

/* Largest image file read into memory (COVIDCAM_ERR_LIMIT above). A maximal
 * uncompressed 16-bit DICOM or PNG is about 512 MiB. */
#define CC_MAX_IMAGE_FILE_BYTES ((size_t)1 << 30)

/* The format of the `len` bytes at `buf` (only the first CC_SNIFF_BYTES are
 * looked at): PNG, JPEG or DICOM; otherwise COVIDCAM_FORMAT_NONE with
 * *looks_like (may be NULL) set to the name of a recognised unsupported format
 * ("GIF", "TIFF", "PDF"...) or NULL when nothing is recognised. */
covidcam_image_format cc_image_sniff(const uint8_t *buf, size_t len, const char **looks_like);

/* COVIDCAM_OK if cc_image_sniff() accepts the bytes; otherwise UNSUPPORTED
 * naming the format they look like, or BAD_FORMAT quoting the first bytes. */
covidcam_status cc_image_check_format(const uint8_t *buf, size_t len, cc_err *e);

/* Decode PNG, JPEG or DICOM to 8-bit gray. On success fills *out (caller frees
 * with cc_image_free) and *info (may be NULL); on failure both are untouched.
 * Errors: those of cc_image_check_format() and of the format's decoder. */
covidcam_status cc_image_decode(const void *buf, size_t len, cc_image *out,
                                covidcam_image_info *info, cc_err *e);

/* The same restricted to PNG (the covidcam_*_png functions). */
covidcam_status cc_image_decode_png(const void *buf, size_t len, cc_image *out,
                                    covidcam_image_info *info, cc_err *e);

/* Read a file with the checks of cc_read_file_checked(): regular files of at
 * most CC_MAX_IMAGE_FILE_BYTES, the format checked on the first bytes before
 * the rest is read; then cc_image_decode(). Messages name the path. */
covidcam_status cc_image_read_file(const char *path, cc_image *out, covidcam_image_info *info,
                                   cc_err *e);

#endif
