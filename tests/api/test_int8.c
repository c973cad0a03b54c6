/* int8 sessions (docs/precision.md, "int8"): logits against the numpy
 * simulation of tools/make_int8_fixtures.py, the refusal of files without
 * calibration, hostile int8_scales metadata, batches, weights prepared once
 * and shared, mixed precisions on one model from several threads, and
 * Grad-CAM. Runs on every CPU; meson also runs it under
 * ONEDNN_MAX_CPU_ISA=AVX2 (api_int8_avx2), oneDNN's int8 path without VNNI. */
#include <cpuid.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "api_util.h"
#include "covidcam.h"
#include "prepared.h" /* white-box: the model's shared int8 weights */
#include "session.h"
#include "st_edit.h"
#include "test_util.h"

#define MAXC 8

/* Which arithmetic oneDNN's int8 kernels do here, decided without the
 * library: with AVX512-VNNI (CPUID leaf 7 ECX bit 11, the OS saving ZMM
 * state) or AMX-INT8 (EDX bit 25), uncapped, exact dot products (1);
 * otherwise AVX2's halved stem weights and 16-bit saturating pair sums (0;
 * see tools/make_int8_fixtures.py). -1 when it cannot be told: AVX-VNNI
 * without AVX-512, where oneDNN 2.6's kernel choice is not pinned down by its
 * documentation; then either simulation is accepted. */
static int exact_dot_products(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !(c & (1u << 27)))
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    unsigned long long xcr0 = ((unsigned long long)hi << 32) | lo;
    int zmm = (xcr0 & 0xe6) == 0xe6, tiles = (xcr0 & 0x60000) == 0x60000;
    int vnni512 = 0, amx = 0, avx_vnni = 0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        vnni512 = zmm && (c & (1u << 11));
        amx = tiles && (d & (1u << 25));
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d))
        avx_vnni = (xcr0 & 0x6) == 0x6 && (a & (1u << 4));
    const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
    static const char *const below[] = {"SSE41", "AVX", "AVX2", "AVX512_CORE",
                                        "AVX512_MIC", "AVX512_MIC_4OPS"};
    for (size_t i = 0; cap && i < sizeof below / sizeof below[0]; i++)
        if (!strcasecmp(cap, below[i]))
            return 0;
    if (vnni512 || amx)
        return 1;
    return avx_vnni ? -1 : 0;
}

static void classify(covidcam_session *s, const float *x, float *logits)
{
    const covidcam_model *m = covidcam_session_model(s);
    int c = covidcam_model_input_channels(m), n = covidcam_model_input_size(m);
    float p[MAXC];
    if (covidcam_classify_tensor(s, x, c, n, n, p, logits, MAXC, NULL))
        fail_msg("classify: %s", covidcam_session_last_error(s));
}

static float *fixture_input(const char *model, int k)
{
    char key[64];
    snprintf(key, sizeof key, "%s.input.%d", model, k);
    float *x = tu_expected(key, NULL);
    assert_non_null(x);
    return x;
}

static float *expected_int8(const char *model, const char *what, int k)
{
    char key[64];
    snprintf(key, sizeof key, "%s.%s.%d", model, what, k);
    float *v = tu_expected_in("expected_int8.safetensors", key, NULL);
    assert_non_null(v);
    return v;
}

/* The tolerance. The simulation does every integer sum as the kernels do
 * and every float step in their order and type, so the library's u8/s8
 * codes are the simulation's exactly (the "exact" of docs/precision.md; a
 * fused or unfused sum post-op could flip a code by one LSB on another
 * CPU's kernels, and this test would then fail and say so). What is left is
 * the fp32 head: average pooling of h*w values and the fc's sum over C
 * features, each a sum whose float32 rounding is at most (terms) * 2^-24
 * of the sum of the magnitudes. With a_max = 255 * s_last the largest
 * dequantized activation, logit j's magnitudes are bounded by
 * a_max * sum_c |fc[j][c]| + |b_j|, so tol = (h*w + C + 1) * 2^-23 *
 * max_j (a_max * sum_c |fc[j][c]| + |b_j|). One code of difference in the
 * last block moves a logit by s_last * |fc[j][c]| / (h*w), more than tol for
 * these fixtures, and so does fp32 arithmetic (checked below). */
static double tolerance(const char *model)
{
    char path[64], key[64];
    snprintf(path, sizeof path, "%s.safetensors", model);
    covidcam_model *m = au_load_path(tu_fixture(path));
    snprintf(key, sizeof key, "%s.last_scale", model);
    float *s = tu_expected_in("expected_int8.safetensors", key, NULL);
    assert_non_null(s);
    covidcam_session *f = au_session_with(m, COVIDCAM_PRECISION_FP32, 1, 0);
    const cc_dnn_md *last = f->net->blocks[m->num_blocks - 1].out_md;
    double hw = (double)cc_dnn_md_dim(last, 2) * (double)cc_dnn_md_dim(last, 3);
    covidcam_session_free(f);
    double worst = 0, a_max = 255.0 * *s;
    for (int j = 0; j < m->fc.geom.oc; j++) {
        double row = fabs(m->fc.b[j]);
        for (int c = 0; c < m->fc.ic; c++)
            row += a_max * fabs(m->fc_plain[(size_t)j * (size_t)m->fc.ic + (size_t)c]);
        worst = fmax(worst, row);
    }
    double tol = (hw + m->fc.ic + 1) * ldexp(1.0, -23) * worst;
    free(s);
    covidcam_model_free(m);
    return tol;
}

static void check_model(const char *model, int exact)
{
    char path[64];
    snprintf(path, sizeof path, "%s_int8.safetensors", model);
    covidcam_model *m = au_load_path(tu_fixture(path));
    size_t nc = (size_t)covidcam_model_num_classes(m);
    double tol = tolerance(model);
    for (int threads = 1; threads <= 2; threads++) {
        covidcam_session *s = au_session_with(m, COVIDCAM_PRECISION_INT8, threads, 0);
        assert_int_equal(covidcam_session_precision(s), COVIDCAM_PRECISION_INT8);
        for (int k = 0; k < 3; k++) {
            float z[MAXC];
            float *x = fixture_input(model, k), *e8 = expected_int8(model, "logits_int8", k);
            float *e7 = expected_int8(model, "logits_int8_avx2", k);
            char key[64];
            snprintf(key, sizeof key, "%s.logits.%d", model, k);
            float *ref = tu_expected(key, NULL);
            assert_non_null(ref);
            classify(s, x, z);
            double d8 = tu_max_abs_diff(z, e8, nc), d7 = tu_max_abs_diff(z, e7, nc);
            double d32 = tu_max_abs_diff(exact == 0 ? e7 : e8, ref, nc);
            print_message("%s input %d, %d threads: |int8 - sim exact| %.3g, |int8 - sim "
                          "avx2| %.3g, |sim - fp32| %.3g, tolerance %.3g\n",
                          model, k, threads, d8, d7, d32, tol);
            if (exact == 1)
                assert_true(d8 <= tol);
            else if (exact == 0)
                assert_true(d7 <= tol);
            else
                assert_true(d8 <= tol || d7 <= tol);
            assert_true(d32 > tol); /* the fixture tells int8 from fp32 */
            free(x);
            free(e8);
            free(e7);
            free(ref);
        }
        covidcam_session_free(s);
    }
    covidcam_model_free(m);
}

static void test_int8_logits(void **state)
{
    (void)state;
    int exact = exact_dot_products();
    print_message("expecting oneDNN's int8 kernels %s\n",
                  exact == 1   ? "with exact (VNNI/AMX) dot products"
                  : exact == 0 ? "without VNNI (AVX2 arithmetic)"
                               : "of either kind");
    check_model("basic", exact);
    check_model("bottleneck", exact);
}

/* A file without calibration: int8 refused, saying how to make one; AUTO
 * picks int8 exactly for calibrated files; fp32 of
 * a calibrated file is exactly fp32 of the plain one (the tensors are the
 * same and the scales change nothing but int8). */
static void test_int8_refusal_and_fp32_part(void **state)
{
    (void)state;
    covidcam_model *plain = au_load_path(tu_fixture("basic.safetensors"));
    covidcam_model *q = au_load_path(tu_fixture("basic_int8.safetensors"));
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    assert_int_equal(au_try_session(plain, COVIDCAM_PRECISION_INT8, 1, 0, &s, err, sizeof err),
                     COVIDCAM_ERR_UNSUPPORTED);
    assert_null(s);
    au_assert_contains(err, "int8_scales");
    au_assert_contains(err, "covidcam-quantize --model IN --calibrate DIR -o OUT");
    /* AUTO: int8 for a calibrated file on every CPU, never for a plain one */
    s = au_session_with(q, COVIDCAM_PRECISION_AUTO, 1, 0);
    assert_int_equal(covidcam_session_precision(s), COVIDCAM_PRECISION_INT8);
    covidcam_session_free(s);
    s = au_session_with(plain, COVIDCAM_PRECISION_AUTO, 1, 0);
    assert_int_not_equal(covidcam_session_precision(s), COVIDCAM_PRECISION_INT8);
    covidcam_session_free(s);
    covidcam_session *a = au_session_with(plain, COVIDCAM_PRECISION_FP32, 1, 0);
    covidcam_session *b = au_session_with(q, COVIDCAM_PRECISION_FP32, 1, 0);
    for (int k = 0; k < 3; k++) {
        float za[MAXC], zb[MAXC];
        float *x = fixture_input("basic", k);
        classify(a, x, za);
        classify(b, x, zb);
        assert_memory_equal(za, zb, 3 * sizeof(float));
        free(x);
    }
    assert_non_null(covidcam_model_metadata(q, "int8_scales"));
    covidcam_session_free(a);
    covidcam_session_free(b);
    covidcam_model_free(plain);
    covidcam_model_free(q);
}

/* basic_int8 with int8_scales replaced by `scales` (NULL: the key removed,
 * which is a valid fp32 file): the load status and message. */
static covidcam_status load_with(const char *scales, char *err, size_t size)
{
    ste_file *f = ste_load(tu_fixture("basic_int8.safetensors"));
    assert_non_null(f);
    ste_meta(f, "int8_scales", scales);
    size_t len = 0;
    uint8_t *buf = ste_serialize(f, &len);
    covidcam_model *m = NULL;
    covidcam_status rc = covidcam_model_load_from_memory(buf, len, &m, err, size);
    covidcam_model_free(m);
    free(buf);
    ste_free(f);
    return rc;
}

/* The file's own scales with entry `name` set to the JSON text `value`
 * (NULL: removed), as a new int8_scales string the caller frees. */
static char *edited_scales(const char *name, const char *value)
{
    covidcam_model *m = au_load_path(tu_fixture("basic_int8.safetensors"));
    json_t *o = json_loads(covidcam_model_metadata(m, "int8_scales"), 0, NULL);
    covidcam_model_free(m);
    assert_non_null(o);
    if (value)
        json_object_set_new(o, name, json_loads(value, JSON_DECODE_ANY, NULL));
    else
        json_object_del(o, name);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void test_int8_hostile_scales(void **state)
{
    (void)state;
    static const struct {
        const char *entry, *value, *want;
    } cases[] = {
        {"layer2.0.downsample", "0", "'layer2.0.downsample' is 0"},
        {"layer1.0", "-0.5", "'layer1.0' is -0.5"},
        {"conv1", "1e-300", "'conv1' is 1e-300"},
        {"input", "1e300", "'input' is 1e+300"},
        {"layer4.1.conv1", "\"0.1\"", "'layer4.1.conv1' must be a number"},
        {"layer3.0.conv1", "null", "'layer3.0.conv1' must be a number"},
        {"layer4.1", NULL, "no scale for tensor 'layer4.1'"},
        {"layer9.0", "0.1", "entry 'layer9.0' that is no activation"},
    };
    char err[COVIDCAM_ERRBUF_SIZE];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *scales = edited_scales(cases[i].entry, cases[i].value);
        assert_int_equal(load_with(scales, err, sizeof err), COVIDCAM_ERR_BAD_FORMAT);
        au_assert_contains(err, cases[i].want);
        free(scales);
    }
    static const char *const not_objects[] = {"[0.1]", "0.1", "{\"input\": NaN}", "{",
                                              "{\"input\":0.1,\"input\":0.2}"};
    for (size_t i = 0; i < sizeof not_objects / sizeof not_objects[0]; i++) {
        assert_int_equal(load_with(not_objects[i], err, sizeof err), COVIDCAM_ERR_BAD_FORMAT);
        au_assert_contains(err, "int8_scales must be a JSON object");
    }
    assert_int_equal(load_with(NULL, err, sizeof err), COVIDCAM_OK);
}

/* Finite tensors whose batch norm folds into infinite weights (a gamma of
 * 3e38 over a variance of 0) load, as for fp32, but have no int8 codes: BAD_FORMAT naming the
 * convolution at int8 session creation (the fuzzer's first find). */
static void test_int8_overflowing_weights(void **state)
{
    (void)state;
    ste_file *f = ste_load(tu_fixture("basic_int8.safetensors"));
    assert_non_null(f);
    ste_tensor *g = ste_find(f, "layer2.0.bn1.weight");
    assert_non_null(g);
    assert_string_equal(g->dtype, "F32");
    ste_tensor *v = ste_find(f, "layer2.0.bn1.running_var");
    assert_non_null(v);
    float big = 3e38f, zero = 0.0f; /* scale 3e38 / sqrt(0 + 1e-5): 1e41 */
    memcpy(g->data, &big, sizeof big);
    memcpy(v->data, &zero, sizeof zero);
    size_t len = 0;
    uint8_t *buf = ste_serialize(f, &len);
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    assert_int_equal(covidcam_model_load_from_memory(buf, len, &m, err, sizeof err), COVIDCAM_OK);
    covidcam_session *s = NULL;
    assert_int_equal(au_try_session(m, COVIDCAM_PRECISION_INT8, 1, 0, &s, err, sizeof err),
                     COVIDCAM_ERR_BAD_FORMAT);
    assert_null(s);
    au_assert_contains(err, "layer2.0.conv1 are infinite at output channel 0");
    covidcam_model_free(m);
    free(buf);
    ste_free(f);
}

/* A batch of three in one call gives what three one-image calls give. */
static void test_int8_batch(void **state)
{
    (void)state;
    covidcam_model *m = au_load_path(tu_fixture("bottleneck_int8.safetensors"));
    covidcam_session *one = au_session_with(m, COVIDCAM_PRECISION_INT8, 1, 0);
    covidcam_session *bat = au_session_with(m, COVIDCAM_PRECISION_INT8, 1, 3);
    size_t n = (size_t)covidcam_model_input_size(m), c = (size_t)covidcam_model_input_channels(m);
    size_t per = c * n * n, nc = (size_t)covidcam_model_num_classes(m);
    float *x = malloc(3 * per * sizeof *x), want[3][MAXC], got[3 * MAXC], probs[3 * MAXC];
    int top[3];
    assert_non_null(x);
    for (int k = 0; k < 3; k++) {
        float *xk = fixture_input("bottleneck", k);
        memcpy(x + (size_t)k * per, xk, per * sizeof *x);
        classify(one, xk, want[k]);
        free(xk);
    }
    assert_int_equal(covidcam_classify_tensor_batch(bat, x, 3, (int)c, (int)n, (int)n, probs, got,
                                                    nc, top),
                     COVIDCAM_OK);
    for (int k = 0; k < 3; k++) {
        double d = tu_max_abs_diff(got + (size_t)k * nc, want[k], nc);
        print_message("image %d: |batch - one| %.3g\n", k, d);
        assert_true(d <= 1e-5); /* integer convolutions; only the fp32 head's order */
    }
    free(x);
    covidcam_session_free(one);
    covidcam_session_free(bat);
    covidcam_model_free(m);
}

/* The first int8 session quantizes the weights once for the model; the next
 * uses them without a copy; a private copy would get the same bytes. */
static void test_int8_shared_weights(void **state)
{
    (void)state;
    covidcam_model *m = au_load_path(tu_fixture("bottleneck_int8.safetensors"));
    covidcam_session *f = au_session_with(m, COVIDCAM_PRECISION_FP32, 1, 0);
    assert_null(m->prep->int8);
    covidcam_session *a = au_session_with(m, COVIDCAM_PRECISION_INT8, 1, 0);
    const cc_prepared *p = m->prep->int8;
    assert_non_null(p);
    covidcam_session *b = au_session_with(m, COVIDCAM_PRECISION_INT8, 1, 0);
    assert_ptr_equal(m->prep->int8, p);
    assert_ptr_equal(a->net->stem.w, p->stem);
    assert_ptr_equal(b->net->stem.w, p->stem);
    for (int i = 0; i < m->num_blocks; i++)
        for (int k = 0; k < m->blocks[i].nconv; k++) {
            assert_ptr_equal(b->net->blocks[i].conv[k].w, p->blocks[i][k]);
            assert_null(b->net->blocks[i].conv[k].w_private);
        }
    assert_null(m->prep->bf16);
    /* The plain s8 weights are dropped once the prepared ones exist; a
     * session whose primitive wants another layout quantizes again from
     * fp32, which must give the prepared bytes exactly. */
    assert_null(p->q->stem.w);
    for (int i = 0; i < m->num_blocks; i++)
        for (int k = 0; k < 4; k++) {
            const cc_dnn_md *md = p->plan.blocks[i][k];
            if (!md)
                continue;
            const cc_conv_w *cw = k == 3 ? &m->blocks[i].down : &m->blocks[i].conv[k];
            void *again = cc_dnn_alloc(cc_dnn_md_bytes(md));
            cc_err e = {{0}};
            assert_int_equal(cc_qconv_reorder(m, cc_qnet_conv(p->q, i, k), cw, md, again, &e),
                             COVIDCAM_OK);
            assert_memory_equal(again, p->blocks[i][k], cc_dnn_md_bytes(md));
            cc_dnn_free(again);
        }
    covidcam_session_free(a);
    covidcam_session_free(b);
    covidcam_session_free(f);
    covidcam_model_free(m);
}

/* Threads share one model in fp32, int8 and (where it runs) bf16, the first
 * int8 and bf16 sessions racing to prepare the weights: every result is
 * bitwise the one-thread result. */
static void test_int8_mixed_threads(void **state)
{
    (void)state;
    covidcam_precision ps[4] = {COVIDCAM_PRECISION_FP32, COVIDCAM_PRECISION_INT8,
                                COVIDCAM_PRECISION_INT8, COVIDCAM_PRECISION_BF16};
    covidcam_model *ref = au_load_path(tu_fixture("basic_int8.safetensors"));
    covidcam_session *probe = NULL;
    char err[COVIDCAM_ERRBUF_SIZE];
    int nw = au_try_session(ref, COVIDCAM_PRECISION_BF16, 1, 0, &probe, err, sizeof err) ? 3 : 4;
    covidcam_session_free(probe);
    au_worker w[4];
    float *x[3];
    for (int k = 0; k < 3; k++)
        x[k] = fixture_input("basic", k);
    for (int i = 0; i < nw; i++) {
        w[i] = (au_worker){.p = ps[i]};
        covidcam_session *s = au_session_with(ref, ps[i], 1, 0);
        for (int k = 0; k < 3; k++) {
            w[i].x[k] = x[k];
            classify(s, x[k], w[i].want[k]);
        }
        covidcam_session_free(s);
    }
    /* a fresh model, so the threads' first sessions prepare its weights */
    covidcam_model *m = au_load_path(tu_fixture("basic_int8.safetensors"));
    pthread_t t[4];
    for (int i = 0; i < nw; i++) {
        w[i].m = m;
        assert_int_equal(pthread_create(&t[i], NULL, au_work, &w[i]), 0);
    }
    for (int i = 0; i < nw; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].mismatches, 0);
    }
    for (int k = 0; k < 3; k++)
        free(x[k]);
    covidcam_model_free(m);
    covidcam_model_free(ref);
}

/* Grad-CAM of an int8 session: probabilities from the int8 pass, the map from
 * the Grad-CAM net (docs/precision.md): bf16 where the CPU has it natively,
 * else fp32. So for the same class it is that precision's session's map, bit
 * for bit, at every layer. */
static void test_int8_gradcam(void **state)
{
    (void)state;
    covidcam_model *m = au_load_path(tu_fixture("basic_int8.safetensors"));
    covidcam_session *s32 = NULL;
    char err[COVIDCAM_ERRBUF_SIZE];
    if (au_try_session(m, COVIDCAM_PRECISION_BF16, 1, 0, &s32, err, sizeof err))
        s32 = au_session_with(m, COVIDCAM_PRECISION_FP32, 1, 0);
    print_message("maps of a %s session expected\n",
                  covidcam_precision_name(covidcam_session_precision(s32)));
    covidcam_session *s8 = au_session_with(m, COVIDCAM_PRECISION_INT8, 1, 0);
    static const char *const layers[] = {"layer4", "layer2", "layer3.0,layer4"};
    const char *png = tu_fixture("sample_64.png");
    for (int li = 0; li < 3; li++) {
        covidcam_heatmap *a = au_cam(s32, png, layers[li], 1), *b = au_cam(s8, png, layers[li], 1);
        size_t len = (size_t)covidcam_heatmap_size(a) * (size_t)covidcam_heatmap_size(a);
        assert_memory_equal(covidcam_heatmap_data(a), covidcam_heatmap_data(b),
                            len * sizeof(float));
        float z[MAXC], p[MAXC];
        int top;
        assert_int_equal(covidcam_classify_file(s8, png, p, z, MAXC, &top), COVIDCAM_OK);
        assert_memory_equal(covidcam_heatmap_logits(b), z, 3 * sizeof(float));
        assert_int_equal(covidcam_heatmap_top_class(b), top);
        covidcam_heatmap_free(a);
        covidcam_heatmap_free(b);
    }
    covidcam_session_free(s8);
    covidcam_session_free(s32);
    covidcam_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_logits),
        cmocka_unit_test(test_int8_refusal_and_fp32_part),
        cmocka_unit_test(test_int8_hostile_scales),
        cmocka_unit_test(test_int8_overflowing_weights),
        cmocka_unit_test(test_int8_batch),
        cmocka_unit_test(test_int8_shared_weights),
        cmocka_unit_test(test_int8_mixed_threads),
        cmocka_unit_test(test_int8_gradcam),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
