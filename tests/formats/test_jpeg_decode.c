/* JPEG decoding to 8-bit gray against PIL references written by
 * tools/make_jpeg_fixtures.py (qualities, 4:2:0/4:2:2/4:4:4, progressive,
 * restart markers, arithmetic coding, RGB, CMYK/Adobe, EXIF orientations),
 * and every error path (truncated, corrupt, too large, 12-bit, too many scans). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jpeg_io.h"
#include "test_util.h"

static uint8_t *load(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "jpeg/%s", name);
    uint8_t *d = tu_read_file(tu_fixture(rel), len);
    if (!d)
        fail_msg("missing fixture %s (run tools/make_jpeg_fixtures.py)", rel);
    return d;
}

static FILE *manifest(const char *name)
{
    char rel[64];
    snprintf(rel, sizeof rel, "jpeg/%s", name);
    FILE *f = fopen(tu_fixture(rel), "r");
    if (!f)
        fail_msg("missing manifest %s", rel);
    return f;
}

static void test_decode_against_pil(void **state)
{
    (void)state;
    FILE *m = manifest("decode.txt");
    char name[96], ref[128];
    int w, h, tol, count = 0;
    while (fscanf(m, "%95s %d %d %127s %d", name, &w, &h, ref, &tol) == 5) {
        char file[160];
        size_t len, glen;
        snprintf(file, sizeof file, "%s.jpg", name);
        uint8_t *jpg = load(file, &len);
        snprintf(file, sizeof file, "%s.gray", ref);
        uint8_t *want = load(file, &glen);
        assert_int_equal(glen, (size_t)w * h);

        cc_err e = {{0}};
        cc_image img;
        cc_jpeg_meta meta;
        covidcam_status st = cc_jpeg_decode_gray(jpg, len, &img, &meta, &e);
        if (st != COVIDCAM_OK)
            fail_msg("%s: status %d: %s", name, st, e.msg);
        if (img.width != w || img.height != h)
            fail_msg("%s: decoded %dx%d, PIL %dx%d", name, img.width, img.height, w, h);
        int worst = 0;
        for (size_t i = 0; i < glen; i++) {
            int d = abs((int)img.pixels[i] - (int)want[i]);
            worst = d > worst ? d : worst;
        }
        if (worst > tol)
            fail_msg("%s vs %s: max |diff| %d > %d", name, ref, worst, tol);
        assert_int_equal(meta.bits, 8);
        cc_image_free(&img);
        free(jpg);
        free(want);
        count++;
    }
    fclose(m);
    assert_true(count >= 30);
}

static void expect_meta(const char *name, const char *photometric, int comps, int progressive,
                        int orientation)
{
    char file[96];
    size_t len;
    snprintf(file, sizeof file, "%s.jpg", name);
    uint8_t *jpg = load(file, &len);
    cc_err e = {{0}};
    cc_image img;
    cc_jpeg_meta meta;
    assert_int_equal(cc_jpeg_decode_gray(jpg, len, &img, &meta, &e), COVIDCAM_OK);
    if (strcmp(meta.photometric, photometric) != 0)
        fail_msg("%s: photometric %s, expected %s", name, meta.photometric, photometric);
    assert_int_equal(meta.components, comps);
    assert_int_equal(meta.progressive, progressive);
    assert_int_equal(meta.orientation, orientation);
    /* stored size is before the orientation: 61 x 47 fixtures */
    assert_int_equal(meta.width, 61);
    assert_int_equal(meta.height, 47);
    assert_int_equal(img.width, orientation >= 5 ? 47 : 61);
    cc_image_free(&img);
    free(jpg);
}

static void test_metadata(void **state)
{
    (void)state;
    expect_meta("gray_q75", "GRAY", 1, 0, 1);
    expect_meta("ycc420_q90", "YCbCr", 3, 0, 1);
    expect_meta("prog_ycc_q80", "YCbCr", 3, 1, 1);
    expect_meta("rgb_nojfif", "RGB", 3, 0, 1);
    expect_meta("cmyk_adobe", "CMYK", 4, 0, 1);
    expect_meta("exif_o3", "GRAY", 1, 0, 3);
    expect_meta("exif_o6", "GRAY", 1, 0, 6);
    expect_meta("exif_o8", "GRAY", 1, 0, 8);
    expect_meta("exif_bad_ifd", "GRAY", 1, 0, 1);
}

static covidcam_status status_from_name(const char *s)
{
    if (strcmp(s, "LIMIT") == 0)
        return COVIDCAM_ERR_LIMIT;
    if (strcmp(s, "BAD_FORMAT") == 0)
        return COVIDCAM_ERR_BAD_FORMAT;
    if (strcmp(s, "UNSUPPORTED") == 0)
        return COVIDCAM_ERR_UNSUPPORTED;
    fail_msg("unknown status %s in errors.txt", s);
    return COVIDCAM_OK;
}

static void test_errors(void **state)
{
    (void)state;
    FILE *m = manifest("errors.txt");
    char name[96], sname[32], needle[128];
    int count = 0;
    while (fscanf(m, "%95s %31s %127[^\n]", name, sname, needle) == 3) {
        char file[160];
        size_t len;
        snprintf(file, sizeof file, "%s.jpg", name);
        uint8_t *jpg = load(file, &len);
        cc_err e = {{0}};
        cc_image img = {-1, -1, (uint8_t *)&img};
        cc_jpeg_meta meta = {.width = -7};
        covidcam_status st = cc_jpeg_decode_gray(jpg, len, &img, &meta, &e);
        if (st != status_from_name(sname))
            fail_msg("%s: status %d, expected %s (%s)", name, st, sname, e.msg);
        if (!strstr(e.msg, needle + strspn(needle, " ")))
            fail_msg("%s: message \"%s\" lacks \"%s\"", name, e.msg, needle);
        assert_int_equal(img.width, -1); /* untouched on failure */
        assert_ptr_equal(img.pixels, (uint8_t *)&img);
        assert_int_equal(meta.width, -7);
        free(jpg);
        count++;
    }
    fclose(m);
    assert_true(count >= 9);
}

/* Every prefix of a valid file is refused, never decoded with gray fill. */
static void test_every_truncation(void **state)
{
    (void)state;
    size_t len;
    uint8_t *jpg = load("prog_gray_q80.jpg", &len);
    for (size_t n = 0; n < len - 1; n++) {
        cc_err e = {{0}};
        cc_image img;
        covidcam_status st = cc_jpeg_decode_gray(jpg, n, &img, NULL, &e);
        if (st != COVIDCAM_ERR_BAD_FORMAT)
            fail_msg("prefix of %zu/%zu bytes: status %d (%s)", n, len, st, e.msg);
    }
    free(jpg);
}

/* Flipped bytes: any status but a crash; what decodes has the right size. */
static void test_flipped_bytes(void **state)
{
    (void)state;
    size_t len;
    uint8_t *jpg = load("ycc420_q90.jpg", &len);
    int rejected = 0;
    for (size_t i = 2; i < len; i++) {
        jpg[i] ^= 0x5a;
        cc_err e = {{0}};
        cc_image img;
        covidcam_status st = cc_jpeg_decode_gray(jpg, len, &img, NULL, &e);
        if (st == COVIDCAM_OK) {
            assert_true(img.width > 0 && img.height > 0);
            cc_image_free(&img);
        } else {
            rejected++;
            assert_true(st == COVIDCAM_ERR_BAD_FORMAT || st == COVIDCAM_ERR_LIMIT ||
                        st == COVIDCAM_ERR_UNSUPPORTED);
            assert_true(strlen(e.msg) > 0);
        }
        jpg[i] ^= 0x5a;
    }
    assert_true(rejected > 0);
    free(jpg);
}

static void test_not_a_jpeg(void **state)
{
    (void)state;
    cc_err e = {{0}};
    cc_image img;
    assert_int_equal(cc_jpeg_decode_gray("\x89PNG", 4, &img, NULL, &e), COVIDCAM_ERR_BAD_FORMAT);
    assert_int_equal(cc_jpeg_decode_gray("\xff\xd8", 2, &img, NULL, &e), COVIDCAM_ERR_BAD_FORMAT);
    assert_int_equal(cc_jpeg_decode_gray(NULL, 4, &img, NULL, &e),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_against_pil), cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_errors),             cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_flipped_bytes),      cmocka_unit_test(test_not_a_jpeg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
