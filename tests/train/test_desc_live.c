/* Every memory descriptor the layers make is freed again. In oneDNN 2.x a
 * forgotten free of a cloned md loses a struct copy nobody notices; in 3.x it
 * leaks a handle. The core counts the descs alive (cc_dnn_desc_live,
 * dnn_core.h), so each test here takes the count, creates and uses objects
 * (a model, a session, classifications and Grad-CAMs, training nets), frees
 * them, success or failure, and checks that the count is back where it
 * started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "covidcam.h"
#include "dnn_core.h"
#include "dnn_train.h"
#include "test_util.h"
#include "tr_net.h"

#define OK(call)                                                                                   \
    do {                                                                                           \
        covidcam_status ok_s_ = (call);                                                            \
        if (ok_s_ != COVIDCAM_OK)                                                                  \
            fail_msg("%s -> %s", #call, covidcam_status_string(ok_s_));                            \
    } while (0)

/* Classify and explain one image at every kind of target layer: the last
 * block (closed form) and earlier ones (backward primitives, made on first
 * use and kept by the session). */
static void classify_and_explain(covidcam_session *s, const char *image)
{
    float prob[16], logits[16];
    int top = -1;
    OK(covidcam_classify_file(s, image, prob, logits, 16, &top));
    const char *layers[] = {"layer4", "layer3", "layer2.0", "layer1"};
    const covidcam_cam_method methods[] = {COVIDCAM_CAM_GRADCAM, COVIDCAM_CAM_GRADCAMPP,
                                           COVIDCAM_CAM_LAYERCAM};
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        covidcam_gradcam_options o;
        covidcam_gradcam_options_init(&o);
        o.layer = layers[i];
        o.method = methods[i % 3];
        covidcam_heatmap *h = NULL;
        OK(covidcam_gradcam_file(s, image, &o, &h));
        covidcam_heatmap_free(h);
    }
}

static void check_model(const char *fixture)
{
    long live = cc_dnn_desc_live();
    covidcam_model *m = NULL;
    covidcam_session *s = NULL, *s2 = NULL;
    char err[256];
    OK(covidcam_model_load(tu_fixture(fixture), &m, err, sizeof err));
    assert_true(cc_dnn_desc_live() > live); /* the model keeps its weight layouts */
    OK(covidcam_session_create(m, NULL, &s, err, sizeof err));
    OK(covidcam_session_create(m, NULL, &s2, err, sizeof err));
    classify_and_explain(s, tu_fixture("sample_64.png"));
    classify_and_explain(s, tu_fixture("sample_97x131.png"));
    classify_and_explain(s2, tu_fixture("sample_64.png"));
    covidcam_session_free(s);
    covidcam_session_free(s2);
    covidcam_model_free(m);
    assert_int_equal(cc_dnn_desc_live(), live);
}

static void test_model_session_gradcam(void **state)
{
    (void)state;
    check_model("basic.safetensors");
    check_model("bottleneck.safetensors");
}

/* Calls that fail after the session built its primitives free what they made. */
static void test_inference_failures(void **state)
{
    (void)state;
    long live = cc_dnn_desc_live();
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    char err[256];
    OK(covidcam_model_load(tu_fixture("basic.safetensors"), &m, err, sizeof err));
    OK(covidcam_session_create(m, NULL, &s, err, sizeof err));
    covidcam_gradcam_options o;
    covidcam_gradcam_options_init(&o);
    o.layer = "layer9";
    covidcam_heatmap *h = NULL;
    assert_int_equal(covidcam_gradcam_file(s, tu_fixture("sample_64.png"), &o, &h),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    float prob[16];
    assert_int_not_equal(covidcam_classify_file(s, tu_fixture("png/err_bad_zlib.png"), prob, NULL,
                                                16, NULL),
                         COVIDCAM_OK);
    covidcam_session_free(s);
    covidcam_model_free(m);
    assert_int_equal(cc_dnn_desc_live(), live);
}

/* A training step of the trainer's own ResNet (tr_net_build: every layer kind
 * of the engine), then an evaluation net, each read back and freed. */
static void train_step(const char *block, cc_tprec prec)
{
    long live = cc_dnn_desc_live();
    cc_arch a;
    cc_err e;
    tr_params p;
    tr_net train, eval;
    OK(cc_arch_custom(block, "[1,1]", "[4,8]", "4", &a, &e));
    OK(tr_params_create(&a, 1, 3, &p, &e));
    tr_params_init(&p, 5);
    OK(tr_net_build(&train, &p, 2, 32, prec, 1, 1e-5f, &e));
    assert_true(cc_dnn_desc_live() > live);
    float *x = cc_tt_host(train.input), *dl = cc_tt_host_diff(train.logits);
    for (int i = 0; i < 2 * 32 * 32; i++)
        x[i] = (float)(i % 7) - 3.0f;
    OK(cc_tnet_forward(train.tn, 1, &e));
    for (int i = 0; i < 2 * 3; i++)
        dl[i] = i % 2 ? 0.25f : -0.25f;
    OK(cc_tnet_backward(train.tn, &e));
    float back[2 * 32 * 32];
    OK(cc_tt_read(train.tn, train.input, 0, back, &e));
    OK(cc_tt_write(train.tn, train.input, 0, back, &e));
    tr_net_free(&train);
    OK(tr_net_build(&eval, &p, 2, 32, prec, 0, 1e-5f, &e));
    OK(cc_tnet_forward(eval.tn, 0, &e));
    tr_net_free(&eval);
    tr_params_free(&p);
    assert_int_equal(cc_dnn_desc_live(), live);
}

static void test_training_step(void **state)
{
    (void)state;
    train_step("basic", CC_TPREC_FP32);
    train_step("bottleneck", CC_TPREC_FP32);
    if (cc_tdnn_has_bf16())
        train_step("basic", CC_TPREC_BF16);
}

/* A net abandoned half-built, and calls refused on it, free their descs with
 * the net. */
static void test_training_failures(void **state)
{
    (void)state;
    long live = cc_dnn_desc_live();
    cc_err e;
    cc_tnet *net = NULL;
    cc_tt *in = NULL, *c = NULL, *out = NULL;
    const int dims[4] = {2, 3, 8, 8};
    float w[4 * 3 * 3 * 3] = {0}, dw[4 * 3 * 3 * 3];
    float host[2 * 3 * 8 * 8] = {0};
    OK(cc_tnet_create(CC_TPREC_FP32, 1, &net, &e));
    OK(cc_tnet_input(net, 4, dims, 0, &in, &e));
    OK(cc_tnet_conv(net, in, 4, 3, 1, 1, w, dw, &c, &e));
    assert_int_equal(cc_tnet_add(net, in, c, 1, &out, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_tnet_conv(net, c, 4, 9, 1, 0, w, dw, &out, &e),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_tt_read(net, in, 1, host, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(cc_tnet_forward(net, 1, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    cc_tnet_free(net);
    assert_int_equal(cc_dnn_desc_live(), live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_session_gradcam),
        cmocka_unit_test(test_inference_failures),
        cmocka_unit_test(test_training_step),
        cmocka_unit_test(test_training_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
