/* libFuzzer harness: untrusted PNG bytes -> decode -> classify.
 * Any status is fine except a crash, a sanitizer report, a leak or a
 * classification that breaks its invariants. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    covidcam_session *s = fz_session();
    int nc = covidcam_model_num_classes(fz_model());
    float probs[COVIDCAM_MAX_CLASSES], logits[COVIDCAM_MAX_CLASSES];
    int top = -1;
    covidcam_status st = covidcam_classify_png(s, data, size, probs, logits,
                                               COVIDCAM_MAX_CLASSES, &top);
    if (st == COVIDCAM_OK)
        fz_check_classification(probs, logits, nc, top);
    else
        fz_check(covidcam_session_last_error(s)[0] != '\0', "a failure has a message");
    return 0;
}
