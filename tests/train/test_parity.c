/* Parity with PyTorch (fixtures from tools/make_train_fixtures.py): a tiny
 * ResNet, a fixed batch, two SGD-momentum steps with weight decay. The C
 * trainer (fp32, no augmentation) must reproduce the losses, the first
 * gradients, and every weight and BN running statistic after the two steps
 * within 1e-4 relative. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "train_util.h"
#include "tr_io.h"
#include "tr_loss.h"
#include "tr_net.h"
#include "tr_optim.h"

#define OK(call)                                                                             \
    do {                                                                                     \
        covidcam_status ok_s_ = (call);                                                      \
        if (ok_s_ != COVIDCAM_OK)                                                            \
            fail_msg("%s -> %d: %s", #call, (int)ok_s_, e.msg);                              \
    } while (0)

static const char *meta(const tr_file *f, const char *key)
{
    const char *v = cc_st_meta_get(&f->st, key);
    if (!v)
        fail_msg("fixture metadata %s missing", key);
    return v;
}

static void read_f32(const tr_file *f, const char *name, float *dst, size_t n)
{
    const cc_st_tensor *t = cc_st_find(&f->st, name);
    if (!t)
        fail_msg("fixture tensor %s missing", name);
    assert_int_equal(cc_st_numel(t), n);
    cc_st_to_f32(t, dst);
}

typedef struct parity {
    tr_file f;
    tr_params p;
    tr_net net;
    int *labels;
    float *want;
    double lr[2], momentum, wd, smoothing;
} parity;

static void setup(parity *t, const char *fixture)
{
    cc_err e;
    cc_arch a;
    memset(t, 0, sizeof *t);
    OK(tr_file_read(tu_fixture(fixture), &t->f, &e));
    OK(cc_arch_custom(meta(&t->f, "block"), meta(&t->f, "layers"), meta(&t->f, "widths"),
                      meta(&t->f, "stem_width"), &a, &e));
    int in_ch = atoi(meta(&t->f, "input_channels")), size = atoi(meta(&t->f, "input_size"));
    int classes = atoi(meta(&t->f, "classes"));
    json_t *lr = json_loads(meta(&t->f, "lr"), 0, NULL);
    assert_non_null(lr);
    t->lr[0] = json_number_value(json_array_get(lr, 0));
    t->lr[1] = json_number_value(json_array_get(lr, 1));
    json_decref(lr);
    t->momentum = atof(meta(&t->f, "momentum"));
    t->wd = atof(meta(&t->f, "weight_decay"));
    t->smoothing = atof(meta(&t->f, "label_smoothing"));
    OK(tr_params_create(&a, in_ch, classes, &t->p, &e));
    char name[128];
    for (int i = 0; i < t->p.n; i++) {
        snprintf(name, sizeof name, "init.%s", t->p.p[i].spec.name);
        read_f32(&t->f, name, t->p.w + t->p.p[i].off, t->p.p[i].numel);
    }
    const cc_st_tensor *x = cc_st_find(&t->f.st, "input");
    assert_non_null(x);
    int batch = (int)x->shape[0];
    OK(tr_net_build(&t->net, &t->p, batch, size, CC_TPREC_FP32, 1, 1e-5f, &e));
    read_f32(&t->f, "input", cc_tt_host(t->net.input), cc_st_numel(x));
    float lab[64];
    assert_true(batch <= 64);
    read_f32(&t->f, "labels", lab, (size_t)batch);
    t->labels = malloc((size_t)batch * sizeof *t->labels);
    assert_non_null(t->labels);
    for (int i = 0; i < batch; i++)
        t->labels[i] = (int)lab[i];
    t->want = malloc(t->p.total * sizeof *t->want + 64);
    assert_non_null(t->want);
}

static void teardown(parity *t)
{
    tr_net_free(&t->net);
    tr_params_free(&t->p);
    tr_file_free(&t->f);
    free(t->labels);
    free(t->want);
}

/* Forward, loss, backward; returns the loss. */
static double forward_backward(parity *t)
{
    cc_err e;
    OK(cc_tnet_forward(t->net.tn, 1, &e));
    tr_loss_out lo = tr_softmax_xent(cc_tt_host(t->net.logits), t->labels, t->net.batch,
                                     t->net.classes, t->smoothing,
                                     cc_tt_host_diff(t->net.logits), NULL);
    OK(cc_tnet_backward(t->net.tn, &e));
    return lo.loss_sum / lo.valid;
}

static void check_tensors(parity *t, const char *prefix, int grads, double tol)
{
    char name[128];
    for (int i = 0; i < t->p.n; i++) {
        const tr_param *q = &t->p.p[i];
        if (grads && !tr_kind_trainable(q->kind))
            continue;
        snprintf(name, sizeof name, "%s.%s", prefix, q->spec.name);
        read_f32(&t->f, name, t->want, q->numel);
        const float *got = (grads ? t->p.g : t->p.w) + q->off;
        double err = tt_rel_err(got, t->want, q->numel);
        if (err > tol)
            fail_msg("%s: relative error %.3g above %.1g", name, err, tol);
    }
}

static void run_parity(const char *fixture)
{
    parity t;
    setup(&t, fixture);
    float loss[2];
    read_f32(&t.f, "loss", loss, 2);
    tr_sgd sgd = {t.momentum, t.wd, 0};
    for (int step = 0; step < 2; step++) {
        double l = forward_backward(&t);
        if (fabs(l - loss[step]) > 1e-5 * fabs(loss[step]))
            fail_msg("step %d: loss %.8f, PyTorch %.8f", step + 1, l, loss[step]);
        if (step == 0)
            check_tensors(&t, "grad1", 1, 1e-4);
        tr_sgd_step(&t.p, &sgd, t.lr[step]);
        cc_tnet_params_changed(t.net.tn);
    }
    check_tensors(&t, "step2", 0, 1e-4);
    teardown(&t);
}

static void test_parity_basic(void **state)
{
    (void)state;
    run_parity("train/parity_basic.safetensors");
}

static void test_parity_bottleneck(void **state)
{
    (void)state;
    run_parity("train/parity_bottleneck.safetensors");
}

/* The first BN's running statistics after one training forward, against a
 * direct fp64 computation of conv1's output statistics: r = 0.9 r + 0.1 s
 * with the unbiased batch variance, as PyTorch updates them. */
static void test_running_stats_first_bn(void **state)
{
    (void)state;
    parity t;
    cc_err e;
    setup(&t, "train/parity_basic.safetensors");
    OK(cc_tnet_forward(t.net.tn, 1, &e));
    tr_param *w = tr_params_find(&t.p, "conv1.weight");
    tr_param *rm = tr_params_find(&t.p, "bn1.running_mean");
    tr_param *rv = tr_params_find(&t.p, "bn1.running_var");
    assert_non_null(w);
    int n = t.net.batch, c = t.net.channels, s = t.net.size, oc = (int)w->spec.shape[0];
    int os = (s + 6 - 7) / 2 + 1;
    float *x = malloc((size_t)n * c * s * s * sizeof *x);
    assert_non_null(x);
    read_f32(&t.f, "input", x, (size_t)n * c * s * s);
    const float *W = t.p.w + w->off;
    for (int o = 0; o < oc; o++) {
        double sum = 0, sq = 0, cnt = (double)n * os * os;
        for (int b = 0; b < n; b++)
            for (int y = 0; y < os; y++)
                for (int xx = 0; xx < os; xx++) {
                    double v = 0;
                    for (int ci = 0; ci < c; ci++)
                        for (int ky = 0; ky < 7; ky++)
                            for (int kx = 0; kx < 7; kx++) {
                                int iy = y * 2 - 3 + ky, ix = xx * 2 - 3 + kx;
                                if (iy < 0 || ix < 0 || iy >= s || ix >= s)
                                    continue;
                                v += (double)W[((o * c + ci) * 7 + ky) * 7 + kx] *
                                     x[((size_t)(b * c + ci) * s + iy) * s + ix];
                            }
                    sum += v;
                    sq += v * v;
                }
        double mean = sum / cnt, var = sq / cnt - mean * mean;
        double want_m = 0.1 * mean, want_v = 0.9 * 1.0 + 0.1 * var * cnt / (cnt - 1);
        assert_true(fabs(t.p.w[rm->off + o] - want_m) <= 1e-4 * (1 + fabs(want_m)));
        assert_true(fabs(t.p.w[rv->off + o] - want_v) <= 1e-4 * (1 + fabs(want_v)));
    }
    free(x);
    teardown(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_basic),
        cmocka_unit_test(test_parity_bottleneck),
        cmocka_unit_test(test_running_stats_first_bn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
