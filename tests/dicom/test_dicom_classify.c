/* End to end through the public API: a lossless DICOM made from a PNG
 * (tools/make_dicom_fixtures.py, from tests/fixtures/sample_97x131.png)
 * classifies and explains exactly like the PNG itself, for every lossless
 * transfer syntax, from a file and from memory; and the image info says what
 * the file held. The model is the test fixture basic.safetensors (1 channel). */
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

#define MAX_CLASSES 16

/* The lossless encodings of sample_97x131.png (manifest.txt). */
static const char *const lossless[] = {
    "mono8_explicit_le",       "mono8_implicit_le", "mono8_deflated",
    "mono8_jpeg_lossless_sv1", "mono8_jpeg_lossless", "mono8_jpegls",
    "mono8_rle",               "mono8_no_preamble", "mono8_un_sequence",
};

typedef struct fx {
    covidcam_model *model;
    covidcam_session *session;
} fx;

static int setup(void **state)
{
    char err[COVIDCAM_ERRBUF_SIZE];
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(covidcam_model_load(tu_fixture("basic.safetensors"), &f->model, err,
                                         sizeof err),
                     COVIDCAM_OK);
    assert_int_equal(covidcam_session_create(f->model, NULL, &f->session, err, sizeof err),
                     COVIDCAM_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    covidcam_session_free(f->session);
    covidcam_model_free(f->model);
    free(f);
    return 0;
}

static const char *dicom_path(const char *name)
{
    static char path[4096];
    char rel[256];
    snprintf(rel, sizeof rel, "dicom/%s.dcm", name);
    snprintf(path, sizeof path, "%s", tu_fixture(rel));
    return path;
}

static void classify_path(fx *f, const char *path, float *logits)
{
    covidcam_status st = covidcam_classify_file(f->session, path, NULL, logits, MAX_CLASSES, NULL);
    if (st != COVIDCAM_OK)
        fail_msg("%s: %s", path, covidcam_session_last_error(f->session));
}

static void test_classifies_like_the_png(void **state)
{
    fx *f = *state;
    int nc = covidcam_model_num_classes(f->model);
    float want[MAX_CLASSES], got[MAX_CLASSES];
    classify_path(f, tu_fixture("sample_97x131.png"), want);
    for (size_t i = 0; i < sizeof lossless / sizeof lossless[0]; i++) {
        const char *path = dicom_path(lossless[i]);
        classify_path(f, path, got);
        if (memcmp(got, want, (size_t)nc * sizeof *got) != 0)
            fail_msg("%s: logits differ from the PNG's (%g vs %g)", lossless[i], got[0], want[0]);
        covidcam_image_info info;
        covidcam_image_info_init(&info);
        assert_int_equal(covidcam_session_image_info(f->session, &info), COVIDCAM_OK);
        assert_int_equal(info.format, COVIDCAM_FORMAT_DICOM);
        assert_int_equal(info.width, 97);
        assert_int_equal(info.height, 131);
        assert_string_equal(info.modality, "DX");
        assert_string_equal(info.view_position, "PA");
        /* the same bytes from memory */
        size_t n = 0;
        unsigned char *bytes = tu_read_file(path, &n);
        assert_int_equal(covidcam_classify_image(f->session, bytes, n, NULL, got, MAX_CLASSES,
                                                 NULL),
                         COVIDCAM_OK);
        free(bytes);
        if (memcmp(got, want, (size_t)nc * sizeof *got) != 0)
            fail_msg("%s from memory: logits differ from the PNG's", lossless[i]);
    }
}

static void test_explains_like_the_png(void **state)
{
    fx *f = *state;
    covidcam_heatmap *a = NULL, *b = NULL;
    assert_int_equal(covidcam_gradcam_file(f->session, tu_fixture("sample_97x131.png"), NULL, &a),
                     COVIDCAM_OK);
    assert_int_equal(covidcam_gradcam_file(f->session, dicom_path("mono8_jpegls"), NULL, &b),
                     COVIDCAM_OK);
    int s = covidcam_heatmap_size(a);
    assert_int_equal(covidcam_heatmap_size(b), s);
    assert_memory_equal(covidcam_heatmap_data(a), covidcam_heatmap_data(b),
                        (size_t)s * (size_t)s * sizeof(float));
    assert_int_equal(covidcam_heatmap_image_width(b), 97);
    assert_int_equal(covidcam_heatmap_image_height(b), 131);
    covidcam_heatmap_free(a);
    covidcam_heatmap_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classifies_like_the_png),
        cmocka_unit_test(test_explains_like_the_png),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
