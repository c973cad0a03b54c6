#include "render.h"

#include <math.h>

/* OpenCV COLORMAP_JET, reproduced bit for bit.
 *
 * Source: opencv modules/imgproc/src/colormap.cpp (class colormap::Jet,
 * ColorMap::linear_colormap, interp1_, linspace). Jet stores 256 float samples
 * per channel of GNU Octave's jet(256) on X = linspace(0, 1, 256):
 *   r(x) = clamp(min(4x - 1.5, 4.5 - 4x), 0, 1)
 *   g(x) = clamp(min(4x - 0.5, 3.5 - 4x), 0, 1)
 *   b(x) = clamp(min(4x + 0.5, 2.5 - 4x), 0, 1)
 * (b starts at 0.5, r ends at 0.5). linear_colormap resamples them with
 * interp1 at xi = linspace(0, 1, 256) in float, which lands on the samples but
 * goes through y[k-1] + (xi - x[k-1]) * (y[k] - y[k-1]) / (x[k] - x[k-1]), and
 * converts with convertTo(CV_8U, 255): round-half-even of the float product.
 * Many entries are exact halves (4k + 0.5 in units of 1/255), so the float
 * path must be followed exactly: rounding the stored floats in double changes
 * 191 of the 768 bytes, and even exact half-to-even rounding (or skipping
 * interp1) gives blue[159] = 2 where OpenCV has 1. */

#define JET_N 256

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

static double jet_channel(double x, double rise, double fall)
{
    double up = 4 * x + rise, down = fall - 4 * x;
    return clamp01(up < down ? up : down);
}

/* interp1_<float> of OpenCV at xi == x[k]: the binary search stops with
 * low = k - 1, high = k (low = 0, high = 1 for k = 0). */
static float interp_at(const float *x, const float *y, int k)
{
    int lo = k > 0 ? k - 1 : 0, hi = k > 0 ? k : 1;
    float t = x[k] - x[lo];
    float num = t * (y[hi] - y[lo]);
    return y[lo] + num / (x[hi] - x[lo]);
}

static uint8_t to_u8(float v)
{
    float s = v * 255.0f;
    long r = lrintf(s); /* default rounding mode: half to even, like cvRound */
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

/* Fill lut[i] = RGB of COLORMAP_JET for byte value i. */
static void jet_lut(uint8_t lut[JET_N][3])
{
    static const double rise[3] = {-1.5, -0.5, 0.5}; /* r, g, b */
    static const double fall[3] = {4.5, 3.5, 2.5};
    float x[JET_N], y[JET_N];
    float step = (1.0f - 0.0f) / (JET_N - 1); /* OpenCV linspace, in float */
    for (int i = 0; i < JET_N; i++)
        x[i] = 0.0f + (float)i * step;
    for (int c = 0; c < 3; c++) {
        for (int i = 0; i < JET_N; i++)
            y[i] = (float)jet_channel(i / 255.0, rise[c], fall[c]);
        for (int i = 0; i < JET_N; i++)
            lut[i][c] = to_u8(interp_at(x, y, i));
    }
}

/* np.uint8(255 * v) for float32 v, after clamping v to [0, 1] (NaN -> 0). */
static uint8_t quantize(float v)
{
    if (!(v > 0.0f))
        return 0;
    if (v > 1.0f)
        v = 1.0f;
    return (uint8_t)(255.0f * v);
}

void cc_colormap_jet(const float *map, size_t n, uint8_t *rgb)
{
    uint8_t lut[JET_N][3];
    jet_lut(lut);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = lut[quantize(map[i])];
        rgb[3 * i + 0] = c[0];
        rgb[3 * i + 1] = c[1];
        rgb[3 * i + 2] = c[2];
    }
}

/* cam = (1 - w) * heat + w * img as numpy evaluates it on float32 arrays: the
 * Python scalar 1 - w is rounded to float32, then each product and the sum are
 * rounded to float32. The products depend only on a byte value, so they are
 * tabulated: bit-identical to computing them per pixel, and the sum of two
 * stored floats cannot be contracted into an FMA by the compiler. */
typedef struct overlay_terms {
    float heat[JET_N][3]; /* (1 - w) * (jet byte / 255) */
    float img[256];       /* w * (gray / 255) */
} overlay_terms;

static void make_terms(float image_weight, overlay_terms *t)
{
    uint8_t lut[JET_N][3];
    jet_lut(lut);
    /* show_cam_on_image rejects weights outside [0, 1]; clamp them instead. */
    float wi = image_weight > 0.0f ? (image_weight < 1.0f ? image_weight : 1.0f) : 0.0f;
    float wh = (float)(1.0 - (double)wi);
    for (int i = 0; i < JET_N; i++)
        for (int k = 0; k < 3; k++)
            t->heat[i][k] = wh * ((float)lut[i][k] / 255.0f);
    for (int g = 0; g < 256; g++)
        t->img[g] = wi * ((float)g / 255.0f);
}

void cc_overlay(const uint8_t *gray, const float *map, size_t n, float image_weight,
                uint8_t *rgb)
{
    overlay_terms t;
    make_terms(image_weight, &t);
    float mx = 0.0f;
    for (size_t i = 0; i < n; i++) {
        uint8_t q = quantize(map[i]);
        rgb[3 * i] = q; /* scratch until the second pass */
        for (int k = 0; k < 3; k++) {
            float v = t.heat[q][k] + t.img[gray[i]];
            mx = v > mx ? v : mx;
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t q = rgb[3 * i];
        for (int k = 0; k < 3; k++) {
            float v = t.heat[q][k] + t.img[gray[i]];
            /* All black (only with w = 1 and a black image): numpy would divide
             * by 0; write black. */
            rgb[3 * i + k] = mx > 0.0f ? (uint8_t)(255.0f * (v / mx)) : 0;
        }
    }
}
