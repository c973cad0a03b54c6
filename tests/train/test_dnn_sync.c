/* Synchronised batch norm (lib/dnn/dnn_train_bn_sync.c) without MPI: two
 * threads, each with its own net on half of a batch, sum through an
 * in-process "allreduce"; together they must compute what one net computes on
 * the whole batch. Checked: the logits and input gradients row by row, the
 * parameter gradients summed over the halves, and the running statistics,
 * against one net of batch 4. A control runs the same halves unsynchronised
 * and must miss the reference by far more than the tolerance, so the test
 * sees a batch norm that uses its share's statistics. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dnn_train.h"
#include "tr_loss.h"
#include "train_util.h"

#define OK(x) assert_int_equal((x), COVIDCAM_OK)

enum { B = 4, C = 3, HW = 6, OC = 8, K = 3, WORLD = 2 };
#define NCONV (OC * C * 3 * 3)
#define NFC (K * OC)
#define NIN (C * HW * HW)

/* Parameters and gradients of one net (each net owns a copy). */
typedef struct params {
    float w[NCONV], dw[NCONV];
    float scale[OC], shift[OC], rmean[OC], rvar[OC], dscale[OC], dshift[OC];
    float fw[NFC], fb[K], dfw[NFC], dfb[K];
} params;

/* What a net computed for its rows. */
typedef struct result {
    float logits[B * K], din[B * NIN];
    params p;
} result;

/* The in-process allreduce of two threads: each publishes its buffer, both
 * sum in the same order into a private copy, then write it back. */
typedef struct pair_sum {
    pthread_barrier_t bar;
    double *buf[WORLD];
} pair_sum;

typedef struct share {
    pair_sum *pair;
    int rank, synced, batch, first;
    const float *x;
    const int *labels;
    result *out;
    covidcam_status st;
} share;

static int sum_pair(void *ctx, double *buf, int n)
{
    share *s = ctx;
    double *tmp = malloc((size_t)n * sizeof *tmp);
    s->pair->buf[s->rank] = buf;
    pthread_barrier_wait(&s->pair->bar);
    for (int i = 0; tmp && i < n; i++)
        tmp[i] = s->pair->buf[0][i] + s->pair->buf[1][i];
    pthread_barrier_wait(&s->pair->bar);
    if (tmp)
        memcpy(buf, tmp, (size_t)n * sizeof *tmp);
    free(tmp);
    return tmp ? 0 : -1;
}

static void init_params(params *p)
{
    unsigned r = 12345;
    for (int i = 0; i < NCONV; i++)
        p->w[i] = (float)((r = r * 1103515245u + 12345u) % 2001) / 2000.0f - 0.5f;
    for (int c = 0; c < OC; c++) {
        p->scale[c] = 0.5f + 0.1f * (float)c;
        p->shift[c] = 0.05f * (float)(c - 3);
        p->rmean[c] = 0;
        p->rvar[c] = 1;
    }
    for (int i = 0; i < NFC; i++)
        p->fw[i] = (float)((r = r * 1103515245u + 12345u) % 2001) / 2000.0f - 0.5f;
    for (int k = 0; k < K; k++)
        p->fb[k] = 0.01f * (float)k;
}

/* input -> conv 3x3 -> BN + ReLU -> global average pool -> fc; one training
 * step's forward and backward on rows [first, first + batch) of x. */
static covidcam_status run_net(share *s, cc_err *e)
{
    cc_tnet *net = NULL;
    cc_tt *in, *y, *z, *g, *logits;
    params *p = &s->out->p;
    int dims[4] = {s->batch, C, HW, HW};
    cc_tbn_params bn = {p->scale, p->shift, p->rmean, p->rvar, p->dscale, p->dshift, 1e-5f, 0.1f};
    cc_tnet_sync sync = {sum_pair, s, WORLD};
    init_params(p);
    covidcam_status st = cc_tnet_create(CC_TPREC_FP32, 1, &net, e);
    if (!st && s->synced)
        st = cc_tnet_set_sync(net, &sync, e);
    if (!st)
        st = cc_tnet_input(net, 4, dims, 1, &in, e);
    if (!st)
        st = cc_tnet_conv(net, in, OC, 3, 1, 1, p->w, p->dw, &y, e);
    if (!st)
        st = cc_tnet_bn(net, y, 1, &bn, &z, e);
    if (!st)
        st = cc_tnet_avgpool_global(net, z, &g, e);
    if (!st)
        st = cc_tnet_fc(net, g, K, p->fw, p->fb, p->dfw, p->dfb, &logits, e);
    if (!st)
        st = cc_tnet_finalize(net, e);
    if (!st) {
        memcpy(cc_tt_host(in), s->x + (size_t)s->first * NIN, (size_t)s->batch * NIN * sizeof(float));
        st = cc_tnet_forward(net, 1, e);
    }
    if (!st) {
        /* the whole batch's mean loss: each half divides by B */
        tr_softmax_xent_norm(cc_tt_host(logits), s->labels + s->first, s->batch, K, 0.0, B,
                             cc_tt_host_diff(logits), NULL);
        memcpy(s->out->logits + s->first * K, cc_tt_host(logits), (size_t)s->batch * K * sizeof(float));
        st = cc_tnet_backward(net, e);
    }
    if (!st)
        st = cc_tt_read(net, in, 1, s->out->din + (size_t)s->first * NIN, e);
    cc_tnet_free(net);
    return st;
}

static void *share_thread(void *arg)
{
    share *s = arg;
    cc_err e;
    s->st = run_net(s, &e);
    return NULL;
}

static void make_batch(float *x, int *labels)
{
    unsigned r = 777;
    for (int i = 0; i < B * NIN; i++)
        x[i] = (float)((r = r * 1103515245u + 12345u) % 2001) / 1000.0f - 1.0f + 0.3f * (float)(i / NIN);
    for (int i = 0; i < B; i++)
        labels[i] = i % K;
}

/* Two halves, synchronised or not; results merged into *out (rows by row
 * range, gradients summed, running statistics of half 0). */
static void run_halves(int synced, const float *x, const int *labels, result *out)
{
    static result half[WORLD];
    pair_sum pair;
    share s[WORLD];
    pthread_t th[WORLD];
    pthread_barrier_init(&pair.bar, NULL, WORLD);
    for (int r = 0; r < WORLD; r++) {
        s[r] = (share){&pair, r, synced, B / WORLD, r * B / WORLD, x, labels, &half[r], 0};
        assert_int_equal(pthread_create(&th[r], NULL, share_thread, &s[r]), 0);
    }
    for (int r = 0; r < WORLD; r++) {
        pthread_join(th[r], NULL);
        OK(s[r].st);
    }
    pthread_barrier_destroy(&pair.bar);
    memset(out, 0, sizeof *out);
    out->p = half[0].p;
    for (int r = 0; r < WORLD; r++) {
        size_t first = (size_t)s[r].first;
        memcpy(out->logits + first * K, half[r].logits + first * K, (B / WORLD) * K * sizeof(float));
        memcpy(out->din + first * NIN, half[r].din + first * NIN, (B / WORLD) * NIN * sizeof(float));
    }
    /* the sum over processes that covidcam-train does with MPI_Allreduce */
    for (int i = 0; i < NCONV; i++)
        out->p.dw[i] = half[0].p.dw[i] + half[1].p.dw[i];
    for (int c = 0; c < OC; c++) {
        out->p.dscale[c] = half[0].p.dscale[c] + half[1].p.dscale[c];
        out->p.dshift[c] = half[0].p.dshift[c] + half[1].p.dshift[c];
    }
    for (int i = 0; i < NFC; i++)
        out->p.dfw[i] = half[0].p.dfw[i] + half[1].p.dfw[i];
    for (int k = 0; k < K; k++)
        out->p.dfb[k] = half[0].p.dfb[k] + half[1].p.dfb[k];
    if (synced)
        for (int c = 0; c < OC; c++) /* every process keeps the same running statistics */
            assert_true(half[0].p.rmean[c] == half[1].p.rmean[c] &&
                        half[0].p.rvar[c] == half[1].p.rvar[c]);
}

static void run_whole(const float *x, const int *labels, result *out)
{
    share s = {NULL, 0, 0, B, 0, x, labels, out, 0};
    cc_err e;
    OK(run_net(&s, &e));
}

/* The worst relative difference over everything a step computes. */
static double worst(const result *ref, const result *got, const char **what)
{
    struct { const char *name; const float *a, *b; int n; } parts[] = {
        {"logits", ref->logits, got->logits, B * K},
        {"input gradient", ref->din, got->din, B * NIN},
        {"conv weight gradient", ref->p.dw, got->p.dw, NCONV},
        {"BN scale gradient", ref->p.dscale, got->p.dscale, OC},
        {"BN shift gradient", ref->p.dshift, got->p.dshift, OC},
        {"fc weight gradient", ref->p.dfw, got->p.dfw, NFC},
        {"fc bias gradient", ref->p.dfb, got->p.dfb, K},
        {"running mean", ref->p.rmean, got->p.rmean, OC},
        {"running variance", ref->p.rvar, got->p.rvar, OC},
    };
    double w = 0;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        double d = tt_rel_err(parts[i].b, parts[i].a, (size_t)parts[i].n);
        if (d >= w) {
            w = d;
            *what = parts[i].name;
        }
    }
    return w;
}

static void test_halves_equal_whole(void **state)
{
    (void)state;
    static float x[B * NIN];
    static result ref, synced, local;
    int labels[B];
    const char *what = "";
    make_batch(x, labels);
    run_whole(x, labels, &ref);
    run_halves(1, x, labels, &synced);
    run_halves(0, x, labels, &local);
    /* fp32 sums of 2 x 36 (BN) to 4 x 36 x 27 (conv weight) terms in another
     * order: a few ulps of the magnitudes, far under 1e-5. */
    double d = worst(&ref, &synced, &what);
    print_message("synchronised halves vs whole batch: worst relative difference %.2g (%s)\n", d,
                  what);
    assert_true(d < 1e-5);
    double control = worst(&ref, &local, &what);
    print_message("unsynchronised halves vs whole batch: %.2g (%s)\n", control, what);
    assert_true(control > 1e-2);
}

static void test_sync_arguments(void **state)
{
    (void)state;
    cc_tnet *net = NULL;
    cc_err e;
    cc_tt *in, *y;
    int dims[4] = {2, C, HW, HW};
    static params p;
    cc_tnet_sync none = {NULL, NULL, 2}, zero = {sum_pair, NULL, 0}, one = {NULL, NULL, 1};
    init_params(&p);
    OK(cc_tnet_create(CC_TPREC_FP32, 1, &net, &e));
    assert_int_equal(cc_tnet_set_sync(net, &none, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_tnet_set_sync(net, &zero, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    OK(cc_tnet_set_sync(net, &one, &e)); /* a world of one needs no sum */
    OK(cc_tnet_input(net, 4, dims, 0, &in, &e));
    OK(cc_tnet_conv(net, in, OC, 3, 1, 1, p.w, p.dw, &y, &e));
    assert_int_equal(cc_tnet_set_sync(net, NULL, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "before the first layer"));
    cc_tnet_free(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_halves_equal_whole),
        cmocka_unit_test(test_sync_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
