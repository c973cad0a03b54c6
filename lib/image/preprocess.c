#include "preprocess.h"

/* Output columns handled per pass: their taps live on the stack, so the resize
 * needs no allocation (and cannot fail) whatever the width. */
#define CC_TAP_BLOCK 256

/* Source index pair and weight of index i1 for one output coordinate. */
typedef struct tap {
    int i0;
    int i1;
    float w1;
} tap;

/* Half-pixel mapping of output coordinates [start, start + n) of an axis of
 * `dst` samples onto a source axis of `src` samples (PyTorch align_corners=False:
 * area_pixel_compute_source_index, clamped below at 0). Computed in double so
 * that a same-size resize lands exactly on the source samples. */
static void make_taps(int src, int dst, int start, int n, tap *t)
{
    double scale = (double)src / dst;
    for (int k = 0; k < n; k++) {
        double s = (start + k + 0.5) * scale - 0.5;
        if (s < 0)
            s = 0;
        int i0 = (int)s;
        if (i0 > src - 1)
            i0 = src - 1;
        t[k].i0 = i0;
        t[k].i1 = i0 < src - 1 ? i0 + 1 : i0;
        t[k].w1 = (float)(s - i0);
    }
}

/* Same association as PyTorch's kernel: h0 * (w0*a + w1*b) + h1 * (w0*c + w1*d). */
static void lerp_row_u8(const uint8_t *r0, const uint8_t *r1, float h1, const tap *tx, int n,
                        float *out)
{
    float h0 = 1.0f - h1;
    for (int k = 0; k < n; k++) {
        float w1 = tx[k].w1, w0 = 1.0f - w1;
        int a = tx[k].i0, b = tx[k].i1;
        out[k] = h0 * (w0 * r0[a] + w1 * r0[b]) + h1 * (w0 * r1[a] + w1 * r1[b]);
    }
}

static void lerp_row_f32(const float *r0, const float *r1, float h1, const tap *tx, int n,
                         float *out)
{
    float h0 = 1.0f - h1;
    for (int k = 0; k < n; k++) {
        float w1 = tx[k].w1, w0 = 1.0f - w1;
        int a = tx[k].i0, b = tx[k].i1;
        out[k] = h0 * (w0 * r0[a] + w1 * r0[b]) + h1 * (w0 * r1[a] + w1 * r1[b]);
    }
}

/* `elem` is 1 for uint8 sources and 4 for float ones; stride is in bytes,
 * dst_stride in floats. */
static void resize_any(const void *src, int elem, int sw, int sh, size_t stride, float *dst,
                       int dw, int dh, size_t dst_stride)
{
    const unsigned char *base = src;
    tap tx[CC_TAP_BLOCK];
    for (int xb = 0; xb < dw; xb += CC_TAP_BLOCK) {
        int n = dw - xb < CC_TAP_BLOCK ? dw - xb : CC_TAP_BLOCK;
        make_taps(sw, dw, xb, n, tx);
        for (int y = 0; y < dh; y++) {
            tap ty;
            make_taps(sh, dh, y, 1, &ty);
            const void *r0 = base + (size_t)ty.i0 * stride;
            const void *r1 = base + (size_t)ty.i1 * stride;
            float *out = dst + (size_t)y * dst_stride + xb;
            if (elem == 1)
                lerp_row_u8(r0, r1, ty.w1, tx, n, out);
            else
                lerp_row_f32(r0, r1, ty.w1, tx, n, out);
        }
    }
}

void cc_resize_u8_to_f32(const uint8_t *src, int sw, int sh, size_t stride, float *dst, int dw,
                         int dh)
{
    resize_any(src, 1, sw, sh, stride, dst, dw, dh, (size_t)dw);
}

void cc_resize_f32(const float *src, int sw, int sh, float *dst, int dw, int dh)
{
    resize_any(src, (int)sizeof(float), sw, sh, (size_t)sw * sizeof(float), dst, dw, dh,
               (size_t)dw);
}

void cc_resize_f32_rect(const float *src, int sw, int sh, size_t src_stride, float *dst, int dw,
                        int dh, size_t dst_stride)
{
    resize_any(src, (int)sizeof(float), sw, sh, src_stride * sizeof(float), dst, dw, dh,
               dst_stride);
}

void cc_fit_plan(cc_resize_mode mode, int w, int h, int size, cc_fit *f)
{
    *f = (cc_fit){0, 0, w, h, 0, 0, size, size};
    if (mode == CC_RESIZE_CENTER_CROP) {
        int s = w < h ? w : h;
        f->sx = (w - s) / 2;
        f->sy = (h - s) / 2;
        f->sw = f->sh = s;
    } else if (mode == CC_RESIZE_PAD && w != h) {
        int lo = w < h ? w : h, hi = w < h ? h : w;
        int side = (int)(((long long)size * lo * 2 + hi) / (2LL * hi)); /* rounded */
        if (side < 1)
            side = 1;
        f->dw = w > h ? size : side;
        f->dh = w > h ? side : size;
        f->dx = (size - f->dw) / 2;
        f->dy = (size - f->dh) / 2;
    }
}

void cc_resize_fit_u8(const uint8_t *px, int w, int h, size_t stride, int size,
                      cc_resize_mode mode, float *out)
{
    cc_fit f;
    cc_fit_plan(mode, w, h, size, &f);
    if (f.dw != size || f.dh != size)
        for (size_t i = 0; i < (size_t)size * size; i++)
            out[i] = 0.0f;
    resize_any(px + (size_t)f.sy * stride + (size_t)f.sx, 1, f.sw, f.sh, stride,
               out + (size_t)f.dy * size + f.dx, f.dw, f.dh, (size_t)size);
}

void cc_preprocess_gray(const uint8_t *px, int w, int h, size_t stride, int size, int channels,
                        const float *mean, const float *std, float *tmp, float *out)
{
    cc_preprocess_gray_mode(px, w, h, stride, size, CC_RESIZE_STRETCH, channels, mean, std, tmp,
                            out);
}

void cc_preprocess_gray_mode(const uint8_t *px, int w, int h, size_t stride, int size,
                             cc_resize_mode mode, int channels, const float *mean,
                             const float *std, float *tmp, float *out)
{
    size_t plane = (size_t)size * size;
    cc_resize_fit_u8(px, w, h, stride, size, mode, tmp);
    for (int c = 0; c < channels; c++) {
        float m = mean[c], s = std[c];
        float *o = out + (size_t)c * plane;
        /* Division, not a reciprocal product, as torchvision's Normalize does. */
        for (size_t i = 0; i < plane; i++)
            o[i] = (tmp[i] - m) / s;
    }
}

int cc_pixels_fit(int width, int height, size_t stride)
{
    if (width <= 0 || height <= 0 || stride < (size_t)width)
        return 0;
    return height == 1 || stride <= (SIZE_MAX - (size_t)width) / (size_t)(height - 1);
}
