/* Labelled overlays: the legend's pixels worked out by hand from the font's
 * documented layout and OpenCV's jet ends, its scaling and clipping, the
 * label text, and the labelled PNG against overlay + legend in memory
 * (decoded by libpng's own simplified reader). */
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "covidcam.h"
#include "test_util.h"

static const uint8_t *px(const uint8_t *rgb, int w, int x, int y)
{
    return rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
}

static void assert_px(const uint8_t *rgb, int w, int x, int y, int r, int g, int b)
{
    const uint8_t *p = px(rgb, w, x, y);
    if (p[0] != r || p[1] != g || p[2] != b)
        fail_msg("pixel (%d, %d) is (%d, %d, %d), want (%d, %d, %d)", x, y, p[0], p[1], p[2], r,
                 g, b);
}

static uint8_t *filled(int w, int h, uint8_t v)
{
    uint8_t *rgb = malloc((size_t)w * (size_t)h * 3);
    assert_non_null(rgb);
    memset(rgb, v, (size_t)w * (size_t)h * 3);
    return rgb;
}

/* misc-fixed 6x13 'A' (rows 2..10): ..X... .X.X.. X...X. X...X. X...X. XXXXX.
 * X...X. X...X. X...X. Text starts 3 pixels in from the top-left corner. */
static void test_text_and_band(void **state)
{
    (void)state;
    int w = 64, h = 64;
    uint8_t *rgb = filled(w, h, 200);
    assert_int_equal(covidcam_draw_legend(rgb, w, h, "A", NULL, 0), COVIDCAM_OK);
    assert_px(rgb, w, 3 + 2, 3 + 2, 255, 255, 255); /* apex */
    assert_px(rgb, w, 3 + 1, 3 + 2, 60, 60, 60);    /* beside it: the darkened band, 200 * 0.3 */
    for (int x = 0; x < 5; x++)
        assert_px(rgb, w, 3 + x, 3 + 7, 255, 255, 255); /* crossbar */
    assert_px(rgb, w, 3 + 5, 3 + 7, 60, 60, 60);
    assert_px(rgb, w, 3, 3 + 10, 255, 255, 255);     /* left foot */
    assert_px(rgb, w, 40, 18, 60, 60, 60);           /* last band row: 13 + 2 * 3 = 19 rows */
    assert_px(rgb, w, 40, 19, 200, 200, 200);        /* the image below it untouched */
    /* bottom: bar rows [64 - 3 - 8, 64 - 3), jet(0) at the left, jet(1) at the right */
    assert_px(rgb, w, 3, 56, 0, 0, 128);
    assert_px(rgb, w, 60, 56, 128, 0, 0);
    assert_px(rgb, w, 2, 56, 60, 60, 60);            /* margin of the band */
    assert_px(rgb, w, 40, 63, 60, 60, 60);
    free(rgb);
}

/* Text wider than the image wraps at a space: 40 px leave room for
 * (40 - 2 * 3) / 6 = 5 glyphs, so "AAAA BBBB" is two lines, the band
 * 3 + 13 + 2 + 13 + 3 = 34 rows high, the second line 15 rows below the first. */
static void test_wrap(void **state)
{
    (void)state;
    int w = 40, h = 100;
    uint8_t *rgb = filled(w, h, 200);
    assert_int_equal(covidcam_draw_legend(rgb, w, h, "AAAA BBBB", NULL, 0), COVIDCAM_OK);
    /* row 3: A is .X.X.., B is .X..X. */
    assert_px(rgb, w, 3 + 3, 3 + 3, 255, 255, 255);   /* first line: an A */
    assert_px(rgb, w, 3 + 3, 3 + 15 + 3, 60, 60, 60); /* second line: a B, not an A */
    assert_px(rgb, w, 3 + 4, 3 + 15 + 3, 255, 255, 255);
    assert_px(rgb, w, 20, 33, 60, 60, 60);
    assert_px(rgb, w, 20, 34, 200, 200, 200);
    free(rgb);
}

/* Bytes outside printable ASCII are drawn as '?'. */
static void test_non_ascii(void **state)
{
    (void)state;
    int w = 80, h = 40;
    uint8_t *a = filled(w, h, 0), *b = filled(w, h, 0);
    assert_int_equal(covidcam_draw_legend(a, w, h, "x\xc3\xa9\x01", NULL, 0), COVIDCAM_OK);
    assert_int_equal(covidcam_draw_legend(b, w, h, "x???", NULL, 0), COVIDCAM_OK);
    assert_memory_equal(a, b, (size_t)w * h * 3);
    free(a);
    free(b);
}

/* A 1280 x 700 film: scale 700 / 320 = 2, every font pixel 2 x 2. */
static void test_scale(void **state)
{
    (void)state;
    int w = 1280, h = 700;
    uint8_t *rgb = filled(w, h, 100);
    assert_int_equal(covidcam_draw_legend(rgb, w, h, "A", NULL, 0), COVIDCAM_OK);
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++)
            assert_px(rgb, w, 6 + 4 + dx, 6 + 4 + dy, 255, 255, 255);
    assert_px(rgb, w, 6 + 3, 6 + 4, 30, 30, 30);
    assert_px(rgb, w, 40, 37, 30, 30, 30);  /* band: 19 * 2 rows */
    assert_px(rgb, w, 40, 38, 100, 100, 100);
    free(rgb);
}

/* Tiny images and long text: clipped, never out of bounds (ASan). */
static void test_clipping_and_errors(void **state)
{
    (void)state;
    char long_text[600];
    memset(long_text, 'W', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    for (int w = 1; w <= 24; w += 23)
        for (int h = 1; h <= 24; h += 23) {
            uint8_t *rgb = filled(w, h, 50);
            assert_int_equal(covidcam_draw_legend(rgb, w, h, long_text, NULL, 0), COVIDCAM_OK);
            free(rgb);
        }
    uint8_t *rgb = filled(30, 30, 0);
    char err[COVIDCAM_ERRBUF_SIZE];
    assert_int_equal(covidcam_draw_legend(NULL, 30, 30, "x", err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "rgb"));
    assert_int_equal(covidcam_draw_legend(rgb, 30, 30, NULL, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "text"));
    assert_int_equal(covidcam_draw_legend(rgb, 0, 30, "x", err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_draw_legend(rgb, 30, 20000, "x", err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    free(rgb);
}

static covidcam_heatmap *heatmap_of(covidcam_model **m, covidcam_session **s,
                                    covidcam_cam_method method, int eigen)
{
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    if (covidcam_model_load(tu_fixture("basic.safetensors"), m, err, sizeof err) ||
        covidcam_session_create(*m, NULL, s, err, sizeof err))
        fail_msg("%s", err);
    covidcam_gradcam_options o;
    covidcam_gradcam_options_init(&o);
    o.method = method;
    o.eigen_smooth = eigen;
    o.aug_smooth = COVIDCAM_AUG_INTENSITY;
    o.layer = "layer3,layer4";
    covidcam_heatmap *h = NULL;
    assert_int_equal(covidcam_gradcam_file(*s, tu_fixture("sample_97x131.png"), &o, &h),
                     COVIDCAM_OK);
    return h;
}

static void test_label(void **state)
{
    (void)state;
    covidcam_model *m, *other;
    covidcam_session *s;
    covidcam_heatmap *h = heatmap_of(&m, &s, COVIDCAM_CAM_GRADCAMPP, 1);
    char want[128], got[128];
    int cls = covidcam_heatmap_class(h);
    snprintf(want, sizeof want, "%s %.1f%% | gradcam++ %s eigen aug",
             covidcam_model_class_name(m, cls), 100.0 * covidcam_heatmap_probability(h),
             covidcam_heatmap_layer(h));
    assert_int_equal(covidcam_heatmap_label(h, m, got, sizeof got), COVIDCAM_OK);
    assert_string_equal(got, want);
    assert_int_equal(covidcam_heatmap_eigen_smooth(h), 1);
    assert_int_equal(covidcam_heatmap_aug_smooth(h), COVIDCAM_AUG_INTENSITY);
    /* cut to fit */
    assert_int_equal(covidcam_heatmap_label(h, m, got, 6), COVIDCAM_OK);
    assert_int_equal(strlen(got), 5);
    assert_int_equal(strncmp(got, want, 5), 0);
    assert_int_equal(covidcam_heatmap_label(h, m, got, 0), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_heatmap_label(NULL, m, got, 9), COVIDCAM_ERR_INVALID_ARGUMENT);
    char err[COVIDCAM_ERRBUF_SIZE];
    assert_int_equal(covidcam_model_load(tu_fixture("bottleneck.safetensors"), &other, err,
                                         sizeof err),
                     COVIDCAM_OK);
    assert_int_equal(covidcam_heatmap_label(h, other, got, sizeof got),
                     COVIDCAM_ERR_INVALID_ARGUMENT); /* 4 classes, not 3 */
    covidcam_model_free(other);
    covidcam_heatmap_free(h);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

/* The labelled PNG is the overlay with the legend drawn on it. */
static void test_labelled_png(void **state)
{
    (void)state;
    covidcam_model *m;
    covidcam_session *s;
    covidcam_heatmap *h = heatmap_of(&m, &s, COVIDCAM_CAM_GRADCAM, 0);
    char out[512], label[128], err[COVIDCAM_ERRBUF_SIZE];
    snprintf(out, sizeof out, "%s/test_legend.png",
             getenv("CC_BUILD_ROOT") ? getenv("CC_BUILD_ROOT") : ".");
    assert_int_equal(covidcam_heatmap_label(h, m, label, sizeof label), COVIDCAM_OK);
    assert_int_equal(covidcam_heatmap_write_labelled_overlay(h, out, 0.5f, label, err,
                                                             sizeof err),
                     COVIDCAM_OK);
    assert_int_equal(covidcam_heatmap_write_labelled_overlay(h, out, 0.5f, NULL, err,
                                                             sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "label"));

    int w = 97, ht = 131;
    size_t len = 0;
    unsigned char *file = tu_read_file(tu_fixture("sample_97x131.png"), &len);
    png_image in = {.version = PNG_IMAGE_VERSION};
    uint8_t *gray = malloc((size_t)w * ht), *want = malloc((size_t)w * ht * 3);
    assert_true(png_image_begin_read_from_memory(&in, file, len));
    in.format = PNG_FORMAT_GRAY;
    assert_true(png_image_finish_read(&in, NULL, gray, 0, NULL));
    assert_int_equal(covidcam_heatmap_overlay(h, gray, w, ht, (size_t)w, 0.5f, want),
                     COVIDCAM_OK);
    assert_int_equal(covidcam_draw_legend(want, w, ht, label, NULL, 0), COVIDCAM_OK);

    png_image back = {.version = PNG_IMAGE_VERSION};
    uint8_t *got = malloc((size_t)w * ht * 3);
    assert_true(png_image_begin_read_from_file(&back, out));
    assert_int_equal(back.width, w);
    assert_int_equal(back.height, ht);
    back.format = PNG_FORMAT_RGB;
    assert_true(png_image_finish_read(&back, NULL, got, 0, NULL));
    assert_memory_equal(got, want, (size_t)w * ht * 3);
    free(file);
    free(gray);
    free(want);
    free(got);
    covidcam_heatmap_free(h);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_and_band),       cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_non_ascii),
        cmocka_unit_test(test_scale),               cmocka_unit_test(test_clipping_and_errors),
        cmocka_unit_test(test_label),               cmocka_unit_test(test_labelled_png),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
