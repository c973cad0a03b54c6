/* Model loading. Broken files are refused with the documented status and a
 * message naming the culprit (docs/model-format.md, "Validation by the
 * loader"); edge cases that are valid load and run. Variants are generated
 * here from basic.safetensors; every failure goes through
 * covidcam_model_load_from_memory() and, via a temporary file,
 * covidcam_model_load(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>

#include "api_util.h"
#include "covidcam.h"
#include "st_edit.h"
#include "test_util.h"

/* ------------------------------------------------------------ helpers */

static void check_errbuf(const char *err)
{
    size_t n = strnlen(err, COVIDCAM_ERRBUF_SIZE);
    assert_true(n > 0);
    assert_true(n < COVIDCAM_ERRBUF_SIZE);
}

/* Loads `buf` from memory and from a file; both must fail with `want`, leave
 * the out-parameter untouched and give messages containing every needle (the
 * file message also names the path). Needles end with NULL. The message of
 * the memory load is copied to `msg_out` (may be NULL). */
static void expect_fail_v(const uint8_t *buf, size_t len, covidcam_status want, char *msg_out,
                          va_list ap)
{
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_model *m = AU_SENTINEL;
    covidcam_status st = covidcam_model_load_from_memory(buf, len, &m, err, sizeof err);
    au_assert_status(st, want, err);
    assert_ptr_equal(m, AU_SENTINEL);
    check_errbuf(err);

    char *path = au_write_temp(buf, len);
    char ferr[COVIDCAM_ERRBUF_SIZE] = "";
    st = covidcam_model_load(path, &m, ferr, sizeof ferr);
    unlink(path);
    au_assert_status(st, want, ferr);
    assert_ptr_equal(m, AU_SENTINEL);
    check_errbuf(ferr);
    au_assert_contains(ferr, path);
    free(path);

    const char *needle;
    while ((needle = va_arg(ap, const char *))) {
        au_assert_contains(err, needle);
        au_assert_contains(ferr, needle);
    }
    if (msg_out)
        snprintf(msg_out, COVIDCAM_ERRBUF_SIZE, "%s", err);
}

static void expect_fail(const uint8_t *buf, size_t len, covidcam_status want, ...)
{
    va_list ap;
    va_start(ap, want);
    expect_fail_v(buf, len, want, NULL, ap);
    va_end(ap);
}

static void expect_fail_msg(const uint8_t *buf, size_t len, covidcam_status want, char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    expect_fail_v(buf, len, want, msg, ap);
    va_end(ap);
}

/* Serialize `f` and expect the failure. */
static void expect_fail_file(const ste_file *f, covidcam_status want, const char *n1,
                             const char *n2, const char *n3)
{
    size_t len = 0;
    uint8_t *buf = ste_serialize(f, &len);
    expect_fail(buf, len, want, n1, n2, n3, (const char *)NULL);
    free(buf);
}

static ste_file *basic(void)
{
    ste_file *f = ste_load(tu_fixture("basic.safetensors"));
    if (!f)
        fail_msg("cannot parse %s with the test's own reader", tu_fixture("basic.safetensors"));
    return f;
}

static uint8_t *basic_bytes(size_t *len)
{
    uint8_t *b = tu_read_file(tu_fixture("basic.safetensors"), len);
    assert_non_null(b);
    return b;
}

static uint64_t header_len(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static void set_header_len(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

/* Logits of a model on basic.input.0 against the PyTorch reference. */
static void check_basic_logits(covidcam_model *m)
{
    size_t n = 0;
    float *x = tu_expected("basic.input.0", &n);
    float *want = tu_expected("basic.logits.0", NULL);
    assert_non_null(x);
    assert_non_null(want);
    covidcam_session *s = au_session(m, 1);
    float logits[3];
    assert_int_equal(covidcam_classify_tensor(s, x, 1, 64, 64, NULL, logits, 3, NULL),
                     COVIDCAM_OK);
    assert_true(tu_max_abs_diff(logits, want, 3) <= 1e-4);
    covidcam_session_free(s);
    free(x);
    free(want);
}

static covidcam_model *expect_ok(const ste_file *f)
{
    size_t len = 0;
    uint8_t *buf = ste_serialize(f, &len);
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "x";
    covidcam_status st = covidcam_model_load_from_memory(buf, len, &m, err, sizeof err);
    free(buf);
    au_assert_status(st, COVIDCAM_OK, err);
    assert_non_null(m);
    return m;
}

/* ------------------------------------------------------------ container */

/* The editor itself must round-trip, or every failure below could be its fault. */
static void test_reserialized_fixture_loads(void **state)
{
    (void)state;
    ste_file *f = basic();
    covidcam_model *m = expect_ok(f);
    check_basic_logits(m);
    covidcam_model_free(m);
    /* tensor order in the data area does not matter */
    for (size_t i = 0; i < f->n / 2; i++) {
        ste_tensor t = f->t[i];
        f->t[i] = f->t[f->n - 1 - i];
        f->t[f->n - 1 - i] = t;
    }
    m = expect_ok(f);
    check_basic_logits(m);
    covidcam_model_free(m);
    ste_free(f);
}

static void test_file_not_found(void **state)
{
    (void)state;
    const char *path = "/nonexistent-covidcam-dir/model.safetensors";
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_model *m = AU_SENTINEL;
    covidcam_status st = covidcam_model_load(path, &m, err, sizeof err);
    au_assert_status(st, COVIDCAM_ERR_IO, err);
    assert_ptr_equal(m, AU_SENTINEL);
    au_assert_contains(err, path);

    /* a directory is not a model file either */
    const char *dir = tu_fixture("png");
    st = covidcam_model_load(dir, &m, err, sizeof err);
    au_assert_status(st, COVIDCAM_ERR_IO, err);
    assert_ptr_equal(m, AU_SENTINEL);
    au_assert_contains(err, dir);
}

/* Special files are refused before reading; the size limit is checked before
 * any allocation (a sparse file makes a 4 GiB + 1 model cheap). */
static void test_file_kind_and_size(void **state)
{
    (void)state;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_model *m = AU_SENTINEL;
    covidcam_status st = covidcam_model_load("/dev/null", &m, err, sizeof err);
    au_assert_status(st, COVIDCAM_ERR_IO, err);
    au_assert_contains(err, "/dev/null");
    assert_ptr_equal(m, AU_SENTINEL);

    char *path = au_sparse_temp(COVIDCAM_MAX_MODEL_BYTES + 1);
    st = covidcam_model_load(path, &m, err, sizeof err);
    unlink(path);
    au_assert_status(st, COVIDCAM_ERR_LIMIT, err);
    au_assert_contains(err, path);
    assert_ptr_equal(m, AU_SENTINEL);
    free(path);
}

static void test_empty_file(void **state)
{
    (void)state;
    uint8_t byte = 0;
    expect_fail(&byte, 0, COVIDCAM_ERR_BAD_FORMAT, "0 bytes", "header length", NULL);
}

static void test_truncated_in_length_field(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *b = basic_bytes(&len);
    for (size_t cut = 1; cut < 8; cut += 3)
        expect_fail(b, cut, COVIDCAM_ERR_BAD_FORMAT, "header length", NULL);
    free(b);
}

static void test_truncated_in_json(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *b = basic_bytes(&len);
    uint64_t hlen = header_len(b);
    size_t cuts[] = {8, 9, 8 + (size_t)hlen / 2, 8 + (size_t)hlen - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char num[32];
        snprintf(num, sizeof num, "%llu", (unsigned long long)hlen);
        /* the message gives the claimed header length */
        expect_fail(b, cuts[i], COVIDCAM_ERR_BAD_FORMAT, "header length", num, NULL);
    }
    free(b);
}

/* The message must name a tensor that really lies beyond the truncated data. */
static void check_names_cut_tensor(const ste_file *f, const char *msg, size_t data_left)
{
    const char *q = strstr(msg, "tensor '");
    if (!q)
        fail_msg("message \"%s\" names no tensor", msg);
    q += strlen("tensor '");
    const char *end = strchr(q, '\'');
    assert_non_null(end);
    size_t off = 0, n = (size_t)(end - q);
    for (size_t i = 0; i < f->n; i++) {
        off += f->t[i].nbytes;
        if (strlen(f->t[i].name) == n && strncmp(f->t[i].name, q, n) == 0) {
            if (off <= data_left)
                fail_msg("message \"%s\" blames a tensor that is complete", msg);
            return;
        }
    }
    fail_msg("message \"%s\" names an unknown tensor", msg);
}

static void test_truncated_in_data(void **state)
{
    (void)state;
    ste_file *f = basic();
    size_t len = 0;
    uint8_t *b = ste_serialize(f, &len);
    size_t data0 = 8 + (size_t)header_len(b);
    size_t cuts[] = {data0, data0 + 1, data0 + (len - data0) / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char msg[COVIDCAM_ERRBUF_SIZE];
        expect_fail_msg(b, cuts[i], COVIDCAM_ERR_BAD_FORMAT, msg, "data_offsets", NULL);
        check_names_cut_tensor(f, msg, cuts[i] - data0);
    }
    free(b);
    ste_free(f);
}

static void test_header_length_past_end(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *b = basic_bytes(&len);
    set_header_len(b, len - 8 + 1);
    expect_fail(b, len, COVIDCAM_ERR_BAD_FORMAT, "header length", "does not fit", NULL);
    /* 16 MiB exactly is within the limit, so it is the file size that is wrong */
    set_header_len(b, COVIDCAM_MAX_HEADER_BYTES);
    expect_fail(b, len, COVIDCAM_ERR_BAD_FORMAT, "header length", "does not fit", NULL);
    free(b);
}

static void test_header_length_limit(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *b = basic_bytes(&len);
    set_header_len(b, (uint64_t)COVIDCAM_MAX_HEADER_BYTES + 1);
    expect_fail(b, len, COVIDCAM_ERR_LIMIT, "header length", "16777217", NULL);
    set_header_len(b, UINT64_MAX);
    expect_fail(b, len, COVIDCAM_ERR_LIMIT, "header length", NULL);
    free(b);
}

static void test_bad_json(void **state)
{
    (void)state;
    const char *bad[] = {
        "{\"conv1.weight\": {\"dtype\": \"F32\", ",             /* cut short */
        "{\"a\": 1,}",                                          /* trailing comma */
        "{\"a\": {}, \"a\": {}}",                              /* duplicate key */
        "\x01\x02\x03\x04",                                     /* not text */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = 0;
        uint8_t *b = ste_pack(bad[i], NULL, 0, &len);
        expect_fail(b, len, COVIDCAM_ERR_BAD_FORMAT, "JSON", NULL);
        free(b);
    }
    /* a header length that cuts the fixture's JSON short */
    size_t len = 0;
    uint8_t *b = basic_bytes(&len);
    set_header_len(b, 100);
    expect_fail(b, len, COVIDCAM_ERR_BAD_FORMAT, "JSON", NULL);
    free(b);
}

static void test_json_not_object(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *b = ste_pack("[1, 2, 3]", NULL, 0, &len);
    expect_fail(b, len, COVIDCAM_ERR_BAD_FORMAT, "not an object", NULL);
    free(b);
    /* scalars are refused by the JSON parser itself */
    const char *scalars[] = {"\"covidcam\"", "42"};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        b = ste_pack(scalars[i], NULL, 0, &len);
        expect_fail(b, len, COVIDCAM_ERR_BAD_FORMAT, "JSON", NULL);
        free(b);
    }
}

/* Replace the JSON entry of `name` in the header by `entry` (parsed JSON). */
static void expect_entry_fail(const char *name, const char *entry, covidcam_status want,
                              const char *n1, const char *n2)
{
    ste_file *f = basic();
    json_t *h = ste_header(f);
    json_t *e = json_loads(entry, 0, NULL);
    assert_non_null(e);
    json_object_set_new(h, name, e);
    size_t len = 0;
    uint8_t *b = ste_serialize_header(f, h, &len);
    expect_fail(b, len, want, name, n1, n2, NULL);
    free(b);
    json_decref(h);
    ste_free(f);
}

static void test_bad_tensor_entries(void **state)
{
    (void)state;
    expect_entry_fail("bn1.bias", "[0, 32]", COVIDCAM_ERR_BAD_FORMAT, "not an object", NULL);
    expect_entry_fail("bn1.bias", "{\"shape\": [8], \"data_offsets\": [1600, 1632]}",
                      COVIDCAM_ERR_BAD_FORMAT, "dtype", NULL);
    expect_entry_fail("bn1.bias",
                      "{\"dtype\": \"F32\", \"shape\": 8, \"data_offsets\": [1600, 1632]}",
                      COVIDCAM_ERR_BAD_FORMAT, "shape", NULL);
    expect_entry_fail("bn1.bias",
                      "{\"dtype\": \"F32\", \"shape\": [-8], \"data_offsets\": [1600, 1632]}",
                      COVIDCAM_ERR_BAD_FORMAT, "shape[0]", NULL);
    expect_entry_fail("bn1.bias", "{\"dtype\": \"F32\", \"shape\": [8], \"data_offsets\": [1600]}",
                      COVIDCAM_ERR_BAD_FORMAT, "data_offsets", NULL);
    /* 8 floats need 32 bytes, not 28 */
    expect_entry_fail("bn1.bias",
                      "{\"dtype\": \"F32\", \"shape\": [8], \"data_offsets\": [1600, 1628]}",
                      COVIDCAM_ERR_BAD_FORMAT, "28", "F32");
}

/* A header of `n` empty F32 tensors, with or without metadata. */
static uint8_t *many_tensors(unsigned n, int with_meta, size_t *len)
{
    json_t *h = json_object();
    if (with_meta)
        json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "covidcam"));
    char name[32];
    for (unsigned i = 0; i < n; i++) {
        snprintf(name, sizeof name, "t%u", i);
        json_object_set_new(h, name, json_pack("{s:s, s:[i], s:[i,i]}", "dtype", "F32", "shape", 0,
                                               "data_offsets", 0, 0));
    }
    char *json = json_dumps(h, JSON_COMPACT);
    uint8_t *b = ste_pack(json, NULL, 0, len);
    free(json);
    json_decref(h);
    return b;
}

/* "more than 4096 tensors (LIMIT)", whether or not __metadata__ is there. */
static void test_too_many_tensors(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *b = many_tensors(COVIDCAM_MAX_TENSORS + 1, 1, &len);
    expect_fail(b, len, COVIDCAM_ERR_LIMIT, "4096", NULL);
    free(b);
    b = many_tensors(COVIDCAM_MAX_TENSORS + 1, 0, &len);
    expect_fail(b, len, COVIDCAM_ERR_LIMIT, "4096", NULL);
    free(b);
    /* 4096 is allowed by the container (the model is still wrong) */
    b = many_tensors(COVIDCAM_MAX_TENSORS, 1, &len);
    expect_fail(b, len, COVIDCAM_ERR_BAD_FORMAT, "format_version", NULL);
    free(b);
}

static void test_offsets_outside_data(void **state)
{
    (void)state;
    ste_file *f = basic();
    size_t dlen = 0;
    free(ste_data(f, &dlen));
    json_t *h = ste_header(f);
    json_t *offs = json_object_get(json_object_get(h, "bn1.bias"), "data_offsets");
    json_array_set_new(offs, 0, json_integer((json_int_t)dlen - 28));
    json_array_set_new(offs, 1, json_integer((json_int_t)dlen + 4));
    size_t len = 0;
    uint8_t *b = ste_serialize_header(f, h, &len);
    expect_fail(b, len, COVIDCAM_ERR_BAD_FORMAT, "bn1.bias", "data_offsets", NULL);
    free(b);
    /* end before begin */
    json_array_set_new(offs, 0, json_integer(1632));
    json_array_set_new(offs, 1, json_integer(1600));
    b = ste_serialize_header(f, h, &len);
    expect_fail(b, len, COVIDCAM_ERR_BAD_FORMAT, "bn1.bias", "data_offsets", NULL);
    free(b);
    json_decref(h);
    ste_free(f);
}

static void test_overlapping_tensors(void **state)
{
    (void)state;
    ste_file *f = basic();
    json_t *h = ste_header(f);
    /* bn1.bias (8 floats) made to share bn1.running_mean's bytes, shifted by one float */
    json_t *mean = json_object_get(json_object_get(h, "bn1.running_mean"), "data_offsets");
    json_int_t b0 = json_integer_value(json_array_get(mean, 0));
    json_t *offs = json_object_get(json_object_get(h, "bn1.bias"), "data_offsets");
    json_array_set_new(offs, 0, json_integer(b0 + 4));
    json_array_set_new(offs, 1, json_integer(b0 + 36));
    size_t len = 0;
    uint8_t *b = ste_serialize_header(f, h, &len);
    expect_fail(b, len, COVIDCAM_ERR_BAD_FORMAT, "bn1.bias", "bn1.running_mean", "overlap", NULL);
    free(b);
    json_decref(h);
    ste_free(f);
}

/* ------------------------------------------------------------ metadata */

static void test_metadata_not_object(void **state)
{
    (void)state;
    ste_file *f = basic();
    json_t *h = ste_header(f);
    json_object_set_new(h, "__metadata__", json_string("covidcam"));
    size_t len = 0;
    uint8_t *b = ste_serialize_header(f, h, &len);
    expect_fail(b, len, COVIDCAM_ERR_BAD_FORMAT, "__metadata__", NULL);
    free(b);
    json_decref(h);
    /* values must be strings */
    json_object_set_new(f->meta, "input_size", json_integer(64));
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "input_size", "string", NULL);
    ste_free(f);
}

static void test_missing_metadata(void **state)
{
    (void)state;
    ste_file *f = basic();
    json_decref(f->meta);
    f->meta = NULL;
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "format", NULL, NULL);
    ste_free(f);
}

static void test_missing_metadata_keys(void **state)
{
    (void)state;
    const char *keys[] = {"format", "format_version", "arch",  "input_size", "input_channels",
                          "mean",   "std",            "classes", "block",    "layers",
                          "widths", "stem_width"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        ste_file *f = basic();
        ste_meta(f, keys[i], NULL);
        /* the custom-arch message lists all four keys, so look for "missing <key>" */
        char needle[64];
        if (i < 8)
            snprintf(needle, sizeof needle, "'%s'", keys[i]);
        else
            snprintf(needle, sizeof needle, "missing %s", keys[i]);
        print_message("  without %s\n", keys[i]);
        expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, needle, "missing", NULL);
        ste_free(f);
    }
}


typedef struct bad_meta {
    const char *key, *value;
    covidcam_status want;
    const char *n1, *n2; /* the message must contain both */
} bad_meta;

static void test_bad_metadata_values(void **state)
{
    (void)state;
    static const bad_meta cases[] = {
        {"format", "safetensors", COVIDCAM_ERR_BAD_FORMAT, "format", "safetensors"},
        {"format_version", "2", COVIDCAM_ERR_UNSUPPORTED, "format_version", "'2'"},
        {"format_version", "1.0", COVIDCAM_ERR_UNSUPPORTED, "format_version", "1.0"},
        {"arch", "resnet77", COVIDCAM_ERR_UNSUPPORTED, "arch", "resnet77"},
        {"arch", "vgg16", COVIDCAM_ERR_UNSUPPORTED, "arch", "vgg16"},
        {"block", "wide", COVIDCAM_ERR_BAD_FORMAT, "block", "wide"},
        {"layers", "[]", COVIDCAM_ERR_BAD_FORMAT, "layers", "[]"},
        {"layers", "[1,2,1,2,1]", COVIDCAM_ERR_BAD_FORMAT, "layers", "[1,2,1,2,1]"},
        {"layers", "[1,0,1,2]", COVIDCAM_ERR_BAD_FORMAT, "layers", "[1,0,1,2]"},
        {"layers", "1,2,1,2", COVIDCAM_ERR_BAD_FORMAT, "layers", "1,2,1,2"},
        {"layers", "[1,2,1,2", COVIDCAM_ERR_BAD_FORMAT, "layers", "[1,2,1,2"},
        /* 3 stages but 4 widths: the widths are reported against the stage count */
        {"layers", "[1,2,1]", COVIDCAM_ERR_BAD_FORMAT, "widths", "3 widths"},
        {"widths", "[8,16,16]", COVIDCAM_ERR_BAD_FORMAT, "widths", "[8,16,16]"},
        {"widths", "[8,16,-16,32]", COVIDCAM_ERR_BAD_FORMAT, "widths", "-16"},
        {"widths", "[8,16,16,99999]", COVIDCAM_ERR_BAD_FORMAT, "widths", "99999"},
        {"stem_width", "0", COVIDCAM_ERR_BAD_FORMAT, "stem_width", "'0'"},
        {"stem_width", "8x", COVIDCAM_ERR_BAD_FORMAT, "stem_width", "8x"},
        {"input_size", "7", COVIDCAM_ERR_BAD_FORMAT, "input_size", "'7'"},
        {"input_size", "64px", COVIDCAM_ERR_BAD_FORMAT, "input_size", "64px"},
        {"input_size", "", COVIDCAM_ERR_BAD_FORMAT, "input_size", "''"},
        {"input_channels", "2", COVIDCAM_ERR_BAD_FORMAT, "input_channels", "'2'"},
        {"input_channels", "0", COVIDCAM_ERR_BAD_FORMAT, "input_channels", "'0'"},
        {"input_channels", "one", COVIDCAM_ERR_BAD_FORMAT, "input_channels", "one"},
        {"mean", "[129.5, 1]", COVIDCAM_ERR_BAD_FORMAT, "mean", "1 number"},
        {"mean", "[]", COVIDCAM_ERR_BAD_FORMAT, "mean", "1 number"},
        {"mean", "129.5", COVIDCAM_ERR_BAD_FORMAT, "mean", "129.5"},
        {"mean", "[\"a\"]", COVIDCAM_ERR_BAD_FORMAT, "mean[0]", "number"},
        {"mean", "[1e999]", COVIDCAM_ERR_BAD_FORMAT, "mean", "1e999"},
        {"std", "[0]", COVIDCAM_ERR_BAD_FORMAT, "std[0]", "positive"},
        {"std", "[-61.25]", COVIDCAM_ERR_BAD_FORMAT, "std[0]", "positive"},
        {"std", "[1, 2, 3]", COVIDCAM_ERR_BAD_FORMAT, "std", "1 number"},
        {"classes", "\"COVID\"", COVIDCAM_ERR_BAD_FORMAT, "classes", "list"},
        {"classes", "COVID,Normal,ViralPneumonia", COVIDCAM_ERR_BAD_FORMAT, "classes", "list"},
        {"classes", "[\"A\",\"B\",\"A\"]", COVIDCAM_ERR_BAD_FORMAT, "classes[2]",
         "repeats classes[0]"},
        {"classes", "[\"A\"]", COVIDCAM_ERR_BAD_FORMAT, "classes", "2 to"},
        {"classes", "[\"A\",3,\"C\"]", COVIDCAM_ERR_BAD_FORMAT, "classes[1]", "string"},
        {"classes", "[\"A\",\"\",\"C\"]", COVIDCAM_ERR_BAD_FORMAT, "classes[1]", "non-empty"},
        {"bn_eps", "0", COVIDCAM_ERR_BAD_FORMAT, "bn_eps", "'0'"},
        {"bn_eps", "small", COVIDCAM_ERR_BAD_FORMAT, "bn_eps", "small"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ste_file *f = basic();
        ste_meta(f, cases[i].key, cases[i].value);
        print_message("  %s = %s\n", cases[i].key, cases[i].value);
        expect_fail_file(f, cases[i].want, cases[i].n1, cases[i].n2, NULL);
        ste_free(f);
    }
}

/* Metadata is validated as the float it is used as (docs/model-format.md,
 * "Bounds"): values that pass in double but underflow to 0 or a denormal,
 * overflow to Inf, or are absurd would make every image the same class. */
static void test_metadata_float_bounds(void **state)
{
    (void)state;
    static const bad_meta cases[] = {
        {"std", "[1e-46]", COVIDCAM_ERR_BAD_FORMAT, "std[0]", "positive number"},
        {"std", "[1e-40]", COVIDCAM_ERR_BAD_FORMAT, "std[0]", "(as float)"},
        {"std", "[1e39]", COVIDCAM_ERR_BAD_FORMAT, "std[0] is 1e+39", "positive number"},
        {"std", "[0.000999]", COVIDCAM_ERR_BAD_FORMAT, "std[0]", "0.001"},
        {"std", "[10001]", COVIDCAM_ERR_BAD_FORMAT, "std[0]", "10000"},
        {"mean", "[1e39]", COVIDCAM_ERR_BAD_FORMAT, "mean[0] is 1e+39", "finite number"},
        {"mean", "[-10001]", COVIDCAM_ERR_BAD_FORMAT, "mean[0]", "-10000"},
        {"bn_eps", "1e-46", COVIDCAM_ERR_BAD_FORMAT, "bn_eps", "1e-46"},
        {"bn_eps", "1e-40", COVIDCAM_ERR_BAD_FORMAT, "bn_eps", "1e-40"},
        {"bn_eps", "1e-11", COVIDCAM_ERR_BAD_FORMAT, "bn_eps", "1e-10"},
        {"bn_eps", "1e39", COVIDCAM_ERR_BAD_FORMAT, "bn_eps", "1e39"},
        {"bn_eps", "1.0", COVIDCAM_ERR_BAD_FORMAT, "bn_eps", "0.1"},
        {"bn_eps", "nan", COVIDCAM_ERR_BAD_FORMAT, "bn_eps", "nan"},
        {"bn_eps", "inf", COVIDCAM_ERR_BAD_FORMAT, "bn_eps", "inf"},
        {"bn_eps", " 1e-5", COVIDCAM_ERR_BAD_FORMAT, "bn_eps", "1e-5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ste_file *f = basic();
        ste_meta(f, cases[i].key, cases[i].value);
        print_message("  %s = %s\n", cases[i].key, cases[i].value);
        expect_fail_file(f, cases[i].want, cases[i].n1, cases[i].n2, NULL);
        ste_free(f);
    }
    /* the bounds themselves load */
    static const char *const ok[][2] = {
        {"std", "[0.001]"}, {"std", "[10000]"}, {"mean", "[-10000]"}, {"mean", "[10000]"},
        {"bn_eps", "1e-10"}, {"bn_eps", "0.1"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ste_file *f = basic();
        ste_meta(f, ok[i][0], ok[i][1]);
        print_message("  %s = %s loads\n", ok[i][0], ok[i][1]);
        covidcam_model_free(expect_ok(f));
        ste_free(f);
    }
}

/* Class names reach text output: control characters (C0, DEL, C1) could forge
 * lines or terminal escapes, so they are refused, naming the index; JSON
 * errors say what is wrong rather than repeating the expected shape. */
static void test_class_name_hardening(void **state)
{
    (void)state;
    static const bad_meta cases[] = {
        {"classes", "[\"A\",\"B\\nCOVID 0.99\",\"C\"]", COVIDCAM_ERR_BAD_FORMAT, "classes[1]",
         "control character at byte 1"},
        {"classes", "[\"A\",\"B\",\"\\u001b[2J\"]", COVIDCAM_ERR_BAD_FORMAT, "classes[2]",
         "control character at byte 0"},
        {"classes", "[\"A\\t\",\"B\",\"C\"]", COVIDCAM_ERR_BAD_FORMAT, "classes[0]",
         "control character"},
        {"classes", "[\"A\",\"B\\u007f\",\"C\"]", COVIDCAM_ERR_BAD_FORMAT, "classes[1]",
         "control character"},
        {"classes", "[\"A\",\"B\",\"C\\u009b\"]", COVIDCAM_ERR_BAD_FORMAT, "classes[2]",
         "control character at byte 1"},
        {"classes", "[\"A\",\"B\",\"B\"]", COVIDCAM_ERR_BAD_FORMAT, "classes[2]",
         "repeats classes[1]"},
        {"classes", "[\"A\",\"B\",\"C", COVIDCAM_ERR_BAD_FORMAT, "not valid JSON",
         "premature end of input"},
        {"classes", "[\"A\",\"B\",\"\\u0000\"]", COVIDCAM_ERR_BAD_FORMAT, "not valid JSON",
         "u0000"},
        {"classes", "[\"A\",\"B\",\"\\ud800\"]", COVIDCAM_ERR_BAD_FORMAT, "not valid JSON",
         "invalid Unicode"},
        {"classes", "{\"A\": 1}", COVIDCAM_ERR_BAD_FORMAT, "classes", "not an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ste_file *f = basic();
        ste_meta(f, cases[i].key, cases[i].value);
        print_message("  %s = %s\n", cases[i].key, cases[i].value);
        expect_fail_file(f, cases[i].want, cases[i].n1, cases[i].n2, NULL);
        ste_free(f);
    }
    /* printable non-ASCII names stay accepted */
    ste_file *f = basic();
    ste_meta(f, "classes", "[\"COVID-19\",\"Normal \u00e9\",\"\u75c5\u6bd2\"]");
    covidcam_model *m = expect_ok(f);
    assert_string_equal(covidcam_model_class_name(m, 1), "Normal \xc3\xa9");
    covidcam_model_free(m);
    ste_free(f);
}

/* docs/model-format.md: "an input_size above 1024 (LIMIT)". The weights do
 * not depend on the input size, so 1024 itself loads. */
static void test_input_size_limit(void **state)
{
    (void)state;
    ste_file *f = basic();
    ste_meta(f, "input_size", "1024");
    covidcam_model *m = expect_ok(f);
    assert_int_equal(covidcam_model_input_size(m), 1024);
    covidcam_model_free(m);
    ste_meta(f, "input_size", "1025");
    expect_fail_file(f, COVIDCAM_ERR_LIMIT, "input_size", "1025", "1024");
    ste_free(f);
}

/* The smallest input sizes shrink the last feature maps to 1x1 (and odd sizes
 * give odd maps): such models still load and run, and the pixel path equals
 * the tensor path through covidcam_model_preprocess(). */
static void test_small_input_sizes_run(void **state)
{
    (void)state;
    static const char *sizes[] = {"8", "9", "13"};
    enum { W = 21, H = 17 };
    uint8_t px[H * W];
    for (int i = 0; i < H * W; i++)
        px[i] = (uint8_t)(i * 29 + 3);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        ste_file *f = basic();
        ste_meta(f, "input_size", sizes[k]);
        covidcam_model *m = expect_ok(f);
        int n = atoi(sizes[k]);
        assert_int_equal(covidcam_model_input_size(m), n);
        covidcam_session *s = au_session(m, 1);
        float *t = malloc((size_t)n * (size_t)n * sizeof *t);
        float a[3], b[3], p[3];
        assert_int_equal(covidcam_model_preprocess(m, px, W, H, W, t, (size_t)n * (size_t)n),
                         COVIDCAM_OK);
        covidcam_status st = covidcam_classify_pixels(s, px, W, H, W, p, a, 3, NULL);
        au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(s));
        st = covidcam_classify_tensor(s, t, 1, n, n, NULL, b, 3, NULL);
        au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(s));
        assert_memory_equal(a, b, sizeof a);
        double sum = 0;
        for (int i = 0; i < 3; i++) {
            assert_true(isfinite(a[i]));
            sum += p[i];
        }
        assert_true(fabs(sum - 1) < 1e-5);
        free(t);
        covidcam_session_free(s);
        covidcam_model_free(m);
        ste_free(f);
    }
}

static void test_too_many_classes(void **state)
{
    (void)state;
    ste_file *f = basic();
    json_t *a = json_array();
    char name[16];
    for (unsigned i = 0; i <= COVIDCAM_MAX_CLASSES; i++) {
        snprintf(name, sizeof name, "c%u", i);
        json_array_append_new(a, json_string(name));
    }
    char *text = json_dumps(a, JSON_COMPACT);
    ste_meta(f, "classes", text);
    expect_fail_file(f, COVIDCAM_ERR_LIMIT, "classes", "1000", NULL);
    free(text);
    json_decref(a);
    ste_free(f);
}

/* A named arch fixes the widths: the fixture's narrow weights do not fit resnet18. */
static void test_named_arch_with_custom_weights(void **state)
{
    (void)state;
    ste_file *f = basic();
    ste_meta(f, "arch", "resnet18");
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "conv1.weight", "[8, 1, 7, 7]", "[64, 1, 7, 7]");
    ste_free(f);
}

/* ------------------------------------------------------------ tensors */

static void test_missing_tensor(void **state)
{
    (void)state;
    const char *names[] = {"layer2.0.bn1.running_var", "conv1.weight", "fc.bias",
                           "layer2.0.downsample.0.weight"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ste_file *f = basic();
        assert_int_equal(ste_remove(f, names[i]), 0);
        expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, names[i], "missing", NULL);
        ste_free(f);
    }
}

static void shape_text(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim; d++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
    snprintf(buf + o, len - o, "]");
}

static void test_misshaped_tensor(void **state)
{
    (void)state;
    ste_file *f = basic();
    ste_tensor *t = ste_find(f, "layer2.0.conv1.weight");
    assert_non_null(t);
    assert_int_equal(t->ndim, 4);
    char want[64], got[64];
    shape_text(want, sizeof want, t->ndim, t->shape);
    /* same bytes, kernel flattened: only the shape is wrong */
    t->shape[3] *= t->shape[2];
    t->shape[2] = 1;
    shape_text(got, sizeof got, t->ndim, t->shape);
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "layer2.0.conv1.weight", got, want);
    ste_free(f);

    /* five dimensions */
    f = basic();
    t = ste_find(f, "conv1.weight");
    t->shape[4] = 1;
    t->ndim = 5;
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "conv1.weight", "[8, 1, 7, 7]", "shape");
    ste_free(f);

    /* a 1-d BN vector stored as a column */
    f = basic();
    t = ste_find(f, "layer3.0.bn2.weight");
    t->shape[1] = 1;
    t->ndim = 2;
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "layer3.0.bn2.weight", "shape", NULL);
    ste_free(f);
}

static void test_fc_rows_differ_from_classes(void **state)
{
    (void)state;
    ste_file *f = basic();
    ste_meta(f, "classes", "[\"COVID\",\"Normal\",\"ViralPneumonia\",\"Other\"]");
    ste_tensor *t = ste_find(f, "fc.weight");
    char got[64], want[64];
    shape_text(got, sizeof got, t->ndim, t->shape);
    int64_t s[2] = {4, t->shape[1]};
    shape_text(want, sizeof want, 2, s);
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "fc.weight", got, want);
    ste_free(f);
}

static void test_wrong_dtype(void **state)
{
    (void)state;
    ste_file *f = basic();
    ste_tensor *t = ste_find(f, "bn1.running_mean");
    int64_t v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t shape[1] = {t->shape[0]};
    assert_int_equal(shape[0], 8);
    ste_put(f, "bn1.running_mean", "I64", 1, shape, v, sizeof v);
    expect_fail_file(f, COVIDCAM_ERR_UNSUPPORTED, "bn1.running_mean", "I64", NULL);
    ste_free(f);

    f = basic();
    double d[8] = {0};
    ste_put(f, "layer1.0.bn1.bias", "F64", 1, shape, d, sizeof d);
    expect_fail_file(f, COVIDCAM_ERR_UNSUPPORTED, "layer1.0.bn1.bias", "F64", NULL);
    ste_free(f);
}

static void poke_f32(ste_file *f, const char *name, size_t index, float v)
{
    ste_tensor *t = ste_find(f, name);
    assert_non_null(t);
    assert_string_equal(t->dtype, "F32");
    assert_true((index + 1) * 4 <= t->nbytes);
    memcpy(t->data + 4 * index, &v, 4); /* the fixture is little-endian, as is x86 */
}

static void test_nan_in_weight(void **state)
{
    (void)state;
    ste_file *f = basic();
    poke_f32(f, "layer3.0.conv2.weight", 17, NAN);
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "layer3.0.conv2.weight", "NaN", "element 17");
    ste_free(f);

    f = basic();
    poke_f32(f, "fc.bias", 2, -INFINITY);
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "fc.bias", "Inf", "element 2");
    ste_free(f);

    f = basic();
    poke_f32(f, "layer1.0.bn1.running_mean", 0, INFINITY);
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "layer1.0.bn1.running_mean", "Inf", NULL);
    ste_free(f);
}

static void test_negative_running_var(void **state)
{
    (void)state;
    ste_file *f = basic();
    poke_f32(f, "layer4.1.bn2.running_var", 3, -0.25f);
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "layer4.1.bn2.running_var", "negative",
                     "channel 3");
    ste_free(f);
}

static void test_unexpected_tensor(void **state)
{
    (void)state;
    ste_file *f = basic();
    float v[2] = {1, 2};
    int64_t shape[1] = {2};
    ste_put(f, "layer5.0.conv1.weight", "F32", 1, shape, v, sizeof v);
    expect_fail_file(f, COVIDCAM_ERR_BAD_FORMAT, "layer5.0.conv1.weight", "unexpected", NULL);
    ste_free(f);
}

/* torch state dicts carry int64 num_batches_tracked scalars; readers ignore them. */
static void test_num_batches_tracked_accepted(void **state)
{
    (void)state;
    ste_file *f = basic();
    int64_t count = 1234;
    ste_put(f, "bn1.num_batches_tracked", "I64", 0, NULL, &count, sizeof count);
    ste_put(f, "layer2.0.downsample.1.num_batches_tracked", "I64", 0, NULL, &count,
            sizeof count);
    covidcam_model *m = expect_ok(f);
    check_basic_logits(m);
    covidcam_model_free(m);
    ste_free(f);
}

/* "The buffer is only read during the call": wipe and free it after loading
 * (valgrind reports any later read) and the model still computes torch's logits. */
static void test_memory_buffer_not_kept(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *b = basic_bytes(&len);
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    au_assert_status(covidcam_model_load_from_memory(b, len, &m, err, sizeof err), COVIDCAM_OK,
                     err);
    memset(b, 0xff, len); /* all-NaN floats if anything still pointed here */
    free(b);
    assert_string_equal(covidcam_model_metadata(m, "format"), "covidcam");
    check_basic_logits(m);
    covidcam_model_free(m);
}

/* ------------------------------------------------------------ errbuf */

static void test_errbuf_sizes(void **state)
{
    (void)state;
    uint8_t byte = 0;
    covidcam_model *m = AU_SENTINEL;
    /* NULL errbuf: status only */
    assert_int_equal(covidcam_model_load_from_memory(&byte, 0, &m, NULL, 0),
                     COVIDCAM_ERR_BAD_FORMAT);
    assert_int_equal(covidcam_model_load("/nonexistent-covidcam-dir/x", &m, NULL, 64),
                     COVIDCAM_ERR_IO);
    /* a short errbuf is filled and terminated, never overrun */
    char buf[16];
    memset(buf, 'z', sizeof buf);
    assert_int_equal(covidcam_model_load_from_memory(&byte, 0, &m, buf, 8),
                     COVIDCAM_ERR_BAD_FORMAT);
    assert_int_equal(strlen(buf), 7);
    assert_int_equal(buf[8], 'z');
    memset(buf, 'z', sizeof buf);
    assert_int_equal(covidcam_model_load("/nonexistent-covidcam-dir/x", &m, buf, 8),
                     COVIDCAM_ERR_IO);
    assert_int_equal(strlen(buf), 7);
    assert_int_equal(buf[8], 'z');
    memset(buf, 'z', sizeof buf);
    assert_int_equal(covidcam_model_load_from_memory(&byte, 0, &m, buf, 1),
                     COVIDCAM_ERR_BAD_FORMAT);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(buf[1], 'z');
    /* a path-prefixed message through a short buffer */
    size_t len = 0;
    uint8_t *b = basic_bytes(&len);
    char *path = au_write_temp(b, 5);
    memset(buf, 'z', sizeof buf);
    assert_int_equal(covidcam_model_load(path, &m, buf, 12), COVIDCAM_ERR_BAD_FORMAT);
    assert_int_equal(strlen(buf), 11);
    assert_int_equal(buf[12], 'z');
    unlink(path);
    free(path);
    free(b);
    assert_ptr_equal(m, AU_SENTINEL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserialized_fixture_loads),
        cmocka_unit_test(test_file_not_found),
        cmocka_unit_test(test_file_kind_and_size),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_truncated_in_length_field),
        cmocka_unit_test(test_truncated_in_json),
        cmocka_unit_test(test_truncated_in_data),
        cmocka_unit_test(test_header_length_past_end),
        cmocka_unit_test(test_header_length_limit),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_json_not_object),
        cmocka_unit_test(test_bad_tensor_entries),
        cmocka_unit_test(test_too_many_tensors),
        cmocka_unit_test(test_offsets_outside_data),
        cmocka_unit_test(test_overlapping_tensors),
        cmocka_unit_test(test_metadata_not_object),
        cmocka_unit_test(test_missing_metadata),
        cmocka_unit_test(test_missing_metadata_keys),
        cmocka_unit_test(test_bad_metadata_values),
        cmocka_unit_test(test_metadata_float_bounds),
        cmocka_unit_test(test_class_name_hardening),
        cmocka_unit_test(test_input_size_limit),
        cmocka_unit_test(test_small_input_sizes_run),
        cmocka_unit_test(test_too_many_classes),
        cmocka_unit_test(test_named_arch_with_custom_weights),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_misshaped_tensor),
        cmocka_unit_test(test_fc_rows_differ_from_classes),
        cmocka_unit_test(test_wrong_dtype),
        cmocka_unit_test(test_nan_in_weight),
        cmocka_unit_test(test_negative_running_var),
        cmocka_unit_test(test_unexpected_tensor),
        cmocka_unit_test(test_num_batches_tracked_accepted),
        cmocka_unit_test(test_memory_buffer_not_kept),
        cmocka_unit_test(test_errbuf_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
