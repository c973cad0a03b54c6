/* PNG decoding to 8-bit gray: every color type / bit depth against gray values
 * computed by tools/make_png_fixtures.py from libpng's integer formulas, and
 * every error path (bad files, truncation, limits, file system errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "png_io.h"
#include "test_util.h"

static uint8_t *load(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "png/%s", name);
    uint8_t *d = tu_read_file(tu_fixture(rel), len);
    if (!d)
        fail_msg("missing fixture %s (run tools/make_png_fixtures.py)", rel);
    return d;
}

static FILE *open_manifest(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "png/%s", name);
    FILE *f = fopen(tu_fixture(rel), "r");
    if (!f)
        fail_msg("missing manifest %s", rel);
    return f;
}

static void test_decode_all_formats(void **state)
{
    (void)state;
    FILE *m = open_manifest("decode.txt");
    char name[128];
    int w, h, count = 0;
    while (fscanf(m, "%127s %d %d", name, &w, &h) == 3) {
        char file[160];
        size_t len, glen;
        snprintf(file, sizeof file, "%s.png", name);
        uint8_t *png = load(file, &len);
        snprintf(file, sizeof file, "%s.gray", name);
        uint8_t *want = load(file, &glen);
        assert_int_equal(glen, (size_t)w * h);

        cc_err e = {{0}};
        cc_image img;
        covidcam_status st = cc_png_decode_gray(png, len, &img, &e);
        if (st != COVIDCAM_OK)
            fail_msg("%s: status %d: %s", name, st, e.msg);
        assert_int_equal(img.width, w);
        assert_int_equal(img.height, h);
        for (size_t i = 0; i < glen; i++)
            if (img.pixels[i] != want[i])
                fail_msg("%s: pixel %zu (x=%zu y=%zu) is %d, expected %d", name, i, i % w, i / w,
                         img.pixels[i], want[i]);
        cc_image_free(&img);
        assert_null(img.pixels);
        free(png);
        free(want);
        count++;
    }
    fclose(m);
    assert_true(count >= 20);
}

static covidcam_status status_from_name(const char *s)
{
    if (strcmp(s, "LIMIT") == 0)
        return COVIDCAM_ERR_LIMIT;
    if (strcmp(s, "BAD_FORMAT") == 0)
        return COVIDCAM_ERR_BAD_FORMAT;
    fail_msg("unknown status %s in errors.txt", s);
    return COVIDCAM_OK;
}

static void test_decode_errors(void **state)
{
    (void)state;
    FILE *m = open_manifest("errors.txt");
    char name[128], sname[32];
    int count = 0;
    while (fscanf(m, "%127s %31s", name, sname) == 2) {
        char file[160];
        size_t len;
        snprintf(file, sizeof file, "%s.png", name);
        uint8_t *png = load(file, &len);
        cc_err e = {{0}};
        cc_image img = {-1, -1, (uint8_t *)&img};
        covidcam_status st = cc_png_decode_gray(png, len, &img, &e);
        if (st != status_from_name(sname))
            fail_msg("%s: status %d, expected %s (%s)", name, st, sname, e.msg);
        assert_true(strlen(e.msg) > 0);
        /* out-parameters untouched on failure */
        assert_int_equal(img.width, -1);
        assert_ptr_equal(img.pixels, (uint8_t *)&img);
        free(png);
        count++;
    }
    fclose(m);
    assert_true(count >= 14);
}

static void expect_msg(const char *file, const char *needle)
{
    size_t len;
    uint8_t *png = load(file, &len);
    cc_err e = {{0}};
    cc_image img;
    assert_int_not_equal(cc_png_decode_gray(png, len, &img, &e), COVIDCAM_OK);
    if (!strstr(e.msg, needle))
        fail_msg("%s: message \"%s\" lacks \"%s\"", file, e.msg, needle);
    free(png);
}

static void test_error_messages(void **state)
{
    (void)state;
    expect_msg("err_huge.png", "100000x100000");
    expect_msg("err_too_many_pixels.png", "16384x4097");
    expect_msg("err_zero_dims.png", "0x0");
    expect_msg("err_bad_idat_crc.png", "CRC");
    expect_msg("err_short_idat.png", "image data");
}

static void test_not_a_png(void **state)
{
    (void)state;
    static const char *inputs[] = {"", "GIF89a", "\x89PNG\r\n\x1a", "hello world, not a png",
                                   "\x89PNG\r\n\x1b\n0000000000000000000000000"};
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        cc_err e = {{0}};
        cc_image img;
        size_t len = strlen(inputs[i]);
        assert_int_equal(cc_png_decode_gray(inputs[i], len, &img, &e), COVIDCAM_ERR_BAD_FORMAT);
        assert_string_equal(e.msg, "not a PNG file");
    }
    cc_err e = {{0}};
    cc_image img;
    assert_int_equal(cc_png_decode_gray(NULL, 10, &img, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_png_decode_gray("x", 1, NULL, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    /* a NULL error buffer is allowed */
    assert_int_equal(cc_png_decode_gray("x", 1, &img, NULL), COVIDCAM_ERR_BAD_FORMAT);
}

/* Every proper prefix of a valid PNG is BAD_FORMAT: the reader never runs past
 * the buffer (checked by ASan/valgrind on a heap copy of exactly that size). */
static void truncate_everywhere(const char *file)
{
    size_t len;
    uint8_t *png = load(file, &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, png, cut);
        cc_err e = {{0}};
        cc_image img;
        covidcam_status st = cc_png_decode_gray(copy, cut, &img, &e);
        if (st != COVIDCAM_ERR_BAD_FORMAT)
            fail_msg("%s cut at %zu/%zu: status %d (%s)", file, cut, len, st, e.msg);
        free(copy);
    }
    free(png);
}

static void test_truncated(void **state)
{
    (void)state;
    truncate_everywhere("gray8_adam7.png");
    truncate_everywhere("rgb8.png");
    truncate_everywhere("palette4_trns.png");
}

/* A corrupt byte anywhere is either rejected or decoded; never a crash. */
static void test_flipped_bytes(void **state)
{
    (void)state;
    size_t len;
    uint8_t *png = load("rgba16_adam7.png", &len);
    int rejected = 0;
    for (size_t i = 8; i < len; i++) {
        png[i] ^= 0x5a;
        cc_err e = {{0}};
        cc_image img;
        covidcam_status st = cc_png_decode_gray(png, len, &img, &e);
        if (st == COVIDCAM_OK)
            cc_image_free(&img);
        else
            rejected++;
        assert_true(st == COVIDCAM_OK || st == COVIDCAM_ERR_BAD_FORMAT ||
                    st == COVIDCAM_ERR_LIMIT);
        png[i] ^= 0x5a;
    }
    /* every byte is covered by a CRC, so every flip must be caught */
    assert_int_equal(rejected, (int)(len - 8));
    free(png);
}

/* A file cut inside IHDR says so, and an IHDR of the wrong length is named;
 * neither claims the first chunk is not IHDR. */
static void test_short_ihdr(void **state)
{
    (void)state;
    size_t len;
    uint8_t *png = load("gray8.png", &len);
    static const struct {
        size_t cut;
        const char *needle;
    } cuts[] = {{8 + 8 + 6, "truncated IHDR"}, {8 + 8 + 12, "truncated IHDR"},
                {8 + 6, "before the IHDR chunk"}};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        cc_err e = {{0}};
        cc_image img;
        assert_int_equal(cc_png_decode_gray(png, cuts[i].cut, &img, &e), COVIDCAM_ERR_BAD_FORMAT);
        if (!strstr(e.msg, cuts[i].needle))
            fail_msg("cut at %zu: \"%s\" lacks \"%s\"", cuts[i].cut, e.msg, cuts[i].needle);
    }
    png[11] = 14; /* IHDR length field 13 -> 14 */
    cc_err e = {{0}};
    cc_image img;
    assert_int_equal(cc_png_decode_gray(png, len, &img, &e), COVIDCAM_ERR_BAD_FORMAT);
    assert_non_null(strstr(e.msg, "IHDR chunk is 14 bytes long"));
    png[11] = 13;
    png[20] = png[21] = png[22] = png[23] = 0; /* height 0: malformed, not too large */
    assert_int_equal(cc_png_decode_gray(png, len, &img, &e), COVIDCAM_ERR_BAD_FORMAT);
    assert_non_null(strstr(e.msg, "at least 1"));
    free(png);
}

static void test_read_gray_file(void **state)
{
    (void)state;
    cc_err e = {{0}};
    cc_image img;
    assert_int_equal(cc_png_read_gray_file(tu_fixture("png/gray16.png"), &img, &e), COVIDCAM_OK);
    size_t glen;
    uint8_t *want = load("gray16.gray", &glen);
    assert_int_equal((size_t)img.width * img.height, glen);
    assert_memory_equal(img.pixels, want, glen);
    cc_image_free(&img);
    free(want);

    /* decode errors are prefixed with the path */
    const char *bad = tu_fixture("png/err_bad_zlib.png");
    assert_int_equal(cc_png_read_gray_file(bad, &img, &e), COVIDCAM_ERR_BAD_FORMAT);
    assert_true(strncmp(e.msg, bad, strlen(bad)) == 0);
}

static void test_file_errors(void **state)
{
    (void)state;
    cc_err e = {{0}};
    cc_image img;
    const char *missing = tu_fixture("png/does-not-exist.png");
    assert_int_equal(cc_png_read_gray_file(missing, &img, &e), COVIDCAM_ERR_IO);
    assert_non_null(strstr(e.msg, missing));
    assert_non_null(strstr(e.msg, "No such file"));

    const char *dir = tu_fixture("png");
    assert_int_equal(cc_png_read_gray_file(dir, &img, &e), COVIDCAM_ERR_IO);
    assert_non_null(strstr(e.msg, "directory"));

    assert_int_equal(cc_png_read_gray_file(NULL, &img, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
}

static void test_read_file_limit(void **state)
{
    (void)state;
    const char *path = tu_fixture("png/gray8.png");
    size_t flen;
    uint8_t *ref = tu_read_file(path, &flen);
    assert_non_null(ref);

    cc_err e = {{0}};
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(cc_read_file(path, flen, &data, &len, &e), COVIDCAM_OK);
    assert_int_equal(len, flen);
    assert_memory_equal(data, ref, flen);
    free(data);

    data = (uint8_t *)&e;
    assert_int_equal(cc_read_file(path, flen - 1, &data, &len, &e), COVIDCAM_ERR_LIMIT);
    assert_ptr_equal(data, (uint8_t *)&e);
    assert_non_null(strstr(e.msg, path));
    free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_all_formats), cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_error_messages),     cmocka_unit_test(test_not_a_png),
        cmocka_unit_test(test_truncated),          cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_short_ihdr),
        cmocka_unit_test(test_read_gray_file),     cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_read_file_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
