/* Allocation-failure injection into the training engine (tests/robust's
 * alloc_wrap.c, linked with -Wl,--wrap=malloc...): building the trainer's
 * ResNet and running one training step is repeated with allocation N failing,
 * N = 1, 2, ... until a run reaches no Nth allocation. Each failing run must
 * report COVIDCAM_ERR_OUT_OF_MEMORY, and once the net is freed no block and
 * no memory descriptor (cc_dnn_desc_live) may be left: every early return of
 * the engine's constructors leaves what it made to the net. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_wrap.h"
#include "dnn_core.h"
#include "tr_net.h"

/* Build, one training step, read the logits back, free. */
static covidcam_status build_and_step(tr_params *p, int train, cc_err *e)
{
    tr_net net;
    float logits[2 * 3];
    covidcam_status st = tr_net_build(&net, p, 2, 16, CC_TPREC_FP32, train, 1e-5f, e);
    if (st)
        return st; /* tr_net_build freed its half-built net */
    float *x = cc_tt_host(net.input);
    for (int i = 0; i < 2 * 16 * 16; i++)
        x[i] = (float)(i % 5) - 2.0f;
    st = cc_tnet_forward(net.tn, train, e);
    if (!st && train) {
        float *dl = cc_tt_host_diff(net.logits);
        for (int i = 0; i < 2 * 3; i++)
            dl[i] = i % 2 ? 0.5f : -0.5f;
        st = cc_tnet_backward(net.tn, e);
    }
    if (!st)
        st = cc_tt_read(net.tn, net.logits, 0, logits, e);
    tr_net_free(&net);
    return st;
}

/* Sweep one architecture; returns how many allocations were failed. */
static long sweep(const char *block, int train)
{
    cc_arch a;
    cc_err e;
    tr_params p;
    assert_int_equal(cc_arch_custom(block, "[1,1]", "[4,8]", "4", &a, &e), COVIDCAM_OK);
    assert_int_equal(tr_params_create(&a, 1, 3, &p, &e), COVIDCAM_OK);
    tr_params_init(&p, 9);
    long n = 1;
    for (;; n++) {
        long descs = cc_dnn_desc_live();
        aw_arm(n);
        covidcam_status st = build_and_step(&p, train, &e);
        int failed = aw_failed();
        aw_disarm();
        if (aw_live() != 0)
            fail_msg("%s: allocation #%ld: %ld block(s) were never freed", block, n, aw_live());
        if (cc_dnn_desc_live() != descs)
            fail_msg("%s: allocation #%ld: %ld memory descriptor(s) were never freed", block, n,
                     cc_dnn_desc_live() - descs);
        if (!failed) {
            if (st != COVIDCAM_OK)
                fail_msg("%s: clean run failed: %s", block, e.msg);
            break;
        }
        if (st != COVIDCAM_ERR_OUT_OF_MEMORY)
            fail_msg("%s: allocation #%ld failed but the step returned %s (%s)", block, n,
                     covidcam_status_string(st), st ? e.msg : "");
    }
    tr_params_free(&p);
    printf("%s %s: %ld allocation sites failed one by one\n", block, train ? "training" : "eval",
           n - 1);
    return n - 1;
}

static void test_training_net(void **state)
{
    (void)state;
    assert_true(sweep("basic", 1) > 0);
    assert_true(sweep("bottleneck", 1) > 0);
}

static void test_evaluation_net(void **state)
{
    (void)state;
    assert_true(sweep("basic", 0) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_training_net),
        cmocka_unit_test(test_evaluation_net),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
