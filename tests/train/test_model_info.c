/* The trainer reads model and checkpoint metadata through the library's parser
 * (lib/net/model_meta.c): the same refusals as covidcam_model_load, where it
 * used to check neither format nor format_version, read numbers with atoi and
 * accept non-finite mean and duplicate classes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "safetensors_write.h"
#include "tr_io.h"

static const char *const good[][2] = {
    {"format", "covidcam"},    {"format_version", "1"},   {"arch", "resnet18"},
    {"input_size", "64"},      {"input_channels", "1"},   {"mean", "[129.5]"},
    {"std", "[61.25]"},        {"classes", "[\"A\",\"B\"]"}, {"bn_eps", "1e-5"},
};
enum { NGOOD = sizeof good / sizeof good[0] };

/* tr_file_info on the good metadata with `key` set to `value` (NULL: removed). */
static covidcam_status info(const char *key, const char *value, cc_arch *a, tr_model_info *mi,
                            cc_err *e)
{
    cc_stw *w = NULL;
    assert_int_equal(cc_stw_create(&w, e), COVIDCAM_OK);
    for (int i = 0; i < NGOOD; i++) {
        int hit = key && strcmp(good[i][0], key) == 0;
        if (!hit)
            assert_int_equal(cc_stw_add_meta(w, good[i][0], good[i][1], e), COVIDCAM_OK);
        else if (value)
            assert_int_equal(cc_stw_add_meta(w, key, value, e), COVIDCAM_OK);
    }
    tr_file f;
    memset(&f, 0, sizeof f);
    assert_int_equal(cc_stw_encode(w, &f.buf, &f.len, e), COVIDCAM_OK);
    cc_stw_free(w);
    assert_int_equal(cc_st_parse(f.buf, f.len, &f.st, e), COVIDCAM_OK);
    covidcam_status st = tr_file_info(&f, a, mi, e);
    tr_file_free(&f);
    return st;
}

static void test_good_and_checkpoint(void **state)
{
    (void)state;
    cc_arch a;
    tr_model_info mi;
    cc_err e = {{0}};
    assert_int_equal(info(NULL, NULL, &a, &mi, &e), COVIDCAM_OK);
    assert_int_equal(mi.input_size, 64);
    assert_int_equal(mi.classes.n, 2);
    assert_string_equal(mi.classes.names[1], "B");
    assert_true(mi.std[0] == 61.25f);
    assert_int_equal(a.layers[2], 2);
    tr_model_info_free(&mi);
    assert_int_equal(info("format", TR_CKPT_FORMAT, &a, &mi, &e), COVIDCAM_OK);
    tr_model_info_free(&mi);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"format", "safetensors", "format"},
        {"format", NULL, "format"},
        {"format_version", "2", "format_version"},
        {"input_size", "64px", "input_size"},
        {"input_size", "7", "input_size"},
        {"mean", "[1e39]", "mean[0]"},
        {"std", "[1e-40]", "std[0]"},
        {"bn_eps", "1.0", "bn_eps"},
        {"bn_eps", "small", "bn_eps"},
        {"classes", "[\"A\",\"A\"]", "repeats classes[0]"},
        {"classes", "[\"A\",\"B\\nC\"]", "control character"},
        {"classes", "[\"A\"", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cc_arch a;
        tr_model_info mi;
        cc_err e = {{0}};
        print_message("  %s = %s\n", cases[i].key, cases[i].value ? cases[i].value : "(absent)");
        assert_int_equal(info(cases[i].key, cases[i].value, &a, &mi, &e),
                         strcmp(cases[i].key, "format_version") == 0 ? COVIDCAM_ERR_UNSUPPORTED
                                                                     : COVIDCAM_ERR_BAD_FORMAT);
        if (!strstr(e.msg, cases[i].needle))
            fail_msg("message '%s' does not name '%s'", e.msg, cases[i].needle);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_and_checkpoint),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
