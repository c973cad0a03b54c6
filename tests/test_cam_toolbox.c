/* The CAM toolbox against PyTorch references (tools/make_cam_fixtures.py,
 * tests/fixtures/expected_cams.safetensors): HiResCAM, XGradCAM, EigenCAM,
 * EigenGradCAM, ScoreCAM, eigen_smooth, several target layers and aug_smooth,
 * on a basic-block and a bottleneck network; the method-name table; and the
 * options' errors. */
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

#define FIXTURE "expected_cams.safetensors"
#define TOL 1e-3

static const char *const single_layers[] = {"layer4", "layer3", "layer2.0"};
static const char *const map_layer = "layer3"; /* single-layer maps exist for this one */
static const covidcam_cam_method all_methods[] = {
    COVIDCAM_CAM_GRADCAM,  COVIDCAM_CAM_GRADCAMPP, COVIDCAM_CAM_LAYERCAM,
    COVIDCAM_CAM_HIRESCAM, COVIDCAM_CAM_XGRADCAM,  COVIDCAM_CAM_EIGENCAM,
    COVIDCAM_CAM_EIGENGRADCAM, COVIDCAM_CAM_SCORECAM};
/* The fixture's spelling ("gradcampp"), not the CLI's. */
static const char *const fixture_names[] = {"gradcam",  "gradcampp", "layercam",
                                            "hirescam", "xgradcam",  "eigencam",
                                            "eigengradcam", "scorecam"};

typedef struct ctx {
    const char *model;
    covidcam_model *m;
    covidcam_session *s;
    float *x;
    int size, channels, classes[2];
} ctx;

static void open_ctx(ctx *c, const char *model)
{
    char file[64], name[64], err[COVIDCAM_ERRBUF_SIZE] = "";
    memset(c, 0, sizeof *c);
    c->model = model;
    snprintf(file, sizeof file, "%s.safetensors", model);
    if (covidcam_model_load(tu_fixture(file), &c->m, err, sizeof err) != COVIDCAM_OK)
        fail_msg("loading %s: %s", file, err);
    if (covidcam_session_create(c->m, NULL, &c->s, err, sizeof err) != COVIDCAM_OK)
        fail_msg("session: %s", err);
    snprintf(name, sizeof name, "%s.input.0", model);
    c->x = tu_expected(name, NULL);
    assert_non_null(c->x);
    c->size = covidcam_model_input_size(c->m);
    c->channels = covidcam_model_input_channels(c->m);
    /* the classes the fixture explains: top and runner-up of these logits */
    float logits[8];
    int n = covidcam_model_num_classes(c->m), top = 0;
    assert_true(n <= 8);
    assert_int_equal(covidcam_classify_tensor(c->s, c->x, c->channels, c->size, c->size, NULL,
                                              logits, 8, &top),
                     COVIDCAM_OK);
    int second = top == 0 ? 1 : 0;
    for (int i = 0; i < n; i++)
        if (i != top && logits[i] > logits[second])
            second = i;
    c->classes[0] = top;
    c->classes[1] = second;
}

static void close_ctx(ctx *c)
{
    free(c->x);
    covidcam_session_free(c->s);
    covidcam_model_free(c->m);
}

static covidcam_heatmap *cam(ctx *c, const char *layers, int cls, covidcam_cam_method method,
                             int eigen, covidcam_aug_smooth aug)
{
    covidcam_gradcam_options o;
    covidcam_gradcam_options_init(&o);
    o.layer = layers;
    o.target_class = cls;
    o.method = method;
    o.eigen_smooth = eigen;
    o.aug_smooth = aug;
    covidcam_heatmap *h = NULL;
    if (covidcam_gradcam_tensor(c->s, c->x, c->channels, c->size, c->size, &o, &h) !=
        COVIDCAM_OK)
        fail_msg("%s %s %s: %s", c->model, layers, covidcam_cam_method_name(method),
                 covidcam_session_last_error(c->s));
    return h;
}

/* |got - want| over the tensor `key`, relative to max(want) when rel. */
static double diff_to(const char *key, const float *got, size_t n, int rel)
{
    size_t len = 0;
    float *want = tu_expected_in(FIXTURE, key, &len);
    if (!want)
        fail_msg("fixture has no %s", key);
    assert_int_equal(len, n);
    double scale = 1, d;
    if (rel) {
        scale = 0;
        for (size_t i = 0; i < n; i++)
            scale = want[i] > scale ? want[i] : scale;
        scale = scale > 0 ? scale : 1;
    }
    d = tu_max_abs_diff(got, want, n) / scale;
    free(want);
    return d;
}

static void key_of(char *key, size_t size, const ctx *c, const char *layers, int cls, int mi,
                   int eigen, const char *aug, const char *what)
{
    snprintf(key, size, "cam2.%s.%s.%d.%s%s%s%s.%s", c->model, layers, cls, fixture_names[mi],
             eigen ? ".eigen" : "", aug ? "." : "", aug ? aug : "", what);
}

/* Methods that are a weighted sum eigen_smooth can replace. */
static int smoothable(covidcam_cam_method m)
{
    return m != COVIDCAM_CAM_EIGENCAM && m != COVIDCAM_CAM_EIGENGRADCAM;
}

static void check_single_layers(ctx *c, int *raws, int *maps)
{
    char key[160];
    size_t s2 = (size_t)c->size * (size_t)c->size;
    for (int ci = 0; ci < 2; ci++)
        for (size_t l = 0; l < sizeof single_layers / sizeof *single_layers; l++)
            for (int mi = 0; mi < 8; mi++)
                for (int eigen = 0; eigen <= smoothable(all_methods[mi]); eigen++) {
                    int cls = c->classes[ci];
                    covidcam_heatmap *h = cam(c, single_layers[l], cls, all_methods[mi], eigen,
                                              COVIDCAM_AUG_NONE);
                    size_t hw = (size_t)covidcam_heatmap_raw_width(h) *
                                (size_t)covidcam_heatmap_raw_height(h);
                    key_of(key, sizeof key, c, single_layers[l], cls, mi, eigen, NULL, "raw");
                    double d = diff_to(key, covidcam_heatmap_raw(h), hw, 1);
                    if (d > TOL)
                        fail_msg("%s: raw differs by %.3g of its max", key, d);
                    ++*raws;
                    if (ci == 0 && !strcmp(single_layers[l], map_layer)) {
                        key_of(key, sizeof key, c, single_layers[l], cls, mi, eigen, NULL, "map");
                        if ((d = diff_to(key, covidcam_heatmap_data(h), s2, 0)) > TOL)
                            fail_msg("%s: map differs by %.3g", key, d);
                        ++*maps;
                    }
                    assert_int_equal(covidcam_heatmap_method(h), all_methods[mi]);
                    covidcam_heatmap_free(h);
                }
}

/* "layer3+layer4" (fixture) from "layer3,layer4" (API). */
static void plus_name(const char *list, char *out, size_t size)
{
    snprintf(out, size, "%s", list);
    for (char *p = out; *p; p++)
        if (*p == ',')
            *p = '+';
}

static void check_map(ctx *c, const char *layers, int mi, int eigen, covidcam_aug_smooth aug,
                      int *maps)
{
    char key[160], fixture_layers[96];
    static const char *const aug_tag[] = {NULL, "aug", "augflip"};
    size_t s2 = (size_t)c->size * (size_t)c->size;
    plus_name(layers, fixture_layers, sizeof fixture_layers);
    covidcam_heatmap *h = cam(c, layers, c->classes[0], all_methods[mi], eigen, aug);
    key_of(key, sizeof key, c, fixture_layers, c->classes[0], mi, eigen, aug_tag[aug], "map");
    double d = diff_to(key, covidcam_heatmap_data(h), s2, 0);
    if (d > TOL)
        fail_msg("%s: map differs by %.3g", key, d);
    ++*maps;
    covidcam_heatmap_free(h);
}

static void check_multi_and_aug(ctx *c, int *maps)
{
    for (int mi = 0; mi < 8; mi++)
        check_map(c, "layer3,layer4", mi, 0, COVIDCAM_AUG_NONE, maps);
    check_map(c, "layer2.0,layer3,layer4", 0, 0, COVIDCAM_AUG_NONE, maps);
    for (int aug = COVIDCAM_AUG_INTENSITY; aug <= COVIDCAM_AUG_FLIP; aug++) {
        check_map(c, "layer4", 0, 0, (covidcam_aug_smooth)aug, maps);              /* gradcam */
        check_map(c, "layer4", 2, 0, (covidcam_aug_smooth)aug, maps);              /* layercam */
        check_map(c, "layer4", 0, 1, (covidcam_aug_smooth)aug, maps);              /* eigen */
        check_map(c, "layer3,layer4", 0, 0, (covidcam_aug_smooth)aug, maps);
    }
}

static void check_model(const char *model)
{
    ctx c;
    int raws = 0, maps = 0;
    open_ctx(&c, model);
    check_single_layers(&c, &raws, &maps);
    check_multi_and_aug(&c, &maps);
    /* every case the fixture script writes: 2 classes x 3 layers x 14 variants */
    assert_int_equal(raws, 2 * 3 * 14);
    assert_int_equal(maps, 14 + 9 + 8);
    close_ctx(&c);
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

/* Several layers: the label lists the blocks, the raw map is at the input
 * size (the mean of the per-layer maps) and the map is its min-max scaling. */
static void test_multi_layer_handle(void **state)
{
    (void)state;
    ctx c;
    open_ctx(&c, "basic");
    covidcam_heatmap *both = cam(&c, "layer3, layer4", -1, COVIDCAM_CAM_GRADCAM, 0, 0);
    assert_int_equal(covidcam_heatmap_raw_width(both), c.size);
    assert_int_equal(covidcam_heatmap_raw_height(both), c.size);
    const char *label = covidcam_heatmap_layer(both);
    assert_int_equal(strncmp(label, "layer3.", 7), 0);
    assert_non_null(strstr(label, ",layer4."));
    size_t s2 = (size_t)c.size * (size_t)c.size;
    const float *r = covidcam_heatmap_raw(both), *map = covidcam_heatmap_data(both);
    float lo = r[0], hi = r[0];
    for (size_t i = 1; i < s2; i++) {
        lo = r[i] < lo ? r[i] : lo;
        hi = r[i] > hi ? r[i] : hi;
    }
    assert_true(lo >= 0 && hi > lo && hi <= 1.0f + 1e-6f);
    for (size_t i = 0; i < s2; i++)
        assert_float_equal(map[i], (r[i] - lo) / (1e-7 + (hi - lo)), 1e-6);
    covidcam_heatmap_free(both);
    close_ctx(&c);
}

/* EigenCAM uses no gradient: the same map whichever class is explained. */
static void test_eigencam_class_free(void **state)
{
    (void)state;
    ctx c;
    open_ctx(&c, "bottleneck");
    covidcam_heatmap *a = cam(&c, "layer3", 0, COVIDCAM_CAM_EIGENCAM, 0, 0);
    covidcam_heatmap *b = cam(&c, "layer3", 3, COVIDCAM_CAM_EIGENCAM, 0, 0);
    size_t s2 = (size_t)c.size * (size_t)c.size;
    assert_memory_equal(covidcam_heatmap_data(a), covidcam_heatmap_data(b), s2 * sizeof(float));
    /* it is a projection already: eigen_smooth changes nothing and is not reported */
    covidcam_heatmap *e = cam(&c, "layer3", 0, COVIDCAM_CAM_EIGENCAM, 1, 0);
    assert_memory_equal(covidcam_heatmap_data(a), covidcam_heatmap_data(e), s2 * sizeof(float));
    assert_int_equal(covidcam_heatmap_eigen_smooth(e), 0);
    covidcam_heatmap_free(e);
    assert_int_equal(covidcam_heatmap_class(a), 0);
    assert_int_equal(covidcam_heatmap_class(b), 3);
    covidcam_heatmap_free(a);
    covidcam_heatmap_free(b);
    close_ctx(&c);
}

/* The extra passes of ScoreCAM, aug_smooth and several layers leave the
 * session's features and input those of the image (covidcam_session_features
 * and covidcam_session_input after the call). */
static void test_session_state_after_extra_passes(void **state)
{
    (void)state;
    ctx c;
    open_ctx(&c, "basic");
    int nf = covidcam_model_num_features(c.m);
    size_t nin = (size_t)c.channels * (size_t)c.size * (size_t)c.size;
    float *want = malloc((size_t)nf * sizeof *want), *got = malloc((size_t)nf * sizeof *got);
    float *input = malloc(nin * sizeof *input);
    assert_non_null(want);
    assert_non_null(got);
    assert_non_null(input);
    assert_int_equal(covidcam_session_input(c.s, input, nin - 1), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_classify_tensor(c.s, c.x, c.channels, c.size, c.size, NULL, NULL,
                                              8, NULL),
                     COVIDCAM_OK);
    assert_int_equal(covidcam_session_features(c.s, want, (size_t)nf), COVIDCAM_OK);
    static const struct {
        const char *layers;
        covidcam_cam_method method;
        covidcam_aug_smooth aug;
    } cases[] = {{"layer3", COVIDCAM_CAM_SCORECAM, COVIDCAM_AUG_NONE},
                 {"layer4", COVIDCAM_CAM_GRADCAM, COVIDCAM_AUG_FLIP},
                 {"layer2.0,layer4", COVIDCAM_CAM_LAYERCAM, COVIDCAM_AUG_NONE}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        covidcam_heatmap *h = cam(&c, cases[i].layers, -1, cases[i].method, 0, cases[i].aug);
        assert_int_equal(covidcam_session_features(c.s, got, (size_t)nf), COVIDCAM_OK);
        assert_memory_equal(got, want, (size_t)nf * sizeof *got);
        assert_int_equal(covidcam_session_input(c.s, input, nin), COVIDCAM_OK);
        assert_memory_equal(input, c.x, nin * sizeof *input);
        covidcam_heatmap_free(h);
    }
    assert_int_equal(covidcam_session_input(c.s, NULL, nin), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_session_input(NULL, input, nin), COVIDCAM_ERR_INVALID_ARGUMENT);
    free(want);
    free(got);
    free(input);
    close_ctx(&c);
}

static void test_method_names(void **state)
{
    (void)state;
    static const char *const want[] = {"gradcam",  "gradcam++", "layercam",
                                       "hirescam", "xgradcam",  "eigencam",
                                       "eigengradcam", "scorecam"};
    for (int m = 0; m < 8; m++) {
        covidcam_cam_method back = (covidcam_cam_method)-1;
        assert_string_equal(covidcam_cam_method_name((covidcam_cam_method)m), want[m]);
        assert_int_equal(covidcam_cam_method_parse(want[m], &back), COVIDCAM_OK);
        assert_int_equal(back, m);
    }
    covidcam_cam_method m = COVIDCAM_CAM_LAYERCAM;
    assert_int_equal(covidcam_cam_method_parse("gradcampp", &m), COVIDCAM_OK);
    assert_int_equal(m, COVIDCAM_CAM_GRADCAMPP);
    assert_null(covidcam_cam_method_name((covidcam_cam_method)8));
    assert_null(covidcam_cam_method_name((covidcam_cam_method)-1));
    assert_int_equal(covidcam_cam_method_parse("GradCAM", &m), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_cam_method_parse("", &m), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_cam_method_parse(NULL, &m), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_cam_method_parse("gradcam", NULL), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(m, COVIDCAM_CAM_GRADCAMPP); /* untouched by the failures */
}

static void expect_refused(ctx *c, const char *layers, int method, int aug, const char *needle)
{
    covidcam_gradcam_options o;
    covidcam_gradcam_options_init(&o);
    o.layer = layers;
    o.method = (covidcam_cam_method)method;
    o.aug_smooth = (covidcam_aug_smooth)aug;
    covidcam_heatmap *h = NULL;
    assert_int_equal(covidcam_gradcam_tensor(c->s, c->x, c->channels, c->size, c->size, &o, &h),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_null(h);
    const char *msg = covidcam_session_last_error(c->s);
    if (!strstr(msg, needle))
        fail_msg("message '%s' lacks '%s'", msg, needle);
}

static void test_bad_options(void **state)
{
    (void)state;
    ctx c;
    open_ctx(&c, "basic");
    expect_refused(&c, NULL, 8, 0, "unknown Grad-CAM method 8");
    expect_refused(&c, NULL, -1, 0, "unknown Grad-CAM method -1");
    expect_refused(&c, NULL, 0, 3, "aug_smooth 3");
    expect_refused(&c, "layer3,", 0, 0, "empty name");
    expect_refused(&c, ",layer3", 0, 0, "empty name");
    expect_refused(&c, "layer3,,layer4", 0, 0, "empty name");
    expect_refused(&c, "layer3,layer9", 0, 0, "unknown layer 'layer9'");
    expect_refused(&c, "layer1,layer1,layer2,layer2,layer3,layer3,layer4,layer4,layer4", 0, 0,
                   "more than 8 target layers");
    close_ctx(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_basic),
        cmocka_unit_test(test_parity_bottleneck),
        cmocka_unit_test(test_multi_layer_handle),
        cmocka_unit_test(test_eigencam_class_free),
        cmocka_unit_test(test_session_state_after_extra_passes),
        cmocka_unit_test(test_method_names),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
