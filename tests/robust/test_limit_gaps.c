/* Limit gaps found while reviewing the loader for issue 7 (docs/security.md,
 * "Known gaps"). Each case is a small untrusted input that makes the library
 * request far more memory than the input is worth, or that slips past a
 * documented limit. They fail until the loader enforces the limit; the
 * expected behaviour is what docs/security.md promises. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_wrap.h"
#include "covidcam.h"
#include "rb_model.h"

static covidcam_status load(const uint8_t *b, size_t len, char *err, covidcam_model **m)
{
    return covidcam_model_load_from_memory(b, len, m, err, COVIDCAM_ERRBUF_SIZE);
}

/* Metadata alone (a few hundred bytes, no tensors) describing 4 x 4096 blocks:
 * the architecture needs 327,687 tensors, far above COVIDCAM_MAX_TENSORS, so
 * it can be refused from the metadata. The loader instead builds the list of
 * expected tensors first (tens of MB) and only then finds conv1.weight
 * missing. */
static void test_arch_larger_than_tensor_limit(void **state)
{
    (void)state;
    rb_model_spec spec = rb_model_default();
    spec.layers = "[4096,4096,4096,4096]";
    spec.widths = "[1,1,1,1]";
    spec.stem_width = 1;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    size_t len;
    /* the builder would emit every tensor: keep the metadata only */
    uint8_t *full = rb_model_many_tensors(0, 1, &len);
    assert_non_null(full);
    /* splice the big arch into the metadata-only file */
    char *hdr = calloc(1, len + 64);
    memcpy(hdr, full + 8, len - 8);
    free(full);
    char *at = strstr(hdr, "\"layers\":\"[1,1]\"");
    char *wd = strstr(hdr, "\"widths\":\"[2,4]\"");
    assert_non_null(at);
    assert_non_null(wd);
    char json[2048];
    *at = '\0';
    snprintf(json, sizeof json, "%s\"layers\":\"%s\",\"widths\":\"%s\"%s", hdr, spec.layers,
             spec.widths, wd + strlen("\"widths\":\"[2,4]\""));
    free(hdr);
    size_t jl = strlen(json);
    uint8_t *b = malloc(8 + jl);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)jl >> (8 * i));
    memcpy(b + 8, json, jl);
    covidcam_model *m = NULL;
    aw_arm(0);
    covidcam_status st = load(b, 8 + jl, err, &m);
    aw_disarm();
    free(b);
    covidcam_model_free(m);
    if (st != COVIDCAM_ERR_LIMIT || aw_peak_request() > ((size_t)1 << 20))
        fail_msg("%zu-byte file describing 16384 blocks: got '%s' (%s) after a %zu-byte "
                 "allocation; expected 'limit exceeded' before any large allocation",
                 8 + jl, covidcam_status_string(st), err, aw_peak_request());
}

/* A 1 MB model (stem_width 4096, input_size 1024, one tiny block) asks each
 * session for 4096 x 512 x 512 floats = 4 GiB for the stem output alone (and
 * the memory is touched: cc_dnn_alloc zeroes it). Every value is within the
 * documented per-key limits; what is missing is a bound on activation memory.
 * Requests above 1 GiB are refused by the wrapper here so the test cannot
 * exhaust the machine; the library must refuse the model (or the session)
 * with LIMIT before asking. */
static void test_activation_memory_bound(void **state)
{
    (void)state;
    rb_model_spec spec = rb_model_default();
    spec.stem_width = 4096;
    spec.input_size = (int)COVIDCAM_MAX_INPUT_SIZE;
    spec.layers = "[1]";
    spec.widths = "[1]";
    size_t len = 0;
    uint8_t *b = rb_model_build(&spec, &len);
    assert_non_null(b);
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    aw_arm(0);
    aw_cap((size_t)1 << 30);
    covidcam_status st = load(b, len, err, &m);
    if (st == COVIDCAM_OK) {
        covidcam_session_options o;
        covidcam_session_options_init(&o);
        o.num_threads = 1;
        st = covidcam_session_create(m, &o, &s, err, sizeof err);
    }
    aw_disarm();
    free(b);
    covidcam_session_free(s);
    covidcam_model_free(m);
    if (st != COVIDCAM_ERR_LIMIT || aw_peak_request() > ((size_t)1 << 30))
        fail_msg("%zu-byte model with stem_width 4096 at input_size 1024: got '%s' (%s), "
                 "largest request %zu bytes; expected 'limit exceeded' before any request "
                 "above 1 GiB",
                 len, covidcam_status_string(st), err, aw_peak_request());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arch_larger_than_tensor_limit),
        cmocka_unit_test(test_activation_memory_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
