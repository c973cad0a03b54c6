/* COLORMAP_JET and show_cam_on_image against tools/make_png_fixtures.py, which
 * rebuilds OpenCV's table from its control points and reimplements
 * pytorch-grad-cam's overlay in numpy. Exact equality is required. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "render.h"
#include "test_util.h"

static void *load(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "png/%s", name);
    void *d = tu_read_file(tu_fixture(rel), len);
    if (!d)
        fail_msg("missing fixture %s (run tools/make_png_fixtures.py)", rel);
    return d;
}

static void test_endpoints(void **state)
{
    (void)state;
    const float v[2] = {0.0f, 1.0f};
    uint8_t rgb[6];
    cc_colormap_jet(v, 2, rgb);
    /* cv2.COLORMAP_JET: 0 -> BGR (128, 0, 0), 255 -> BGR (0, 0, 128) */
    const uint8_t want[6] = {0, 0, 128, 128, 0, 0};
    assert_memory_equal(rgb, want, 6);
}

/* Byte value i is reached from (i + 0.5) / 255, away from truncation edges. */
static void test_whole_table(void **state)
{
    (void)state;
    size_t len;
    uint8_t *lut = load("jet_lut.rgb", &len);
    assert_int_equal(len, 768);
    float v[256];
    for (int i = 0; i < 256; i++)
        v[i] = ((float)i + 0.5f) / 255.0f;
    uint8_t rgb[768];
    cc_colormap_jet(v, 256, rgb);
    for (int i = 0; i < 256; i++)
        if (memcmp(rgb + 3 * i, lut + 3 * i, 3) != 0)
            fail_msg("entry %d: (%d,%d,%d), OpenCV (%d,%d,%d)", i, rgb[3 * i], rgb[3 * i + 1],
                     rgb[3 * i + 2], lut[3 * i], lut[3 * i + 1], lut[3 * i + 2]);
    free(lut);
}

/* Quantisation np.uint8(255 * v) in float32, clamping, NaN/inf. */
static void test_map_values(void **state)
{
    (void)state;
    size_t flen, rlen;
    float *map = load("jet_map.f32", &flen);
    uint8_t *want = load("jet_map.rgb", &rlen);
    size_t n = flen / sizeof(float);
    assert_int_equal(rlen, 3 * n);
    uint8_t *rgb = malloc(3 * n);
    cc_colormap_jet(map, n, rgb);
    for (size_t i = 0; i < n; i++)
        if (memcmp(rgb + 3 * i, want + 3 * i, 3) != 0)
            fail_msg("value %zu (%.9g): (%d,%d,%d), expected (%d,%d,%d)", i, map[i], rgb[3 * i],
                     rgb[3 * i + 1], rgb[3 * i + 2], want[3 * i], want[3 * i + 1],
                     want[3 * i + 2]);
    free(rgb);
    free(want);
    free(map);
}

static void test_overlay(void **state)
{
    (void)state;
    FILE *m = fopen(tu_fixture("png/overlay.txt"), "r");
    assert_non_null(m);
    char name[128], file[160];
    int n, count = 0;
    float w;
    while (fscanf(m, "%127s %d %f", name, &n, &w) == 3) {
        size_t glen, mlen, rlen;
        snprintf(file, sizeof file, "%s.gray", name);
        uint8_t *gray = load(file, &glen);
        snprintf(file, sizeof file, "%s.f32", name);
        float *map = load(file, &mlen);
        snprintf(file, sizeof file, "%s.rgb", name);
        uint8_t *want = load(file, &rlen);
        assert_int_equal(glen, (size_t)n);
        assert_int_equal(mlen, n * sizeof(float));
        assert_int_equal(rlen, 3 * (size_t)n);
        uint8_t *rgb = malloc(rlen);
        cc_overlay(gray, map, (size_t)n, w, rgb);
        for (size_t i = 0; i < rlen; i++)
            if (rgb[i] != want[i])
                fail_msg("%s: byte %zu is %d, expected %d", name, i, rgb[i], want[i]);
        free(rgb);
        free(want);
        free(map);
        free(gray);
        count++;
    }
    fclose(m);
    assert_int_equal(count, 4);
}

/* image_weight = 1 on a black image: cam is all zero; black, not NaN bytes. */
static void test_overlay_all_black(void **state)
{
    (void)state;
    const uint8_t gray[4] = {0, 0, 0, 0};
    const float map[4] = {0.0f, 0.3f, 0.7f, 1.0f};
    uint8_t rgb[12];
    memset(rgb, 0x77, sizeof rgb);
    cc_overlay(gray, map, 4, 1.0f, rgb);
    for (int i = 0; i < 12; i++)
        assert_int_equal(rgb[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_whole_table),
        cmocka_unit_test(test_map_values),
        cmocka_unit_test(test_overlay),
        cmocka_unit_test(test_overlay_all_black),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
