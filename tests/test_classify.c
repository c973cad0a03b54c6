/* Network parity with PyTorch: logits of the fixture ResNets (float64 torch
 * references from tools/make_fixtures.py) through every input path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "covidcam.h"
#include "png_io.h"
#include "test_util.h"

#define TOL 1e-4

static covidcam_model *load(const char *file)
{
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_status st = covidcam_model_load(tu_fixture(file), &m, err, sizeof err);
    if (st != COVIDCAM_OK)
        fail_msg("loading %s: %s (%s)", file, covidcam_status_string(st), err);
    return m;
}

static covidcam_session *session(const covidcam_model *m, int threads)
{
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = threads;
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_status st = covidcam_session_create(m, &o, &s, err, sizeof err);
    if (st != COVIDCAM_OK)
        fail_msg("session: %s", err);
    return s;
}

/* Logits of `model` on fixture inputs prefix.input.k against ref.logits.k. */
static void check_tensor_logits(const char *file, const char *inputs, const char *ref,
                                int threads)
{
    covidcam_model *m = load(file);
    covidcam_session *s = session(m, threads);
    int nc = covidcam_model_num_classes(m);
    int c = covidcam_model_input_channels(m), sz = covidcam_model_input_size(m);
    for (int k = 0; k < 3; k++) {
        char name[96];
        size_t n = 0, nl = 0;
        snprintf(name, sizeof name, "%s.input.%d", inputs, k);
        float *x = tu_expected(name, &n);
        snprintf(name, sizeof name, "%s.logits.%d", ref, k);
        float *want = tu_expected(name, &nl);
        assert_non_null(x);
        assert_non_null(want);
        assert_int_equal(n, (size_t)c * sz * sz);
        assert_int_equal(nl, (size_t)nc);
        float logits[16], probs[16];
        int top = -1;
        covidcam_status st = covidcam_classify_tensor(s, x, c, sz, sz, probs, logits, 16, &top);
        assert_int_equal(st, COVIDCAM_OK);
        double d = tu_max_abs_diff(logits, want, (size_t)nc);
        if (d > TOL)
            fail_msg("%s input %d: max |logit diff| = %g > %g", file, k, d, TOL);
        /* softmax and argmax follow the reference logits */
        int best = 0;
        double sum = 0;
        for (int i = 0; i < nc; i++) {
            if (want[i] > want[best])
                best = i;
            sum += probs[i];
        }
        assert_int_equal(top, best);
        assert_true(sum > 0.9999 && sum < 1.0001);
        free(x);
        free(want);
    }
    covidcam_session_free(s);
    covidcam_model_free(m);
}

static void test_basic_f32(void **state)
{
    (void)state;
    check_tensor_logits("basic.safetensors", "basic", "basic", 0);
}

static void test_basic_one_thread(void **state)
{
    (void)state;
    check_tensor_logits("basic.safetensors", "basic", "basic", 1);
}

static void test_bottleneck_f32(void **state)
{
    (void)state;
    check_tensor_logits("bottleneck.safetensors", "bottleneck", "bottleneck", 0);
}

static void test_basic_bf16_storage(void **state)
{
    (void)state;
    check_tensor_logits("basic_bf16.safetensors", "basic", "basic_bf16", 0);
}

static void test_basic_f16_storage(void **state)
{
    (void)state;
    check_tensor_logits("basic_f16.safetensors", "basic", "basic_f16", 0);
}

/* PNG path: file, memory and pixels give the torch-preprocessed logits. */
static void check_png(const char *file, const char *png, const char *ref)
{
    covidcam_model *m = load(file);
    covidcam_session *s = session(m, 0);
    int nc = covidcam_model_num_classes(m);
    char name[96];
    snprintf(name, sizeof name, "%s.logits", ref);
    float *want = tu_expected(name, NULL);
    assert_non_null(want);
    float logits[16];
    assert_int_equal(covidcam_classify_file(s, tu_fixture(png), NULL, logits, 16, NULL),
                     COVIDCAM_OK);
    assert_true(tu_max_abs_diff(logits, want, (size_t)nc) <= TOL);

    size_t len = 0;
    unsigned char *buf = tu_read_file(tu_fixture(png), &len);
    assert_non_null(buf);
    assert_int_equal(covidcam_classify_png(s, buf, len, NULL, logits, 16, NULL), COVIDCAM_OK);
    assert_true(tu_max_abs_diff(logits, want, (size_t)nc) <= TOL);

    /* pixels with padding between rows must give the same answer */
    cc_image img = {0};
    assert_int_equal(cc_png_decode_gray(buf, len, &img, NULL), COVIDCAM_OK);
    size_t stride = (size_t)img.width + 13;
    uint8_t *px = calloc(stride * (size_t)img.height, 1);
    assert_non_null(px);
    for (int y = 0; y < img.height; y++)
        for (int x = 0; x < img.width; x++)
            px[(size_t)y * stride + (size_t)x] = img.pixels[(size_t)y * (size_t)img.width + (size_t)x];
    assert_int_equal(covidcam_classify_pixels(s, px, img.width, img.height, stride, NULL, logits, 16,
                                              NULL),
                     COVIDCAM_OK);
    assert_true(tu_max_abs_diff(logits, want, (size_t)nc) <= TOL);

    /* and the public preprocessing equals torch's tensor */
    snprintf(name, sizeof name, "%s.tensor", ref);
    size_t tn = 0;
    float *want_t = tu_expected(name, &tn);
    assert_non_null(want_t);
    float *t = malloc(tn * sizeof *t);
    assert_int_equal(covidcam_model_preprocess(m, px, img.width, img.height, stride, t, tn),
                     COVIDCAM_OK);
    assert_true(tu_max_abs_diff(t, want_t, tn) <= 1e-4);
    free(t);
    free(want_t);
    free(px);
    cc_image_free(&img);
    free(buf);
    free(want);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

static void test_png_downscale_gray(void **state)
{
    (void)state;
    check_png("basic.safetensors", "sample_97x131.png", "basic.png97");
}

static void test_png_same_size(void **state)
{
    (void)state;
    check_png("basic.safetensors", "sample_64.png", "basic.png64");
}

static void test_png_three_channels(void **state)
{
    (void)state;
    check_png("bottleneck.safetensors", "sample_97x131.png", "bottleneck.png97");
}

/* Two sessions of one model, and a session reused many times, agree exactly. */
static void test_sessions_agree(void **state)
{
    (void)state;
    covidcam_model *m = load("bottleneck.safetensors");
    covidcam_session *a = session(m, 1), *b = session(m, 2);
    float la[16], lb[16];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(covidcam_classify_file(a, tu_fixture("sample_97x131.png"), NULL, la, 16,
                                                NULL),
                         COVIDCAM_OK);
        assert_int_equal(covidcam_classify_file(b, tu_fixture("sample_97x131.png"), NULL, lb, 16,
                                                NULL),
                         COVIDCAM_OK);
        assert_true(tu_max_abs_diff(la, lb, 4) <= 1e-5);
    }
    covidcam_session_free(a);
    covidcam_session_free(b);
    covidcam_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_f32),
        cmocka_unit_test(test_basic_one_thread),
        cmocka_unit_test(test_bottleneck_f32),
        cmocka_unit_test(test_basic_bf16_storage),
        cmocka_unit_test(test_basic_f16_storage),
        cmocka_unit_test(test_png_downscale_gray),
        cmocka_unit_test(test_png_same_size),
        cmocka_unit_test(test_png_three_channels),
        cmocka_unit_test(test_sessions_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
