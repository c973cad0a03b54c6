/* DICOM decoding to 8-bit gray (radiograph rules, docs/preprocessing.md), on
 * DCMTK. C interface to a C++ implementation (lib/io/dicom_io.cpp): nothing C++
 * crosses it, every C++ exception is caught inside.
 *
 * cc_dicom_sniff (lib/io/dicom_sniff.c) is always built. cc_dicom_decode_gray
 * exists only when DCMTK was found (meson feature option `dicom`): the build's
 * covidcam_config.h then defines COVIDCAM_HAVE_DICOM to 1, else to 0, and
 * callers guard their calls with `#if COVIDCAM_HAVE_DICOM`. */
#ifndef COVIDCAM_DICOM_IO_H
#define COVIDCAM_DICOM_IO_H

#include <stddef.h>

/* error.h and png_io.h are C headers without linkage guards: included here
 * inside the block, their functions keep C linkage in lib/io/dicom_io.cpp too. */
#ifdef __cplusplus
extern "C" {
#endif

#include "error.h"  /* cc_err, covidcam_status, cc_fail */
#include "png_io.h" /* cc_image: 8-bit gray, rows packed, owns pixels */

/* What the DICOM file said about itself, for covidcam_image_info. Strings are
 * NUL-terminated, trimmed of DICOM padding, "" when absent, and contain only
 * printable ASCII (anything else replaced with '?'). */
typedef struct cc_dicom_meta {
    char transfer_syntax[65]; /* UID, e.g. "1.2.840.10008.1.2.1" */
    char photometric[17];     /* "MONOCHROME1", "MONOCHROME2", "RGB", ... as stored */
    char modality[17];        /* (0008,0060) */
    char view_position[17];   /* (0018,5101) */
    char body_part[17];       /* (0018,0015) */
    int bits_stored;          /* (0028,0101) */
    int samples_per_pixel;    /* (0028,0002) */
    int is_signed;            /* PixelRepresentation == 1 */
    int frames;               /* NumberOfFrames (1 when absent) */
    int window_source;        /* CC_DICOM_WINDOW_* below */
    double window_center;     /* the window used, in modality (rescaled) units */
    double window_width;
    double rescale_slope, rescale_intercept;
} cc_dicom_meta;

enum {
    CC_DICOM_WINDOW_FILE = 1,    /* first WindowCenter/Width of the file */
    CC_DICOM_WINDOW_VOI_LUT = 2, /* a VOI LUT sequence */
    CC_DICOM_WINDOW_RANGE = 3    /* none in the file: full range of the stored bits */
};

/* Nonzero when the bytes look like DICOM. The rule (docs/preprocessing.md):
 *   - "DICM" at offset 128 (a Part 10 file with its 128-byte preamble), or
 *   - no preamble: the first element is (0002,eeee) or (0008,eeee) little
 *     endian with eeee <= 0x0020, followed either by a known two-letter
 *     explicit VR or by a 4-byte implicit-VR length that fits in `len`.
 * Reads at most the first 132 bytes; never fails. `buf` may be NULL when
 * `len` is 0. Thread-safe. */
int cc_dicom_sniff(const void *buf, size_t len);

/* Nonzero when `a b` is one of the 34 two-letter value representations of
 * DICOM PS3.5 (2023), e.g. 'U' 'S'. */
int cc_dicom_is_vr(unsigned char a, unsigned char b);

/* Decode the first frame of a DICOM held in memory to 8-bit gray with the
 * radiograph rules (modality LUT, VOI LUT or first window or full stored
 * range, MONOCHROME1 inverted, signed, 1-16 bits stored, RGB -> gray; the
 * exact mapping is in docs/preprocessing.md). `buf` is only read during the
 * call. `meta` (may be NULL) is filled on success.
 * Errors: BAD_FORMAT (not DICOM / corrupt / truncated / no pixel data, message
 * says which), UNSUPPORTED (transfer syntax the toolkit cannot decode, naming
 * it, or a pixel layout outside the rules), LIMIT (dimensions or pixel count
 * over COVIDCAM_MAX_IMAGE_DIM / COVIDCAM_MAX_IMAGE_PIXELS, checked before pixel
 * memory is allocated), OUT_OF_MEMORY. On failure *out is untouched and the
 * message in `e` names the culprit (tag, transfer syntax, value).
 * On success *out owns malloc'd pixels (free with cc_image_free).
 * Thread-safe: concurrent calls share only DCMTK's codec registry and data
 * dictionary, which are set up once and then only read. */
covidcam_status cc_dicom_decode_gray(const void *buf, size_t len, cc_image *out,
                                     cc_dicom_meta *meta, cc_err *e);

#ifdef __cplusplus
}
#endif

#endif
