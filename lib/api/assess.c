/* The trust assessment of a call (covidcam_assessment) and the pooled
 * features it is computed from. */
#include <stddef.h>
#include <string.h>

#include "heatmap.h"
#include "ood.h"
#include "session.h"

/* Index = bit position; names are API (docs/trust.md) and never change. */
static const char *const warning_names[] = {"nearly_constant", "low_dynamic_range",
                                            "likely_inverted", "extreme_aspect",
                                            "low_resolution", "low_detail"};

/* Why each warning matters, by bit: the one text every front end prints. */
static const char *const warning_descriptions[] = {
    "the image is almost uniform: there is no radiograph to read",
    "the gray values span a narrow band (e.g. 12-bit data in a 16-bit PNG)",
    "the mediastinum is darker than the lungs: inverted polarity, or not a frontal chest film",
    "the image is far from square and the resize to the model input distorts it",
    "the image is smaller than the model input and is enlarged: a thumbnail, not a film",
    "no finer detail than an image enlarged 4x or more: a thumbnail or a crop blown up, not a film"};

_Static_assert(sizeof warning_names / sizeof *warning_names ==
                   sizeof warning_descriptions / sizeof *warning_descriptions,
               "every warning has a name and a description");

/* The bit's index in the tables, or -1 for 0, several bits or an unknown bit. */
static int warning_index(unsigned w)
{
    for (unsigned i = 0; i < sizeof warning_names / sizeof *warning_names; i++)
        if (w == 1u << i)
            return (int)i;
    return -1;
}

const char *covidcam_warning_name(unsigned w)
{
    int i = warning_index(w);
    return i < 0 ? NULL : warning_names[i];
}

const char *covidcam_warning_description(unsigned w)
{
    int i = warning_index(w);
    return i < 0 ? NULL : warning_descriptions[i];
}

/* The pooled features sit in the average pool's output. For one image its
 * spatial size is 1 x 1, so every layout oneDNN may pick (plain nc, nhwc or
 * channel blocks nChw8c/16c) stores channel c at offset c. */
static const float *features(const covidcam_session *s)
{
    return s->net->gap_out;
}

void cc_assess_ood(const covidcam_session *s, const float *features, covidcam_assessment *a)
{
    const cc_ood *o = s->m->ood;
    if (!o)
        return;
    a->ood_available = 1;
    a->ood_threshold = o->threshold;
    a->ood_score = cc_ood_score(o, features, s->ood_work);
    a->ood = a->ood_score > o->threshold;
}

void cc_session_assess(covidcam_session *s)
{
    s->assessed = 1;
    cc_assess_ood(s, features(s), &s->assess);
}

covidcam_status cc_assess_export(const covidcam_assessment *src, covidcam_assessment *dst)
{
    size_t need = offsetof(covidcam_assessment, warnings) + sizeof dst->warnings;
    if (!dst || dst->struct_size < need)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    size_t n = dst->struct_size < sizeof *src ? dst->struct_size : sizeof *src;
    size_t skip = sizeof dst->struct_size;
    memcpy((char *)dst + skip, (const char *)src + skip, n - skip);
    return COVIDCAM_OK;
}

covidcam_status covidcam_session_assessment(const covidcam_session *s, covidcam_assessment *out)
{
    if (!s || !s->assessed)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    return cc_assess_export(&s->assess, out);
}

covidcam_status covidcam_heatmap_assessment(const covidcam_heatmap *h, covidcam_assessment *out)
{
    if (!h)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    return cc_assess_export(&h->assess, out);
}

covidcam_status covidcam_session_features(covidcam_session *s, float *out, size_t capacity)
{
    if (!s)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    size_t n = (size_t)s->m->fc.ic;
    if (!out)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "features must not be NULL");
    if (capacity < n)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "capacity %zu is less than the model's %zu features", capacity, n);
    if (!s->assessed)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "no features: the session has no successful classify or Grad-CAM call");
    memcpy(out, features(s), n * sizeof *out);
    return COVIDCAM_OK;
}

covidcam_status covidcam_session_input(covidcam_session *s, float *out, size_t capacity)
{
    if (!s)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    size_t n = (size_t)s->m->in_ch * (size_t)s->m->input_size * (size_t)s->m->input_size;
    if (!out)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "tensor must not be NULL");
    if (capacity < n)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "capacity %zu is less than the input's %zu floats", capacity, n);
    if (!s->assessed)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "no input: the session has no successful classify or Grad-CAM call");
    memcpy(out, s->input, n * sizeof *out);
    return COVIDCAM_OK;
}
