/* PNG encoding: round trips through our decoder and through libpng's
 * simplified reader (an independent decode path), and the error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <png.h>

#include "png_io.h"
#include "test_util.h"

/* Deterministic pixels with both smooth and noisy regions. */
static uint8_t *make_pixels(int w, int h, int c, uint32_t seed)
{
    uint8_t *p = malloc((size_t)w * h * c);
    uint32_t s = seed;
    for (size_t i = 0; i < (size_t)w * h * c; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (i / c) % 7 == 0 ? (uint8_t)(i * 3) : (uint8_t)(s >> 24);
    }
    return p;
}

/* Decode with png_image (libpng's simplified API) to the given format. */
static uint8_t *simplified_decode(const uint8_t *png, size_t len, png_uint_32 format, int *w,
                                  int *h)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_memory(&im, png, len));
    im.format = format;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(im));
    assert_true(png_image_finish_read(&im, NULL, buf, 0, NULL));
    *w = (int)im.width;
    *h = (int)im.height;
    return buf;
}

static void test_gray_round_trip(void **state)
{
    (void)state;
    const int sizes[][2] = {{1, 1}, {37, 23}, {256, 3}, {3, 300}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int w = sizes[k][0], h = sizes[k][1];
        uint8_t *px = make_pixels(w, h, 1, 7u + (uint32_t)k);
        cc_err e = {{0}};
        uint8_t *png;
        size_t len;
        assert_int_equal(cc_png_encode(px, w, h, 1, &png, &len, &e), COVIDCAM_OK);

        cc_image img;
        assert_int_equal(cc_png_decode_gray(png, len, &img, &e), COVIDCAM_OK);
        assert_int_equal(img.width, w);
        assert_int_equal(img.height, h);
        assert_memory_equal(img.pixels, px, (size_t)w * h);
        cc_image_free(&img);

        int dw, dh;
        uint8_t *ref = simplified_decode(png, len, PNG_FORMAT_GRAY, &dw, &dh);
        assert_int_equal(dw, w);
        assert_int_equal(dh, h);
        assert_memory_equal(ref, px, (size_t)w * h);
        free(ref);
        free(png);
        free(px);
    }
}

static void test_rgb_round_trip(void **state)
{
    (void)state;
    int w = 41, h = 17;
    uint8_t *px = make_pixels(w, h, 3, 99u);
    cc_err e = {{0}};
    uint8_t *png;
    size_t len;
    assert_int_equal(cc_png_encode(px, w, h, 3, &png, &len, &e), COVIDCAM_OK);

    /* the file holds exactly our RGB bytes, as an 8-bit RGB PNG */
    assert_int_equal(png[24], 8); /* IHDR bit depth */
    assert_int_equal(png[25], PNG_COLOR_TYPE_RGB);
    assert_int_equal(png[28], PNG_INTERLACE_NONE);
    int dw, dh;
    uint8_t *ref = simplified_decode(png, len, PNG_FORMAT_RGB, &dw, &dh);
    assert_int_equal(dw, w);
    assert_int_equal(dh, h);
    assert_memory_equal(ref, px, (size_t)w * h * 3);
    free(ref);

    /* our gray decode applies libpng's truncating 8-bit rgb_to_gray */
    cc_image img;
    assert_int_equal(cc_png_decode_gray(png, len, &img, &e), COVIDCAM_OK);
    for (int i = 0; i < w * h; i++) {
        unsigned r = px[3 * i], g = px[3 * i + 1], b = px[3 * i + 2];
        unsigned want = (r == g && g == b) ? r : (6968 * r + 23434 * g + 2366 * b) >> 15;
        assert_int_equal(img.pixels[i], want);
    }
    cc_image_free(&img);
    free(png);
    free(px);
}

static void test_write_file(void **state)
{
    (void)state;
    char path[] = "/tmp/covidcam_png_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    int w = 29, h = 31;
    uint8_t *px = make_pixels(w, h, 1, 3u);
    cc_err e = {{0}};
    assert_int_equal(cc_png_write_file(path, px, w, h, 1, &e), COVIDCAM_OK);
    cc_image img;
    assert_int_equal(cc_png_read_gray_file(path, &img, &e), COVIDCAM_OK);
    assert_int_equal(img.width, w);
    assert_memory_equal(img.pixels, px, (size_t)w * h);
    cc_image_free(&img);
    unlink(path);
    free(px);
}

static void test_write_errors(void **state)
{
    (void)state;
    uint8_t px[12] = {0};
    cc_err e = {{0}};
    const char *bad = "/nonexistent-covidcam-dir/out.png";
    assert_int_equal(cc_png_write_file(bad, px, 2, 2, 3, &e), COVIDCAM_ERR_IO);
    assert_non_null(strstr(e.msg, bad));

    /* a directory is not writable as a file */
    assert_int_equal(cc_png_write_file("/tmp", px, 2, 2, 1, &e), COVIDCAM_ERR_IO);
    assert_non_null(strstr(e.msg, "/tmp"));

    uint8_t *png = (uint8_t *)px;
    size_t len = 123;
    assert_int_equal(cc_png_encode(px, 2, 2, 2, &png, &len, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "2 channels"));
    assert_int_equal(cc_png_encode(px, 0, 2, 1, &png, &len, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_png_encode(px, 2, -1, 1, &png, &len, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_png_encode(px, 16385, 1, 1, &png, &len, &e),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_png_encode(NULL, 2, 2, 1, &png, &len, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_ptr_equal(png, (uint8_t *)px); /* untouched */
    assert_int_equal(len, 123);
    assert_int_equal(cc_png_write_file(NULL, px, 2, 2, 1, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gray_round_trip),
        cmocka_unit_test(test_rgb_round_trip),
        cmocka_unit_test(test_write_file),
        cmocka_unit_test(test_write_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
