/* Grad-CAM parity with a PyTorch implementation of pytorch-grad-cam's methods
 * (hooks on the target block; tools/make_fixtures.py), the closed form of the
 * last block against the general backward path, and the heatmap handle. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "covidcam.h"
#include "gradcam.h"
#include "png_io.h"
#include "test_util.h"

static const char *const layers[] = {"layer4", "layer4.0", "layer3", "layer2.0", "layer1"};
static const char *const methods[] = {"gradcam", "gradcampp", "layercam"};

static covidcam_model *load(const char *file)
{
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    if (covidcam_model_load(tu_fixture(file), &m, err, sizeof err) != COVIDCAM_OK)
        fail_msg("loading %s: %s", file, err);
    return m;
}

static covidcam_session *session(const covidcam_model *m)
{
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    if (covidcam_session_create(m, NULL, &s, err, sizeof err) != COVIDCAM_OK)
        fail_msg("session: %s", err);
    return s;
}

static covidcam_heatmap *cam_tensor(covidcam_session *s, const float *x, const char *layer,
                                    int cls, int method, int force_general)
{
    const covidcam_model *m = covidcam_session_model(s);
    int c = covidcam_model_input_channels(m), sz = covidcam_model_input_size(m);
    covidcam_gradcam_options o;
    covidcam_gradcam_options_init(&o);
    o.layer = layer;
    o.target_class = cls;
    o.method = (covidcam_cam_method)method;
    cc_input in = {.kind = CC_IN_TENSOR, .tensor = x, .channels = c, .height = sz, .width = sz};
    covidcam_heatmap *h = NULL;
    covidcam_status st = cc_gradcam(s, &in, &o, force_general, &h);
    if (st != COVIDCAM_OK)
        fail_msg("gradcam %s class %d: %s", layer, cls, covidcam_session_last_error(s));
    return h;
}

static double max_of(const float *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > m)
            m = v[i];
    return m;
}

/* Every (input, layer, class, method) the fixture script recorded. */
static void check_model(const char *model)
{
    char file[64], name[128];
    snprintf(file, sizeof file, "%s.safetensors", model);
    covidcam_model *m = load(file);
    covidcam_session *s = session(m);
    int nc = covidcam_model_num_classes(m), checked = 0, maps = 0;
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "%s.input.%d", model, k);
        float *x = tu_expected(name, NULL);
        assert_non_null(x);
        for (size_t l = 0; l < sizeof layers / sizeof *layers; l++)
            for (int cls = 0; cls < nc; cls++)
                for (int me = 0; me < 3; me++) {
                    size_t n = 0;
                    snprintf(name, sizeof name, "cam.%s.%d.%s.%d.%s.raw", model, k, layers[l], cls,
                             methods[me]);
                    float *raw = tu_expected(name, &n);
                    if (!raw)
                        continue;
                    covidcam_heatmap *h = cam_tensor(s, x, layers[l], cls, me, 0);
                    assert_int_equal((size_t)covidcam_heatmap_raw_width(h) *
                                         (size_t)covidcam_heatmap_raw_height(h),
                                     n);
                    /* raw maps are unnormalised: compare relative to their scale */
                    double scale = max_of(raw, n) > 1e-6 ? max_of(raw, n) : 1e-6;
                    double d = tu_max_abs_diff(covidcam_heatmap_raw(h), raw, n) / scale;
                    if (d > 1e-3)
                        fail_msg("%s: relative raw diff %g", name, d);
                    snprintf(name, sizeof name, "cam.%s.%d.%s.%d.%s.map", model, k, layers[l], cls,
                             methods[me]);
                    size_t mn = 0;
                    float *map = tu_expected(name, &mn);
                    if (map) {
                        int sz = covidcam_heatmap_size(h);
                        assert_int_equal((size_t)sz * (size_t)sz, mn);
                        d = tu_max_abs_diff(covidcam_heatmap_data(h), map, mn);
                        if (d > 1e-3)
                            fail_msg("%s: map diff %g", name, d);
                        maps++;
                        free(map);
                    }
                    checked++;
                    covidcam_heatmap_free(h);
                    free(raw);
                }
        free(x);
    }
    /* 2 inputs x 5 layers x 2 classes x 3 methods */
    assert_int_equal(checked, 60);
    assert_int_equal(maps, 15);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

static void test_parity_basic(void **state)
{
    (void)state;
    check_model("basic");
}

static void test_parity_bottleneck(void **state)
{
    (void)state;
    check_model("bottleneck");
}

/* The closed form for the last block equals backpropagating through fc and
 * average pooling with oneDNN primitives. */
static void test_fast_path_equals_general(void **state)
{
    (void)state;
    const char *models[] = {"basic", "bottleneck"};
    for (int i = 0; i < 2; i++) {
        char file[64], name[64];
        snprintf(file, sizeof file, "%s.safetensors", models[i]);
        covidcam_model *m = load(file);
        covidcam_session *s = session(m);
        snprintf(name, sizeof name, "%s.input.1", models[i]);
        float *x = tu_expected(name, NULL);
        assert_non_null(x);
        for (int cls = 0; cls < covidcam_model_num_classes(m); cls++)
            for (int me = 0; me < 3; me++) {
                covidcam_heatmap *fast = cam_tensor(s, x, "layer4", cls, me, 0);
                covidcam_heatmap *slow = cam_tensor(s, x, "layer4", cls, me, 1);
                size_t rn = (size_t)covidcam_heatmap_raw_width(fast) *
                            (size_t)covidcam_heatmap_raw_height(fast);
                double scale = max_of(covidcam_heatmap_raw(fast), rn);
                assert_true(tu_max_abs_diff(covidcam_heatmap_raw(fast), covidcam_heatmap_raw(slow),
                                            rn) <= 1e-5 * (scale > 1 ? scale : 1));
                size_t sz = (size_t)covidcam_heatmap_size(fast);
                double d = tu_max_abs_diff(covidcam_heatmap_data(fast), covidcam_heatmap_data(slow),
                                           sz * sz);
                if (d > 1e-5 && scale > 1e-4)
                    fail_msg("%s class %d method %d: fast vs general %g", models[i], cls, me, d);
                covidcam_heatmap_free(fast);
                covidcam_heatmap_free(slow);
            }
        free(x);
        covidcam_session_free(s);
        covidcam_model_free(m);
    }
}

/* An all-negative cam gives an all-zero map, not NaN. */
static void test_negative_cam_is_zero(void **state)
{
    (void)state;
    covidcam_model *m = load("negfc.safetensors");
    covidcam_session *s = session(m);
    float *x = tu_expected("basic.input.0", NULL);
    assert_non_null(x);
    covidcam_heatmap *h = cam_tensor(s, x, "layer4", 0, 0, 0);
    size_t sz = (size_t)covidcam_heatmap_size(h);
    const float *map = covidcam_heatmap_data(h);
    for (size_t i = 0; i < sz * sz; i++)
        assert_true(map[i] == 0.0f);
    const float *raw = covidcam_heatmap_raw(h);
    for (int i = 0; i < covidcam_heatmap_raw_width(h) * covidcam_heatmap_raw_height(h); i++)
        assert_true(raw[i] == 0.0f);
    covidcam_heatmap_free(h);
    free(x);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

/* Heatmap metadata, the classification it carries, and the overlay files. */
static void test_heatmap_handle_and_files(void **state)
{
    (void)state;
    covidcam_model *m = load("basic.safetensors");
    covidcam_session *s = session(m);
    const char *png = tu_fixture("sample_97x131.png");
    float probs[3], logits[3];
    int top = -1;
    assert_int_equal(covidcam_classify_file(s, png, probs, logits, 3, &top), COVIDCAM_OK);
    covidcam_heatmap *h = NULL;
    assert_int_equal(covidcam_gradcam_file(s, png, NULL, &h), COVIDCAM_OK);
    assert_int_equal(covidcam_heatmap_class(h), top);
    assert_int_equal(covidcam_heatmap_top_class(h), top);
    assert_string_equal(covidcam_heatmap_layer(h), "layer4.1");
    assert_int_equal(covidcam_heatmap_method(h), COVIDCAM_CAM_GRADCAM);
    assert_int_equal(covidcam_heatmap_num_classes(h), 3);
    assert_true(tu_max_abs_diff(covidcam_heatmap_logits(h), logits, 3) <= 1e-6);
    assert_true(fabsf(covidcam_heatmap_probability(h) - probs[top]) <= 1e-6f);
    assert_int_equal(covidcam_heatmap_image_width(h), 97);
    assert_int_equal(covidcam_heatmap_image_height(h), 131);
    assert_int_equal(covidcam_heatmap_size(h), 64);
    double mx = max_of(covidcam_heatmap_data(h), 64 * 64);
    assert_true(mx > 0.99 && mx <= 1.0);

    char out[256];
    snprintf(out, sizeof out, "%s/test_gradcam_overlay.png", getenv("CC_BUILD_ROOT") ?
             getenv("CC_BUILD_ROOT") : ".");
    char err[COVIDCAM_ERRBUF_SIZE];
    assert_int_equal(covidcam_heatmap_write_overlay(h, out, 0.5f, err, sizeof err), COVIDCAM_OK);
    size_t len = 0;
    unsigned char *buf = tu_read_file(out, &len);
    assert_non_null(buf);
    cc_image img = {0};
    assert_int_equal(cc_png_decode_gray(buf, len, &img, NULL), COVIDCAM_OK);
    assert_int_equal(img.width, 97);
    assert_int_equal(img.height, 131);
    cc_image_free(&img);
    free(buf);

    /* the overlay written equals the in-memory rendering */
    size_t n = 97 * 131;
    uint8_t *rgb = malloc(3 * n);
    assert_non_null(rgb);
    len = 0;
    buf = tu_read_file(png, &len);
    assert_int_equal(cc_png_decode_gray(buf, len, &img, NULL), COVIDCAM_OK);
    assert_int_equal(covidcam_heatmap_overlay(h, img.pixels, 97, 131, 97, 0.5f, rgb), COVIDCAM_OK);
    free(buf);
    /* the colormap at the image size; jet of 0 is (0,0,128), of 1 is (128,0,0) */
    uint8_t *jet = malloc(3 * n);
    assert_non_null(jet);
    assert_int_equal(covidcam_heatmap_colormap(h, 97, 131, jet), COVIDCAM_OK);
    float *res = malloc(n * sizeof *res);
    assert_int_equal(covidcam_heatmap_resize(h, 97, 131, res), COVIDCAM_OK);
    for (size_t i = 0; i < n; i++) {
        if (res[i] == 0.0f) {
            assert_int_equal(jet[3 * i], 0);
            assert_int_equal(jet[3 * i + 2], 128);
        }
        if (res[i] >= 1.0f) {
            assert_int_equal(jet[3 * i], 128);
            assert_int_equal(jet[3 * i + 2], 0);
        }
    }
    assert_int_equal(covidcam_heatmap_write_colormap(h, out, err, sizeof err), COVIDCAM_OK);
    free(res);
    free(jet);
    free(rgb);
    cc_image_free(&img);
    remove(out);
    covidcam_heatmap_free(h);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

static void test_bad_options(void **state)
{
    (void)state;
    covidcam_model *m = load("basic.safetensors");
    covidcam_session *s = session(m);
    const char *png = tu_fixture("sample_64.png");
    covidcam_heatmap *h = (covidcam_heatmap *)&h; /* sentinel: must stay untouched */
    covidcam_gradcam_options o;
    covidcam_gradcam_options_init(&o);
    o.layer = "layer9";
    assert_int_equal(covidcam_gradcam_file(s, png, &o, &h), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(covidcam_session_last_error(s), "layer9"));
    assert_non_null(strstr(covidcam_session_last_error(s), "layer2.1"));
    assert_ptr_equal(h, (covidcam_heatmap *)&h);
    covidcam_gradcam_options_init(&o);
    o.target_class = 3;
    assert_int_equal(covidcam_gradcam_file(s, png, &o, &h), COVIDCAM_ERR_INVALID_ARGUMENT);
    covidcam_gradcam_options_init(&o);
    o.method = (covidcam_cam_method)8;
    assert_int_equal(covidcam_gradcam_file(s, png, &o, &h), COVIDCAM_ERR_INVALID_ARGUMENT);
    covidcam_gradcam_options_init(&o);
    o.struct_size = 0;
    assert_int_equal(covidcam_gradcam_file(s, png, &o, &h), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_gradcam_file(NULL, png, NULL, &h), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_gradcam_file(s, png, NULL, NULL), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_gradcam_file(s, "/nonexistent.png", NULL, &h), COVIDCAM_ERR_IO);
    assert_ptr_equal(h, (covidcam_heatmap *)&h);
    /* a tensor heatmap has no image to overlay */
    float *x = tu_expected("basic.input.0", NULL);
    assert_int_equal(covidcam_gradcam_tensor(s, x, 1, 64, 64, NULL, &h), COVIDCAM_OK);
    char err[COVIDCAM_ERRBUF_SIZE];
    assert_int_equal(covidcam_heatmap_write_overlay(h, "/tmp/x.png", 0.5f, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_heatmap_image_width(h), 0);
    covidcam_heatmap_free(h);
    covidcam_heatmap_free(NULL);
    free(x);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

/* Real radiographs: every layer and method gives a finite map in [0, 1]. */
static void test_real_xrays(void **state)
{
    (void)state;
    if (!tu_have_shared())
        skip();
    covidcam_model *m = load("bottleneck.safetensors");
    covidcam_session *s = session(m);
    const char *classes[] = {"val/COVID", "val/Normal", "val/ViralPneumonia"};
    for (int c = 0; c < 3; c++) {
        char *files[2];
        int n = tu_list_pngs(tu_shared(classes[c]), files, 2);
        assert_true(n > 0);
        for (int f = 0; f < n; f++) {
            for (int l = 0; l < 5; l++) {
                covidcam_gradcam_options o;
                covidcam_gradcam_options_init(&o);
                o.layer = layers[l];
                o.method = (covidcam_cam_method)(l % 3);
                covidcam_heatmap *h = NULL;
                assert_int_equal(covidcam_gradcam_file(s, files[f], &o, &h), COVIDCAM_OK);
                int sz = covidcam_heatmap_size(h);
                const float *map = covidcam_heatmap_data(h);
                for (int i = 0; i < sz * sz; i++)
                    assert_true(isfinite(map[i]) && map[i] >= 0.0f && map[i] <= 1.0f);
                covidcam_heatmap_free(h);
            }
            free(files[f]);
        }
    }
    covidcam_session_free(s);
    covidcam_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_basic),
        cmocka_unit_test(test_parity_bottleneck),
        cmocka_unit_test(test_fast_path_equals_general),
        cmocka_unit_test(test_negative_cam_is_zero),
        cmocka_unit_test(test_heatmap_handle_and_files),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_real_xrays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
