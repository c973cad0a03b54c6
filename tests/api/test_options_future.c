/* Option structs across versions, from the current header: the inline _init
 * uses the caller's sizeof; a struct from a newer header (more fields at the
 * end) is accepted when those fields hold their zero default and refused with
 * UNSUPPORTED naming the byte otherwise; a struct_size below the 0.1 struct is
 * INVALID_ARGUMENT (include/covidcam.h, abi/README.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "covidcam.h"
#include "options_common.h"

/* What a later header might declare. */
typedef struct future_gradcam_options {
    covidcam_gradcam_options now;
    int64_t added_field;
    double another;
} future_gradcam_options;

typedef struct future_session_options {
    covidcam_session_options now;
    int64_t added_field;
} future_session_options;

static void assert_contains(const char *msg, const char *needle)
{
    if (!strstr(msg, needle))
        fail_msg("message '%s' does not contain '%s'", msg, needle);
}

static void test_inline_init(void **state)
{
    (void)state;
    covidcam_session_options so;
    covidcam_gradcam_options go;
    memset(&so, 0x5a, sizeof so);
    memset(&go, 0x5a, sizeof go);
    covidcam_session_options_init(&so);
    covidcam_gradcam_options_init(&go);
    assert_int_equal(so.struct_size, sizeof so);
    assert_int_equal(go.struct_size, sizeof go);
    assert_int_equal(go.target_class, -1);
    /* the whole struct, padding included, is zeroed apart from the defaults */
    const unsigned char *p = (const unsigned char *)&go;
    for (size_t i = offsetof(covidcam_gradcam_options, target_class) + sizeof(int);
         i < sizeof go; i++)
        assert_int_equal(p[i], 0);
}

static void test_future_gradcam(void **state)
{
    (void)state;
    covidcam_model *m = oc_load();
    float *t = oc_tensor(m);
    int c = covidcam_model_input_channels(m), n = covidcam_model_input_size(m);
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_session *s = NULL;
    assert_int_equal(covidcam_session_create(m, NULL, &s, err, sizeof err), COVIDCAM_OK);

    covidcam_gradcam_options now;
    covidcam_gradcam_options_init(&now);
    now.target_class = 2;
    covidcam_heatmap *want = NULL, *got = NULL;
    assert_int_equal(covidcam_gradcam_tensor(s, t, c, n, n, &now, &want), COVIDCAM_OK);

    future_gradcam_options f;
    memset(&f, 0, sizeof f);
    covidcam_gradcam_options_init(&f.now);
    f.now.struct_size = sizeof f;
    f.now.target_class = 2;
    assert_int_equal(covidcam_gradcam_tensor(s, t, c, n, n, &f.now, &got), COVIDCAM_OK);
    assert_int_equal(covidcam_heatmap_class(got), 2);
    assert_memory_equal(covidcam_heatmap_data(want), covidcam_heatmap_data(got),
                        (size_t)n * (size_t)n * sizeof(float));
    covidcam_heatmap_free(got);

    got = NULL;
    f.added_field = 7;
    assert_int_equal(covidcam_gradcam_tensor(s, t, c, n, n, &f.now, &got),
                     COVIDCAM_ERR_UNSUPPORTED);
    assert_null(got);
    char byte[32];
    snprintf(byte, sizeof byte, "byte %zu of %zu", offsetof(future_gradcam_options, added_field),
             sizeof f);
    assert_contains(covidcam_session_last_error(s), byte);

    /* garbage in a 0.3 struct's tail padding (32 bytes, fields ending at 28),
     * as a hand-filled struct may have, is not a field and is accepted: 0.4's
     * reserved0 sits there and is never read */
    covidcam_gradcam_options_init(&f.now);
    f.now.struct_size = offsetof(covidcam_gradcam_options, eigen_smooth);
    f.now.target_class = 2;
    memset(&f.now.reserved0, 0x5a, sizeof f.now.reserved0);
    assert_int_equal(covidcam_gradcam_tensor(s, t, c, n, n, &f.now, &got), COVIDCAM_OK);
    assert_memory_equal(covidcam_heatmap_data(want), covidcam_heatmap_data(got),
                        (size_t)n * (size_t)n * sizeof(float));
    covidcam_heatmap_free(got);
    got = NULL;

    /* smaller than the 0.1 struct's fields */
    now.struct_size = offsetof(covidcam_gradcam_options, target_class);
    assert_int_equal(covidcam_gradcam_tensor(s, t, c, n, n, &now, &got),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_contains(covidcam_session_last_error(s), "struct_size");
    covidcam_heatmap_free(want);
    covidcam_session_free(s);
    covidcam_model_free(m);
    free(t);
}

static void test_future_session(void **state)
{
    (void)state;
    covidcam_model *m = oc_load();
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_session *s = NULL;
    future_session_options f;
    memset(&f, 0, sizeof f);
    covidcam_session_options_init(&f.now);
    f.now.struct_size = sizeof f;
    f.now.num_threads = 1;
    assert_int_equal(covidcam_session_create(m, &f.now, &s, err, sizeof err), COVIDCAM_OK);
    covidcam_session_free(s);
    s = NULL;
    f.added_field = -1;
    assert_int_equal(covidcam_session_create(m, &f.now, &s, err, sizeof err),
                     COVIDCAM_ERR_UNSUPPORTED);
    assert_null(s);
    char byte[32];
    snprintf(byte, sizeof byte, "byte %zu of %zu", offsetof(future_session_options, added_field),
             sizeof f);
    assert_contains(err, byte);
    /* 0.5's reserved0 (the tail padding after max_batch) is never read */
    f.added_field = 0;
    f.now.reserved0 = 0x5a5a;
    assert_int_equal(covidcam_session_create(m, &f.now, &s, err, sizeof err), COVIDCAM_OK);
    covidcam_session_free(s);
    s = NULL;
    f.now.struct_size = sizeof(size_t);
    assert_int_equal(covidcam_session_create(m, &f.now, &s, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_contains(err, "struct_size is 8");
    /* garbage in struct_size (an uninitialised struct) is refused without
     * reading past the struct */
    f.now.struct_size = (size_t)1 << 40;
    assert_int_equal(covidcam_session_create(m, &f.now, &s, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_contains(err, "more than any version");
    assert_null(s);
    covidcam_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline_init),
        cmocka_unit_test(test_future_gradcam),
        cmocka_unit_test(test_future_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
