/* Trainer building blocks against hand computations: loss, learning-rate
 * schedule, SGD update, metrics, the safetensors writer, options, and the
 * --precision rule (run again as train_parts_capped, oneDNN capped at AVX2). */
#include <math.h>
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

#include "safetensors.h"
#include "safetensors_write.h"
#include "tr_history.h"
#include "tr_loss.h"
#include "tr_metrics.h"
#include "tr_mixup.h"
#include "tr_optim.h"
#include "tr_options.h"
#include "tr_session.h"
#include "test_util.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static void test_softmax_xent(void **state)
{
    (void)state;
    /* Row 0: logits (1, 2, 3), label 2; row 1 ignored; row 2: (0, 0, 0), label 0. */
    float z[9] = {1, 2, 3, 5, 5, 5, 0, 0, 0}, g[9];
    int y[3] = {2, -1, 0}, pred[3];
    tr_loss_out o = tr_softmax_xent(z, y, 3, 3, 0.0, g, pred);
    double lse = log(exp(1.0) + exp(2.0) + exp(3.0));
    double l0 = lse - 3, l2 = log(3.0);
    assert_int_equal(o.valid, 2);
    assert_int_equal(o.correct, 2); /* row 2 ties: the argmax is the first class, its label */
    NEAR(o.loss_sum, l0 + l2, 1e-9);
    assert_int_equal(pred[0], 2);
    /* d(mean loss)/dz = (softmax - onehot) / valid */
    NEAR(g[0], exp(1.0 - lse) / 2, 1e-7);
    NEAR(g[2], (exp(3.0 - lse) - 1) / 2, 1e-7);
    NEAR(g[3], 0, 0);
    NEAR(g[6], (1.0 / 3 - 1) / 2, 1e-7);
    /* Label smoothing 0.3 over 3 classes: target (0.1, 0.1, 0.8) for label 2. */
    o = tr_softmax_xent(z, y, 1, 3, 0.3, g, NULL);
    double want = -(0.1 * (1 - lse) + 0.1 * (2 - lse) + 0.8 * (3 - lse));
    NEAR(o.loss_sum, want, 1e-9);
    NEAR(g[1], exp(2.0 - lse) - 0.1, 1e-7);
}

/* The gradient of the smoothed loss matches central differences. */
static void test_softmax_xent_fd(void **state)
{
    (void)state;
    float z[8] = {0.3f, -1.2f, 2.0f, 0.5f, 1.1f, 0.0f, -0.7f, 0.2f}, g[8], tmp[8];
    int y[2] = {1, 3};
    tr_softmax_xent(z, y, 2, 4, 0.1, g, NULL);
    for (int i = 0; i < 8; i++) {
        memcpy(tmp, z, sizeof z);
        tmp[i] += 1e-3f;
        double lp = tr_softmax_xent(tmp, y, 2, 4, 0.1, NULL, NULL).loss_sum / 2;
        tmp[i] -= 2e-3f;
        double lm = tr_softmax_xent(tmp, y, 2, 4, 0.1, NULL, NULL).loss_sum / 2;
        NEAR(g[i], (lp - lm) / 2e-3, 2e-4);
    }
}

/* The class-weighted loss by its formula, against central differences, and
 * unweighted when every weight is 1. */
static void test_softmax_xent_weighted(void **state)
{
    (void)state;
    float z[12] = {0.3f, -1.2f, 2.0f, 0.5f, 1.1f, 0.0f, -0.7f, 0.2f, 0.4f, 0.4f, -0.3f, 1.5f};
    float g[12], tmp[12], w[4] = {0.5f, 2.0f, 1.0f, 1.5f}, ones[4] = {1, 1, 1, 1};
    int y[3] = {1, 3, 0};
    const double s = 0.1;
    /* by hand: sample i loses (1-s) w_y (-log p_y) + s/4 sum_c w_c (-log p_c) */
    double want = 0, wsum = 0;
    for (int i = 0; i < 3; i++) {
        const float *r = z + 4 * i;
        double lse = log(exp(r[0]) + exp(r[1]) + exp(r[2]) + exp(r[3]));
        want += (1 - s) * w[y[i]] * (lse - r[y[i]]);
        for (int c = 0; c < 4; c++)
            want += s / 4 * w[c] * (lse - r[c]);
        wsum += w[y[i]];
    }
    tr_loss_out o = tr_softmax_xent_weighted(z, y, 3, 4, s, w, wsum, g, NULL);
    NEAR(o.loss_sum, want, 1e-9);
    NEAR(o.weight_sum, 0.5 * 0 + 2.0 + 1.5 + 0.5, 1e-12);
    /* PyTorch 1.13: F.cross_entropy(z, y, weight=w, label_smoothing=0.1) and
     * its gradient, in float64 from these float32 logits (the mean over
     * sum(w[y]) = 4) */
    static const double torch_grad[12] = {
        0.05765055121898161,  -0.4489391423316897,  0.3264321661100468,    0.06485642500266127,
        0.19047101566042746,  0.05194251399608758,  0.025751205771313408,  -0.2681647354278285,
        -0.0894922061078053,  0.013632793892194708, 0.006727161161824076,  0.06913225105378652};
    NEAR(o.loss_sum / o.weight_sum, 2.490981704010919, 1e-9);
    for (int i = 0; i < 12; i++)
        NEAR(g[i], torch_grad[i], 1e-7);
    for (int i = 0; i < 12; i++) {
        memcpy(tmp, z, sizeof z);
        tmp[i] += 1e-3f;
        double lp = tr_softmax_xent_weighted(tmp, y, 3, 4, s, w, wsum, NULL, NULL).loss_sum / wsum;
        tmp[i] -= 2e-3f;
        double lm = tr_softmax_xent_weighted(tmp, y, 3, 4, s, w, wsum, NULL, NULL).loss_sum / wsum;
        NEAR(g[i], (lp - lm) / 2e-3, 2e-4);
    }
    /* all weights 1, no smoothing: the unweighted loss and gradient, bit for bit */
    float g1[12];
    tr_loss_out a = tr_softmax_xent_weighted(z, y, 3, 4, 0.0, ones, 3.0, g1, NULL);
    tr_loss_out b = tr_softmax_xent(z, y, 3, 4, 0.0, g, NULL);
    assert_true(a.loss_sum == b.loss_sum);
    assert_memory_equal(g1, g, sizeof g);
}

/* Mixup's loss is the lambda-weighted sum of the two labels' losses (by
 * tr_softmax_xent, row by row), its gradient matches central differences,
 * lambda 1 is the plain loss bit for bit, and `correct` follows the label of
 * the larger weight. */
static void test_softmax_xent_mixed(void **state)
{
    (void)state;
    float z[12] = {0.3f, -1.2f, 2.0f, 0.5f, 1.1f, 0.0f, -0.7f, 0.2f, 0.4f, 0.4f, -0.3f, 1.5f};
    float g[12], tmp[12], ones[3] = {1, 1, 1};
    int y[3] = {1, 3, -1}, y2[3] = {2, 0, 2};
    float lam[3] = {0.7f, 0.2f, 0.5f};
    const double s = 0.1;
    double want = 0;
    for (int i = 0; i < 2; i++) {
        double la = tr_softmax_xent(z + 4 * i, y + i, 1, 4, s, NULL, NULL).loss_sum;
        double lb = tr_softmax_xent(z + 4 * i, y2 + i, 1, 4, s, NULL, NULL).loss_sum;
        want += lam[i] * la + (1.0 - lam[i]) * lb;
    }
    int pred[3];
    tr_loss_out o = tr_softmax_xent_mixed(z, y, y2, lam, 3, 4, s, 2.0, g, pred);
    NEAR(o.loss_sum, want, 1e-9);
    assert_int_equal(o.valid, 2);
    /* row 0: argmax 2 = its second label, weight 0.3: wrong; row 1: argmax 0
     * = its second label, weight 0.8: right */
    assert_int_equal(pred[0], 2);
    assert_int_equal(pred[1], 0);
    assert_int_equal(o.correct, 1);
    for (int c = 0; c < 4; c++)
        NEAR(g[8 + c], 0, 0); /* the unlabelled row */
    for (int i = 0; i < 8; i++) {
        memcpy(tmp, z, sizeof z);
        tmp[i] += 1e-3f;
        double lp = tr_softmax_xent_mixed(tmp, y, y2, lam, 3, 4, s, 2.0, NULL, NULL).loss_sum / 2;
        tmp[i] -= 2e-3f;
        double lm = tr_softmax_xent_mixed(tmp, y, y2, lam, 3, 4, s, 2.0, NULL, NULL).loss_sum / 2;
        NEAR(g[i], (lp - lm) / 2e-3, 2e-4);
    }
    float g1[12];
    tr_loss_out a = tr_softmax_xent_mixed(z, y, y2, ones, 3, 4, s, 2.0, g1, NULL);
    tr_loss_out b = tr_softmax_xent(z, y, 3, 4, s, g, NULL);
    assert_true(a.loss_sum == b.loss_sum);
    assert_int_equal(a.correct, b.correct);
    assert_memory_equal(g1, g, sizeof g);
}

/* Beta(alpha, alpha) draws: in (0, 1), mean 1/2, variance 1 / (4 (2 alpha + 1)),
 * and for alpha = 1 uniform (a quarter below 1/4). */
static void test_beta(void **state)
{
    (void)state;
    static const double alphas[] = {0.05, 0.2, 1.0, 4.0};
    for (int k = 0; k < 4; k++) {
        double a = alphas[k], m = 0, m2 = 0, below = 0;
        const int n = 200000;
        tr_rng r = tr_rng_make(7, TR_RNG_MIXUP, (uint64_t)k, 0);
        for (int i = 0; i < n; i++) {
            double x = tr_beta_sym(&r, a);
            assert_true(x >= 0 && x <= 1 && !isnan(x));
            m += x;
            m2 += x * x;
            below += x < 0.25;
        }
        m /= n;
        double var = m2 / n - m * m, want = 1.0 / (4.0 * (2.0 * a + 1.0));
        /* standard errors: sqrt(var / n) < 0.0012; of the variance < 0.0007 */
        NEAR(m, 0.5, 0.005);
        NEAR(var, want, 0.003);
        if (a == 1.0)
            NEAR(below / n, 0.25, 0.005);
    }
}

/* tr_mixup by hand: the first pair blended both ways with the lambda keyed
 * by (seed, iteration, its row in the whole batch), a pair with an unreadable
 * image and the odd last row left alone. */
static void test_mixup(void **state)
{
    (void)state;
    enum { N = 5, S = 3 };
    float x[N * S], orig[N * S], lam[N];
    int y[N] = {0, 2, 1, -1, 3}, y2[N];
    for (int i = 0; i < N * S; i++)
        orig[i] = x[i] = (float)(i * i % 7) - 2.5f;
    tr_mixup(x, y, N, S, 0.4, 11, 42, 10, y2, lam);
    tr_rng r = tr_rng_make(11, TR_RNG_MIXUP, 42, 10);
    float l = (float)tr_beta_sym(&r, 0.4);
    assert_true(l > 0 && l < 1);
    NEAR(lam[0], l, 0);
    NEAR(lam[1], l, 0);
    assert_int_equal(y2[0], 2);
    assert_int_equal(y2[1], 0);
    for (int k = 0; k < S; k++) {
        NEAR(x[k], l * orig[k] + (1 - l) * orig[S + k], 1e-6);
        NEAR(x[S + k], l * orig[S + k] + (1 - l) * orig[k], 1e-6);
    }
    assert_memory_equal(x + 2 * S, orig + 2 * S, 3 * S * sizeof *x);
    for (int i = 2; i < N; i++) {
        assert_int_equal(y2[i], y[i]);
        NEAR(lam[i], 1, 0);
    }
    /* another iteration or another row offset: another lambda */
    memcpy(x, orig, sizeof x);
    tr_mixup(x, y, N, S, 0.4, 11, 43, 10, y2, lam);
    assert_true(lam[0] != l);
    tr_mixup(x, y, N, S, 0.4, 11, 42, 12, y2, lam);
    assert_true(lam[0] != l);
}

/* A one-block net's parameters (1 input channel, 2 classes) with a zeroed
 * weight-average buffer; tr_params_free frees both. */
static void tiny_params_with_average(tr_params *p)
{
    cc_arch a;
    cc_err e;
    assert_int_equal(cc_arch_custom("basic", "[1]", "[2]", "2", &a, &e), COVIDCAM_OK);
    assert_int_equal(tr_params_create(&a, 1, 2, p, &e), COVIDCAM_OK);
    p->avg = calloc(p->total, sizeof *p->avg);
    assert_non_null(p->avg);
}

/* The weight average: its decay warm-up and updates by hand, and the swap. */
static void test_ema(void **state)
{
    (void)state;
    NEAR(tr_ema_decay_at(0.999, 1), 2.0 / 11, 1e-15);
    NEAR(tr_ema_decay_at(0.999, 90), 91.0 / 100, 1e-15);
    NEAR(tr_ema_decay_at(0.999, 100000), 0.999, 0);
    NEAR(tr_ema_decay_at(0.5, 20), 0.5, 0);
    tr_params p;
    tiny_params_with_average(&p);
    tr_param *cw = tr_params_find(&p, "conv1.weight"), *rv = tr_params_find(&p, "bn1.running_var");
    p.avg[cw->off] = 1.0f;
    p.w[cw->off] = 3.0f;
    p.avg[rv->off] = 2.0f;
    p.w[rv->off] = 0.0f;
    tr_ema_update(&p, 0.75); /* 0.75 * 1 + 0.25 * 3 = 1.5; running stats too: 1.5 */
    NEAR(p.avg[cw->off], 1.5, 1e-7);
    NEAR(p.avg[rv->off], 1.5, 1e-7);
    p.w[cw->off] = -1.0f;
    tr_ema_update(&p, 0.5); /* 0.5 * 1.5 - 0.5 = 0.25 */
    NEAR(p.avg[cw->off], 0.25, 1e-7);
    tr_ema_swap(&p);
    NEAR(p.w[cw->off], 0.25, 0);
    NEAR(p.avg[cw->off], -1.0, 0);
    tr_ema_swap(&p);
    NEAR(p.w[cw->off], -1.0, 0);
    tr_params_free(&p); /* frees avg too */
}

/* --average-from: the fold makes w the uniform mean of three weights, and the
 * batch-norm re-estimation gives the plain mean of the per-batch statistics
 * that a training forward leaves (momentum * s) in the zeroed running ones. */
static void test_uniform_average(void **state)
{
    (void)state;
    tr_params p;
    tiny_params_with_average(&p);
    tr_param *cw = tr_params_find(&p, "conv1.weight"), *rm = tr_params_find(&p, "bn1.running_mean");
    static const float w3[3] = {4.0f, -2.0f, 7.0f}; /* mean 3 */
    for (int i = 0; i < 3; i++) {
        p.w[cw->off] = w3[i];
        tr_swa_fold(&p, i);
        memcpy(p.avg, p.w, p.total * sizeof *p.w);
    }
    NEAR(p.avg[cw->off], 3.0, 1e-6);
    /* bn1, layer1.0.bn1 and layer1.0.bn2: a mean and a var of 2 channels each */
    size_t n = tr_bn_stat_floats(&p);
    assert_int_equal(n, 3 * 2 * 2);
    float *acc = calloc(n, sizeof *acc);
    assert_non_null(acc);
    static const float batch_mean[4] = {0.5f, 2.5f, -1.0f, 6.0f}; /* mean 2 */
    for (int k = 0; k < 4; k++) {
        p.w[rm->off] = 123.0f;
        tr_bn_restat_begin(&p);
        NEAR(p.w[rm->off], 0.0, 0);
        p.w[rm->off] = 0.1f * batch_mean[k]; /* what the forward leaves */
        tr_bn_restat_add(&p, acc, k + 1, 0.1f);
    }
    tr_bn_restat_end(&p, acc);
    NEAR(p.w[rm->off], 2.0, 1e-6);
    NEAR(p.w[cw->off], p.avg[cw->off], 0); /* the weights are left alone */
    free(acc);
    tr_params_free(&p);
}

static void test_lr_schedule(void **state)
{
    (void)state;
    /* 10 iterations of warm-up, 100 in all, base 0.4. */
    NEAR(tr_lr_at(0.4, 0, 10, 100), 0.0, 0);
    NEAR(tr_lr_at(0.4, 5, 10, 100), 0.2, 1e-12);
    NEAR(tr_lr_at(0.4, 10, 10, 100), 0.4, 1e-12);
    NEAR(tr_lr_at(0.4, 55, 10, 100), 0.2, 1e-12);              /* half way down the cosine */
    NEAR(tr_lr_at(0.4, 40, 10, 100), 0.4 * 0.5 * (1 + cos(M_PI / 3)), 1e-12);
    NEAR(tr_lr_at(0.4, 99, 10, 100), 0.4 * 0.5 * (1 + cos(M_PI * 89 / 90)), 1e-12);
    NEAR(tr_lr_at(0.4, 0, 0, 100), 0.4, 1e-12); /* no warm-up */
}

static void test_sgd(void **state)
{
    (void)state;
    cc_arch a;
    cc_err e;
    tr_params p;
    assert_int_equal(cc_arch_custom("basic", "[1]", "[2]", "2", &a, &e), COVIDCAM_OK);
    assert_int_equal(tr_params_create(&a, 1, 2, &p, &e), COVIDCAM_OK);
    tr_param *cw = tr_params_find(&p, "conv1.weight"), *bw = tr_params_find(&p, "bn1.weight");
    tr_param *rm = tr_params_find(&p, "bn1.running_mean");
    assert_non_null(cw);
    p.w[cw->off] = 2.0f;
    p.g[cw->off] = 0.5f;
    p.w[bw->off] = 1.0f;
    p.g[bw->off] = 0.25f;
    p.w[rm->off] = 3.0f;
    p.g[rm->off] = 7.0f; /* a running statistic: never updated by SGD */
    tr_sgd o = {0.9, 0.01, 0};
    tr_sgd_step(&p, &o, 0.1);
    /* conv: d = 0.5 + 0.01*2 = 0.52; m = 0.52; w = 2 - 0.052 */
    NEAR(p.m[cw->off], 0.52, 1e-7);
    NEAR(p.w[cw->off], 1.948, 1e-6);
    /* BN weight: no decay by default */
    NEAR(p.w[bw->off], 1.0 - 0.025, 1e-7);
    NEAR(p.w[rm->off], 3.0, 0);
    tr_sgd_step(&p, &o, 0.1);
    /* m = 0.9*0.52 + 0.5 + 0.01*1.948 = 0.98748; w = 1.948 - 0.098748 */
    NEAR(p.m[cw->off], 0.98748, 1e-6);
    NEAR(p.w[cw->off], 1.849252, 1e-6);
    o.decay_all = 1;
    float before = p.w[bw->off], mom = p.m[bw->off];
    tr_sgd_step(&p, &o, 0.1);
    NEAR(p.m[bw->off], 0.9 * mom + 0.25 + 0.01 * before, 1e-6);
    tr_params_free(&p);
}

static void test_metrics(void **state)
{
    (void)state;
    tr_confusion c;
    tr_report r;
    assert_int_equal(tr_confusion_init(&c, 3), 0);
    /* true 0: 5 right, 1 as class 1; true 1: 3 right, 2 as class 2; true 2: none. */
    for (int i = 0; i < 5; i++)
        tr_confusion_add(&c, 0, 0);
    tr_confusion_add(&c, 0, 1);
    for (int i = 0; i < 3; i++)
        tr_confusion_add(&c, 1, 1);
    tr_confusion_add(&c, 1, 2);
    tr_confusion_add(&c, 1, 2);
    tr_confusion_add(&c, -1, 0); /* ignored */
    assert_int_equal(tr_report_make(&c, &r), 0);
    assert_int_equal(r.total, 11);
    NEAR(r.accuracy, 8.0 / 11, 1e-12);
    NEAR(r.cls[0].precision, 1.0, 1e-12);
    NEAR(r.cls[0].recall, 5.0 / 6, 1e-12);
    NEAR(r.cls[0].f1, 2 * (5.0 / 6) / (1 + 5.0 / 6), 1e-12);
    NEAR(r.cls[1].precision, 3.0 / 4, 1e-12);
    NEAR(r.cls[1].recall, 3.0 / 5, 1e-12);
    NEAR(r.cls[2].precision, 0.0, 0); /* predicted twice, never right */
    NEAR(r.cls[2].recall, 0.0, 0);    /* no support: zero_division = 0 */
    assert_int_equal(r.cls[2].support, 0);
    NEAR(r.macro.recall, (5.0 / 6 + 3.0 / 5) / 3, 1e-12);
    NEAR(r.weighted.precision, (6 * 1.0 + 5 * 0.75) / 11, 1e-12);
    char *names[3] = {"COVID", "Normal", "ViralPneumonia"};
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    tr_report_print(f, &r, names);
    fclose(f);
    assert_non_null(strstr(buf, "ViralPneumonia     0.0000     0.0000     0.0000          0"));
    assert_non_null(strstr(buf, "accuracy                           0.7273         11"));
    tr_report_free(&r);
    tr_confusion_free(&c);
}

static void test_safetensors_writer(void **state)
{
    (void)state;
    cc_stw *w;
    cc_err e;
    float a[6] = {1, -2, 3.5f, 4, 5, 6}, b[1] = {7};
    int64_t sa[2] = {2, 3}, sb[1] = {1};
    assert_int_equal(cc_stw_create(&w, &e), COVIDCAM_OK);
    assert_int_equal(cc_stw_add_f32(w, "a", 2, sa, a, &e), COVIDCAM_OK);
    assert_int_equal(cc_stw_add_f32(w, "b.x", 1, sb, b, &e), COVIDCAM_OK);
    assert_int_equal(cc_stw_add_f32(w, "a", 1, sb, b, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_stw_add_meta(w, "format", "covidcam", &e), COVIDCAM_OK);
    assert_int_equal(cc_stw_add_meta(w, "k", "x\"y", &e), COVIDCAM_OK);
    uint8_t *buf;
    size_t len;
    assert_int_equal(cc_stw_encode(w, &buf, &len, &e), COVIDCAM_OK);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++)
        hl |= (uint64_t)buf[i] << (8 * i);
    assert_int_equal(hl % 8, 0);
    assert_int_equal(len, 8 + hl + 7 * sizeof(float));
    cc_safetensors st;
    assert_int_equal(cc_st_parse(buf, len, &st, &e), COVIDCAM_OK);
    const cc_st_tensor *t = cc_st_find(&st, "a");
    assert_non_null(t);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[1], 3);
    float out[6];
    cc_st_to_f32(t, out);
    assert_memory_equal(out, a, sizeof a);
    assert_string_equal(cc_st_meta_get(&st, "k"), "x\"y");
    cc_st_free(&st);
    free(buf);
    cc_stw_free(w);
}

/* tr_opts keeps pointers into argv: the strings live in a ring of buffers
 * (enough for the options alive at once in these tests). */
static covidcam_status parse(tr_opts *o, const char *line, cc_err *e)
{
    static char ring[8][1024];
    static int slot;
    char *copy = ring[slot++ & 7], *argv[64];
    int argc = 0;
    snprintf(copy, sizeof ring[0], "prog %s", line);
    for (char *t = strtok(copy, " "); t && argc < 64; t = strtok(NULL, " "))
        argv[argc++] = t;
    return tr_opts_parse(o, argc, argv, e);
}

/* cmd is refused with an error message containing msg. */
static void refused(tr_opts *o, const char *cmd, const char *msg)
{
    cc_err e;
    e.msg[0] = '\0';
    assert_int_not_equal(parse(o, cmd, &e), COVIDCAM_OK);
    if (!strstr(e.msg, msg))
        fail_msg("%s: \"%s\" does not say \"%s\"", cmd, e.msg, msg);
}

static void test_options(void **state)
{
    (void)state;
    tr_opts o;
    cc_err e;
    /* --train and --val repeat: the folders in order, TR_SOURCE_SEP-separated */
    assert_int_equal(parse(&o, "--train a --train bb --val v --train c3 --val w --out c", &e),
                     COVIDCAM_OK);
    assert_string_equal(o.train_dir, "a\nbb\nc3");
    assert_string_equal(o.val_dir, "v\nw");
    assert_int_equal(parse(&o, "--train a --val b --out c", &e), COVIDCAM_OK);
    assert_string_equal(o.train_dir, "a");
    assert_int_equal(o.mode, TR_MODE_TRAIN);
    assert_int_equal(o.batch, 50);
    assert_int_equal(o.epochs, 50);
    NEAR(o.lr, 0.01, 0);
    assert_int_equal(o.warmup_epochs, 5);
    assert_int_equal(parse(&o, "--data r --split 0.8,0.1,0.1 --out c --lr=0.1", &e), COVIDCAM_OK);
    NEAR(o.split_f[0], 0.8, 1e-12);
    NEAR(o.lr, 0.1, 0);
    assert_int_equal(parse(&o, "--test t --model m", &e), COVIDCAM_OK);
    assert_int_equal(o.mode, TR_MODE_TEST);
    assert_int_equal(parse(&o, "--test t --model m --test u", &e), COVIDCAM_OK);
    assert_string_equal(o.test_dir, "t\nu");
    /* --resize: stretch by default, the library's three modes, nothing else */
    assert_string_equal(o.resize, "stretch");
    assert_int_equal(parse(&o, "--train a --val b --out c --resize pad", &e), COVIDCAM_OK);
    assert_string_equal(o.resize, "pad");
    refused(&o, "--train a --val b --out c --resize letterbox", "--resize must be stretch, center_crop or pad, not 'letterbox'");
    /* --select: loss by default, accuracy on request, nothing else */
    assert_string_equal(o.select, "loss");
    assert_int_equal(parse(&o, "--train a --val b --out c --select accuracy", &e), COVIDCAM_OK);
    assert_string_equal(o.select, "accuracy");
    /* --class-weights none by default, balanced on request; --ema off by default */
    assert_string_equal(o.class_weights, "none");
    NEAR(o.ema, 0, 0);
    assert_int_equal(parse(&o, "--train a --val b --out c --class-weights balanced --ema 0.999", &e),
                     COVIDCAM_OK);
    assert_string_equal(o.class_weights, "balanced");
    NEAR(o.ema, 0.999, 0);
    refused(&o, "--train a --val b --out c --class-weights inverse", "--class-weights must be none or balanced, not 'inverse'");
    refused(&o, "--train a --val b --out c --ema 1", "--ema");
    /* --average-from: off by default; not with --ema, not past the last
     * epoch; --average-lr only with it */
    assert_int_equal(o.average_from, 0);
    assert_int_equal(parse(&o, "--train a --val b --out c --epochs 9 --average-from 4 --average-lr 0.002", &e),
                     COVIDCAM_OK);
    assert_int_equal(o.average_from, 4);
    NEAR(o.average_lr, 0.002, 0);
    refused(&o, "--train a --val b --out c --average-from 2 --ema 0.9", "--average-from and --ema");
    refused(&o, "--train a --val b --out c --average-lr 0.1", "--average-lr needs --average-from");
    refused(&o, "--train a --val b --out c --epochs 3 --average-from 4", "--average-from 4 is after the last epoch (--epochs 3)");
    /* --mixup: off by default; not with class weights; alpha in range */
    NEAR(o.mixup, 0, 0);
    assert_int_equal(parse(&o, "--train a --val b --out c --mixup 0.2", &e), COVIDCAM_OK);
    NEAR(o.mixup, 0.2, 0);
    refused(&o, "--train a --val b --out c --mixup 0.2 --class-weights balanced", "--mixup does not combine with --class-weights balanced");
    refused(&o, "--train a --val b --out c --mixup -0.5", "--mixup");
    assert_int_equal(parse(&o, "--benchmark --arch resnet50", &e), COVIDCAM_OK);
    assert_int_equal(o.mode, TR_MODE_BENCH);
    /* errors name the flag */
    static const char *bad[] = {
        "--train a --val b --out c --lr -1",       "--train a --val b --out c --epochs 0",
        "--train a --val b --out c --batch-size x", "--train a --val b --out c --bogus",
        "--train a --out c",                        "--train a --val b",
        "--data r --split 0.5,0.2,0.1 --out c",     "--data r --split 0.9,0,0.1 --out c",
        "--train a --val b --out c --precision fp16", "--train a --val b --out c --input-channels 2",
        "--train a --val b --out c --select best",
        "--train a --val b --out c --arch resnet",
        "--train a --val b --out c --layers 2,2",   "--data r --train a --val b --out c",
        "--train a --val b --out c --arch resnet --block basic --layers 1,1 --widths 8 --stem-width 8",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.msg[0] = '\0';
        if (parse(&o, bad[i], &e) != COVIDCAM_ERR_INVALID_ARGUMENT)
            fail_msg("accepted: %s", bad[i]);
        assert_true(strlen(e.msg) > 0);
    }
    /* a warm-up as long as the run is clamped to epochs - 1, not refused */
    assert_int_equal(parse(&o, "--train a --val b --out c --epochs 3 --warmup-epochs 5", &e),
                     COVIDCAM_OK);
    assert_int_equal(o.warmup_epochs, 2);
    assert_int_equal(parse(&o, "--version", &e), COVIDCAM_OK);
    assert_int_equal(o.mode, TR_MODE_VERSION);
    assert_int_equal(parse(&o, "--train a --val b --out c --lr 20", &e),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "--lr"));
}

static void test_options_resume_config(void **state)
{
    (void)state;
    tr_opts o, r;
    cc_err e;
    assert_int_equal(parse(&o, "--train a --val b --out c --lr 0.02 --epochs 10", &e), 0);
    json_t *cfg = tr_opts_config(&o);
    assert_non_null(cfg);
    /* Resume takes the stored configuration... */
    assert_int_equal(parse(&r, "--resume --out c", &e), COVIDCAM_OK);
    assert_int_equal(tr_opts_apply_config(&r, cfg, &e), COVIDCAM_OK);
    NEAR(r.lr, 0.02, 0);
    assert_int_equal(r.epochs, 10);
    assert_string_equal(r.train_dir, "a");
    /* ...may extend the epochs... */
    assert_int_equal(parse(&r, "--resume --out c --epochs 20", &e), COVIDCAM_OK);
    assert_int_equal(tr_opts_apply_config(&r, cfg, &e), COVIDCAM_OK);
    assert_int_equal(r.epochs, 20);
    /* ...but refuses a changed learning rate. */
    assert_int_equal(parse(&r, "--resume --out c --lr 0.05", &e), COVIDCAM_OK);
    assert_int_equal(tr_opts_apply_config(&r, cfg, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "--lr"));
    /* The precision is kept (a session stores the resolved name), may be
     * changed, and is fp32 for checkpoints from before it was stored. */
    json_object_set_new(cfg, "precision", json_string("bf16"));
    assert_int_equal(parse(&r, "--resume --out c", &e), COVIDCAM_OK);
    assert_int_equal(tr_opts_apply_config(&r, cfg, &e), COVIDCAM_OK);
    assert_string_equal(r.precision, "bf16");
    assert_int_equal(parse(&r, "--resume --out c --precision fp32", &e), COVIDCAM_OK);
    assert_int_equal(tr_opts_apply_config(&r, cfg, &e), COVIDCAM_OK);
    assert_string_equal(r.precision, "fp32");
    json_object_del(cfg, "precision");
    assert_int_equal(parse(&r, "--resume --out c", &e), COVIDCAM_OK);
    assert_int_equal(tr_opts_apply_config(&r, cfg, &e), COVIDCAM_OK);
    assert_string_equal(r.precision, "fp32");
    /* a hostile checkpoint's precision is refused by name */
    cc_tprec tp;
    assert_int_equal(tr_pick_precision("fp64", &tp, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "'fp64'"));
    json_decref(cfg);
}

/* --precision auto is bf16 exactly where CPUID (not the library) says bf16 is
 * native and no ISA cap rules it out; bf16 is refused, naming the ISA, under
 * the AVX2 cap; fp32 is always there. */
static void test_pick_precision(void **state)
{
    (void)state;
    cc_tprec p;
    cc_err e;
    assert_int_equal(tr_pick_precision("fp32", &p, &e), COVIDCAM_OK);
    assert_int_equal(p, CC_TPREC_FP32);
    assert_int_equal(tr_pick_precision("auto", &p, &e), COVIDCAM_OK);
    assert_int_equal(p, tu_expect_native_bf16() ? CC_TPREC_BF16 : CC_TPREC_FP32);
    e.msg[0] = '\0';
    covidcam_status st = tr_pick_precision("bf16", &p, &e);
    const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
    if (tu_expect_native_bf16()) {
        assert_int_equal(st, COVIDCAM_OK);
        assert_int_equal(p, CC_TPREC_BF16);
    } else if (cap && !strcasecmp(cap, "AVX2")) {
        assert_int_equal(st, COVIDCAM_ERR_UNSUPPORTED);
        assert_non_null(strstr(e.msg, "avx2"));
    } else if (st == COVIDCAM_OK) {
        /* plain AVX-512: oneDNN emulates bf16, allowed when asked for */
        assert_int_equal(p, CC_TPREC_BF16);
    } else {
        assert_int_equal(st, COVIDCAM_ERR_UNSUPPORTED);
    }
}

static void test_history_csv(void **state)
{
    (void)state;
    tr_history h = {0};
    cc_err e;
    float i1[TH_IT_COLS] = {1, 1, 0, 1.5f, 0.25f}, i2[TH_IT_COLS] = {2, 1, 0.01f, 1.0f, 0.5f};
    float i3[TH_IT_COLS] = {3, 2, 0.02f, 0.5f, 0.75f};
    float ep[TH_EP_COLS] = {1, 0.01f, 1.25f, 0.375f, 0.9f, 0.6f, 12.5f, 8, NAN, NAN};
    float ep2[TH_EP_COLS] = {2, 0.02f, 0.5f, 0.75f, 0.8f, 0.7f, 10, 8, 0.75f, 0.8f};
    assert_int_equal(tr_history_add_iter(&h, i1), 0);
    assert_int_equal(tr_history_add_iter(&h, i2), 0);
    assert_int_equal(tr_history_add_epoch(&h, ep), 0);
    assert_int_equal(tr_history_add_iter(&h, i3), 0);
    assert_int_equal(tr_history_add_epoch(&h, ep2), 0);
    char path[] = "/tmp/cc_train_csv_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(tr_history_write_csv(&h, path, &e), COVIDCAM_OK);
    char buf[2048] = {0};
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    remove(path);
    assert_true(n > 0);
    const char *want = "kind,epoch,iteration,lr,loss,accuracy,val_loss,val_accuracy,seconds,"
                       "images_per_s,avg_val_loss,avg_val_accuracy\n"
                       "iter,1,1,0,1.5,0.25,,,,,,\n"
                       "iter,1,2,0.0099999998,1,0.5,,,,,,\n"
                       "epoch,1,2,0.0099999998,1.25,0.375,0.9,0.6,12.5,8.00,,\n"
                       "iter,2,3,0.02,0.5,0.75,,,,,,\n"
                       "epoch,2,3,0.02,0.5,0.75,0.8,0.7,10.0,8.00,0.75,0.8\n";
    assert_string_equal(buf, want);
    tr_history_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_xent),    cmocka_unit_test(test_softmax_xent_fd),
        cmocka_unit_test(test_softmax_xent_weighted), cmocka_unit_test(test_ema),
        cmocka_unit_test(test_softmax_xent_mixed), cmocka_unit_test(test_beta),
        cmocka_unit_test(test_mixup),
        cmocka_unit_test(test_uniform_average),
        cmocka_unit_test(test_lr_schedule),     cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_metrics),         cmocka_unit_test(test_safetensors_writer),
        cmocka_unit_test(test_options),         cmocka_unit_test(test_options_resume_config),
        cmocka_unit_test(test_history_csv),      cmocka_unit_test(test_pick_precision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
