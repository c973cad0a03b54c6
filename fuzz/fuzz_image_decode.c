/* libFuzzer harness: untrusted image bytes in any format (PNG, JPEG, DICOM
 * when the build has a decoder, anything else refused by name) -> sniff ->
 * decode -> classify, then the image info. Any status is fine except a
 * crash, a sanitizer report, a leak, a hang or broken invariants. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int printable(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    return 1;
}

static void check_info(const covidcam_image_info *i)
{
    fz_check(i->format == COVIDCAM_FORMAT_PNG || i->format == COVIDCAM_FORMAT_JPEG ||
                 i->format == COVIDCAM_FORMAT_DICOM,
             "a decoded image has a file format");
    fz_check(i->width >= 1 && i->height >= 1 && (unsigned)i->width <= COVIDCAM_MAX_IMAGE_DIM &&
                 (unsigned)i->height <= COVIDCAM_MAX_IMAGE_DIM &&
                 (uint64_t)i->width * (uint64_t)i->height <= COVIDCAM_MAX_IMAGE_PIXELS,
             "image dimensions within the limits");
    fz_check(i->bits >= 1 && i->bits <= 16, "bits per sample in [1, 16]");
    fz_check(i->channels >= 1 && i->channels <= 4, "1 to 4 channels");
    fz_check(printable(i->photometric, sizeof i->photometric) &&
                 printable(i->modality, sizeof i->modality) &&
                 printable(i->view_position, sizeof i->view_position) &&
                 printable(i->body_part, sizeof i->body_part) &&
                 printable(i->transfer_syntax, sizeof i->transfer_syntax),
             "info strings are NUL-terminated printable ASCII");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    covidcam_session *s = fz_session();
    int nc = covidcam_model_num_classes(fz_model());
    float probs[COVIDCAM_MAX_CLASSES], logits[COVIDCAM_MAX_CLASSES];
    int top = -1;
    covidcam_status st = covidcam_classify_image(s, data, size, probs, logits,
                                                 COVIDCAM_MAX_CLASSES, &top);
    covidcam_image_info info;
    covidcam_image_info_init(&info);
    covidcam_status ist = covidcam_session_image_info(s, &info);
    if (st == COVIDCAM_OK) {
        fz_check_classification(probs, logits, nc, top);
        fz_check(ist == COVIDCAM_OK, "a classified image has its info");
        check_info(&info);
    } else {
        fz_check(covidcam_session_last_error(s)[0] != '\0', "a failure has a message");
        fz_check(ist == COVIDCAM_ERR_INVALID_ARGUMENT, "a failed call leaves no image info");
    }
    return 0;
}
