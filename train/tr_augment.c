#include "tr_augment.h"

#include <math.h>
#include <string.h>

#include "preprocess.h"
#include "tr_rng.h"

void tr_aug_defaults(tr_aug *a)
{
    a->enabled = 1;
    a->scale = 0.10;
    a->translate = 0.05;
    a->rotate = 10.0;
    a->brightness = 0.10;
    a->contrast = 0.10;
    a->hflip = 0;
}

/* One random draw of the augmentation. */
typedef struct aug_draw {
    double scale, tx, ty, cos_t, sin_t, bright, contrast;
    int flip;
} aug_draw;

static aug_draw draw(const tr_aug *a, int size, uint64_t seed)
{
    tr_rng r = tr_rng_make(seed, TR_RNG_AUGMENT, 0, 0);
    aug_draw d;
    double theta = tr_rng_sym(&r, a->rotate) * 3.14159265358979323846 / 180.0;
    d.scale = 1.0 + tr_rng_sym(&r, a->scale);
    d.tx = tr_rng_sym(&r, a->translate) * size;
    d.ty = tr_rng_sym(&r, a->translate) * size;
    d.cos_t = cos(theta);
    d.sin_t = sin(theta);
    d.bright = 1.0 + tr_rng_sym(&r, a->brightness);
    d.contrast = 1.0 + tr_rng_sym(&r, a->contrast);
    d.flip = a->hflip && tr_rng_uniform(&r) < 0.5;
    return d;
}

static float pixel_or_black(const float *src, int size, int x, int y)
{
    return x < 0 || y < 0 || x >= size || y >= size ? 0.f : src[(size_t)y * size + x];
}

/* dst(p) = src(A^-1 (p - c - t) + c): rotate, zoom and shift about the centre. */
static void warp(const float *src, int size, const aug_draw *d, float *dst)
{
    double c = (size - 1) / 2.0;
    for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
            double u = x - c - d->tx, v = y - c - d->ty;
            double sx = (d->cos_t * u + d->sin_t * v) / d->scale + c;
            double sy = (-d->sin_t * u + d->cos_t * v) / d->scale + c;
            if (d->flip)
                sx = (size - 1) - sx;
            double fx = floor(sx), fy = floor(sy);
            int x0 = (int)fx, y0 = (int)fy;
            float ax = (float)(sx - fx), ay = (float)(sy - fy);
            float top = (1 - ax) * pixel_or_black(src, size, x0, y0) +
                        ax * pixel_or_black(src, size, x0 + 1, y0);
            float bot = (1 - ax) * pixel_or_black(src, size, x0, y0 + 1) +
                        ax * pixel_or_black(src, size, x0 + 1, y0 + 1);
            dst[(size_t)y * size + x] = (1 - ay) * top + ay * bot;
        }
    }
}

static void jitter(float *px, size_t n, const aug_draw *d)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += px[i] * d->bright;
    float m = (float)(sum / (double)n);
    for (size_t i = 0; i < n; i++) {
        float v = (float)((px[i] * d->bright - m) * d->contrast + m);
        px[i] = v < 0.f ? 0.f : v > 255.f ? 255.f : v;
    }
}

void tr_prepare(const cc_image *img, int size, cc_resize_mode resize, int channels,
                const float *mean, const float *std, const tr_aug *aug, uint64_t seed, float *tmp,
                float *out)
{
    if (!aug || !aug->enabled) {
        cc_preprocess_gray_mode(img->pixels, img->width, img->height, (size_t)img->width, size,
                                resize, channels, mean, std, tmp, out);
        return;
    }
    size_t n = (size_t)size * size;
    float *resized = tmp, *warped = tmp + n;
    cc_resize_fit_u8(img->pixels, img->width, img->height, (size_t)img->width, size, resize,
                     resized);
    aug_draw d = draw(aug, size, seed);
    warp(resized, size, &d, warped);
    jitter(warped, n, &d);
    for (int c = 0; c < channels; c++)
        for (size_t i = 0; i < n; i++)
            out[c * n + i] = (warped[i] - mean[c]) / std[c];
}
