/* covidcam_classify_*_batch and covidcam_classify_files: several images
 * through one pass of the session's batch network. Each image goes through
 * the one-image input path (cc_session_set_input), so its decoding, checks
 * and preprocessing are exactly those of the one-image calls. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "finite.h"
#include "image_info.h"
#include "session.h"
#include "softmax.h"

/* Where images go in and results come out: the batch network, or the
 * one-image one when max_batch is 1. */
static cc_net *batch_net(covidcam_session *s)
{
    return s->batch_net ? s->batch_net : s->net;
}

static float *batch_slot(covidcam_session *s, int i)
{
    size_t one = (size_t)s->m->in_ch * (size_t)s->m->input_size * (size_t)s->m->input_size;
    return s->batch_input ? s->batch_input + (size_t)i * one : s->input;
}

/* "image i: <message>" in e, from the message the input path left there. */
static covidcam_status name_image(cc_err *e, covidcam_status rc, int i)
{
    char msg[sizeof e->msg];
    snprintf(msg, sizeof msg, "%s", e->msg);
    return cc_fail(e, rc, "image %d: %s", i, msg);
}

/* Image i into its slot, with its info and input warnings recorded. */
static covidcam_status prepare(covidcam_session *s, const cc_input *in, int i)
{
    covidcam_image_info_init(&s->info);
    covidcam_assessment_init(&s->assess);
    covidcam_status rc = cc_session_set_input(s, in, NULL);
    if (rc == COVIDCAM_OK)
        rc = cc_check_input(s->m, s->input, &s->err);
    if (rc)
        return rc;
    float *slot = batch_slot(s, i);
    if (slot != s->input)
        memcpy(slot, s->input, (size_t)s->m->in_ch * (size_t)s->m->input_size *
                                   (size_t)s->m->input_size * sizeof(float));
    s->batch_info[i] = s->info;
    s->batch_assess[i] = s->assess;
    s->batch_ok[i] = 1;
    return COVIDCAM_OK;
}

static void fail_rows(int nc, float *probs, float *logits, int *top)
{
    for (int k = 0; k < nc; k++) {
        if (probs)
            probs[k] = NAN;
        if (logits)
            logits[k] = NAN;
    }
    if (top)
        *top = -1;
}

/* Row i of the network's output into the caller's arrays and image i's
 * out-of-distribution score into its assessment. */
static covidcam_status finish(covidcam_session *s, int i, float *probs, float *logits, int *top)
{
    const cc_net *n = batch_net(s);
    int nc = s->m->num_classes;
    const float *z = n->logits + (size_t)i * (size_t)nc;
    covidcam_status rc = cc_classify_logits(z, nc, s->m->temperature, probs, top, &s->err);
    if (rc)
        return rc;
    if (logits)
        memcpy(logits, z, (size_t)nc * sizeof *z);
    /* row i: a batch net's head is plain, one image's pooled features are
     * 1 x 1 (assess.c) */
    cc_assess_ood(s, n->gap_out + (size_t)i * (size_t)s->m->fc.ic, &s->batch_assess[i]);
    return COVIDCAM_OK;
}

typedef struct batch_call {
    const cc_input *in; /* count inputs */
    int count;
    float *probs, *logits;
    size_t capacity;
    int *top;
    covidcam_status *statuses; /* files: per-image status (may be NULL) */
    int keep_going;            /* files: a failed image does not stop the others */
} batch_call;

static covidcam_status check_call(covidcam_session *s, const batch_call *c)
{
    int nc = s->m->num_classes;
    if (c->count < 1 || c->count > s->max_batch)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "count %d is outside [1, %d] (the session's max_batch)", c->count,
                       s->max_batch);
    if ((c->probs || c->logits) && c->capacity < (size_t)nc)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "capacity %zu is less than the model's %d classes", c->capacity, nc);
    return COVIDCAM_OK;
}

/* Record image i's failure (its message is in s->err); the first failure
 * becomes the call's, naming the image. */
static void image_failed(covidcam_session *s, const batch_call *c, int i, covidcam_status rc,
                         covidcam_status *first, cc_err *first_err)
{
    size_t row = (size_t)i * c->capacity;
    s->batch_ok[i] = 0;
    s->batch_err[i] = s->err;
    fail_rows(s->m->num_classes, c->probs ? c->probs + row : NULL,
              c->logits ? c->logits + row : NULL, c->top ? c->top + i : NULL);
    if (c->statuses)
        c->statuses[i] = rc;
    if (*first == COVIDCAM_OK) {
        *first = rc;
        name_image(&s->err, rc, i);
        *first_err = s->err;
    }
}

static covidcam_status run(covidcam_session *s, const batch_call *c)
{
    covidcam_status rc, first = COVIDCAM_OK;
    cc_err first_err = {{0}};
    cc_net *n = batch_net(s);
    size_t one = (size_t)s->m->in_ch * (size_t)s->m->input_size * (size_t)s->m->input_size;
    for (int i = 0; i < c->count; i++) {
        if ((rc = prepare(s, &c->in[i], i)) == COVIDCAM_OK) {
            if (c->statuses)
                c->statuses[i] = COVIDCAM_OK;
            continue;
        }
        if (!c->keep_going)
            return name_image(&s->err, rc, i);
        image_failed(s, c, i, rc, &first, &first_err);
        memset(batch_slot(s, i), 0, one * sizeof(float)); /* a finite stand-in */
    }
    /* Slots past count keep whatever a previous call left: finite inputs
     * whose rows nobody reads (each image is computed independently). */
    int prev = cc_dnn_threads_set(s->threads);
    rc = cc_net_forward(n, batch_slot(s, 0), n->num_blocks, &s->err);
    cc_dnn_threads_restore(prev);
    if (rc)
        return rc;
    for (int i = 0; i < c->count; i++) {
        if (!s->batch_ok[i])
            continue;
        size_t row = (size_t)i * c->capacity;
        rc = finish(s, i, c->probs ? c->probs + row : NULL, c->logits ? c->logits + row : NULL,
                    c->top ? c->top + i : NULL);
        if (rc && !c->keep_going)
            return name_image(&s->err, rc, i);
        if (rc)
            image_failed(s, c, i, rc, &first, &first_err);
    }
    s->batch_count = c->count;
    if (first)
        s->err = first_err;
    return first;
}

static covidcam_status classify_batch(covidcam_session *s, const batch_call *c)
{
    covidcam_status rc = cc_session_begin(s);
    if (rc)
        return rc;
    s->batch_count = 0;
    if ((rc = check_call(s, c)) == COVIDCAM_OK) {
        memset(s->batch_ok, 0, (size_t)s->max_batch);
        memset(s->batch_err, 0, (size_t)s->max_batch * sizeof *s->batch_err);
        rc = run(s, c);
    }
    /* the one-image queries have no image after a batch call */
    s->assessed = 0;
    covidcam_image_info_init(&s->info);
    if (rc && !c->keep_going)
        s->batch_count = 0;
    /* a call that failed as a whole failed for every image */
    for (int i = 0; rc && s->batch_count == 0 && c->statuses && i < c->count; i++)
        c->statuses[i] = rc;
    cc_session_end(s);
    return rc;
}

/* The inputs of a call, on the stack for up to COVIDCAM_MAX_BATCH images. */
typedef struct inputs {
    cc_input in[COVIDCAM_MAX_BATCH];
} inputs;

/* How many inputs to build for `count`: check_call refuses a count outside
 * [1, max_batch], so only the array's bound matters here. */
static int fill_count(int count)
{
    return count < 0 ? 0 : count > COVIDCAM_MAX_BATCH ? COVIDCAM_MAX_BATCH : count;
}

/* A call refused before its inputs could be built (NULL arrays). */
static covidcam_status refuse(covidcam_session *s, const char *what)
{
    if (cc_session_begin(s))
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    covidcam_status rc =
        cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "%s must not be NULL", what);
    cc_session_end(s);
    return rc;
}

covidcam_status covidcam_classify_tensor_batch(covidcam_session *s, const float *tensors,
                                               int count, int channels, int height, int width,
                                               float *probs, float *logits, size_t capacity,
                                               int *top)
{
    if (!s)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    inputs v;
    size_t one = channels > 0 && height > 0 && width > 0
                     ? (size_t)channels * (size_t)height * (size_t)width
                     : 0;
    for (int i = 0; i < fill_count(count); i++)
        v.in[i] = (cc_input){.kind = CC_IN_TENSOR,
                             .tensor = tensors ? tensors + (size_t)i * one : NULL,
                             .channels = channels,
                             .height = height,
                             .width = width};
    batch_call c = {v.in, count, probs, logits, capacity, top, NULL, 0};
    return classify_batch(s, &c);
}

covidcam_status covidcam_classify_pixels_batch(covidcam_session *s, const uint8_t *const *pixels,
                                               const int *widths, const int *heights,
                                               const size_t *strides, int count, float *probs,
                                               float *logits, size_t capacity, int *top)
{
    if (!s)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    if (!pixels || !widths || !heights || !strides)
        return refuse(s, "pixels, widths, heights and strides");
    inputs v;
    for (int i = 0; i < fill_count(count); i++)
        v.in[i] = (cc_input){.kind = CC_IN_PIXELS,
                             .pixels = pixels[i],
                             .width = widths[i],
                             .height = heights[i],
                             .stride = strides[i]};
    batch_call c = {v.in, count, probs, logits, capacity, top, NULL, 0};
    return classify_batch(s, &c);
}

covidcam_status covidcam_classify_files(covidcam_session *s, const char *const *paths, int count,
                                        float *probs, float *logits, size_t capacity, int *top,
                                        covidcam_status *statuses)
{
    if (!s)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    if (!paths)
        return refuse(s, "paths");
    inputs v;
    for (int i = 0; i < fill_count(count); i++)
        v.in[i] = (cc_input){.kind = CC_IN_FILE, .path = paths[i]};
    batch_call c = {v.in, count, probs, logits, capacity, top, statuses, 1};
    return classify_batch(s, &c);
}

static int batch_image(const covidcam_session *s, int index)
{
    return s && index >= 0 && index < s->batch_count && s->batch_ok[index];
}

covidcam_status covidcam_session_batch_assessment(const covidcam_session *s, int index,
                                                  covidcam_assessment *out)
{
    if (!batch_image(s, index))
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    return cc_assess_export(&s->batch_assess[index], out);
}

covidcam_status covidcam_session_batch_image_info(const covidcam_session *s, int index,
                                                  covidcam_image_info *info)
{
    cc_err e;
    if (!batch_image(s, index))
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    covidcam_status rc = cc_info_check(info, &e);
    return rc ? rc : cc_info_export(&s->batch_info[index], info, &e);
}

const char *covidcam_session_batch_error(const covidcam_session *s, int index)
{
    if (!s)
        return "invalid session (NULL)";
    if (index < 0 || index >= s->batch_count || s->batch_ok[index])
        return "";
    return s->batch_err[index].msg;
}
