/* Bilinear resize and normalization against torch F.interpolate(bilinear,
 * align_corners=False) computed in float64 by tools/make_png_fixtures.py. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "preprocess.h"
#include "test_util.h"

/* float32 arithmetic on 0..255 data: a few ulps of 255. */
#define TOL_U8 1e-4
#define TOL_F32 2e-6

static void *load(const char *prefix, const char *name, const char *ext, size_t want)
{
    char rel[256];
    snprintf(rel, sizeof rel, "png/%s%s.%s", prefix, name, ext);
    size_t len;
    void *d = tu_read_file(tu_fixture(rel), &len);
    if (!d)
        fail_msg("missing fixture %s (run tools/make_png_fixtures.py)", rel);
    if (len != want)
        fail_msg("%s: %zu bytes, expected %zu", rel, len, want);
    return d;
}

static double max_err(const float *got, const double *ref, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - ref[i]);
        m = d > m || isnan(d) ? d : m;
    }
    return m;
}

static void check_u8_case(const char *name, int sw, int sh, int dw, int dh)
{
    size_t n = (size_t)dw * dh;
    uint8_t *src = load("resize_", name, "src", (size_t)sw * sh);
    double *ref = load("resize_", name, "ref", n * sizeof(double));
    float *out = malloc(n * sizeof *out), *out2 = malloc(n * sizeof *out2);

    cc_resize_u8_to_f32(src, sw, sh, (size_t)sw, out, dw, dh);
    double err = max_err(out, ref, n);
    if (err > TOL_U8)
        fail_msg("%s: max |c - torch| = %g", name, err);

    /* rows `stride` bytes apart, padding filled with garbage: same result */
    size_t stride = (size_t)sw + 13;
    uint8_t *padded = malloc(stride * sh);
    memset(padded, 0xA5, stride * sh);
    for (int y = 0; y < sh; y++)
        memcpy(padded + y * stride, src + (size_t)y * sw, sw);
    cc_resize_u8_to_f32(padded, sw, sh, stride, out2, dw, dh);
    assert_memory_equal(out, out2, n * sizeof *out);

    if (sw == dw && sh == dh)
        for (size_t i = 0; i < n; i++)
            assert_true(out[i] == (float)src[i]);
    free(padded);
    free(out2);
    free(out);
    free(ref);
    free(src);
}

static void check_f32_case(const char *name, int sw, int sh, int dw, int dh)
{
    size_t n = (size_t)dw * dh;
    float *src = load("resize_", name, "src", (size_t)sw * sh * sizeof(float));
    double *ref = load("resize_", name, "ref", n * sizeof(double));
    float *out = malloc(n * sizeof *out);
    cc_resize_f32(src, sw, sh, out, dw, dh);
    double err = max_err(out, ref, n);
    if (err > TOL_F32)
        fail_msg("%s: max |c - torch| = %g", name, err);
    if (sw == dw && sh == dh)
        assert_memory_equal(out, src, n * sizeof *out);
    free(out);
    free(ref);
    free(src);
}

static void test_resize_cases(void **state)
{
    (void)state;
    FILE *m = fopen(tu_fixture("png/resize.txt"), "r");
    assert_non_null(m);
    char name[128], kind[8];
    int sw, sh, dw, dh, count = 0;
    while (fscanf(m, "%127s %7s %d %d %d %d", name, kind, &sw, &sh, &dw, &dh) == 6) {
        if (strcmp(kind, "u8") == 0)
            check_u8_case(name, sw, sh, dw, dh);
        else
            check_f32_case(name, sw, sh, dw, dh);
        count++;
    }
    fclose(m);
    assert_true(count >= 9);
}

/* Wider than one block of precomputed taps (256 columns). */
static void test_wide_identity(void **state)
{
    (void)state;
    int w = 1000, h = 3;
    uint8_t *src = malloc((size_t)w * h);
    float *out = malloc((size_t)w * h * sizeof *out);
    for (int i = 0; i < w * h; i++)
        src[i] = (uint8_t)(i * 7 + i / 13);
    cc_resize_u8_to_f32(src, w, h, (size_t)w, out, w, h);
    for (int i = 0; i < w * h; i++)
        assert_true(out[i] == (float)src[i]);
    free(out);
    free(src);
}

static void test_preprocess(void **state)
{
    (void)state;
    FILE *m = fopen(tu_fixture("png/preprocess.txt"), "r");
    assert_non_null(m);
    char name[128];
    int sw, sh, size, ch, count = 0;
    while (fscanf(m, "%127s %d %d %d %d", name, &sw, &sh, &size, &ch) == 5) {
        float mean[3], std[3];
        assert_true(ch >= 1 && ch <= 3);
        for (int c = 0; c < ch; c++)
            assert_int_equal(fscanf(m, "%f", &mean[c]), 1);
        for (int c = 0; c < ch; c++)
            assert_int_equal(fscanf(m, "%f", &std[c]), 1);
        size_t plane = (size_t)size * size, n = plane * ch;
        uint8_t *src = load("pre_", name, "src", (size_t)sw * sh);
        double *ref = load("pre_", name, "ref", n * sizeof(double));
        float *tmp = malloc(plane * sizeof *tmp), *out = malloc(n * sizeof *out);
        cc_preprocess_gray(src, sw, sh, (size_t)sw, size, ch, mean, std, tmp, out);
        double err = max_err(out, ref, n);
        if (err > 1e-5)
            fail_msg("%s: max |c - torch| = %g", name, err);
        free(out);
        free(tmp);
        free(ref);
        free(src);
        count++;
    }
    fclose(m);
    assert_int_equal(count, 2);
}

/* The resize modes against the stretch path on regions cut out here: a center
 * crop equals stretching the cropped copy, a pad equals the image stretched to
 * its rectangle with black (normalised 0) around it, bit for bit. */
static void test_resize_modes(void **state)
{
    (void)state;
    enum { W = 37, H = 20, S = 16 };
    uint8_t src[W * H], crop[H * H];
    for (int i = 0; i < W * H; i++)
        src[i] = (uint8_t)(i * 29 % 251);
    float mean[1] = {100.0f}, sd[1] = {50.0f}, tmp[S * S], a[S * S], b[S * S], inner[S * S];
    int x0 = (W - H) / 2; /* 8 */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < H; x++)
            crop[y * H + x] = src[y * W + x0 + x];
    cc_preprocess_gray_mode(src, W, H, W, S, CC_RESIZE_CENTER_CROP, 1, mean, sd, tmp, a);
    cc_preprocess_gray(crop, H, H, H, S, 1, mean, sd, tmp, b);
    assert_memory_equal(a, b, sizeof a);

    cc_fit f;
    cc_fit_plan(CC_RESIZE_PAD, W, H, S, &f);
    assert_int_equal(f.dw, S);
    assert_int_equal(f.dh, 9); /* round(16 * 20 / 37) = round(8.65) */
    assert_int_equal(f.dx, 0);
    assert_int_equal(f.dy, 3);
    cc_preprocess_gray_mode(src, W, H, W, S, CC_RESIZE_PAD, 1, mean, sd, tmp, a);
    cc_resize_u8_to_f32(src, W, H, W, inner, S, 9);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            float want = y >= 3 && y < 12 ? (inner[(y - 3) * S + x] - 100.0f) / 50.0f
                                          : (0.0f - 100.0f) / 50.0f;
            if (a[y * S + x] != want)
                fail_msg("pad: (%d, %d) is %g, expected %g", x, y, a[y * S + x], want);
        }
    /* a square image is the same under every mode */
    cc_preprocess_gray_mode(crop, H, H, H, S, CC_RESIZE_PAD, 1, mean, sd, tmp, a);
    assert_memory_equal(a, b, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_cases),
        cmocka_unit_test(test_wide_identity),
        cmocka_unit_test(test_preprocess),
        cmocka_unit_test(test_resize_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
