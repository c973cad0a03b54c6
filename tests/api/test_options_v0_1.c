/* A program built against the 0.1 header (tests/api/abi_v0_1/covidcam.h, a
 * verbatim copy) running on this library: its option structs are the 0.1 ones
 * and it calls the exported _init functions, which must write no byte beyond
 * the old struct; the library must read those structs as the 0.1 library did. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "covidcam.h"
#include "options_common.h"

/* The sizes a 0.1 program was compiled with (LP64). */
_Static_assert(sizeof(covidcam_session_options) == 16, "0.1 session options are 16 bytes");
_Static_assert(sizeof(covidcam_gradcam_options) == 32, "0.1 gradcam options are 32 bytes");

static void test_init_stays_inside(void **state)
{
    (void)state;
    struct {
        covidcam_session_options o;
        unsigned char canary[64];
    } s;
    struct {
        covidcam_gradcam_options o;
        unsigned char canary[64];
    } g;
    memset(&s, 0xab, sizeof s);
    memset(&g, 0xab, sizeof g);
    covidcam_session_options_init(&s.o);
    covidcam_gradcam_options_init(&g.o);
    assert_int_equal(s.o.struct_size, sizeof s.o);
    assert_int_equal(s.o.num_threads, 0);
    assert_int_equal(s.o.precision, COVIDCAM_PRECISION_FP32);
    assert_int_equal(g.o.struct_size, sizeof g.o);
    assert_int_equal(g.o.method, COVIDCAM_CAM_GRADCAM);
    assert_null(g.o.layer);
    assert_int_equal(g.o.target_class, -1);
    for (size_t i = 0; i < sizeof s.canary; i++)
        assert_int_equal(s.canary[i], 0xab);
    for (size_t i = 0; i < sizeof g.canary; i++)
        assert_int_equal(g.canary[i], 0xab);
}

static covidcam_heatmap *gradcam(covidcam_session *s, const float *t, const covidcam_model *m,
                                 const covidcam_gradcam_options *o)
{
    covidcam_heatmap *h = NULL;
    int c = covidcam_model_input_channels(m), n = covidcam_model_input_size(m);
    covidcam_status st = covidcam_gradcam_tensor(s, t, c, n, n, o, &h);
    if (st)
        fprintf(stderr, "gradcam: %s\n", covidcam_session_last_error(s));
    assert_int_equal(st, COVIDCAM_OK);
    return h;
}

static void test_old_structs_work(void **state)
{
    (void)state;
    covidcam_model *m = oc_load();
    float *t = oc_tensor(m);
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_session_options so;
    covidcam_session_options_init(&so);
    so.num_threads = 1;
    covidcam_session *s = NULL;
    assert_int_equal(covidcam_session_create(m, &so, &s, err, sizeof err), COVIDCAM_OK);

    covidcam_gradcam_options go;
    covidcam_gradcam_options_init(&go);
    go.target_class = 1;
    go.layer = "layer1";
    go.method = COVIDCAM_CAM_LAYERCAM;
    covidcam_heatmap *h = gradcam(s, t, m, &go);
    assert_int_equal(covidcam_heatmap_class(h), 1);
    assert_int_equal(covidcam_heatmap_method(h), COVIDCAM_CAM_LAYERCAM);
    assert_memory_equal(covidcam_heatmap_layer(h), "layer1.", 7);

    /* A struct filled by hand, as a 0.1 program may do, gives the same map. */
    covidcam_gradcam_options hand = {sizeof hand, COVIDCAM_CAM_LAYERCAM, "layer1", 1};
    covidcam_heatmap *h2 = gradcam(s, t, m, &hand);
    int n = covidcam_heatmap_size(h);
    assert_memory_equal(covidcam_heatmap_data(h), covidcam_heatmap_data(h2),
                        (size_t)n * (size_t)n * sizeof(float));
    covidcam_heatmap_free(h);
    covidcam_heatmap_free(h2);
    covidcam_session_free(s);
    covidcam_model_free(m);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_stays_inside),
        cmocka_unit_test(test_old_structs_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
