/* Input checks on the decoded gray image (see input_checks.h). */
#include "input_checks.h"

#include <math.h>
#include <stdlib.h>

#include "covidcam.h"

/* Mean of the gray values in columns [x0, x1) of rows [y0, y1). */
static double band_sum(const uint8_t *px, size_t stride, int x0, int x1, int y0, int y1,
                       double *count)
{
    double sum = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            sum += px[(size_t)y * stride + (size_t)x];
    *count += (double)(x1 - x0) * (double)(y1 - y0);
    return sum;
}

/* On a frontal chest film the mediastinum and spine (central columns) are
 * brighter than the air-filled lungs on either side; an inverted film (or a
 * MONOCHROME1 image shown as MONOCHROME2) has it the other way round. The
 * bands are fractions of the image so that the rule does not depend on size. */
static double polarity(const uint8_t *px, int w, int h, size_t stride, double std)
{
    int y0 = h / 4, y1 = h - h / 4;
    double nc = 0, nl = 0;
    double c = band_sum(px, stride, w * 42 / 100, w * 58 / 100, y0, y1, &nc);
    double l = band_sum(px, stride, w * 15 / 100, w * 33 / 100, y0, y1, &nl) +
               band_sum(px, stride, w * 67 / 100, w * 85 / 100, y0, y1, &nl);
    if (nc == 0 || nl == 0 || std <= 0)
        return 0;
    return (c / nc - l / nl) / std;
}

/* Mean absolute difference of pixels `s` apart, horizontally and vertically,
 * over the rows y = 0, k, 2k...: k is the pixel spacing of the network's
 * input grid on this image, so large films cost no more than small ones. */
static double mean_step(const uint8_t *px, int w, int h, size_t stride, int k, int s)
{
    uint64_t sum = 0, n = 0;
    for (int y = 0; y + s < h; y += k) {
        const uint8_t *r = px + (size_t)y * stride, *below = r + (size_t)s * stride;
        for (int x = 0; x < w; x++) {
            sum += (uint64_t)abs((int)below[x] - (int)r[x]);
            if (x + s < w)
                sum += (uint64_t)abs((int)r[x + s] - (int)r[x]);
        }
        n += (uint64_t)w + (uint64_t)(w - s);
    }
    return n ? (double)sum / (double)n : 0;
}

/* Fine over coarse detail at the network's resolution: the mean difference of
 * neighbours one input-grid step apart over that of four steps apart. Where an
 * image is smooth or piecewise constant at that scale (an enlargement of a
 * smaller picture: within one source pixel, bilinear values change linearly)
 * differences grow in proportion to the step and the ratio is 1/4; films have
 * texture and noise at every scale and score higher (docs/trust.md). 1 when it
 * cannot be told: an image under 4 steps a side, or a constant one. */
static double detail_ratio(const uint8_t *px, int w, int h, size_t stride, int input_size)
{
    int m = w < h ? w : h;
    int k = input_size > 0 ? (m + input_size / 2) / input_size : 1;
    if (k < 1)
        k = 1;
    if (m <= 4 * k)
        return 1;
    double fine = mean_step(px, w, h, stride, k, k), coarse = mean_step(px, w, h, stride, k, 4 * k);
    return coarse > 0 ? fine / coarse : 1;
}

static int percentile(const uint64_t hist[256], uint64_t n, double q)
{
    uint64_t want = (uint64_t)ceil(q * (double)n), acc = 0;
    if (want == 0)
        want = 1;
    for (int v = 0; v < 256; v++) {
        acc += hist[v];
        if (acc >= want)
            return v;
    }
    return 255;
}

unsigned cc_input_checks(const uint8_t *px, int width, int height, size_t stride, int input_size,
                         cc_input_stats *out)
{
    uint64_t hist[256] = {0};
    for (int y = 0; y < height; y++) {
        const uint8_t *row = px + (size_t)y * stride;
        for (int x = 0; x < width; x++)
            hist[row[x]]++;
    }
    uint64_t n = (uint64_t)width * (uint64_t)height;
    double sum = 0, sq = 0;
    for (int v = 0; v < 256; v++) {
        sum += (double)v * (double)hist[v];
        sq += (double)v * (double)v * (double)hist[v];
    }
    cc_input_stats st;
    st.mean = sum / (double)n;
    double var = sq / (double)n - st.mean * st.mean;
    st.std = var > 0 ? sqrt(var) : 0;
    st.p1 = percentile(hist, n, 0.01);
    st.p99 = percentile(hist, n, 0.99);
    st.polarity = polarity(px, width, height, stride, st.std);
    st.aspect = width > height ? (double)width / height : (double)height / width;
    st.detail = detail_ratio(px, width, height, stride, input_size);
    unsigned w = 0;
    if (st.std < CC_CHECK_MIN_STD)
        w |= COVIDCAM_WARN_NEARLY_CONSTANT;
    else if (st.polarity < 0)
        w |= COVIDCAM_WARN_LIKELY_INVERTED;
    if (st.p99 - st.p1 < CC_CHECK_MIN_SPAN)
        w |= COVIDCAM_WARN_LOW_DYNAMIC_RANGE;
    if (st.aspect > CC_CHECK_MAX_ASPECT)
        w |= COVIDCAM_WARN_EXTREME_ASPECT;
    // Smaller than the network input on its shorter side: every resize mode
    // enlarges it, so the network sees interpolated detail that was never
    // recorded. Films are hundreds to thousands of pixels a side; the
    // shipped model was trained on none below 256.
    if ((width < height ? width : height) < input_size)
        w |= COVIDCAM_WARN_LOW_RESOLUTION;
    if (st.detail < CC_CHECK_MIN_DETAIL)
        w |= COVIDCAM_WARN_LOW_DETAIL;
    if (out)
        *out = st;
    return w;
}
