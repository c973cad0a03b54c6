/* Hostile models and misuse that pass the load-time checks: non-finite
 * network input from mean/std, logits that overflow float, subnormal
 * weights, a session shared by two threads, Grad-CAM memory, long messages
 * and pixel input that must keep its image. White-box where the load-time
 * validation would refuse the file before the run-time guard is reached. */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/st_edit.h"
#include "denormal.h"
#include "error.h"
#include "finite.h"
#include "gradcam_mem.h"
#include "model.h"
#include "rb_model.h"
#include "safetensors.h"
#include "session.h"
#include "softmax.h"
#include "test_util.h"

static covidcam_model *load_bytes(const uint8_t *b, size_t len)
{
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_model *m = NULL;
    covidcam_status rc = covidcam_model_load_from_memory(b, len, &m, err, sizeof err);
    if (rc)
        print_error("load: %s\n", err);
    assert_int_equal(rc, COVIDCAM_OK);
    return m;
}

static covidcam_model *load_default(void)
{
    rb_model_spec spec = rb_model_default();
    size_t len;
    uint8_t *b = rb_model_build(&spec, &len);
    assert_non_null(b);
    covidcam_model *m = load_bytes(b, len);
    free(b);
    return m;
}

static covidcam_session *session_of(const covidcam_model *m)
{
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = 1;
    covidcam_session *s = NULL;
    assert_int_equal(covidcam_session_create(m, &o, &s, NULL, 0), COVIDCAM_OK);
    return s;
}

static uint8_t *gradient_pixels(int w, int h)
{
    uint8_t *p = malloc((size_t)w * (size_t)h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            p[(size_t)y * w + x] = (uint8_t)((x * 7 + y * 3) & 0xff);
    return p;
}

/* ------------------------------------------------------------ finite guard */

static void test_first_nonfinite(void **state)
{
    (void)state;
    enum { N = 5000 };
    float *x = calloc(N, sizeof *x);
    assert_int_equal(cc_first_nonfinite(x, N), N);
    x[4321] = NAN;
    x[4999] = INFINITY;
    assert_int_equal(cc_first_nonfinite(x, N), 4321);
    x[4321] = FLT_MAX; /* finite */
    assert_int_equal(cc_first_nonfinite(x, N), 4999);
    x[3] = -INFINITY;
    assert_int_equal(cc_first_nonfinite(x, N), 3);
    assert_string_equal(cc_nonfinite_name(x[3]), "-inf");
    assert_string_equal(cc_nonfinite_name(NAN), "NaN");
    free(x);
}

/* std = [1e-46] is 0 in float: every pixel below the mean becomes -inf. The
 * loader will refuse such metadata; set it behind its back to reach the
 * run-time guard every image path goes through. */
static void test_nonfinite_input_refused(void **state)
{
    (void)state;
    covidcam_model *m = load_default();
    m->std[0] = (float)1e-46;
    covidcam_session *s = session_of(m);
    int side = 40;
    uint8_t *px = gradient_pixels(side, side);
    float probs[3] = {-1, -1, -1};
    int top = -7;
    covidcam_status rc = covidcam_classify_pixels(s, px, side, side, (size_t)side, probs, NULL,
                                                  3, &top);
    assert_int_equal(rc, COVIDCAM_ERR_BAD_FORMAT);
    assert_non_null(strstr(covidcam_session_last_error(s), "inf"));
    assert_non_null(strstr(covidcam_session_last_error(s), "std[0] = 0"));
    assert_int_equal(top, -7); /* out-parameters untouched */
    assert_true(probs[0] == -1.0f);
    covidcam_heatmap *h = NULL;
    assert_int_equal(covidcam_gradcam_pixels(s, px, side, side, (size_t)side, NULL, &h),
                     COVIDCAM_ERR_BAD_FORMAT);
    assert_null(h);
    size_t n = (size_t)m->input_size * (size_t)m->input_size;
    float *t = malloc(n * sizeof *t);
    assert_int_equal(covidcam_model_preprocess(m, px, side, side, (size_t)side, t, n),
                     COVIDCAM_ERR_BAD_FORMAT);
    /* mean = 1e39 is +inf in float: every value is -inf or NaN */
    m->std[0] = 64;
    m->mean[0] = (float)1e39;
    assert_int_equal(covidcam_model_preprocess(m, px, side, side, (size_t)side, t, n),
                     COVIDCAM_ERR_BAD_FORMAT);
    m->mean[0] = 127.5f;
    assert_int_equal(covidcam_model_preprocess(m, px, side, side, (size_t)side, t, n),
                     COVIDCAM_OK);
    assert_int_equal(covidcam_classify_pixels(s, px, side, side, (size_t)side, probs, NULL, 3,
                                              &top),
                     COVIDCAM_OK);
    /* tensors given directly are the caller's: INVALID_ARGUMENT */
    t[17] = NAN;
    assert_int_equal(covidcam_classify_tensor(s, t, 1, m->input_size, m->input_size, probs,
                                              NULL, 3, &top),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(covidcam_session_last_error(s), "element 17"));
    free(t);
    free(px);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

/* ------------------------------------------------------------ logits */

static void test_softmax_stable(void **state)
{
    (void)state;
    float z[3] = {3e38f, -3e38f, 0}, p[3];
    int top = -1;
    assert_int_equal(cc_classify_logits(z, 3, 1.0, p, &top, NULL), COVIDCAM_OK);
    assert_int_equal(top, 0);
    assert_true(p[0] == 1.0f && p[1] == 0.0f && p[2] == 0.0f);
    float e[3] = {1, 2, 3};
    cc_softmax(e, 3, 1.0, p);
    double s = exp(1) + exp(2) + exp(3);
    assert_float_equal(p[2], exp(3) / s, 1e-7);
    /* temperature 2: softmax of the halved logits, by hand */
    cc_softmax(e, 3, 2.0, p);
    s = exp(0.5) + exp(1.0) + exp(1.5);
    assert_float_equal(p[0], exp(0.5) / s, 1e-7);
    assert_float_equal(p[2], exp(1.5) / s, 1e-7);
    /* a tiny temperature on extreme logits stays finite */
    cc_softmax(z, 3, 0.01, p);
    assert_true(p[0] == 1.0f && p[1] == 0.0f && p[2] == 0.0f);
    cc_err err = {{0}};
    z[1] = INFINITY;
    top = -1;
    assert_int_equal(cc_classify_logits(z, 3, 1.0, p, &top, &err), COVIDCAM_ERR_BAD_FORMAT);
    assert_int_equal(top, -1);
    assert_non_null(strstr(err.msg, "class 1 is +inf"));
}

/* fc row 0 = 3e38: finite weights that pass every load check, but the logit
 * of class 0 overflows to +inf (or NaN with mixed signs) on any real input. */
static void test_overflowing_logits(void **state)
{
    (void)state;
    ste_file *f = ste_load(tu_fixture("basic.safetensors"));
    assert_non_null(f);
    ste_tensor *fc = ste_find(f, "fc.weight");
    assert_non_null(fc);
    assert_string_equal(fc->dtype, "F32");
    float *w = (float *)fc->data;
    for (int64_t k = 0; k < fc->shape[1]; k++)
        w[k] = 3e38f;
    size_t len;
    uint8_t *b = ste_serialize(f, &len);
    ste_free(f);
    covidcam_model *m = load_bytes(b, len);
    free(b);
    covidcam_session *s = session_of(m);
    int side = 97;
    uint8_t *px = gradient_pixels(side, side);
    float probs[8], logits[8];
    int top = -3;
    int nc = covidcam_model_num_classes(m);
    covidcam_status rc = covidcam_classify_pixels(s, px, side, side, (size_t)side, probs,
                                                  logits, (size_t)nc, &top);
    assert_int_equal(rc, COVIDCAM_ERR_BAD_FORMAT);
    assert_int_equal(top, -3);
    assert_non_null(strstr(covidcam_session_last_error(s), "logit of class 0"));
    covidcam_heatmap *h = NULL;
    assert_int_equal(covidcam_gradcam_pixels(s, px, side, side, (size_t)side, NULL, &h),
                     COVIDCAM_ERR_BAD_FORMAT);
    assert_null(h);
    free(px);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

/* ------------------------------------------------------------ subnormals */

static void test_flush_denormals(void **state)
{
    (void)state;
    float x[6] = {1e-40f, -1e-40f, FLT_MIN, -0.0f, 1.0f, FLT_TRUE_MIN};
    assert_int_equal(cc_flush_denormals(x, 6), 3);
    assert_true(x[0] == 0.0f && !signbit(x[0]));
    assert_true(x[1] == 0.0f && signbit(x[1]));
    assert_true(x[2] == FLT_MIN && x[4] == 1.0f && x[5] == 0.0f);
}

/* conv1.weight of +-1e-40 loads as the same network as conv1.weight of +-0:
 * identical logits on the same input. */
static void test_denormal_weights_flushed(void **state)
{
    (void)state;
    float z[2][8];
    for (int v = 0; v < 2; v++) {
        ste_file *f = ste_load(tu_fixture("basic.safetensors"));
        ste_tensor *t = ste_find(f, "conv1.weight");
        float *w = (float *)t->data;
        for (size_t i = 0; i < t->nbytes / 4; i++)
            w[i] = (i % 2 ? -1.0f : 1.0f) * (v ? 1e-40f : 0.0f);
        size_t len;
        uint8_t *b = ste_serialize(f, &len);
        ste_free(f);
        covidcam_model *m = load_bytes(b, len);
        free(b);
        covidcam_session *s = session_of(m);
        uint8_t *px = gradient_pixels(64, 64);
        int top;
        assert_int_equal(covidcam_classify_pixels(s, px, 64, 64, 64, NULL, z[v], 8, &top),
                         COVIDCAM_OK);
        free(px);
        covidcam_session_free(s);
        covidcam_model_free(m);
    }
    assert_memory_equal(z[0], z[1], 3 * sizeof(float));
}

/* ------------------------------------------------------------ pixel heatmaps */

static void test_pixels_heatmap_keeps_image(void **state)
{
    (void)state;
    covidcam_model *m = load_default();
    covidcam_session *s = session_of(m);
    int w = 45, h = 31;
    size_t stride = 50;
    uint8_t *px = calloc(stride * (size_t)h, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            px[(size_t)y * stride + x] = (uint8_t)(x * 5 + y);
    covidcam_heatmap *hm = NULL;
    assert_int_equal(covidcam_gradcam_pixels(s, px, w, h, stride, NULL, &hm), COVIDCAM_OK);
    assert_int_equal(covidcam_heatmap_image_width(hm), w);
    assert_int_equal(covidcam_heatmap_image_height(hm), h);
    /* write_overlay uses the heatmap's own copy, at the image size */
    char path[] = "/tmp/cc_hostile_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    assert_int_equal(covidcam_heatmap_write_overlay(hm, path, 0.5f, err, sizeof err),
                     COVIDCAM_OK);
    cc_image got = {0};
    assert_int_equal(cc_png_read_gray_file(path, &got, NULL), COVIDCAM_OK);
    assert_int_equal(got.width, w);
    assert_int_equal(got.height, h);
    cc_image_free(&got);
    unlink(path);
    covidcam_heatmap_free(hm);
    free(px);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

/* ------------------------------------------------------------ Grad-CAM memory */

static void test_gradcam_memory(void **state)
{
    (void)state;
    covidcam_model *m = load_default();
    covidcam_session *s = session_of(m);
    uint8_t *px = gradient_pixels(32, 32);
    covidcam_gradcam_options o;
    covidcam_gradcam_options_init(&o);
    o.layer = "layer1.0"; /* backward path */
    covidcam_heatmap *h = NULL;
    assert_int_equal(covidcam_gradcam_pixels(s, px, 32, 32, 32, &o, &h), COVIDCAM_OK);
    covidcam_heatmap_free(h);
    assert_null(s->net->grad_a); /* released after the call */
    size_t general = cc_gradcam_extra_bytes(s->net, 0, 1);
    size_t closed = cc_gradcam_extra_bytes(s->net, s->net->num_blocks - 1, 0);
    assert_true(general >= CC_GRAD_BUFFERS * cc_net_max_activation_bytes(s->net));
    assert_true(closed < general);
    /* A session already near the limit: the check refuses before allocating. */
    size_t saved = s->net->scratch_bytes;
    s->net->scratch_bytes = COVIDCAM_MAX_SESSION_BYTES - cc_net_forward_bytes(s->net) + saved;
    h = NULL;
    assert_int_equal(covidcam_gradcam_pixels(s, px, 32, 32, 32, &o, &h), COVIDCAM_ERR_LIMIT);
    assert_null(h);
    assert_non_null(strstr(covidcam_session_last_error(s), "Grad-CAM at layer1.0"));
    s->net->scratch_bytes = saved;
    assert_int_equal(covidcam_gradcam_pixels(s, px, 32, 32, 32, &o, &h), COVIDCAM_OK);
    covidcam_heatmap_free(h);
    free(px);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

/* ------------------------------------------------------------ shared session */

/* Each thread calls until HAMMER_OK of its calls succeeded, so both keep
 * running (and colliding) to the end, within a time bound.
 * Whether calls collide depends on timing; that a busy session refuses is
 * checked deterministically below. */
enum { HAMMER_OK = 150, HAMMER_SECONDS = 60 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct hammer {
    covidcam_session *s;
    const float *tensor;
    int n;
    const float *want;
    int ok, busy, wrong;
} hammer;

static void *hammer_run(void *arg)
{
    hammer *hm = arg;
    double end = now_s() + HAMMER_SECONDS;
    while (hm->ok < HAMMER_OK && !hm->wrong && now_s() < end) {
        float logits[8];
        int top;
        covidcam_status rc = covidcam_classify_tensor(hm->s, hm->tensor, 1, hm->n, hm->n, NULL,
                                                      logits, 8, &top);
        if (rc == COVIDCAM_OK && !memcmp(logits, hm->want, 3 * sizeof(float))) {
            hm->ok++;
            usleep(20); /* leave the other thread a window, or it may starve */
        } else if (rc == COVIDCAM_ERR_INVALID_ARGUMENT) {
            hm->busy++;
            sched_yield();
        } else {
            hm->wrong++;
        }
    }
    return NULL;
}

static void test_shared_session(void **state)
{
    (void)state;
    covidcam_model *m = load_default();
    covidcam_session *s = session_of(m);
    int n = m->input_size;
    float *t = malloc((size_t)n * (size_t)n * sizeof *t);
    for (int i = 0; i < n * n; i++)
        t[i] = (float)((i % 13) - 6) / 3.0f;
    float want[8];
    int top;
    assert_int_equal(covidcam_classify_tensor(s, t, 1, n, n, NULL, want, 8, &top), COVIDCAM_OK);
    hammer h[2] = {{s, t, n, want, 0, 0, 0}, {s, t, n, want, 0, 0, 0}};
    pthread_t th[2];
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&th[k], NULL, hammer_run, &h[k]), 0);
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(h[k].wrong, 0);
        assert_int_equal(h[k].ok, HAMMER_OK);
    }
    print_message("shared session: %d ok, %d refused as busy\n", h[0].ok + h[1].ok,
                  h[0].busy + h[1].busy);
    /* A session marked busy refuses at once and leaves the message alone. */
    cc_fail(&s->err, COVIDCAM_ERR_IO, "the running call's message");
    atomic_store(&s->busy, 1);
    assert_int_equal(covidcam_classify_tensor(s, t, 1, n, n, NULL, want, 8, &top),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_string_equal(covidcam_session_last_error(s), "the running call's message");
    atomic_store(&s->busy, 0);
    assert_int_equal(covidcam_classify_tensor(s, t, 1, n, n, NULL, want, 8, &top), COVIDCAM_OK);
    free(t);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

/* ------------------------------------------------------------ messages */

static void test_long_path_keeps_reason(void **state)
{
    (void)state;
    char path[3000];
    memset(path, 'd', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_model *m = NULL;
    covidcam_status rc = covidcam_model_load(path, &m, err, sizeof err);
    assert_int_equal(rc, COVIDCAM_ERR_IO);
    assert_true(strlen(err) < sizeof err);
    assert_non_null(strstr(err, "File name too long"));
    assert_non_null(strstr(err, "\xe2\x80\xa6"));
    assert_non_null(strstr(err, "/ddd"));
    cc_err e = {{0}};
    cc_fail(&e, COVIDCAM_ERR_IO, "short %d", 5);
    assert_string_equal(e.msg, "short 5");
    /* A multi-byte character at the cut is never split. */
    char wide[2000] = "";
    for (int i = 0; i < 600; i++)
        strcat(wide, "\xc3\xa9"); /* e acute */
    cc_fail(&e, COVIDCAM_ERR_IO, "%s: reason", wide);
    assert_non_null(strstr(e.msg, ": reason"));
    for (const char *p = e.msg; *p; p++)
        if ((unsigned char)*p == 0xc3)
            assert_int_equal((unsigned char)p[1], 0xa9);
    cc_err_prefix(&e, "model %s", wide);
    assert_non_null(strstr(e.msg, ": reason"));
    assert_memory_equal(e.msg, "model ", 6);
}

/* A zero-length tensor at [0, 0] listed after a tensor at [0, N] overlaps
 * nothing. */
static void test_empty_tensor_not_overlap(void **state)
{
    (void)state;
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                       "\"c\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}";
    uint8_t data[8] = {0};
    size_t len;
    uint8_t *b = ste_pack(json, data, sizeof data, &len);
    cc_safetensors st;
    cc_err e = {{0}};
    covidcam_status rc = cc_st_parse(b, len, &st, &e);
    assert_int_equal(rc, COVIDCAM_OK);
    cc_st_free(&st);
    const char *bad = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    free(b);
    b = ste_pack(bad, data, sizeof data, &len);
    assert_int_equal(cc_st_parse(b, len, &st, &e), COVIDCAM_ERR_BAD_FORMAT);
    assert_non_null(strstr(e.msg, "overlap"));
    free(b);
}

/* ------------------------------------------------------------ OOD score */

/* The score by hand: class k's mean is k in every feature and the precision
 * the identity (rb_model_spec.ood_threshold), so it is min_k sum (f_i - k)^2.
 * A threshold below / above it sets / clears the flag; warnings stay apart. */
static void test_ood_score_by_hand(void **state)
{
    (void)state;
    double score = -1;
    for (int pass = 0; pass < 2; pass++) {
        rb_model_spec spec = rb_model_default();
        spec.ood_threshold = pass == 0 ? 1e-6 : 1e12;
        size_t len;
        uint8_t *b = rb_model_build(&spec, &len);
        assert_non_null(b);
        covidcam_model *m = load_bytes(b, len);
        free(b);
        assert_int_equal(covidcam_model_has_ood(m), 1);
        covidcam_session *s = session_of(m);
        uint8_t *px = gradient_pixels(40, 30);
        assert_int_equal(covidcam_classify_pixels(s, px, 40, 30, 40, NULL, NULL, 0, NULL),
                         COVIDCAM_OK);
        int nf = covidcam_model_num_features(m);
        float f[64];
        assert_true(nf > 0 && nf <= 64);
        assert_int_equal(covidcam_session_features(s, f, (size_t)nf - 1),
                         COVIDCAM_ERR_INVALID_ARGUMENT);
        assert_int_equal(covidcam_session_features(s, f, (size_t)nf), COVIDCAM_OK);
        double best = INFINITY;
        for (int k = 0; k < covidcam_model_num_classes(m); k++) {
            double d = 0;
            for (int i = 0; i < nf; i++)
                d += ((double)f[i] - k) * ((double)f[i] - k);
            best = d < best ? d : best;
        }
        covidcam_assessment a;
        covidcam_assessment_init(&a);
        assert_int_equal(covidcam_session_assessment(s, &a), COVIDCAM_OK);
        assert_int_equal(a.ood_available, 1);
        assert_true(fabs(a.ood_score - best) <= 1e-6 * (1 + best));
        assert_int_equal(a.ood, pass == 0);
        assert_true(fabs(a.ood_threshold - spec.ood_threshold) <= 1e-6 * spec.ood_threshold);
        if (pass == 1)
            assert_true(a.ood_score == score); /* the threshold changes no score */
        score = a.ood_score;
        free(px);
        covidcam_session_free(s);
        covidcam_model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_nonfinite),
        cmocka_unit_test(test_nonfinite_input_refused),
        cmocka_unit_test(test_softmax_stable),
        cmocka_unit_test(test_overflowing_logits),
        cmocka_unit_test(test_flush_denormals),
        cmocka_unit_test(test_denormal_weights_flushed),
        cmocka_unit_test(test_pixels_heatmap_keeps_image),
        cmocka_unit_test(test_gradcam_memory),
        cmocka_unit_test(test_shared_session),
        cmocka_unit_test(test_long_path_keeps_reason),
        cmocka_unit_test(test_empty_tensor_not_overlap),
        cmocka_unit_test(test_ood_score_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
