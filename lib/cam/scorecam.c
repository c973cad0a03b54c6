/* ScoreCAM: the class score of the input seen through each channel's mask. */
#include <math.h>
#include <stdlib.h>

#include "cam_scale.h"
#include "scorecam.h"

/* The channel upsampled to the input and scaled to [0, 1] (1e-8 guards a
 * constant channel, whose mask is then all zero). */
static void channel_mask(const float *ak, int h, int w, int size, float *mask)
{
    size_t s2 = (size_t)size * (size_t)size;
    cc_cam_upsample_corners(ak, h, w, size, mask);
    float lo = mask[0], hi = mask[0];
    for (size_t i = 1; i < s2; i++) {
        lo = mask[i] < lo ? mask[i] : lo;
        hi = mask[i] > hi ? mask[i] : hi;
    }
    for (size_t i = 0; i < s2; i++)
        mask[i] = (mask[i] - lo) / (hi - lo + 1e-8f);
}

static void softmax(double *v, int n)
{
    double hi = v[0], sum = 0;
    for (int i = 1; i < n; i++)
        hi = v[i] > hi ? v[i] : hi;
    for (int i = 0; i < n; i++)
        sum += v[i] = exp(v[i] - hi);
    for (int i = 0; i < n; i++)
        v[i] /= sum;
}

covidcam_status cc_scorecam_weights(cc_net *n, const float *input, const float *a, int c, int h,
                                    int w, int cls, double *weights, cc_err *e)
{
    int size = n->m->input_size, in_ch = n->m->in_ch;
    size_t s2 = (size_t)size * (size_t)size, hw = (size_t)h * (size_t)w;
    float *mask = malloc(s2 * sizeof *mask), *masked = malloc((size_t)in_ch * s2 * sizeof *masked);
    covidcam_status rc = COVIDCAM_OK;
    if (!mask || !masked) {
        rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for ScoreCAM's masks");
        goto done;
    }
    for (int k = 0; k < c && rc == COVIDCAM_OK; k++) {
        channel_mask(a + (size_t)k * hw, h, w, size, mask);
        for (int ch = 0; ch < in_ch; ch++)
            for (size_t i = 0; i < s2; i++)
                masked[(size_t)ch * s2 + i] = input[(size_t)ch * s2 + i] * mask[i];
        rc = cc_net_forward(n, masked, n->num_blocks, e);
        if (rc == COVIDCAM_OK)
            weights[k] = n->logits[cls];
    }
    if (rc == COVIDCAM_OK)
        softmax(weights, c);
done:
    free(mask);
    free(masked);
    return rc;
}
