/* covidcam_classify_*: one image through the network to logits and softmax. */
#include <stdlib.h>
#include <string.h>

#include "finite.h"
#include "session.h"
#include "softmax.h"

static covidcam_status run(covidcam_session *s, const cc_input *in, float *probs, float *logits,
                           size_t capacity, int *top)
{
    covidcam_status rc;
    int nc = s->m->num_classes;
    if ((probs || logits) && capacity < (size_t)nc)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "capacity %zu is less than the model's %d classes", capacity, nc);
    if ((rc = cc_session_set_input(s, in, NULL)) ||
        (rc = cc_check_input(s->m, s->input, &s->err)))
        return rc;
    int prev = cc_dnn_threads_set(s->threads);
    rc = cc_net_forward(s->net, s->input, s->net->num_blocks, &s->err);
    cc_dnn_threads_restore(prev);
    if (rc)
        return rc;
    cc_session_assess(s);
    const float *z = s->net->logits;
    if ((rc = cc_classify_logits(z, nc, s->m->temperature, probs, top, &s->err)))
        return rc;
    if (logits)
        memcpy(logits, z, (size_t)nc * sizeof *z);
    return COVIDCAM_OK;
}

static covidcam_status classify(covidcam_session *s, const cc_input *in, float *probs,
                                float *logits, size_t capacity, int *top)
{
    covidcam_status rc = cc_session_begin(s);
    if (rc)
        return rc;
    rc = run(s, in, probs, logits, capacity, top);
    if (rc)
        s->assessed = 0;
    cc_session_end(s);
    return rc;
}

covidcam_status covidcam_classify_file(covidcam_session *s, const char *path, float *probs,
                                       float *logits, size_t capacity, int *top)
{
    cc_input in = {.kind = CC_IN_FILE, .path = path};
    return classify(s, &in, probs, logits, capacity, top);
}

covidcam_status covidcam_classify_png(covidcam_session *s, const void *png, size_t len,
                                      float *probs, float *logits, size_t capacity, int *top)
{
    cc_input in = {.kind = CC_IN_PNG, .png = png, .len = len};
    return classify(s, &in, probs, logits, capacity, top);
}

covidcam_status covidcam_classify_image(covidcam_session *s, const void *image, size_t len,
                                        float *probs, float *logits, size_t capacity, int *top)
{
    cc_input in = {.kind = CC_IN_IMAGE, .png = image, .len = len};
    return classify(s, &in, probs, logits, capacity, top);
}

covidcam_status covidcam_classify_pixels(covidcam_session *s, const uint8_t *pixels, int width,
                                         int height, size_t stride, float *probs, float *logits,
                                         size_t capacity, int *top)
{
    cc_input in = {.kind = CC_IN_PIXELS,
                   .pixels = pixels,
                   .width = width,
                   .height = height,
                   .stride = stride};
    return classify(s, &in, probs, logits, capacity, top);
}

covidcam_status covidcam_classify_tensor(covidcam_session *s, const float *tensor, int channels,
                                         int height, int width, float *probs, float *logits,
                                         size_t capacity, int *top)
{
    cc_input in = {.kind = CC_IN_TENSOR,
                   .tensor = tensor,
                   .channels = channels,
                   .height = height,
                   .width = width};
    return classify(s, &in, probs, logits, capacity, top);
}
