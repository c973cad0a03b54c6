/* Normalisation, aggregation and view geometry of CAM maps. */
#include <string.h>

#include "cam_scale.h"
#include "preprocess.h"

void cc_cam_min_max(float *m, size_t n)
{
    float lo = m[0], hi;
    for (size_t i = 1; i < n; i++)
        if (m[i] < lo)
            lo = m[i];
    hi = m[0] - lo;
    for (size_t i = 0; i < n; i++) {
        m[i] -= lo;
        if (m[i] > hi)
            hi = m[i];
    }
    for (size_t i = 0; i < n; i++)
        m[i] = (float)(m[i] / (1e-7 + hi));
}

void cc_cam_scale_layer(const float *raw, int h, int w, int size, float *tmp, float *out)
{
    size_t hw = (size_t)h * (size_t)w;
    memcpy(tmp, raw, hw * sizeof *tmp);
    cc_cam_min_max(tmp, hw);
    cc_resize_f32(tmp, w, h, out, size, size);
}

void cc_cam_mean_relu(const float *per, int n, int size, float *out)
{
    size_t s2 = (size_t)size * (size_t)size;
    for (size_t i = 0; i < s2; i++) {
        double sum = 0;
        for (int l = 0; l < n; l++) {
            float v = per[(size_t)l * s2 + i];
            sum += v > 0 ? v : 0;
        }
        out[i] = (float)(sum / n);
    }
}

void cc_cam_flip(float *m, int rows, int cols)
{
    for (int y = 0; y < rows; y++) {
        float *r = m + (size_t)y * (size_t)cols;
        for (int x = 0; x < cols / 2; x++) {
            float t = r[x];
            r[x] = r[cols - 1 - x];
            r[cols - 1 - x] = t;
        }
    }
}

/* Source coordinate of output index i: i * (n_in - 1) / (n_out - 1). */
static void corner_axis(int i, int n_in, int n_out, int *i0, int *i1, float *f)
{
    double src = n_out > 1 ? (double)i * (n_in - 1) / (n_out - 1) : 0;
    int lo = (int)src;
    if (lo > n_in - 1)
        lo = n_in - 1;
    *i0 = lo;
    *i1 = lo + 1 < n_in ? lo + 1 : lo;
    *f = (float)(src - lo);
}

void cc_cam_upsample_corners(const float *src, int h, int w, int size, float *dst)
{
    for (int y = 0; y < size; y++) {
        int y0, y1;
        float fy;
        corner_axis(y, h, size, &y0, &y1, &fy);
        for (int x = 0; x < size; x++) {
            int x0, x1;
            float fx;
            corner_axis(x, w, size, &x0, &x1, &fx);
            float top = src[y0 * w + x0] * (1 - fx) + src[y0 * w + x1] * fx;
            float bot = src[y1 * w + x0] * (1 - fx) + src[y1 * w + x1] * fx;
            dst[(size_t)y * (size_t)size + (size_t)x] = top * (1 - fy) + bot * fy;
        }
    }
}
