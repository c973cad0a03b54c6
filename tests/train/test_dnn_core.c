/* The oneDNN core's one status map, which the inference layer and the training
 * engine share (the engine used to report out-of-memory as BACKEND). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "dnn_core.h"
#include "dnn_train_impl.h"

static void test_status_map(void **state)
{
    (void)state;
    cc_err e = {{0}};
    assert_int_equal(cc_dnn_fail(&e, dnnl_out_of_memory, "convolution"),
                     COVIDCAM_ERR_OUT_OF_MEMORY);
    assert_non_null(strstr(e.msg, "out of memory in convolution"));
    assert_int_equal(cc_dnn_fail(&e, dnnl_unimplemented, "pooling"), COVIDCAM_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "pooling"));
    assert_int_equal(cc_dnn_fail(&e, dnnl_runtime_error, "reorder"), COVIDCAM_ERR_BACKEND);
    assert_non_null(strstr(e.msg, "runtime error"));
    assert_int_equal(cc_dnn_fail(&e, dnnl_invalid_arguments, "x"), COVIDCAM_ERR_BACKEND);
}

/* CC_TDNN_TRY, the training engine's check of every oneDNN call, maps through the core. */
static covidcam_status engine_call(dnnl_status_t result, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    CC_TDNN_TRY(result, "batch norm backward");
fail:
    return st;
}

static void test_engine_uses_core_map(void **state)
{
    (void)state;
    cc_err e = {{0}};
    assert_int_equal(engine_call(dnnl_success, &e), COVIDCAM_OK);
    assert_int_equal(engine_call(dnnl_out_of_memory, &e), COVIDCAM_ERR_OUT_OF_MEMORY);
    assert_non_null(strstr(e.msg, "batch norm backward"));
    assert_int_equal(engine_call(dnnl_unimplemented, &e), COVIDCAM_ERR_UNSUPPORTED);
    assert_int_equal(engine_call(dnnl_runtime_error, &e), COVIDCAM_ERR_BACKEND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_map),
        cmocka_unit_test(test_engine_uses_core_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
