/* Gradient checks of every training layer's backward pass against central
 * finite differences of its forward pass (fp32 primitives, fp64 bookkeeping).
 * The loss is L = sum(out * R) for a fixed random R, so dL/dout = R. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnn_train.h"

/* Assert success, showing the library's message otherwise (needs `e`). */
#define OK(call)                                                                             \
    do {                                                                                     \
        covidcam_status ok_s_ = (call);                                                      \
        if (ok_s_ != COVIDCAM_OK)                                                            \
            fail_msg("%s -> %d: %s", #call, (int)ok_s_, e.msg);                              \
    } while (0)

static uint64_t g_rng = 0x12345678u;

static double urand(void)
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}

static void fill(float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * urand());
}

/* Values bounded away from 0 (ReLU kink) by at least `gap`. */
static void fill_no_kink(float *x, size_t n, double gap)
{
    for (size_t i = 0; i < n; i++) {
        double v = gap + urand();
        x[i] = (float)(urand() < 0.5 ? -v : v);
    }
}

/* Distinct values at least `gap` apart, in random order (no max-pool ties). */
static void fill_distinct(float *x, size_t n, double gap)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(gap * (double)i - gap * (double)n / 2);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(urand() * (double)(i + 1));
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

static size_t numel(const cc_tt *t)
{
    int d[4];
    int nd = cc_tt_dims(t, d);
    size_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= (size_t)d[i];
    return n;
}

/* A net, its input x (plain), its output and the fixed weights R of the loss. */
typedef struct gc {
    cc_tnet *net;
    cc_tt *in, *out;
    float *r;
    size_t nout;
} gc;

static double loss(gc *g)
{
    cc_err e;
    OK(cc_tnet_forward(g->net, 1, &e));
    float *y = malloc(g->nout * sizeof *y);
    assert_non_null(y);
    OK(cc_tt_read(g->net, g->out, 0, y, &e));
    double s = 0;
    for (size_t i = 0; i < g->nout; i++)
        s += (double)y[i] * g->r[i];
    free(y);
    return s;
}

static void gc_finish(gc *g)
{
    cc_err e;
    OK(cc_tnet_finalize(g->net, &e));
    g->nout = numel(g->out);
    g->r = malloc(g->nout * sizeof *g->r);
    assert_non_null(g->r);
    fill(g->r, g->nout, -1, 1);
}

static void gc_backward(gc *g)
{
    cc_err e;
    loss(g);
    OK(cc_tt_write(g->net, g->out, 1, g->r, &e));
    OK(cc_tnet_backward(g->net, &e));
}

/* Compare the analytic gradient `an` of the n values at `x` with central
 * differences (`is_param` values need cc_tnet_params_changed()); about 48
 * evenly spaced entries are probed. Where the one-sided differences disagree
 * the loss has a kink (ReLU, max) within h and no difference quotient is
 * meaningful: such probes are skipped, but at most one in eight may be. */
static void check(gc *g, float *x, const float *an, size_t n, int is_param, double h,
                  double tol, const char *what)
{
    size_t step = n > 48 ? n / 48 : 1, probes = 0, kinks = 0;
    for (size_t i = 0; i < n; i += step, probes++) {
        float old = x[i];
        float xp = (float)(old + h), xm = (float)(old - h);
        double l0 = loss(g);
        x[i] = xp;
        if (is_param)
            cc_tnet_params_changed(g->net);
        double lp = loss(g);
        x[i] = xm;
        if (is_param)
            cc_tnet_params_changed(g->net);
        double lm = loss(g);
        x[i] = old;
        if (is_param)
            cc_tnet_params_changed(g->net);
        /* The actual steps in fp32 may differ slightly from h. */
        double fd = (lp - lm) / ((double)xp - (double)xm);
        double dr = (lp - l0) / ((double)xp - old), dl = (l0 - lm) / ((double)old - xm);
        double scale = tol * (1.0 + fabs(an[i]));
        if (fabs(dr - dl) > scale) {
            kinks++;
            continue;
        }
        if (fabs(fd - an[i]) > scale)
            fail_msg("%s[%zu]: analytic %.6g vs finite difference %.6g", what, i, an[i], fd);
    }
    if (kinks * 8 > probes)
        fail_msg("%s: %zu of %zu probes at kinks", what, kinks, probes);
}

/* Input gradient: x is the plain input buffer, rewritten into the net each probe. */
static void check_input(gc *g, double h, double tol)
{
    cc_err e;
    size_t n = numel(g->in);
    float *an = malloc(n * sizeof *an);
    assert_non_null(an);
    gc_backward(g);
    OK(cc_tt_read(g->net, g->in, 1, an, &e));
    check(g, cc_tt_host(g->in), an, n, 0, h, tol, "input");
    free(an);
}

static void gc_free(gc *g)
{
    cc_tnet_free(g->net);
    free(g->r);
}

static gc make(int nd, const int *dims, int kink_free)
{
    gc g = {0};
    cc_err e;
    OK(cc_tnet_create(CC_TPREC_FP32, 1, &g.net, &e));
    OK(cc_tnet_input(g.net, nd, dims, 1, &g.in, &e));
    size_t n = numel(g.in);
    if (kink_free)
        fill_no_kink(cc_tt_host(g.in), n, 0.05);
    else
        fill(cc_tt_host(g.in), n, -1, 1);
    return g;
}

static void test_conv(void **state)
{
    (void)state;
    /* 3 -> 8 channels exercises a plain input and a blocked output; stride 2
     * with padding exercises the borders. */
    int dims[4] = {2, 3, 9, 9};
    gc g = make(4, dims, 0);
    float w[8 * 3 * 3 * 3], dw[8 * 3 * 3 * 3];
    fill(w, 8 * 27, -0.5, 0.5);
    cc_err e;
    OK(cc_tnet_conv(g.net, g.in, 8, 3, 2, 1, w, dw, &g.out, &e));
    gc_finish(&g);
    check_input(&g, 1e-2, 2e-3);
    gc_backward(&g);
    check(&g, w, dw, 8 * 27, 1, 1e-2, 2e-3, "conv weight");
    gc_free(&g);
}

static void test_conv_blocked(void **state)
{
    (void)state;
    /* A conv fed by a conv: blocked layout in and out, 1x1 stride 2. */
    int dims[4] = {2, 8, 6, 6};
    gc g = make(4, dims, 0);
    float w1[8 * 8 * 9], dw1[8 * 8 * 9], w2[16 * 8], dw2[16 * 8];
    fill(w1, 8 * 8 * 9, -0.3, 0.3);
    fill(w2, 16 * 8, -0.5, 0.5);
    cc_err e;
    cc_tt *mid = NULL;
    OK(cc_tnet_conv(g.net, g.in, 8, 3, 1, 1, w1, dw1, &mid, &e));
    OK(cc_tnet_conv(g.net, mid, 16, 1, 2, 0, w2, dw2, &g.out, &e));
    gc_finish(&g);
    check_input(&g, 1e-2, 2e-3);
    gc_backward(&g);
    check(&g, w1, dw1, 8 * 8 * 9, 1, 1e-2, 2e-3, "conv1 weight");
    check(&g, w2, dw2, 16 * 8, 1, 1e-2, 2e-3, "conv2 weight");
    gc_free(&g);
}

/* Shapes oneDNN's jit kernels do not cover in backward (one input channel;
 * 2x2 maps under a 3x3 kernel), which take the converted-layout path. */
static void test_conv_fallbacks(void **state)
{
    (void)state;
    int dims[4] = {2, 1, 12, 12};
    gc g = make(4, dims, 0);
    float w1[8 * 49], dw1[8 * 49], w2[16 * 8], dw2[16 * 8], w3[16 * 16 * 9], dw3[16 * 16 * 9];
    fill(w1, 8 * 49, -0.3, 0.3);
    fill(w2, 16 * 8, -0.4, 0.4);
    fill(w3, 16 * 16 * 9, -0.2, 0.2);
    cc_err e;
    cc_tt *x, *y;
    OK(cc_tnet_conv(g.net, g.in, 8, 7, 2, 3, w1, dw1, &x, &e));   /* 6x6 */
    OK(cc_tnet_conv(g.net, x, 16, 1, 3, 0, w2, dw2, &y, &e));     /* 2x2 */
    OK(cc_tnet_conv(g.net, y, 16, 3, 1, 1, w3, dw3, &g.out, &e)); /* 2x2 */
    gc_finish(&g);
    check_input(&g, 1e-2, 2e-3);
    gc_backward(&g);
    check(&g, w1, dw1, 8 * 49, 1, 1e-2, 2e-3, "stem weight");
    check(&g, w2, dw2, 16 * 8, 1, 1e-2, 2e-3, "1x1 weight");
    check(&g, w3, dw3, 16 * 16 * 9, 1, 1e-2, 2e-3, "2x2-map weight");
    gc_free(&g);
}

static void bn_case(int relu)
{
    int dims[4] = {3, 8, 4, 4};
    gc g = make(4, dims, 0);
    float scale[8], shift[8], rm[8] = {0}, rv[8], ds[8], dsh[8];
    fill(scale, 8, 0.5, 1.5);
    fill(shift, 8, -0.5, 0.5);
    for (int i = 0; i < 8; i++)
        rv[i] = 1;
    cc_tbn_params p = {scale, shift, rm, rv, ds, dsh, 1e-5f, 0.1f};
    cc_err e;
    OK(cc_tnet_bn(g.net, g.in, relu, &p, &g.out, &e));
    gc_finish(&g);
    /* BN output is smooth except at ReLU kinks; a small step keeps them rare
     * and the tolerance covers the fp32 rounding of the normalization. */
    check_input(&g, 2e-3, 1e-2);
    gc_backward(&g);
    check(&g, scale, ds, 8, 1, 2e-3, 1e-2, "bn scale");
    check(&g, shift, dsh, 8, 1, 2e-3, 1e-2, "bn shift");
    gc_free(&g);
}

static void test_bn(void **state)
{
    (void)state;
    bn_case(0);
}

static void test_bn_relu(void **state)
{
    (void)state;
    bn_case(1);
}

static void test_relu(void **state)
{
    (void)state;
    int dims[4] = {2, 8, 3, 3};
    gc g = make(4, dims, 1);
    cc_err e;
    OK(cc_tnet_relu(g.net, g.in, &g.out, &e));
    gc_finish(&g);
    check_input(&g, 1e-2, 1e-3);
    gc_free(&g);
}

static void test_maxpool(void **state)
{
    (void)state;
    int dims[4] = {2, 8, 7, 7};
    gc g = make(4, dims, 0);
    fill_distinct(cc_tt_host(g.in), 2 * 8 * 49, 0.05);
    cc_err e;
    OK(cc_tnet_maxpool(g.net, g.in, 3, 2, 1, &g.out, &e));
    gc_finish(&g);
    check_input(&g, 1e-2, 1e-3);
    gc_free(&g);
}

static void test_avgpool(void **state)
{
    (void)state;
    int dims[4] = {2, 8, 5, 3};
    gc g = make(4, dims, 0);
    cc_err e;
    OK(cc_tnet_avgpool_global(g.net, g.in, &g.out, &e));
    gc_finish(&g);
    check_input(&g, 1e-2, 1e-3);
    gc_free(&g);
}

static void test_fc(void **state)
{
    (void)state;
    int dims[4] = {4, 16, 1, 1};
    gc g = make(4, dims, 0);
    float w[3 * 16], b[3], dw[3 * 16], db[3];
    fill(w, 48, -0.5, 0.5);
    fill(b, 3, -0.5, 0.5);
    cc_err e;
    OK(cc_tnet_fc(g.net, g.in, 3, w, b, dw, db, &g.out, &e));
    gc_finish(&g);
    assert_non_null(cc_tt_host(g.out));
    check_input(&g, 1e-2, 1e-3);
    gc_backward(&g);
    check(&g, w, dw, 48, 1, 1e-2, 1e-3, "fc weight");
    check(&g, b, db, 3, 1, 1e-2, 1e-3, "fc bias");
    gc_free(&g);
}

static void add_case(int relu)
{
    /* out = conv(x) + x: x feeds two layers, so its gradient is a sum. */
    int dims[4] = {2, 8, 4, 4};
    gc g = make(4, dims, 0);
    float w[8 * 8 * 9], dw[8 * 8 * 9];
    fill(w, 8 * 8 * 9, -0.3, 0.3);
    cc_err e;
    cc_tt *c = NULL;
    OK(cc_tnet_conv(g.net, g.in, 8, 3, 1, 1, w, dw, &c, &e));
    OK(cc_tnet_add(g.net, c, g.in, relu, &g.out, &e));
    gc_finish(&g);
    check_input(&g, 1e-3, 1e-2);
    gc_backward(&g);
    check(&g, w, dw, 8 * 8 * 9, 1, 1e-3, 1e-2, "conv weight");
    gc_free(&g);
}

static void test_add(void **state)
{
    (void)state;
    add_case(0);
}

static void test_add_relu(void **state)
{
    (void)state;
    add_case(1);
}

/* A miniature residual network: every routing case together (a tensor with
 * two consumers, a downsample shortcut, fused BN+ReLU, pooling, fc). */
typedef struct mini {
    float c1[8 * 3 * 9], c2[8 * 8 * 9], c3[16 * 8 * 9], ds[16 * 8], fc[3 * 16], fcb[3];
    float d_c1[8 * 3 * 9], d_c2[8 * 8 * 9], d_c3[16 * 8 * 9], d_ds[16 * 8], d_fc[3 * 16],
        d_fcb[3];
    float g[4][16], b[4][16], rm[4][16], rv[4][16], dg[4][16], db[4][16];
} mini;

static cc_tbn_params mini_bn(mini *m, int i)
{
    cc_tbn_params p = {m->g[i], m->b[i], m->rm[i], m->rv[i], m->dg[i], m->db[i], 1e-5f, 0.1f};
    return p;
}

static gc make_mini(mini *m, cc_tprec prec)
{
    gc g = {0};
    cc_err e;
    int dims[4] = {4, 3, 12, 12};
    OK(cc_tnet_create(prec, 1, &g.net, &e));
    OK(cc_tnet_input(g.net, 4, dims, 1, &g.in, &e));
    cc_tt *x, *y, *z, *s;
    cc_tbn_params p0 = mini_bn(m, 0), p1 = mini_bn(m, 1), p2 = mini_bn(m, 2), p3 = mini_bn(m, 3);
    OK(cc_tnet_conv(g.net, g.in, 8, 3, 1, 1, m->c1, m->d_c1, &x, &e));
    OK(cc_tnet_bn(g.net, x, 1, &p0, &x, &e));
    OK(cc_tnet_maxpool(g.net, x, 3, 2, 1, &x, &e));
    OK(cc_tnet_conv(g.net, x, 8, 3, 1, 1, m->c2, m->d_c2, &y, &e));
    OK(cc_tnet_bn(g.net, y, 1, &p1, &y, &e));
    OK(cc_tnet_conv(g.net, y, 16, 3, 2, 1, m->c3, m->d_c3, &z, &e));
    OK(cc_tnet_bn(g.net, z, 0, &p2, &z, &e));
    OK(cc_tnet_conv(g.net, x, 16, 1, 2, 0, m->ds, m->d_ds, &s, &e));
    OK(cc_tnet_bn(g.net, s, 0, &p3, &s, &e));
    OK(cc_tnet_add(g.net, z, s, 1, &z, &e));
    OK(cc_tnet_avgpool_global(g.net, z, &z, &e));
    OK(cc_tnet_fc(g.net, z, 3, m->fc, m->fcb, m->d_fc, m->d_fcb, &g.out, &e));
    gc_finish(&g);
    return g;
}

static void init_mini(mini *m)
{
    memset(m, 0, sizeof *m);
    fill(m->c1, sizeof m->c1 / 4, -0.4, 0.4);
    fill(m->c2, sizeof m->c2 / 4, -0.2, 0.2);
    fill(m->c3, sizeof m->c3 / 4, -0.2, 0.2);
    fill(m->ds, sizeof m->ds / 4, -0.4, 0.4);
    fill(m->fc, sizeof m->fc / 4, -0.5, 0.5);
    fill(&m->g[0][0], 64, 0.5, 1.5);
    fill(&m->b[0][0], 64, -0.2, 0.2);
    for (int i = 0; i < 64; i++)
        m->rv[i / 16][i % 16] = 1;
}

static void test_mini_resnet(void **state)
{
    (void)state;
    static mini m;
    init_mini(&m);
    gc g = make_mini(&m, CC_TPREC_FP32);
    fill(cc_tt_host(g.in), 4 * 3 * 144, -1, 1);
    check_input(&g, 1e-3, 2e-2);
    gc_backward(&g);
    check(&g, m.c1, m.d_c1, sizeof m.c1 / 4, 1, 1e-3, 2e-2, "c1");
    check(&g, m.c2, m.d_c2, sizeof m.c2 / 4, 1, 1e-3, 2e-2, "c2");
    check(&g, m.ds, m.d_ds, sizeof m.ds / 4, 1, 1e-3, 2e-2, "downsample");
    check(&g, m.fc, m.d_fc, sizeof m.fc / 4, 1, 1e-3, 2e-2, "fc");
    check(&g, &m.g[1][0], &m.dg[1][0], 8, 1, 1e-3, 2e-2, "bn1 scale");
    check(&g, &m.b[3][0], &m.db[3][0], 16, 1, 1e-3, 2e-2, "ds bn shift");
    gc_free(&g);
}

/* bf16 activations with fp32 master weights follow fp32 within bf16 rounding. */
static void test_mini_bf16(void **state)
{
    (void)state;
    if (!cc_tdnn_has_bf16()) {
        cc_tnet *net = NULL;
        cc_err e;
        /* This CPU cannot run oneDNN bf16 at all: check the refusal instead. */
        assert_int_equal(cc_tnet_create(CC_TPREC_BF16, 1, &net, &e), COVIDCAM_ERR_UNSUPPORTED);
        assert_null(net);
        skip();
    }
    /* The bf16 path has never run on bf16 hardware; validating it is an
     * explicit step (docs/training.md), not something CI stumbles into. */
    if (!getenv("CC_TEST_BF16"))
        skip();
    static mini m32, m16;
    init_mini(&m32);
    m16 = m32;
    gc a = make_mini(&m32, CC_TPREC_FP32), b = make_mini(&m16, CC_TPREC_BF16);
    fill(cc_tt_host(a.in), 4 * 3 * 144, -1, 1);
    memcpy(cc_tt_host(b.in), cc_tt_host(a.in), 4 * 3 * 144 * sizeof(float));
    memcpy(b.r, a.r, a.nout * sizeof(float));
    double la = loss(&a), lb = loss(&b);
    assert_true(fabs(la - lb) <= 3e-2 * (1 + fabs(la)));
    gc_backward(&a);
    gc_backward(&b);
    double num = 0, den = 0;
    for (size_t i = 0; i < sizeof m32.c2 / 4; i++) {
        num += (m32.d_c2[i] - m16.d_c2[i]) * (double)(m32.d_c2[i] - m16.d_c2[i]);
        den += (double)m32.d_c2[i] * m32.d_c2[i];
    }
    assert_true(den > 0);
    print_message("bf16 loss %.6f fp32 %.6f, relative gradient error %.4f\n", lb, la, sqrt(num / den));
    assert_true(sqrt(num / den) < 5e-2);
    gc_free(&a);
    gc_free(&b);
}

static void test_errors(void **state)
{
    (void)state;
    cc_tnet *net = NULL;
    cc_tt *in = NULL, *out = NULL;
    cc_err e;
    int dims[4] = {1, 2, 3, 3};
    float w[2 * 2 * 25] = {0}, dw[2 * 2 * 25];
    OK(cc_tnet_create(CC_TPREC_FP32, 1, &net, &e));
    OK(cc_tnet_input(net, 4, dims, 0, &in, &e));
    /* 5x5 kernel on a 3x3 input without padding. */
    assert_int_equal(cc_tnet_conv(net, in, 2, 5, 1, 0, w, dw, &out, &e),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_tnet_add(net, in, in, 0, &out, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_tnet_conv(net, in, 2, 3, 1, 1, w, NULL, &out, &e),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_tnet_backward(net, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    cc_tnet_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),     cmocka_unit_test(test_conv_blocked),
        cmocka_unit_test(test_conv_fallbacks),
        cmocka_unit_test(test_bn),       cmocka_unit_test(test_bn_relu),
        cmocka_unit_test(test_relu),     cmocka_unit_test(test_maxpool),
        cmocka_unit_test(test_avgpool),  cmocka_unit_test(test_fc),
        cmocka_unit_test(test_add),      cmocka_unit_test(test_add_relu),
        cmocka_unit_test(test_mini_resnet), cmocka_unit_test(test_mini_bf16),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
