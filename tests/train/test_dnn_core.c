/* The oneDNN core: its one status map, which the inference layer and the
 * training engine share (the engine used to report out-of-memory as BACKEND),
 * and the md helpers, attributes and builders both layers now reach oneDNN's
 * version-specific calls through. */
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

/* The desc accessors are all the layers read of a md; every desc made is
 * freed (the live count returns to where it started). */
static void test_desc_helpers(void **state)
{
    (void)state;
    const dnnl_dims_t d = {2, 3, 5, 7};
    long live = cc_dnn_desc_live();
    cc_dnn_desc *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(cc_dnn_desc_create(4, d, dnnl_f32, dnnl_nchw, &a), dnnl_success);
    assert_int_equal(cc_dnn_desc_create(4, d, dnnl_f32, dnnl_nchw, &b), dnnl_success);
    assert_int_equal(cc_dnn_desc_create(4, d, dnnl_f32, dnnl_nhwc, &c), dnnl_success);
    assert_int_equal(cc_dnn_desc_live(), live + 3);
    assert_int_equal(cc_dnn_desc_ndims(a), 4);
    assert_int_equal(cc_dnn_desc_dim(a, 1), 3);
    assert_int_equal(cc_dnn_desc_dim(a, 4), 1); /* past ndims: broadcast */
    dnnl_dims_t got = {0};
    assert_int_equal(cc_dnn_desc_dims(a, got), 4);
    assert_int_equal(got[3], 7);
    assert_int_equal(cc_dnn_desc_dt(a), dnnl_f32);
    assert_int_equal(cc_dnn_desc_bytes(a), 2 * 3 * 5 * 7 * sizeof(float));
    assert_true(cc_dnn_desc_equal(a, b));
    assert_false(cc_dnn_desc_equal(a, c));
    cc_dnn_desc *k = NULL;
    assert_int_equal(cc_dnn_desc_clone(c, &k), dnnl_success);
    assert_true(cc_dnn_desc_equal(k, c));
    cc_dnn_desc_free(c); /* the clone is independent of its source */
    assert_int_equal(cc_dnn_desc_bytes(k), 2 * 3 * 5 * 7 * sizeof(float));
    cc_dnn_desc_free(k);
    cc_dnn_desc_free(b);
    cc_dnn_desc_free(a);
    cc_dnn_desc_free(NULL);
    assert_int_equal(cc_dnn_desc_live(), live);
}

/* A desc the core could not build is NULL and counts as nothing. */
static void test_desc_failure_is_null(void **state)
{
    (void)state;
    const dnnl_dims_t d = {2, -3};
    long live = cc_dnn_desc_live();
    cc_dnn_desc *a = (cc_dnn_desc *)&live;
    assert_int_not_equal(cc_dnn_desc_create(2, d, dnnl_f32, dnnl_ab, &a), dnnl_success);
    assert_null(a);
    assert_int_equal(cc_dnn_desc_live(), live);
}

/* A queried desc is the caller's: it outlives the pd it came from, and an
 * argument the pd lacks gives an empty desc. */
static void test_desc_query_outlives_pd(void **state)
{
    (void)state;
    dnnl_engine_t eng = NULL;
    assert_int_equal(dnnl_engine_create(&eng, dnnl_cpu, 0), dnnl_success);
    const dnnl_dims_t d = {1, 4, 6, 6};
    long live = cc_dnn_desc_live();
    cc_dnn_desc *src = NULL, *dst = NULL, *ws = NULL;
    dnnl_primitive_desc_t pd = NULL;
    assert_int_equal(cc_dnn_desc_create(4, d, dnnl_f32, dnnl_nchw, &src), dnnl_success);
    assert_int_equal(cc_dnn_eltwise_fwd_pd(eng, dnnl_forward_inference, dnnl_eltwise_relu, src,
                                           0.f, 0.f, NULL, &pd),
                     dnnl_success);
    assert_int_equal(cc_dnn_desc_query(pd, dnnl_query_dst_md, 0, &dst), dnnl_success);
    assert_int_equal(cc_dnn_desc_query(pd, dnnl_query_workspace_md, 0, &ws), dnnl_success);
    dnnl_primitive_desc_destroy(pd);
    assert_true(cc_dnn_desc_equal(dst, src));
    assert_non_null(ws);
    assert_int_equal(cc_dnn_desc_ndims(ws), 0);
    assert_int_equal(cc_dnn_desc_bytes(ws), 0);
    cc_dnn_desc_free(ws);
    cc_dnn_desc_free(dst);
    cc_dnn_desc_free(src);
    assert_int_equal(cc_dnn_desc_live(), live);
    dnnl_engine_destroy(eng);
}

/* User scratchpad always; sum before ReLU, as the residual blocks need. */
static void test_attr(void **state)
{
    (void)state;
    dnnl_primitive_attr_t attr = NULL;
    const_dnnl_post_ops_t po = NULL;
    dnnl_scratchpad_mode_t mode;
    assert_int_equal(cc_dnn_attr(1, 1, &attr), dnnl_success);
    assert_int_equal(dnnl_primitive_attr_get_scratchpad_mode(attr, &mode), dnnl_success);
    assert_int_equal(mode, dnnl_scratchpad_mode_user);
    assert_int_equal(dnnl_primitive_attr_get_post_ops(attr, &po), dnnl_success);
    assert_int_equal(dnnl_post_ops_len(po), 2);
    assert_int_equal(dnnl_post_ops_get_kind(po, 0), dnnl_sum);
    assert_int_equal(dnnl_post_ops_get_kind(po, 1), dnnl_eltwise);
    dnnl_primitive_attr_destroy(attr);
    assert_int_equal(cc_dnn_attr(0, 0, &attr), dnnl_success);
    assert_int_equal(dnnl_primitive_attr_get_post_ops(attr, &po), dnnl_success);
    assert_int_equal(dnnl_post_ops_len(po), 0);
    dnnl_primitive_attr_destroy(attr);
}

/* Builders return a pd whose mds answer the layers' queries, and NULL with
 * oneDNN's status on shapes that do not fit. */
static void test_builders(void **state)
{
    (void)state;
    dnnl_engine_t eng = NULL;
    assert_int_equal(dnnl_engine_create(&eng, dnnl_cpu, 0), dnnl_success);
    const dnnl_dims_t sd = {1, 4, 8, 8}, wd = {8, 4, 3, 3}, dd = {1, 8, 4, 4}, bad = {1, 8, 5, 5};
    const dnnl_dims_t strides = {2, 2}, pad = {1, 1}, kernel = {2, 2};
    long live = cc_dnn_desc_live();
    cc_dnn_desc *src = NULL, *wei = NULL, *dst = NULL, *dst_bad = NULL, *q = NULL;
    assert_int_equal(cc_dnn_desc_create(4, sd, dnnl_f32, dnnl_nchw, &src), dnnl_success);
    assert_int_equal(cc_dnn_desc_create(4, wd, dnnl_f32, dnnl_format_tag_any, &wei), dnnl_success);
    assert_int_equal(cc_dnn_desc_create(4, dd, dnnl_f32, dnnl_format_tag_any, &dst), dnnl_success);
    assert_int_equal(cc_dnn_desc_create(4, bad, dnnl_f32, dnnl_format_tag_any, &dst_bad),
                     dnnl_success);
    /* pd starts non-NULL: a failing builder must clear it */
    dnnl_primitive_desc_t fwd = NULL, bwd = NULL, pd = (dnnl_primitive_desc_t)&eng;
    assert_int_equal(cc_dnn_conv_fwd_pd(eng, dnnl_forward_training, src, wei, NULL, dst, strides,
                                        pad, NULL, &fwd),
                     dnnl_success);
    assert_int_equal(cc_dnn_desc_query(fwd, dnnl_query_dst_md, 0, &q), dnnl_success);
    assert_int_equal(cc_dnn_desc_dim(q, 1), 8);
    cc_dnn_desc_free(q);
    assert_int_equal(cc_dnn_conv_bwd_data_pd(eng, src, wei, dst, strides, pad, NULL, fwd, &bwd),
                     dnnl_success);
    assert_int_equal(cc_dnn_desc_query(bwd, dnnl_query_diff_src_md, 0, &q), dnnl_success);
    assert_true(cc_dnn_desc_equal(q, src));
    cc_dnn_desc_free(q);
    assert_int_not_equal(cc_dnn_conv_fwd_pd(eng, dnnl_forward_training, src, wei, NULL, dst_bad,
                                            strides, pad, NULL, &pd),
                         dnnl_success);
    assert_null(pd);
    dnnl_primitive_desc_destroy(bwd);
    dnnl_primitive_desc_destroy(fwd);
    const dnnl_dims_t pd_dims = {1, 4, 4, 4}, no_pad = {0, 0};
    cc_dnn_desc *pool_dst = NULL;
    assert_int_equal(cc_dnn_desc_create(4, pd_dims, dnnl_f32, dnnl_format_tag_any, &pool_dst),
                     dnnl_success);
    assert_int_equal(cc_dnn_pool_fwd_pd(eng, dnnl_forward_inference, dnnl_pooling_max, src,
                                        pool_dst, strides, kernel, no_pad, NULL, &fwd),
                     dnnl_success);
    assert_int_equal(cc_dnn_desc_query(fwd, dnnl_query_dst_md, 0, &q), dnnl_success);
    assert_int_equal(cc_dnn_desc_dim(q, 2), 4);
    cc_dnn_desc_free(q);
    dnnl_primitive_desc_destroy(fwd);
    cc_dnn_desc_free(pool_dst);
    cc_dnn_desc_free(dst_bad);
    cc_dnn_desc_free(dst);
    cc_dnn_desc_free(wei);
    cc_dnn_desc_free(src);
    assert_int_equal(cc_dnn_desc_live(), live);
    dnnl_engine_destroy(eng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_map),
        cmocka_unit_test(test_engine_uses_core_map),
        cmocka_unit_test(test_desc_helpers),
        cmocka_unit_test(test_desc_failure_is_null),
        cmocka_unit_test(test_desc_query_outlives_pd),
        cmocka_unit_test(test_attr),
        cmocka_unit_test(test_builders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
