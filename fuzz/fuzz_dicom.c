/* libFuzzer harness: untrusted bytes -> cc_dicom_decode_gray (DCMTK).
 * Any status is fine except a crash, a sanitizer report, a leak, or a result
 * that breaks the decoder's contract: on success a picture within the limits
 * and metadata strings of printable ASCII; on failure a message and an
 * untouched output; bytes that do not sniff as DICOM never decode. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dicom_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (ok)
        return;
    fprintf(stderr, "fuzz_dicom: invariant violated: %s\n", what);
    abort();
}

static void check_field(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    check(n < size, "meta string is NUL-terminated");
    for (size_t i = 0; i < n; i++)
        check(s[i] >= 0x20 && s[i] < 0x7f, "meta string is printable ASCII");
    check(n == 0 || (s[0] != ' ' && s[n - 1] != ' '), "meta string is trimmed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_err e;
    e.msg[0] = '\0';
    cc_image img = {-1, -1, NULL};
    cc_dicom_meta m;
    memset(&m, 0, sizeof m);
    covidcam_status st = cc_dicom_decode_gray(data, size, &img, &m, &e);
    if (st != COVIDCAM_OK) {
        check(e.msg[0] != '\0', "a failure has a message");
        check(img.width == -1 && img.height == -1 && img.pixels == NULL, "failure leaves *out alone");
        return 0;
    }
    check(cc_dicom_sniff(data, size), "only bytes that sniff as DICOM decode");
    check(img.width > 0 && img.height > 0 && (unsigned)img.width <= COVIDCAM_MAX_IMAGE_DIM &&
              (unsigned)img.height <= COVIDCAM_MAX_IMAGE_DIM &&
              (size_t)img.width * img.height <= COVIDCAM_MAX_IMAGE_PIXELS,
          "image within the limits");
    check(img.pixels != NULL, "pixels");
    /* Touch every pixel so that ASan and MSan-like tools see the whole buffer. */
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)img.width * img.height; i++)
        sum += img.pixels[i];
    (void)sum;
    check_field(m.transfer_syntax, sizeof m.transfer_syntax);
    check_field(m.photometric, sizeof m.photometric);
    check_field(m.modality, sizeof m.modality);
    check_field(m.view_position, sizeof m.view_position);
    check_field(m.body_part, sizeof m.body_part);
    check(m.frames >= 1, "frames >= 1");
    check(m.samples_per_pixel == 1 || m.samples_per_pixel == 3, "1 or 3 samples");
    check(m.bits_stored >= 1 && m.bits_stored <= 16, "bits stored 1..16");
    check(m.window_source >= CC_DICOM_WINDOW_FILE && m.window_source <= CC_DICOM_WINDOW_RANGE,
          "window source");
    check(m.window_width >= 1, "window width >= 1");
    cc_image_free(&img);
    return 0;
}
