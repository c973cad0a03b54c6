#include "softmax.h"

#include <math.h>

#include "finite.h"

void cc_softmax(const float *logits, int n, double t, float *probs)
{
    double mx = logits[0], sum = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > mx)
            mx = logits[i];
    /* exp of a difference <= 0 cannot overflow, and the max term is 1, so the
     * sum is in [1, n]. */
    for (int i = 0; i < n; i++)
        sum += exp(((double)logits[i] - mx) / t);
    for (int i = 0; i < n; i++)
        probs[i] = (float)(exp(((double)logits[i] - mx) / t) / sum);
}

covidcam_status cc_classify_logits(const float *logits, int n, double t, float *probs, int *top,
                                   cc_err *e)
{
    size_t bad = cc_first_nonfinite(logits, (size_t)n);
    if (bad < (size_t)n)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "logit of class %zu is %s: the model's weights overflow float on "
                       "this input",
                       bad, cc_nonfinite_name(logits[bad]));
    int best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best])
            best = i;
    if (probs)
        cc_softmax(logits, n, t, probs);
    if (top)
        *top = best;
    return COVIDCAM_OK;
}
