/* Model queries on the fixtures, checked against the files' own JSON headers
 * (read here with jansson, independently of the library's reader). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_util.h"
#include "covidcam.h"
#include "st_edit.h"
#include "test_util.h"

typedef struct fx {
    const char *file;
    covidcam_model *m;
    ste_file *st; /* the same file through the test's reader */
} fx;

static int setup_file(void **state, const char *file)
{
    fx *f = calloc(1, sizeof *f);
    f->file = file;
    f->m = au_load(file);
    f->st = ste_load(tu_fixture(file));
    assert_non_null(f->st);
    assert_non_null(f->st->meta);
    *state = f;
    return 0;
}

static int setup_basic(void **state)
{
    return setup_file(state, "basic.safetensors");
}

static int setup_bottleneck(void **state)
{
    return setup_file(state, "bottleneck.safetensors");
}

static int teardown(void **state)
{
    fx *f = *state;
    covidcam_model_free(f->m);
    ste_free(f->st);
    free(f);
    return 0;
}

static const char *meta(const fx *f, const char *key)
{
    return json_string_value(json_object_get(f->st->meta, key));
}

static void test_classes(void **state)
{
    fx *f = *state;
    json_t *want = json_loads(meta(f, "classes"), 0, NULL);
    assert_true(json_is_array(want));
    int n = (int)json_array_size(want);
    assert_int_equal(covidcam_model_num_classes(f->m), n);
    /* fc.weight has one row per class */
    ste_tensor *fc = ste_find(f->st, "fc.weight");
    assert_non_null(fc);
    assert_int_equal(fc->shape[0], n);
    for (int i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(want, (size_t)i));
        assert_string_equal(covidcam_model_class_name(f->m, i), name);
        assert_int_equal(covidcam_model_class_index(f->m, name), i);
    }
    assert_null(covidcam_model_class_name(f->m, n));
    assert_null(covidcam_model_class_name(f->m, -1));
    assert_int_equal(covidcam_model_class_index(f->m, "no such class"), -1);
    assert_int_equal(covidcam_model_class_index(f->m, ""), -1);
    assert_int_equal(covidcam_model_class_index(f->m, NULL), -1);
    /* names are compared exactly */
    char lower[64];
    snprintf(lower, sizeof lower, "%s", covidcam_model_class_name(f->m, 0));
    lower[0] = (char)(lower[0] ^ 0x20);
    assert_int_equal(covidcam_model_class_index(f->m, lower), -1);
    json_decref(want);
}

static void test_input_and_arch(void **state)
{
    fx *f = *state;
    assert_int_equal(covidcam_model_input_size(f->m), atoi(meta(f, "input_size")));
    assert_int_equal(covidcam_model_input_channels(f->m), atoi(meta(f, "input_channels")));
    /* conv1.weight is [stem, channels, 7, 7] */
    assert_int_equal(ste_find(f->st, "conv1.weight")->shape[1],
                     covidcam_model_input_channels(f->m));
    assert_string_equal(covidcam_model_arch(f->m), meta(f, "arch"));
}

/* Every key of the file's __metadata__ reads back verbatim; others are NULL. */
static void test_metadata(void **state)
{
    fx *f = *state;
    const char *key;
    json_t *v;
    int n = 0;
    json_object_foreach(f->st->meta, key, v) {
        const char *got = covidcam_model_metadata(f->m, key);
        assert_non_null(got);
        assert_string_equal(got, json_string_value(v));
        n++;
    }
    assert_true(n >= 8);
    assert_null(covidcam_model_metadata(f->m, "no_such_key"));
    assert_null(covidcam_model_metadata(f->m, ""));
    assert_null(covidcam_model_metadata(f->m, NULL));
    assert_non_null(covidcam_model_metadata(f->m, "description"));
}

static void test_bn_eps_only_on_bottleneck(void **state)
{
    fx *f = *state;
    const char *eps = covidcam_model_metadata(f->m, "bn_eps");
    if (strcmp(f->file, "bottleneck.safetensors") == 0) {
        assert_non_null(eps);
        assert_string_equal(eps, meta(f, "bn_eps"));
    } else {
        assert_null(eps);
        assert_null(meta(f, "bn_eps"));
    }
}

/* "layerS.B" for every block (from the metadata's layers list), then the
 * stage aliases "layer1".."layerN". */
static void test_layer_names(void **state)
{
    fx *f = *state;
    json_t *layers = json_loads(meta(f, "layers"), 0, NULL);
    assert_true(json_is_array(layers));
    int stages = (int)json_array_size(layers), k = 0;
    char want[32];
    for (int s = 0; s < stages; s++) {
        int blocks = (int)json_integer_value(json_array_get(layers, (size_t)s));
        for (int b = 0; b < blocks; b++, k++) {
            snprintf(want, sizeof want, "layer%d.%d", s + 1, b);
            /* the block exists in the file */
            char conv[64];
            snprintf(conv, sizeof conv, "%s.conv1.weight", want);
            assert_non_null(ste_find(f->st, conv));
            assert_string_equal(covidcam_model_layer_name(f->m, k), want);
        }
    }
    for (int s = 0; s < stages; s++, k++) {
        snprintf(want, sizeof want, "layer%d", s + 1);
        assert_string_equal(covidcam_model_layer_name(f->m, k), want);
    }
    assert_int_equal(covidcam_model_num_layers(f->m), k);
    assert_null(covidcam_model_layer_name(f->m, k));
    assert_null(covidcam_model_layer_name(f->m, -1));
    /* no block beyond the last one in the file */
    snprintf(want, sizeof want, "layer%d.0.conv1.weight", stages + 1);
    assert_null(ste_find(f->st, want));
    json_decref(layers);
}

/* Strings stay valid and unchanged while the model lives, also after sessions
 * come and go. */
static void test_strings_are_stable(void **state)
{
    fx *f = *state;
    const char *name = covidcam_model_class_name(f->m, 0);
    const char *arch = covidcam_model_arch(f->m);
    const char *layer = covidcam_model_layer_name(f->m, 0);
    char copy[3][64];
    snprintf(copy[0], 64, "%s", name);
    snprintf(copy[1], 64, "%s", arch);
    snprintf(copy[2], 64, "%s", layer);
    covidcam_session *s = au_session(f->m, 1);
    assert_ptr_equal(covidcam_session_model(s), f->m);
    covidcam_session_free(s);
    assert_ptr_equal(covidcam_model_class_name(f->m, 0), name);
    assert_string_equal(name, copy[0]);
    assert_string_equal(arch, copy[1]);
    assert_string_equal(layer, copy[2]);
}

#define BOTH(t)                                                                  \
    cmocka_unit_test_prestate_setup_teardown(t, setup_basic, teardown, NULL),    \
        cmocka_unit_test_prestate_setup_teardown(t, setup_bottleneck, teardown, NULL)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_classes),
        BOTH(test_input_and_arch),
        BOTH(test_metadata),
        BOTH(test_bn_eps_only_on_bottleneck),
        BOTH(test_layer_names),
        BOTH(test_strings_are_stable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
