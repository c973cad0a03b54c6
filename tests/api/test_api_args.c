/* Argument checking of the public API: every bad call returns the documented
 * status, records a message naming the problem, leaves out-parameters alone
 * and never crashes. Uses only include/covidcam.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>

#include "api_util.h"
#include "covidcam.h"
#include "test_util.h"

extern char **environ;

#define NC 3    /* classes of basic.safetensors */
#define SIZE 64 /* its input size */

/* ------------------------------------------------------------ tiny PNG writer */

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static uint32_t adler32(const uint8_t *p, size_t n)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    return (b << 16) | a;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t n)
{
    p = put32(p, n);
    uint8_t *t = p;
    memcpy(p, type, 4);
    if (n)
        memcpy(p + 4, data, n);
    p += 4 + n;
    return put32(p, crc32_png(t, 4 + (size_t)n));
}

/* An 8-bit gray PNG declaring width x height whose IDAT holds `raw` (filter
 * bytes included) in one stored deflate block. Caller frees. */
static uint8_t *make_png(uint32_t width, uint32_t height, const uint8_t *raw, uint16_t raw_len,
                         size_t *len)
{
    uint8_t *png = malloc(64 + (size_t)raw_len + 32);
    assert_non_null(png);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(png, sig, 8);
    uint8_t ihdr[13] = {0};
    put32(ihdr, width);
    put32(ihdr + 4, height);
    ihdr[8] = 8; /* bit depth; color type 0 (gray), deflate, no filter, no interlace */
    uint8_t *p = chunk(png + 8, "IHDR", ihdr, 13);
    uint8_t *z = malloc((size_t)raw_len + 11);
    assert_non_null(z);
    z[0] = 0x78;
    z[1] = 0x01;
    z[2] = 0x01; /* final stored block */
    z[3] = (uint8_t)raw_len;
    z[4] = (uint8_t)(raw_len >> 8);
    z[5] = (uint8_t)~raw_len;
    z[6] = (uint8_t)(~raw_len >> 8);
    if (raw_len)
        memcpy(z + 7, raw, raw_len);
    put32(z + 7 + raw_len, adler32(raw, raw_len));
    p = chunk(p, "IDAT", z, (uint32_t)raw_len + 11);
    p = chunk(p, "IEND", NULL, 0);
    free(z);
    *len = (size_t)(p - png);
    return png;
}

/* ------------------------------------------------------------ fixtures */

typedef struct fx {
    covidcam_model *m;
    covidcam_session *s;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->m = au_load("basic.safetensors");
    f->s = au_session(f->m, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    covidcam_session_free(f->s);
    covidcam_model_free(f->m);
    free(f);
    return 0;
}

/* `got` must be `want` and the session's message must name `needle`. */
static void expect_err(covidcam_session *s, covidcam_status got, covidcam_status want,
                       const char *needle)
{
    const char *msg = covidcam_session_last_error(s);
    au_assert_status(got, want, msg);
    assert_true(strlen(msg) > 0);
    au_assert_contains(msg, needle);
}

/* Output arrays pre-filled with a marker must come back unchanged. */
typedef struct outs {
    float probs[NC + 1], logits[NC + 1];
    int top;
} outs;

static void outs_init(outs *o)
{
    for (int i = 0; i <= NC; i++)
        o->probs[i] = o->logits[i] = -7.0f;
    o->top = -7;
}

static void outs_untouched(const outs *o)
{
    for (int i = 0; i <= NC; i++) {
        assert_true(o->probs[i] == -7.0f);
        assert_true(o->logits[i] == -7.0f);
    }
    assert_int_equal(o->top, -7);
}

/* ------------------------------------------------------------ library */

static void test_version(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", COVIDCAM_VERSION_MAJOR, COVIDCAM_VERSION_MINOR,
             COVIDCAM_VERSION_PATCH);
    assert_non_null(covidcam_version());
    assert_string_equal(covidcam_version(), want);
}

static void test_status_strings(void **state)
{
    (void)state;
    const covidcam_status all[] = {COVIDCAM_OK,
                                   COVIDCAM_ERR_INVALID_ARGUMENT,
                                   COVIDCAM_ERR_IO,
                                   COVIDCAM_ERR_BAD_FORMAT,
                                   COVIDCAM_ERR_UNSUPPORTED,
                                   COVIDCAM_ERR_OUT_OF_MEMORY,
                                   COVIDCAM_ERR_BACKEND,
                                   COVIDCAM_ERR_LIMIT};
    size_t n = sizeof all / sizeof all[0];
    const char *unknown = covidcam_status_string((covidcam_status)99);
    assert_non_null(unknown);
    assert_string_equal(unknown, "unknown status");
    assert_string_equal(covidcam_status_string((covidcam_status)-1), "unknown status");
    for (size_t i = 0; i < n; i++) {
        const char *a = covidcam_status_string(all[i]);
        assert_non_null(a);
        assert_true(strlen(a) > 0);
        assert_string_not_equal(a, unknown);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(a, covidcam_status_string(all[j]));
    }
}

static void test_free_accepts_null(void **state)
{
    (void)state;
    covidcam_model_free(NULL);
    covidcam_session_free(NULL);
    covidcam_session_options_init(NULL);
    covidcam_heatmap_free(NULL);
    covidcam_gradcam_options_init(NULL);
}

static void test_null_model_queries(void **state)
{
    (void)state;
    assert_int_equal(covidcam_model_num_classes(NULL), 0);
    assert_null(covidcam_model_class_name(NULL, 0));
    assert_int_equal(covidcam_model_class_index(NULL, "COVID"), -1);
    assert_int_equal(covidcam_model_input_size(NULL), 0);
    assert_int_equal(covidcam_model_input_channels(NULL), 0);
    assert_null(covidcam_model_arch(NULL));
    assert_null(covidcam_model_metadata(NULL, "format"));
    assert_int_equal(covidcam_model_num_layers(NULL), 0);
    assert_null(covidcam_model_layer_name(NULL, 0));
    assert_null(covidcam_session_model(NULL));
    uint8_t px[4] = {0};
    float t[4];
    assert_int_equal(covidcam_model_preprocess(NULL, px, 2, 2, 2, t, 4),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
}

/* ------------------------------------------------------------ model, session */

static void test_load_null_arguments(void **state)
{
    (void)state;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_model *m = AU_SENTINEL;
    au_assert_status(covidcam_model_load(NULL, &m, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT, err);
    au_assert_contains(err, "path");
    assert_ptr_equal(m, AU_SENTINEL);
    err[0] = '\0';
    au_assert_status(covidcam_model_load(tu_fixture("basic.safetensors"), NULL, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT, err);
    au_assert_contains(err, "out");
    err[0] = '\0';
    au_assert_status(covidcam_model_load_from_memory(NULL, 100, &m, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT, err);
    au_assert_contains(err, "buffer");
    assert_ptr_equal(m, AU_SENTINEL);
    uint8_t b[16] = {0};
    err[0] = '\0';
    au_assert_status(covidcam_model_load_from_memory(b, sizeof b, NULL, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT, err);
    au_assert_contains(err, "out");
}

static void expect_create_fail(const covidcam_model *m, const covidcam_session_options *o,
                               covidcam_status want, const char *needle)
{
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_session *s = AU_SENTINEL;
    au_assert_status(covidcam_session_create(m, o, &s, err, sizeof err), want, err);
    assert_ptr_equal(s, AU_SENTINEL);
    au_assert_contains(err, needle);
    /* errbuf is optional */
    assert_int_equal(covidcam_session_create(m, o, &s, NULL, 0), want);
    assert_ptr_equal(s, AU_SENTINEL);
}

static void test_session_create_arguments(void **state)
{
    fx *f = *state;
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    assert_int_equal(o.struct_size, sizeof o);
    assert_int_equal(o.num_threads, 0);
    assert_int_equal(o.precision, COVIDCAM_PRECISION_FP32);

    expect_create_fail(NULL, &o, COVIDCAM_ERR_INVALID_ARGUMENT, "model");
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    au_assert_status(covidcam_session_create(f->m, &o, NULL, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT, err);
    au_assert_contains(err, "out");

    o.struct_size = 0;
    expect_create_fail(f->m, &o, COVIDCAM_ERR_INVALID_ARGUMENT, "struct_size");
    covidcam_session_options_init(&o);
    o.num_threads = -1;
    expect_create_fail(f->m, &o, COVIDCAM_ERR_INVALID_ARGUMENT, "num_threads");
    covidcam_session_options_init(&o);
    /* bf16 depends on the CPU: tests/api/test_precision.c */
    o.precision = COVIDCAM_PRECISION_INT8;
    expect_create_fail(f->m, &o, COVIDCAM_ERR_UNSUPPORTED, "int8");
    o.precision = (covidcam_precision)42;
    expect_create_fail(f->m, &o, COVIDCAM_ERR_INVALID_ARGUMENT, "42");

    /* NULL options are the defaults */
    covidcam_session *s = NULL;
    au_assert_status(covidcam_session_create(f->m, NULL, &s, err, sizeof err), COVIDCAM_OK, err);
    assert_ptr_equal(covidcam_session_model(s), f->m);
    assert_string_equal(covidcam_session_last_error(s), "");
    covidcam_session_free(s);
}

/* ------------------------------------------------------------ classify */

static void test_null_session(void **state)
{
    (void)state;
    float p[NC], l[NC], t[SIZE * SIZE] = {0};
    uint8_t px[16] = {0};
    int top = -7;
    assert_int_equal(covidcam_classify_file(NULL, tu_fixture("sample_64.png"), p, l, NC, &top),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_classify_png(NULL, px, sizeof px, p, l, NC, &top),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_classify_pixels(NULL, px, 4, 4, 4, p, l, NC, &top),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_classify_tensor(NULL, t, 1, SIZE, SIZE, p, l, NC, &top),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(top, -7);
    covidcam_heatmap *h = AU_SENTINEL;
    assert_int_equal(covidcam_gradcam_file(NULL, tu_fixture("sample_64.png"), NULL, &h),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_gradcam_png(NULL, px, sizeof px, NULL, &h),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_gradcam_pixels(NULL, px, 4, 4, 4, NULL, &h),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_gradcam_tensor(NULL, t, 1, SIZE, SIZE, NULL, &h),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_ptr_equal(h, AU_SENTINEL);
    const char *msg = covidcam_session_last_error(NULL);
    assert_non_null(msg);
    au_assert_contains(msg, "session");
}

/* A valid call, the reference for the others; the message is then "". */
static void classify_ok(covidcam_session *s, float *probs, float *logits, int *top)
{
    covidcam_status st =
        covidcam_classify_file(s, tu_fixture("sample_64.png"), probs, logits, NC, top);
    au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(s));
    assert_string_equal(covidcam_session_last_error(s), "");
}

static void test_capacity(void **state)
{
    fx *f = *state;
    outs o;
    outs_init(&o);
    const char *png = tu_fixture("sample_64.png");
    covidcam_status st = covidcam_classify_file(f->s, png, o.probs, o.logits, NC - 1, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "capacity");
    au_assert_contains(covidcam_session_last_error(f->s), "3 classes");
    outs_untouched(&o);
    st = covidcam_classify_file(f->s, png, NULL, o.logits, 0, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "capacity");
    outs_untouched(&o);

    /* with no arrays, capacity is irrelevant and top alone is computed */
    float logits[NC];
    int want = -1;
    classify_ok(f->s, NULL, logits, &want);
    int best = 0;
    for (int i = 1; i < NC; i++)
        if (logits[i] > logits[best])
            best = i;
    assert_int_equal(want, best);
    int top = -1;
    st = covidcam_classify_file(f->s, png, NULL, NULL, 0, &top);
    au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(f->s));
    assert_int_equal(top, want);
    /* a larger capacity leaves the extra slots alone */
    outs_init(&o);
    st = covidcam_classify_file(f->s, png, o.probs, o.logits, NC + 1, &o.top);
    au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(f->s));
    assert_true(o.probs[NC] == -7.0f && o.logits[NC] == -7.0f);
    assert_int_equal(o.top, want);
}

static void test_tensor_arguments(void **state)
{
    fx *f = *state;
    size_t n = 0;
    float *x = tu_expected("basic.input.0", &n);
    assert_non_null(x);
    assert_int_equal(n, SIZE * SIZE);
    outs o;
    outs_init(&o);
    covidcam_status st;
    st = covidcam_classify_tensor(f->s, NULL, 1, SIZE, SIZE, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "tensor");
    st = covidcam_classify_tensor(f->s, x, 3, SIZE, SIZE, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "3x64x64");
    st = covidcam_classify_tensor(f->s, x, 1, SIZE - 1, SIZE, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "1x63x64");
    st = covidcam_classify_tensor(f->s, x, 1, SIZE, SIZE + 1, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "1x64x65");
    st = covidcam_classify_tensor(f->s, x, 0, 0, 0, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "0x0x0");
    outs_untouched(&o);

    float keep = x[123];
    x[123] = NAN;
    st = covidcam_classify_tensor(f->s, x, 1, SIZE, SIZE, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "element 123");
    x[123] = keep;
    x[SIZE * SIZE - 1] = -INFINITY;
    st = covidcam_classify_tensor(f->s, x, 1, SIZE, SIZE, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "element 4095");
    outs_untouched(&o);
    free(x);
}

static void test_pixel_arguments(void **state)
{
    fx *f = *state;
    outs o;
    outs_init(&o);
    static uint8_t px[COVIDCAM_MAX_IMAGE_DIM];
    covidcam_status st;
    st = covidcam_classify_pixels(f->s, NULL, 4, 4, 4, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "pixels");
    st = covidcam_classify_pixels(f->s, px, 8, 2, 7, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "stride 7");
    st = covidcam_classify_pixels(f->s, px, 0, 0, 0, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "0x0");
    st = covidcam_classify_pixels(f->s, px, -4, 4, 4, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "-4x4");
    st = covidcam_classify_pixels(f->s, px, 4, -4, 4, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "4x-4");
    /* limits are checked before any pixel is read: px is far too small */
    st = covidcam_classify_pixels(f->s, px, COVIDCAM_MAX_IMAGE_DIM + 1, 1,
                                  COVIDCAM_MAX_IMAGE_DIM + 1, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_LIMIT, "16385x1");
    st = covidcam_classify_pixels(f->s, px, 1, 100000, 1, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_LIMIT, "1x100000");
    st = covidcam_classify_pixels(f->s, px, 10000, 10000, 10000, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_LIMIT, "10000x10000");
    st = covidcam_classify_pixels(f->s, px, INT32_MAX, INT32_MAX, SIZE_MAX, o.probs, o.logits,
                                  NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_LIMIT, "2147483647");
    outs_untouched(&o);
    /* the largest allowed side is accepted */
    memset(px, 128, sizeof px);
    st = covidcam_classify_pixels(f->s, px, COVIDCAM_MAX_IMAGE_DIM, 1, COVIDCAM_MAX_IMAGE_DIM,
                                  o.probs, o.logits, NC, &o.top);
    au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(f->s));
    assert_string_equal(covidcam_session_last_error(f->s), "");
}

/* Rows stride bytes apart cannot exist when (height - 1) * stride + width
 * overflows size_t: the library must say so instead of wrapping the row
 * pointer (which reads wild memory). The calls run in a child process (this
 * program re-executed: fork() alone would hang in libgomp) so that a crash
 * fails the test instead of the program. */
#define HUGE_STRIDE (((size_t)1 << (sizeof(size_t) * 8 - 2)) + 1)

/* In the child: 10 + the status of the call (sanitizers exit with 1 on a
 * crash, which must not pass for INVALID_ARGUMENT), 100 on a setup error, 101
 * for INVALID_ARGUMENT with a message that does not mention the stride. */
static int stride_child(const char *which)
{
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    static uint8_t px[64];
    static float t[SIZE * SIZE];
    float l[NC];
    if (covidcam_model_load(tu_fixture("basic.safetensors"), &m, NULL, 0) ||
        covidcam_session_create(m, NULL, &s, NULL, 0))
        return 100;
    int rc;
    if (strcmp(which, "classify") == 0) {
        rc = covidcam_classify_pixels(s, px, 4, 5, HUGE_STRIDE, NULL, l, NC, NULL);
        if (rc == COVIDCAM_ERR_INVALID_ARGUMENT &&
            !strstr(covidcam_session_last_error(s), "stride"))
            rc = 101;
    } else {
        rc = covidcam_model_preprocess(m, px, 4, 5, HUGE_STRIDE, t, SIZE * SIZE);
    }
    covidcam_session_free(s);
    covidcam_model_free(m);
    return rc == 101 ? rc : 10 + rc;
}

static char *self_exe; /* argv[0] */

static int in_child(const char *which)
{
    char flag[] = "--stride-child", arg[32];
    snprintf(arg, sizeof arg, "%s", which);
    char *argv[] = {self_exe, flag, arg, NULL};
    pid_t pid;
    fflush(NULL);
    assert_int_equal(posix_spawn(&pid, self_exe, NULL, NULL, argv, environ), 0);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    if (WIFSIGNALED(ws))
        print_message("%s child died from signal %d\n", which, WTERMSIG(ws));
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static void test_stride_overflow(void **state)
{
    (void)state;
    int want = 10 + COVIDCAM_ERR_INVALID_ARGUMENT;
    int c = in_child("classify"), p = in_child("preprocess");
    if (c != want || p != want)
        fail_msg("stride %zu: child exit codes %d (covidcam_classify_pixels) and %d "
                 "(covidcam_model_preprocess), want %d = 10 + INVALID_ARGUMENT; -1 or 1 = "
                 "crashed, 101 = message without 'stride'",
                 (size_t)HUGE_STRIDE, c, p, want);
}

static void test_png_arguments(void **state)
{
    fx *f = *state;
    outs o;
    outs_init(&o);
    covidcam_status st;
    st = covidcam_classify_png(f->s, NULL, 100, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "PNG");
    const char text[] = "GIF89a this is not a PNG at all, just some bytes";
    st = covidcam_classify_png(f->s, text, sizeof text, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_BAD_FORMAT, "PNG");
    st = covidcam_classify_png(f->s, text, 0, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_BAD_FORMAT, "PNG");

    size_t len = 0;
    uint8_t *png = make_png(0, 0, NULL, 0, &len);
    st = covidcam_classify_png(f->s, png, len, o.probs, o.logits, NC, &o.top);
    /* a side of 0 is malformed, not too large */
    expect_err(f->s, st, COVIDCAM_ERR_BAD_FORMAT, "0x0");
    free(png);
    uint8_t row[3] = {0, 1, 2};
    png = make_png(100000, 100000, row, sizeof row, &len);
    st = covidcam_classify_png(f->s, png, len, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_LIMIT, "100000x100000");
    /* an ancillary chunk declaring more bytes than the file has is refused
     * before libpng allocates its declared length (1.6 GB here) */
    {
        static const uint8_t big_text[] = {
            0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a,                /* signature */
            0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 6, 0, 0, 0, 6, 8, 0, 0, 0, 0,
            0, 0, 0, 0,                                                 /* IHDR, CRC */
            0x60, 0, 0, 0, 't', 'E', 'X', 't', 'k', 'e', 'y', 0};       /* 1.6 GB tEXt */
        st = covidcam_classify_png(f->s, big_text, sizeof big_text, o.probs, o.logits, NC,
                                   &o.top);
        expect_err(f->s, st, COVIDCAM_ERR_BAD_FORMAT, "chunk 'tEXt'");
    }
    free(png);
    outs_untouched(&o);
}

/* The hand-made PNG writer is right (so the LIMIT cases above fail for their
 * dimensions only): a valid 5x3 image classifies like its pixels. */
static void test_handmade_png_matches_pixels(void **state)
{
    fx *f = *state;
    enum { W = 5, H = 3 };
    uint8_t px[H][W], raw[H * (W + 1)];
    for (int y = 0; y < H; y++) {
        raw[y * (W + 1)] = 0; /* filter: none */
        for (int x = 0; x < W; x++)
            raw[y * (W + 1) + 1 + x] = px[y][x] = (uint8_t)(37 * x + 71 * y + 11);
    }
    size_t len = 0;
    uint8_t *png = make_png(W, H, raw, sizeof raw, &len);
    float a[NC], b[NC];
    covidcam_status st = covidcam_classify_png(f->s, png, len, NULL, a, NC, NULL);
    au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(f->s));
    st = covidcam_classify_pixels(f->s, &px[0][0], W, H, W, NULL, b, NC, NULL);
    au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(f->s));
    assert_memory_equal(a, b, sizeof a);

    /* the same PNG cut inside IDAT */
    st = covidcam_classify_png(f->s, png, 33 + 20, NULL, a, NC, NULL);
    expect_err(f->s, st, COVIDCAM_ERR_BAD_FORMAT, "PNG");
    /* and with a flipped pixel byte (IDAT CRC no longer matches) */
    png[33 + 8 + 10] ^= 0x55;
    st = covidcam_classify_png(f->s, png, len, NULL, a, NC, NULL);
    expect_err(f->s, st, COVIDCAM_ERR_BAD_FORMAT, "PNG");
    free(png);
}

static void test_file_arguments(void **state)
{
    fx *f = *state;
    outs o;
    outs_init(&o);
    covidcam_status st;
    st = covidcam_classify_file(f->s, NULL, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "path");
    const char *missing = "/nonexistent-covidcam-dir/xray.png";
    st = covidcam_classify_file(f->s, missing, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_IO, missing);
    const char *dir = tu_fixture("png");
    st = covidcam_classify_file(f->s, dir, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_IO, dir);
    st = covidcam_classify_file(f->s, "/dev/null", o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_IO, "/dev/null");
    /* an 8 GiB file is refused without being read (sparse: no disk used) */
    char *huge = au_sparse_temp((uint64_t)8 << 30);
    st = covidcam_classify_file(f->s, huge, o.probs, o.logits, NC, &o.top);
    unlink(huge);
    if (st != COVIDCAM_ERR_LIMIT && st != COVIDCAM_ERR_BAD_FORMAT)
        au_assert_status(st, COVIDCAM_ERR_LIMIT, covidcam_session_last_error(f->s));
    au_assert_contains(covidcam_session_last_error(f->s), huge);
    free(huge);
    /* a model file is not an image: refused by name, the message names the file */
    const char *model = tu_fixture("basic.safetensors");
    st = covidcam_classify_file(f->s, model, o.probs, o.logits, NC, &o.top);
    expect_err(f->s, st, COVIDCAM_ERR_UNSUPPORTED, "safetensors");
    au_assert_contains(covidcam_session_last_error(f->s), model);
    outs_untouched(&o);
}

/* The message follows the last call: set by a failure, cleared by a success. */
static void test_last_error_follows_calls(void **state)
{
    fx *f = *state;
    float p[NC], l[NC];
    int top;
    assert_string_equal(covidcam_session_last_error(f->s), "");
    covidcam_status st = covidcam_classify_pixels(f->s, NULL, 4, 4, 4, p, l, NC, &top);
    expect_err(f->s, st, COVIDCAM_ERR_INVALID_ARGUMENT, "pixels");
    classify_ok(f->s, p, l, &top);
    st = covidcam_classify_file(f->s, "/nonexistent-covidcam-dir/a.png", p, l, NC, &top);
    expect_err(f->s, st, COVIDCAM_ERR_IO, "a.png");
    st = covidcam_classify_file(f->s, "/nonexistent-covidcam-dir/b.png", p, l, NC, &top);
    expect_err(f->s, st, COVIDCAM_ERR_IO, "b.png");
    assert_null(strstr(covidcam_session_last_error(f->s), "a.png"));
    classify_ok(f->s, p, l, &top);
}

static void test_preprocess_arguments(void **state)
{
    fx *f = *state;
    static uint8_t px[64 * 64];
    static float t[SIZE * SIZE];
    assert_int_equal(covidcam_model_preprocess(f->m, NULL, 8, 8, 8, t, SIZE * SIZE),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_model_preprocess(f->m, px, 8, 8, 8, NULL, SIZE * SIZE),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_model_preprocess(f->m, px, 8, 8, 7, t, SIZE * SIZE),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_model_preprocess(f->m, px, 0, 8, 8, t, SIZE * SIZE),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_model_preprocess(f->m, px, 8, 8, 8, t, SIZE * SIZE - 1),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_model_preprocess(f->m, px, 20000, 1, 20000, t, SIZE * SIZE),
                     COVIDCAM_ERR_LIMIT);
    /* an image of the input size is only normalized: (v - 129.5) / 61.25 */
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 7);
    assert_int_equal(covidcam_model_preprocess(f->m, px, 64, 64, 64, t, SIZE * SIZE),
                     COVIDCAM_OK);
    for (size_t i = 0; i < sizeof px; i++)
        assert_true(fabs(t[i] - (px[i] - 129.5) / 61.25) < 1e-6);
}

/* The errbuf variant names the culprit of every refusal and clears it on success. */
static void test_preprocess_errbuf(void **state)
{
    fx *f = *state;
    static uint8_t px[64 * 64];
    static float t[SIZE * SIZE];
    char err[COVIDCAM_ERRBUF_SIZE];
    static const struct {
        int null_px, w, h;
        size_t stride, len;
        covidcam_status want;
        const char *needle;
    } cases[] = {
        {1, 8, 8, 8, SIZE * SIZE, COVIDCAM_ERR_INVALID_ARGUMENT, "pixels"},
        {0, 8, 8, 7, SIZE * SIZE, COVIDCAM_ERR_INVALID_ARGUMENT, "stride 7"},
        {0, 0, 8, 8, SIZE * SIZE, COVIDCAM_ERR_INVALID_ARGUMENT, "0x8"},
        {0, 8, 8, 8, SIZE * SIZE - 1, COVIDCAM_ERR_INVALID_ARGUMENT, "tensor_len"},
        {0, 20000, 1, 20000, SIZE * SIZE, COVIDCAM_ERR_LIMIT, "20000x1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        strcpy(err, "unchanged");
        covidcam_status st = covidcam_model_preprocess_errbuf(
            f->m, cases[i].null_px ? NULL : px, cases[i].w, cases[i].h, cases[i].stride, t,
            cases[i].len, err, sizeof err);
        au_assert_status(st, cases[i].want, err);
        au_assert_contains(err, cases[i].needle);
        /* same verdict as the plain function */
        assert_int_equal(covidcam_model_preprocess(f->m, cases[i].null_px ? NULL : px,
                                                   cases[i].w, cases[i].h, cases[i].stride, t,
                                                   cases[i].len),
                         st);
    }
    assert_int_equal(covidcam_model_preprocess_errbuf(NULL, px, 8, 8, 8, t, SIZE * SIZE, err,
                                                      sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    au_assert_contains(err, "model");
    assert_int_equal(covidcam_model_preprocess_errbuf(f->m, px, 64, 64, 64, t, SIZE * SIZE, err,
                                                      sizeof err),
                     COVIDCAM_OK);
    assert_string_equal(err, "");
    assert_int_equal(covidcam_model_preprocess_errbuf(f->m, px, 64, 64, 64, t, SIZE * SIZE, NULL,
                                                      0),
                     COVIDCAM_OK);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--stride-child") == 0)
        return stride_child(argv[2]);
    self_exe = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_free_accepts_null),
        cmocka_unit_test(test_null_model_queries),
        cmocka_unit_test(test_load_null_arguments),
        cmocka_unit_test_setup_teardown(test_session_create_arguments, setup, teardown),
        cmocka_unit_test(test_null_session),
        cmocka_unit_test_setup_teardown(test_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tensor_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pixel_arguments, setup, teardown),
        cmocka_unit_test(test_stride_overflow),
        cmocka_unit_test_setup_teardown(test_png_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handmade_png_matches_pixels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_error_follows_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preprocess_errbuf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preprocess_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
