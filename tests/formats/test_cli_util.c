/* The CLI helpers for image info: warnings for lateral views and non-radiograph
 * modalities (DICOM only), the JSON "image" object, and output names without
 * any extension. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli_util.h"

static covidcam_image_info dicom(const char *modality, const char *view)
{
    covidcam_image_info i;
    covidcam_image_info_init(&i);
    i.format = COVIDCAM_FORMAT_DICOM;
    snprintf(i.modality, sizeof i.modality, "%s", modality);
    snprintf(i.view_position, sizeof i.view_position, "%s", view);
    return i;
}

static int warns(const char *modality, const char *view, const char *needle)
{
    covidcam_image_info i = dicom(modality, view);
    char w[4][128];
    int n = cli_image_warnings(&i, w, 4);
    for (int k = 0; k < n; k++)
        if (needle && !strstr(w[0], needle) && (n < 2 || !strstr(w[1], needle)))
            fail_msg("warnings lack \"%s\": %s", needle, w[0]);
    return n;
}

static void test_warnings(void **state)
{
    (void)state;
    assert_int_equal(warns("DX", "PA", NULL), 0);
    assert_int_equal(warns("CR", "AP", NULL), 0);
    assert_int_equal(warns("CR", "", NULL), 0);
    assert_int_equal(warns("DX", "LATERAL", "LATERAL"), 1);
    assert_int_equal(warns("DX", "LL", "LL"), 1);
    assert_int_equal(warns("CR", "RL", "RL"), 1);
    assert_int_equal(warns("CT", "PA", "'CT'"), 1);
    assert_int_equal(warns("", "PA", "absent"), 1);
    assert_int_equal(warns("MR", "LATERAL", "MR"), 2);
    covidcam_image_info png;
    covidcam_image_info_init(&png);
    png.format = COVIDCAM_FORMAT_PNG;
    char w[2][128];
    assert_int_equal(cli_image_warnings(&png, w, 2), 0);
}

/* The assessment's lines: "name: why" from the library's two tables, in bit
 * order, then the OOD verdict; bits the library does not name are skipped. */
static void test_assessment_lines(void **state)
{
    (void)state;
    covidcam_image_info png;
    covidcam_image_info_init(&png);
    png.format = COVIDCAM_FORMAT_PNG;
    covidcam_assessment a;
    covidcam_assessment_init(&a);
    a.warnings = COVIDCAM_WARN_LOW_DETAIL | COVIDCAM_WARN_LOW_RESOLUTION | (1u << 30);
    a.ood = 1;
    a.ood_score = 1000.25;
    a.ood_threshold = 885.6;
    char w[8][128];
    assert_int_equal(cli_warnings(&png, &a, w, 8), 3);
    assert_string_equal(w[0], "low_resolution: the image is smaller than the model input and is "
                              "enlarged: a thumbnail, not a film");
    assert_string_equal(w[1], "low_detail: no finer detail than an image enlarged 4x or more: a "
                              "thumbnail or a crop blown up, not a film");
    assert_string_equal(w[2], "out_of_distribution: score 1000.2 is above the model's threshold "
                              "885.6");
    /* every named bit has a description; nothing else has either */
    for (unsigned i = 0; i < 32; i++) {
        const char *name = covidcam_warning_name(1u << i), *why = covidcam_warning_description(1u << i);
        assert_true((name == NULL) == (why == NULL));
        assert_true(name ? i < 6 : i >= 6);
        if (why)
            assert_true(strlen(why) > 20 && why[strlen(why) - 1] != '.');
    }
    assert_null(covidcam_warning_description(0));
    assert_null(covidcam_warning_description(3));
}

static void test_json(void **state)
{
    (void)state;
    covidcam_image_info i = dicom("DX", "PA");
    i.width = 3;
    i.window_source = COVIDCAM_WINDOW_FILE;
    i.window_center = 40.5;
    i.window_width = 400;
    json_t *o = cli_json_image_info(&i);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "format")), "DICOM");
    assert_string_equal(json_string_value(json_object_get(o, "window_source")), "file");
    assert_true(json_real_value(json_object_get(o, "window_center")) == 40.5);
    assert_null(json_object_get(o, "orientation"));
    json_decref(o);
    i.window_center = 0.0 / 0.0; /* never a NaN in JSON */
    o = cli_json_image_info(&i);
    assert_null(json_object_get(o, "window_center"));
    json_decref(o);
}

static void test_stem(void **state)
{
    (void)state;
    char s[64];
    static const char *cases[][2] = {{"a/b/x.png", "x"},         {"x.JPG", "x"},
                                     {"/d/study.1.2.dcm", "study.1.2"}, {"noext", "noext"},
                                     {"dir.v2/noext", "noext"},   {".hidden", ".hidden"}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        assert_int_equal(cli_stem(cases[k][0], s, sizeof s), 0);
        assert_string_equal(s, cases[k][1]);
    }
    assert_int_equal(cli_stem("dir/", s, sizeof s), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_warnings),
                                       cmocka_unit_test(test_assessment_lines),
                                       cmocka_unit_test(test_json),
                                       cmocka_unit_test(test_stem)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
