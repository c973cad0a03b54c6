/* Filling covidcam_image_info from what each decoder learned. */
#ifndef COVIDCAM_IMAGE_INFO_H
#define COVIDCAM_IMAGE_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "dicom_io.h"
#include "error.h"
#include "jpeg_io.h"

/* The info of a decoded PNG: IHDR bit depth and color type of `png` (already
 * validated by cc_png_decode_gray), size of the decoded image. */
void cc_info_from_png(const uint8_t *png, int width, int height, covidcam_image_info *info);

/* The info of a decoded JPEG. */
void cc_info_from_jpeg(const cc_jpeg_meta *m, int width, int height, covidcam_image_info *info);

/* The info of a decoded DICOM: what cc_dicom_decode_gray reported in `m`, and
 * the size of the image it returned. */
void cc_info_from_dicom(const cc_dicom_meta *m, int width, int height,
                        covidcam_image_info *info);

/* The info of covidcam_*_pixels (8-bit gray) and covidcam_*_tensor input. */
void cc_info_pixels(int width, int height, covidcam_image_info *info);
void cc_info_tensor(int channels, int height, int width, covidcam_image_info *info);

/* INVALID_ARGUMENT for NULL dst or a struct_size that does not cover `format`. */
covidcam_status cc_info_check(const covidcam_image_info *dst, cc_err *e);

/* Copy `src` (a full library-sized struct) into the caller's `dst`, only the
 * dst->struct_size bytes it declares (dst->struct_size itself is kept).
 * Errors of cc_info_check(). */
covidcam_status cc_info_export(const covidcam_image_info *src, covidcam_image_info *dst,
                               cc_err *e);

#endif
