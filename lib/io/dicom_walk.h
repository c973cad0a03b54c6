/* Bounds check of a DICOM file's declared lengths, run before DCMTK parses it
 * (lib/io/dicom_walk.cpp; docs/security.md, section "DICOM"). Internal to the
 * DICOM decoder. */
#ifndef COVIDCAM_DICOM_WALK_H
#define COVIDCAM_DICOM_WALK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "error.h"

/* Walk the file meta group and the dataset of `p[0..len)` as DCMTK will read
 * them (a deflated dataset through zlib, in constant memory) and refuse, with
 * a message naming the element, what DCMTK would trust but must not: a
 * defined length past the end of the data (BAD_FORMAT), a malformed meta group
 * or an unknown transfer syntax (BAD_FORMAT / UNSUPPORTED), an undefined
 * length outside SQ, UN and encapsulated Pixel Data or nesting deeper than 32
 * sequences (BAD_FORMAT), more than 1 GiB inflated (LIMIT). COVIDCAM_OK when
 * none applies; damage it does not look for is left to DCMTK to report.
 * Thread-safe, allocates nothing. */
covidcam_status cc_dicom_check_lengths(const uint8_t *p, size_t len, cc_err *e);

#ifdef __cplusplus
}
#endif

#endif
