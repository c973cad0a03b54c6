/* Batch calls (covidcam_classify_*_batch, covidcam_classify_files): every row
 * equals the one-image call on the same input, up to the summation order of a
 * batch kernel; per-image failures, assessments and image info; the
 * max_batch option (its memory limit: tests/robust/test_limits.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_util.h"
#include "covidcam.h"
#include "test_util.h"

#define MAXC 8
#define N 6

/* fp32: a batch kernel sums in another order, so a logit moves by a few fp32
 * ulps of the sums behind it: 1e-5 of the logits' scale. bf16: such a change
 * can move an activation across a bf16 rounding boundary, so the bound of
 * test_precision.c applies, one bf16 ulp (2^-8) of the logits' scale. */
static double tolerance(covidcam_precision p, const float *z, int nc)
{
    double scale = 1.0;
    for (int k = 0; k < nc; k++)
        scale = fmax(scale, fabs(z[k]));
    return p == COVIDCAM_PRECISION_BF16 ? ldexp(scale, -8) : 1e-5 * scale;
}

static void same_row(covidcam_precision p, const float *z1, const float *p1, int top1,
                     const float *zb, const float *pb, int topb, int nc, const char *what)
{
    double tol = tolerance(p, z1, nc);
    double dz = tu_max_abs_diff(z1, zb, (size_t)nc), dp = tu_max_abs_diff(p1, pb, (size_t)nc);
    if (dz > tol || dp > tol)
        fail_msg("%s: batch row off by %g (logits), %g (probabilities); tolerance %g", what, dz,
                 dp, tol);
    /* the top class may only differ where the two best logits are that close */
    if (top1 != topb && fabs(z1[top1] - z1[topb]) > 2 * tol)
        fail_msg("%s: top class %d in the batch, %d alone", what, topb, top1);
}

static float *tensors_of(const char *model, int count, size_t *one)
{
    float *first = NULL;
    float *all = NULL;
    for (int i = 0; i < count; i++) {
        char key[64];
        size_t n = 0;
        snprintf(key, sizeof key, "%s.input.%d", model, i % 3);
        float *x = tu_expected(key, &n);
        assert_non_null(x);
        if (!all) {
            *one = n;
            assert_non_null(all = malloc((size_t)count * n * sizeof *all));
        }
        /* inputs 3.. are inputs 0..2 scaled, so no two rows are equal */
        for (size_t k = 0; k < n; k++)
            all[(size_t)i * n + k] = x[k] * (1.0f + 0.25f * (float)(i / 3));
        free(x);
    }
    (void)first;
    return all;
}

static void check_tensors(const char *model, covidcam_precision p, int max_batch, int count)
{
    char path[64];
    snprintf(path, sizeof path, "%s.safetensors", model);
    covidcam_model *m = au_load_path(tu_fixture(path));
    int c = covidcam_model_input_channels(m), sz = covidcam_model_input_size(m);
    int nc = covidcam_model_num_classes(m);
    size_t one = 0;
    float *x = tensors_of(model, count, &one);
    covidcam_session *single = au_session_with(m, p, 1, 0), *batch = au_session_with(m, p, 1, max_batch);
    assert_int_equal(covidcam_session_max_batch(batch), max_batch);
    float zb[N * MAXC], pb[N * MAXC];
    int tb[N];
    if (covidcam_classify_tensor_batch(batch, x, count, c, sz, sz, pb, zb, MAXC, tb))
        fail_msg("batch: %s", covidcam_session_last_error(batch));
    for (int i = 0; i < count; i++) {
        float z1[MAXC], p1[MAXC];
        int t1;
        if (covidcam_classify_tensor(single, x + (size_t)i * one, c, sz, sz, p1, z1, MAXC, &t1))
            fail_msg("single: %s", covidcam_session_last_error(single));
        char what[96];
        snprintf(what, sizeof what, "%s %s max_batch %d image %d", model,
                 covidcam_precision_name(p), max_batch, i);
        same_row(p, z1, p1, t1, zb + i * MAXC, pb + i * MAXC, tb[i], nc, what);
    }
    covidcam_session_free(single);
    covidcam_session_free(batch);
    free(x);
    covidcam_model_free(m);
}

static int have_bf16(void)
{
    covidcam_model *m = au_load_path(tu_fixture("basic.safetensors"));
    covidcam_session *s = NULL;
    int ok = au_try_session(m, COVIDCAM_PRECISION_BF16, 1, 0, &s, NULL, 0) == COVIDCAM_OK;
    covidcam_session_free(s);
    covidcam_model_free(m);
    return ok;
}

static void test_tensor_batches(void **state)
{
    (void)state;
    check_tensors("basic", COVIDCAM_PRECISION_FP32, N, N);     /* full */
    check_tensors("basic", COVIDCAM_PRECISION_FP32, N, 2);     /* part of one */
    check_tensors("bottleneck", COVIDCAM_PRECISION_FP32, 4, 4);
    check_tensors("basic", COVIDCAM_PRECISION_FP32, 1, 1);     /* the one-image net */
    if (!have_bf16()) {
        print_message("no bf16 sessions on this CPU: bf16 batches not run\n");
        return;
    }
    check_tensors("basic", COVIDCAM_PRECISION_BF16, N, N);
    check_tensors("bottleneck", COVIDCAM_PRECISION_BF16, 4, 3);
}

/* Gray images of different sizes (each is resized to the model's input). */
static void test_pixel_batch(void **state)
{
    (void)state;
    covidcam_model *m = au_load_path(tu_fixture("basic.safetensors"));
    covidcam_session *single = au_session_with(m, COVIDCAM_PRECISION_FP32, 1, 0);
    covidcam_session *batch = au_session_with(m, COVIDCAM_PRECISION_FP32, 1, 4);
    static const int w[4] = {64, 97, 40, 130}, h[4] = {64, 131, 55, 70};
    uint8_t *px[4];
    size_t stride[4];
    for (int i = 0; i < 4; i++) {
        stride[i] = (size_t)w[i] + 3;
        assert_non_null(px[i] = malloc(stride[i] * (size_t)h[i]));
        for (size_t k = 0; k < stride[i] * (size_t)h[i]; k++)
            px[i][k] = (uint8_t)((k * 2654435761u >> 13) + (unsigned)i * 40);
    }
    float zb[4 * MAXC], pb[4 * MAXC];
    int tb[4];
    if (covidcam_classify_pixels_batch(batch, (const uint8_t *const *)px, w, h, stride, 4, pb, zb,
                                       MAXC, tb))
        fail_msg("batch: %s", covidcam_session_last_error(batch));
    for (int i = 0; i < 4; i++) {
        float z1[MAXC], p1[MAXC];
        int t1;
        assert_int_equal(covidcam_classify_pixels(single, px[i], w[i], h[i], stride[i], p1, z1,
                                                  MAXC, &t1),
                         COVIDCAM_OK);
        same_row(COVIDCAM_PRECISION_FP32, z1, p1, t1, zb + i * MAXC, pb + i * MAXC, tb[i], 3,
                 "pixels");
        covidcam_assessment a1, ab;
        covidcam_assessment_init(&a1);
        covidcam_assessment_init(&ab);
        assert_int_equal(covidcam_session_assessment(single, &a1), COVIDCAM_OK);
        assert_int_equal(covidcam_session_batch_assessment(batch, i, &ab), COVIDCAM_OK);
        assert_int_equal(ab.warnings, a1.warnings);
    }
    /* a bad image fails the whole call, naming it */
    int bad_w[4] = {64, 0, 40, 130};
    assert_int_equal(covidcam_classify_pixels_batch(batch, (const uint8_t *const *)px, bad_w, h,
                                                    stride, 4, pb, zb, MAXC, tb),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(covidcam_session_last_error(batch), "image 1: bad image geometry"));
    covidcam_assessment a;
    covidcam_assessment_init(&a);
    assert_int_equal(covidcam_session_batch_assessment(batch, 0, &a),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < 4; i++)
        free(px[i]);
    covidcam_session_free(single);
    covidcam_session_free(batch);
    covidcam_model_free(m);
}

/* Files: the good ones classify as alone, the bad ones get their status and
 * NaN rows, and the call returns the first failure. */
static void test_files(void **state)
{
    (void)state;
    covidcam_model *m = au_load_path(tu_fixture("bottleneck.safetensors"));
    covidcam_session *single = au_session_with(m, COVIDCAM_PRECISION_FP32, 1, 0);
    covidcam_session *batch = au_session_with(m, COVIDCAM_PRECISION_FP32, 1, 5);
    char p0[4096], p1[4096], p2[4096], p3[4096], p4[4096];
    snprintf(p0, sizeof p0, "%s", tu_fixture("sample_97x131.png"));
    snprintf(p1, sizeof p1, "%s", tu_fixture("no-such-file.png"));
    snprintf(p2, sizeof p2, "%s", tu_fixture("jpeg/cmyk_adobe.jpg"));
    snprintf(p3, sizeof p3, "%s", tu_fixture("png/err_bad_adler.png"));
    snprintf(p4, sizeof p4, "%s", tu_fixture("sample_64.png"));
    const char *paths[5] = {p0, p1, p2, p3, p4};
    float zb[5 * MAXC], pb[5 * MAXC];
    int tb[5];
    covidcam_status st[5];
    covidcam_status rc = covidcam_classify_files(batch, paths, 5, pb, zb, MAXC, tb, st);
    assert_int_equal(rc, COVIDCAM_ERR_IO);
    assert_int_equal(st[1], COVIDCAM_ERR_IO);
    assert_int_equal(st[3], COVIDCAM_ERR_BAD_FORMAT);
    assert_non_null(strstr(covidcam_session_last_error(batch), "image 1: "));
    assert_non_null(strstr(covidcam_session_last_error(batch), "no-such-file.png"));
    assert_non_null(strstr(covidcam_session_last_error(batch),
                           covidcam_session_batch_error(batch, 1)));
    /* per image: the one-image call's message */
    char want[COVIDCAM_ERRBUF_SIZE];
    float q[MAXC];
    assert_int_equal(covidcam_classify_file(single, p3, q, NULL, MAXC, NULL),
                     COVIDCAM_ERR_BAD_FORMAT);
    snprintf(want, sizeof want, "%s", covidcam_session_last_error(single));
    assert_string_equal(covidcam_session_batch_error(batch, 3), want);
    assert_string_equal(covidcam_session_batch_error(batch, 0), "");
    assert_string_equal(covidcam_session_batch_error(batch, 7), "");
    for (int i = 0; i < 5; i++) {
        covidcam_assessment ab;
        covidcam_image_info ib;
        covidcam_assessment_init(&ab);
        covidcam_image_info_init(&ib);
        if (i == 1 || i == 3) {
            assert_int_equal(tb[i], -1);
            assert_true(isnan(pb[i * MAXC]) && isnan(zb[i * MAXC + 3]));
            assert_int_equal(covidcam_session_batch_assessment(batch, i, &ab),
                             COVIDCAM_ERR_INVALID_ARGUMENT);
            assert_int_equal(covidcam_session_batch_image_info(batch, i, &ib),
                             COVIDCAM_ERR_INVALID_ARGUMENT);
            continue;
        }
        assert_int_equal(st[i], COVIDCAM_OK);
        float z1[MAXC], q1[MAXC];
        int t1;
        assert_int_equal(covidcam_classify_file(single, paths[i], q1, z1, MAXC, &t1),
                         COVIDCAM_OK);
        same_row(COVIDCAM_PRECISION_FP32, z1, q1, t1, zb + i * MAXC, pb + i * MAXC, tb[i], 4,
                 paths[i]);
        covidcam_image_info i1;
        covidcam_image_info_init(&i1);
        assert_int_equal(covidcam_session_image_info(single, &i1), COVIDCAM_OK);
        assert_int_equal(covidcam_session_batch_image_info(batch, i, &ib), COVIDCAM_OK);
        assert_int_equal(ib.format, i1.format);
        assert_int_equal(ib.width, i1.width);
        assert_int_equal(ib.height, i1.height);
        assert_int_equal(covidcam_session_batch_assessment(batch, i, &ab), COVIDCAM_OK);
    }
    /* after a batch call the one-image queries have no image */
    covidcam_assessment a;
    covidcam_assessment_init(&a);
    assert_int_equal(covidcam_session_assessment(batch, &a), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_session_batch_assessment(batch, 5, &a),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    /* all good: OK, statuses may be NULL */
    /* a call failed as a whole: every status is its status */
    assert_int_equal(covidcam_classify_files(batch, paths, 5, pb, zb, 2, tb, st),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < 5; i++)
        assert_int_equal(st[i], COVIDCAM_ERR_INVALID_ARGUMENT);
    const char *good[2] = {p0, p4};
    assert_int_equal(covidcam_classify_files(batch, good, 2, pb, NULL, MAXC, tb, NULL),
                     COVIDCAM_OK);
    covidcam_session_free(single);
    covidcam_session_free(batch);
    covidcam_model_free(m);
}

static void test_arguments(void **state)
{
    (void)state;
    covidcam_model *m = au_load_path(tu_fixture("basic.safetensors"));
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    assert_int_equal(au_try_session(m, COVIDCAM_PRECISION_FP32, 1, -1, &s, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "max_batch"));
    assert_int_equal(au_try_session(m, COVIDCAM_PRECISION_FP32, 1, COVIDCAM_MAX_BATCH + 1, &s, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    s = au_session_with(m, COVIDCAM_PRECISION_FP32, 1, 0);
    assert_int_equal(covidcam_session_max_batch(s), 1);
    assert_int_equal(covidcam_session_max_batch(NULL), 0);
    float x[64 * 64 * 2] = {0}, z[2 * MAXC];
    assert_int_equal(covidcam_classify_tensor_batch(s, x, 2, 1, 64, 64, NULL, z, MAXC, NULL),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(covidcam_session_last_error(s), "count 2 is outside [1, 1]"));
    assert_int_equal(covidcam_classify_tensor_batch(s, x, 0, 1, 64, 64, NULL, z, MAXC, NULL),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_classify_tensor_batch(s, NULL, 1, 1, 64, 64, NULL, z, MAXC, NULL),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(covidcam_session_last_error(s), "image 0: tensor must not be NULL"));
    assert_int_equal(covidcam_classify_tensor_batch(s, x, 1, 1, 64, 64, NULL, z, 2, NULL),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(covidcam_session_last_error(s), "capacity 2"));
    assert_int_equal(covidcam_classify_tensor_batch(s, x, 1, 1, 64, 64, NULL, z, MAXC, NULL),
                     COVIDCAM_OK);
    x[5] = NAN;
    assert_int_equal(covidcam_classify_tensor_batch(s, x, 1, 1, 64, 64, NULL, z, MAXC, NULL),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(covidcam_session_last_error(s), "image 0: tensor element 5"));
    assert_int_equal(covidcam_classify_tensor_batch(NULL, x, 1, 1, 64, 64, NULL, z, MAXC, NULL),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_classify_files(s, NULL, 1, NULL, z, MAXC, NULL, NULL),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_classify_pixels_batch(s, NULL, NULL, NULL, NULL, 1, NULL, z, MAXC,
                                                    NULL),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

/* Real X-rays through the shipped model, a batch of 3 against one by one
 * (few: under valgrind each image of this model takes seconds). */
static void test_real_batch(void **state)
{
    (void)state;
    if (!tu_have_shared())
        skip();
    covidcam_model *m = au_load_path(au_shipped_model());
    char *files[3] = {0};
    int n = tu_list_pngs(tu_shared("val/COVID"), files, 2);
    n += tu_list_pngs(tu_shared("val/Normal"), files + n, 1);
    assert_int_equal(n, 3);
    covidcam_session *single = au_session_with(m, COVIDCAM_PRECISION_FP32, 1, 0);
    covidcam_session *batch = au_session_with(m, COVIDCAM_PRECISION_FP32, 1, 3);
    float zb[3 * MAXC], pb[3 * MAXC];
    int tb[3];
    assert_int_equal(covidcam_classify_files(batch, (const char *const *)files, 3, pb, zb, MAXC,
                                             tb, NULL),
                     COVIDCAM_OK);
    for (int i = 0; i < 3; i++) {
        float z1[MAXC], p1[MAXC];
        int t1;
        assert_int_equal(covidcam_classify_file(single, files[i], p1, z1, MAXC, &t1),
                         COVIDCAM_OK);
        same_row(COVIDCAM_PRECISION_FP32, z1, p1, t1, zb + i * MAXC, pb + i * MAXC, tb[i], 4,
                 files[i]);
        covidcam_assessment a1, ab;
        covidcam_assessment_init(&a1);
        covidcam_assessment_init(&ab);
        assert_int_equal(covidcam_session_assessment(single, &a1), COVIDCAM_OK);
        assert_int_equal(covidcam_session_batch_assessment(batch, i, &ab), COVIDCAM_OK);
        assert_int_equal(ab.ood_available, 1);
        assert_true(fabs(ab.ood_score - a1.ood_score) <= 1e-4 * fmax(1.0, a1.ood_score));
        free(files[i]);
    }
    covidcam_session_free(single);
    covidcam_session_free(batch);
    covidcam_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_batches), cmocka_unit_test(test_pixel_batch),
        cmocka_unit_test(test_files),          cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_real_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
