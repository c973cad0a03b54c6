/* The COVIDCAM_MAX_* limits (include/covidcam.h, docs/security.md): each is
 * accepted at the boundary and refused just above it with COVIDCAM_ERR_LIMIT,
 * and refusals of untrusted sizes happen before the memory they would need
 * is requested (the allocation wrapper records the largest request). */
#include <fcntl.h>
#include <sys/mman.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc_wrap.h"
#include "covidcam.h"
#include "rb_files.h"
#include "rb_model.h"
#include "rb_png.h"

/* A refusal may allocate small bookkeeping, never anything image- or
 * model-sized. */
#define SMALL ((size_t)64 << 10)

typedef struct fx {
    covidcam_model *m;
    covidcam_session *s;
} fx;

static covidcam_model *load_spec(const rb_model_spec *spec, covidcam_status *st, char *err)
{
    size_t len = 0;
    uint8_t *b = rb_model_build(spec, &len);
    assert_non_null(b);
    covidcam_model *m = NULL;
    *st = covidcam_model_load_from_memory(b, len, &m, err, COVIDCAM_ERRBUF_SIZE);
    free(b);
    return m;
}

static covidcam_session *session1(const covidcam_model *m)
{
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = 1;
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    if (covidcam_session_create(m, &o, &s, err, sizeof err) != COVIDCAM_OK)
        fail_msg("session: %s", err);
    return s;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    rb_model_spec spec = rb_model_default();
    covidcam_status st;
    char err[COVIDCAM_ERRBUF_SIZE];
    f->m = load_spec(&spec, &st, err);
    if (st != COVIDCAM_OK)
        return -1;
    f->s = session1(f->m);
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

static void expect_status(covidcam_status got, covidcam_status want, const char *what,
                          const char *msg)
{
    if (got != want)
        fail_msg("%s: got '%s', expected '%s' (%s)", what, covidcam_status_string(got),
                 covidcam_status_string(want), msg);
}

/* ------------------------------------------------------------------ PNG */

/* Classify a PNG claiming w x h; returns the status and checks the largest
 * allocation stayed below `max_request`. */
static covidcam_status classify_claim(fx *f, uint32_t w, uint32_t h, size_t total,
                                      size_t max_request)
{
    uint8_t *png = rb_png_claim(w, h, total);
    assert_non_null(png);
    float p[3];
    aw_arm(0);
    covidcam_status st = covidcam_classify_png(f->s, png, total, p, NULL, 3, NULL);
    aw_disarm();
    if (max_request && aw_peak_request() > max_request)
        fail_msg("%ux%u: a %zu-byte allocation was requested before the image was refused", w,
                 h, aw_peak_request());
    free(png);
    return st;
}

/* The decompression bomb: 1 KB claiming 100000 x 100000. */
static void test_png_bomb(void **state)
{
    fx *f = *state;
    covidcam_status st = classify_claim(f, 100000, 100000, 1024, SMALL);
    expect_status(st, COVIDCAM_ERR_LIMIT, "100000x100000", covidcam_session_last_error(f->s));
    assert_non_null(strstr(covidcam_session_last_error(f->s), "100000x100000"));
    uint8_t *png = rb_png_claim(100000, 100000, 1024);
    covidcam_heatmap *h = NULL;
    aw_arm(0);
    st = covidcam_gradcam_png(f->s, png, 1024, NULL, &h);
    aw_disarm();
    free(png);
    expect_status(st, COVIDCAM_ERR_LIMIT, "gradcam 100000x100000",
                  covidcam_session_last_error(f->s));
    assert_null(h);
    assert_true(aw_peak_request() <= SMALL);
}

static void test_png_side_limit(void **state)
{
    fx *f = *state;
    const uint32_t M = COVIDCAM_MAX_IMAGE_DIM;
    expect_status(classify_claim(f, M + 1, 1, 1024, SMALL), COVIDCAM_ERR_LIMIT, "width + 1",
                  covidcam_session_last_error(f->s));
    expect_status(classify_claim(f, 1, M + 1, 1024, SMALL), COVIDCAM_ERR_LIMIT, "height + 1",
                  covidcam_session_last_error(f->s));
    /* a real image at the largest side decodes and classifies */
    size_t len;
    uint8_t *png = rb_png_gray((int)M, 1, 5, NULL, &len);
    float p[3];
    expect_status(covidcam_classify_png(f->s, png, len, p, NULL, 3, NULL), COVIDCAM_OK,
                  "width = limit", covidcam_session_last_error(f->s));
    free(png);
    png = rb_png_gray(1, (int)M, 5, NULL, &len);
    expect_status(covidcam_classify_png(f->s, png, len, p, NULL, 3, NULL), COVIDCAM_OK,
                  "height = limit", covidcam_session_last_error(f->s));
    free(png);
}

static void test_png_pixel_limit(void **state)
{
    fx *f = *state;
    /* 8192 x 8192 and 16384 x 4096 are exactly COVIDCAM_MAX_IMAGE_PIXELS */
    assert_int_equal((uint64_t)8192 * 8192, COVIDCAM_MAX_IMAGE_PIXELS);
    expect_status(classify_claim(f, 8192, 8193, 4096, SMALL), COVIDCAM_ERR_LIMIT, "8192x8193",
                  covidcam_session_last_error(f->s));
    expect_status(classify_claim(f, 16384, 4097, 4096, SMALL), COVIDCAM_ERR_LIMIT, "16384x4097",
                  covidcam_session_last_error(f->s));
    /* At the limit the size is accepted: the truncated stream is what fails. */
    expect_status(classify_claim(f, 8192, 8192, 4096, 0), COVIDCAM_ERR_BAD_FORMAT, "8192x8192",
                  covidcam_session_last_error(f->s));
    expect_status(classify_claim(f, 16384, 4096, 4096, 0), COVIDCAM_ERR_BAD_FORMAT,
                  "16384x4096", covidcam_session_last_error(f->s));
}

/* Pixels handed over directly go through the same limits, checked before a
 * byte is read (the buffers are exactly as large as claimed, so a missing
 * check would still not read out of bounds). */
static void test_pixels_limits(void **state)
{
    fx *f = *state;
    const size_t M = COVIDCAM_MAX_IMAGE_DIM;
    uint8_t *px = calloc(M * 4097, 1);
    float t[32 * 32], p[3];
    covidcam_heatmap *h = NULL;
    assert_non_null(px);
    expect_status(covidcam_classify_pixels(f->s, px, (int)M + 1, 1, M + 1, p, NULL, 3, NULL),
                  COVIDCAM_ERR_LIMIT, "classify width + 1", "");
    expect_status(covidcam_gradcam_pixels(f->s, px, 1, (int)M + 1, 1, NULL, &h),
                  COVIDCAM_ERR_LIMIT, "gradcam height + 1", "");
    expect_status(covidcam_model_preprocess(f->m, px, (int)M, 4097, M, t, 32 * 32),
                  COVIDCAM_ERR_LIMIT, "preprocess 16384x4097", "");
    expect_status(covidcam_classify_pixels(f->s, px, (int)M, 4097, M, p, NULL, 3, NULL),
                  COVIDCAM_ERR_LIMIT, "classify 16384x4097", "");
    assert_null(h);
    expect_status(covidcam_classify_pixels(f->s, px, (int)M, 4096, M, p, NULL, 3, NULL),
                  COVIDCAM_OK, "classify 16384x4096", covidcam_session_last_error(f->s));
    expect_status(covidcam_model_preprocess(f->m, px, (int)M, 4096, M, t, 32 * 32), COVIDCAM_OK,
                  "preprocess 16384x4096", "");
    free(px);
}

/* Rendering sizes are caller-supplied: the same limits, INVALID_ARGUMENT as
 * documented, refused before the output buffer is touched. */
static void test_render_limits(void **state)
{
    fx *f = *state;
    size_t len;
    uint8_t *png = rb_png_gray(40, 40, 1, NULL, &len);
    covidcam_heatmap *h = NULL;
    assert_int_equal(covidcam_gradcam_png(f->s, png, len, NULL, &h), COVIDCAM_OK);
    free(png);
    float out[4];
    uint8_t rgb[12], gray[4] = {0};
    const int M = (int)COVIDCAM_MAX_IMAGE_DIM;
    aw_arm(0);
    expect_status(covidcam_heatmap_resize(h, M + 1, 1, out), COVIDCAM_ERR_INVALID_ARGUMENT,
                  "resize", "");
    expect_status(covidcam_heatmap_colormap(h, 8193, 8192, rgb), COVIDCAM_ERR_INVALID_ARGUMENT,
                  "colormap", "");
    expect_status(covidcam_heatmap_overlay(h, gray, 1, M + 1, 1, 0.5f, rgb),
                  COVIDCAM_ERR_INVALID_ARGUMENT, "overlay", "");
    aw_disarm();
    assert_int_equal(aw_count(), 0);
    expect_status(covidcam_heatmap_resize(h, 2, 2, out), COVIDCAM_OK, "resize 2x2", "");
    covidcam_heatmap_free(h);
}

/* The message of a failed render call must contain `needle`. */
static void expect_msg(covidcam_status got, const char *msg, const char *needle, const char *what)
{
    expect_status(got, COVIDCAM_ERR_INVALID_ARGUMENT, what, msg);
    if (!strstr(msg, needle))
        fail_msg("%s: message '%s' does not name '%s'", what, msg, needle);
}

/* The _errbuf twins of the renderers: the same outputs byte for byte, "" on
 * success, and a message naming the culprit for each kind of bad argument and
 * for a failed allocation. */
static void test_render_errbuf(void **state)
{
    fx *f = *state;
    size_t len;
    uint8_t *png = rb_png_gray(40, 40, 1, NULL, &len);
    covidcam_heatmap *h = NULL;
    assert_int_equal(covidcam_gradcam_png(f->s, png, len, NULL, &h), COVIDCAM_OK);
    free(png);
    enum { W = 5, H = 3 };
    float out[W * H], out2[W * H];
    uint8_t rgb[3 * W * H], rgb2[3 * W * H], gray[2 * W * H];
    for (size_t i = 0; i < sizeof gray; i++)
        gray[i] = (uint8_t)(i * 37);
    char err[COVIDCAM_ERRBUF_SIZE] = "stale";

    assert_int_equal(covidcam_heatmap_resize(h, W, H, out), COVIDCAM_OK);
    assert_int_equal(covidcam_heatmap_resize_errbuf(h, W, H, out2, err, sizeof err), COVIDCAM_OK);
    assert_string_equal(err, "");
    assert_memory_equal(out, out2, sizeof out);
    assert_int_equal(covidcam_heatmap_colormap(h, W, H, rgb), COVIDCAM_OK);
    assert_int_equal(covidcam_heatmap_colormap_errbuf(h, W, H, rgb2, err, sizeof err),
                     COVIDCAM_OK);
    assert_memory_equal(rgb, rgb2, sizeof rgb);
    assert_int_equal(covidcam_heatmap_overlay(h, gray, W, H, 2 * W, 0.3f, rgb), COVIDCAM_OK);
    assert_int_equal(
        covidcam_heatmap_overlay_errbuf(h, gray, W, H, 2 * W, 0.3f, rgb2, err, sizeof err),
        COVIDCAM_OK);
    assert_memory_equal(rgb, rgb2, sizeof rgb);

    expect_msg(covidcam_heatmap_resize_errbuf(NULL, W, H, out, err, sizeof err), err, "heatmap",
               "resize NULL heatmap");
    expect_msg(covidcam_heatmap_resize_errbuf(h, W, H, NULL, err, sizeof err), err, "out",
               "resize NULL out");
    expect_msg(covidcam_heatmap_resize_errbuf(h, 0, H, out, err, sizeof err), err, "0 x 3",
               "resize 0 wide");
    expect_msg(covidcam_heatmap_colormap_errbuf(h, 8193, 8192, rgb, err, sizeof err), err,
               "8193 x 8192", "colormap over the pixel limit");
    expect_msg(covidcam_heatmap_colormap_errbuf(h, W, H, NULL, err, sizeof err), err, "rgb",
               "colormap NULL rgb");
    expect_msg(covidcam_heatmap_overlay_errbuf(h, NULL, W, H, W, 0.5f, rgb, err, sizeof err), err,
               "gray", "overlay NULL gray");
    expect_msg(covidcam_heatmap_overlay_errbuf(h, gray, W, H, W - 1, 0.5f, rgb, err, sizeof err),
               err, "stride 4", "overlay short stride");
    expect_msg(covidcam_heatmap_overlay_errbuf(h, gray, W, H, W, 1.5f, rgb, err, sizeof err), err,
               "image_weight 1.5", "overlay weight");
    /* a NULL errbuf is allowed */
    assert_int_equal(covidcam_heatmap_resize_errbuf(h, 0, H, out, NULL, 0),
                     COVIDCAM_ERR_INVALID_ARGUMENT);

    /* the first allocation of each renderer fails: OUT_OF_MEMORY, named, nothing leaked */
    aw_arm(1);
    covidcam_status st = covidcam_heatmap_colormap_errbuf(h, W, H, rgb, err, sizeof err);
    long live = aw_live();
    aw_disarm();
    expect_status(st, COVIDCAM_ERR_OUT_OF_MEMORY, "colormap, allocation 1 fails", err);
    assert_non_null(strstr(err, "out of memory"));
    assert_int_equal(live, 0);
    aw_arm(2);
    st = covidcam_heatmap_overlay_errbuf(h, gray, W, H, 2 * W, 0.5f, rgb, err, sizeof err);
    live = aw_live();
    aw_disarm();
    expect_status(st, COVIDCAM_ERR_OUT_OF_MEMORY, "overlay, allocation 2 fails", err);
    assert_non_null(strstr(err, "5 x 3 overlay"));
    assert_int_equal(live, 0);
    covidcam_heatmap_free(h);
}

/* ------------------------------------------------------------------ models */

static covidcam_status load_bytes(const uint8_t *b, size_t len, char *err, size_t max_request)
{
    covidcam_model *m = NULL;
    aw_arm(0);
    covidcam_status st = covidcam_model_load_from_memory(b, len, &m, err, COVIDCAM_ERRBUF_SIZE);
    aw_disarm();
    if (max_request && aw_peak_request() > max_request)
        fail_msg("a %zu-byte allocation was requested (%s)", aw_peak_request(), err);
    covidcam_model_free(m);
    return st;
}

static void test_header_limit(void **state)
{
    (void)state;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    /* 8 bytes claiming a header one byte over the limit: refused from the
     * length alone */
    uint8_t claim[8];
    uint64_t n = (uint64_t)COVIDCAM_MAX_HEADER_BYTES + 1;
    for (int i = 0; i < 8; i++)
        claim[i] = (uint8_t)(n >> (8 * i));
    expect_status(load_bytes(claim, 8, err, SMALL), COVIDCAM_ERR_LIMIT, "header + 1", err);

    /* a valid model whose header is padded to exactly the limit loads */
    rb_model_spec spec = rb_model_default();
    size_t len = 0;
    uint8_t *b = rb_model_build(&spec, &len);
    uint64_t h0 = 0;
    for (int i = 7; i >= 0; i--)
        h0 = h0 << 8 | b[i];
    free(b);
    spec.pad_header = (int)(COVIDCAM_MAX_HEADER_BYTES - h0);
    b = rb_model_build(&spec, &len);
    uint64_t h1 = 0;
    for (int i = 7; i >= 0; i--)
        h1 = h1 << 8 | b[i];
    assert_int_equal(h1, COVIDCAM_MAX_HEADER_BYTES);
    expect_status(load_bytes(b, len, err, 0), COVIDCAM_OK, "header = limit", err);
    free(b);
    spec.pad_header += 8;
    b = rb_model_build(&spec, &len);
    expect_status(load_bytes(b, len, err, 0), COVIDCAM_ERR_LIMIT, "header = limit + 8", err);
    free(b);
}

static void test_tensor_count_limit(void **state)
{
    (void)state;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    size_t len;
    /* at the limit the count is accepted: the names are what is wrong */
    uint8_t *b = rb_model_many_tensors(COVIDCAM_MAX_TENSORS, 1, &len);
    expect_status(load_bytes(b, len, err, 0), COVIDCAM_ERR_BAD_FORMAT, "4096 tensors", err);
    free(b);
    b = rb_model_many_tensors(COVIDCAM_MAX_TENSORS + 1, 1, &len);
    expect_status(load_bytes(b, len, err, 0), COVIDCAM_ERR_LIMIT, "4097 tensors + metadata",
                  err);
    free(b);
    /* without __metadata__ the limit is the same number of tensors */
    b = rb_model_many_tensors(COVIDCAM_MAX_TENSORS, 0, &len);
    expect_status(load_bytes(b, len, err, 0), COVIDCAM_ERR_BAD_FORMAT, "4096 tensors, no metadata",
                  err);
    free(b);
    b = rb_model_many_tensors(COVIDCAM_MAX_TENSORS + 1, 0, &len);
    expect_status(load_bytes(b, len, err, 0), COVIDCAM_ERR_LIMIT, "4097 tensors, no metadata",
                  err);
    free(b);
}

static void test_class_limit(void **state)
{
    (void)state;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    rb_model_spec spec = rb_model_default();
    spec.num_classes = (int)COVIDCAM_MAX_CLASSES;
    covidcam_status st;
    covidcam_model *m = load_spec(&spec, &st, err);
    expect_status(st, COVIDCAM_OK, "1000 classes", err);
    assert_int_equal(covidcam_model_num_classes(m), COVIDCAM_MAX_CLASSES);
    assert_string_equal(covidcam_model_class_name(m, 999), "c999");
    covidcam_session *s = session1(m);
    static float probs[COVIDCAM_MAX_CLASSES];
    uint8_t px[16 * 16];
    memset(px, 99, sizeof px);
    int top = -1;
    expect_status(covidcam_classify_pixels(s, px, 16, 16, 16, probs, NULL, COVIDCAM_MAX_CLASSES,
                                           &top),
                  COVIDCAM_OK, "classify 1000 classes", covidcam_session_last_error(s));
    double sum = 0;
    for (unsigned i = 0; i < COVIDCAM_MAX_CLASSES; i++) {
        sum += probs[i];
        assert_true(probs[i] <= probs[top]);
    }
    assert_true(sum > 0.999 && sum < 1.001);
    covidcam_session_free(s);
    covidcam_model_free(m);
    spec.num_classes++;
    m = load_spec(&spec, &st, err);
    expect_status(st, COVIDCAM_ERR_LIMIT, "1001 classes", err);
    assert_null(m);
}

static void test_input_size_boundary(void **state)
{
    (void)state;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    rb_model_spec spec = rb_model_default();
    spec.input_size = (int)COVIDCAM_MAX_INPUT_SIZE;
    spec.stem_width = 1;
    spec.widths = "[1,1]";
    covidcam_status st;
    covidcam_model *m = load_spec(&spec, &st, err);
    expect_status(st, COVIDCAM_OK, "input_size 1024", err);
    covidcam_session *s = session1(m);
    uint8_t px[64];
    memset(px, 7, sizeof px);
    float p[3];
    expect_status(covidcam_classify_pixels(s, px, 8, 8, 8, p, NULL, 3, NULL), COVIDCAM_OK,
                  "classify at input_size 1024", covidcam_session_last_error(s));
    covidcam_session_free(s);
    covidcam_model_free(m);
    spec.input_size++;
    m = load_spec(&spec, &st, err);
    expect_status(st, COVIDCAM_ERR_LIMIT, "input_size 1025", err);
    assert_null(m);
}

/* max_batch times one image's activations against COVIDCAM_MAX_SESSION_BYTES:
 * at input_size 1024 one image needs tens of MiB, so 256 of them are refused
 * before anything is allocated, naming the option; 2 of them work. */
static void test_batch_memory_limit(void **state)
{
    (void)state;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    rb_model_spec spec = rb_model_default();
    spec.input_size = (int)COVIDCAM_MAX_INPUT_SIZE;
    spec.stem_width = 16;
    spec.widths = "[16,16]";
    covidcam_status st;
    covidcam_model *m = load_spec(&spec, &st, err);
    expect_status(st, COVIDCAM_OK, "input_size 1024, stem 16", err);
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = 1;
    o.max_batch = COVIDCAM_MAX_BATCH;
    covidcam_session *s = NULL;
    expect_status(covidcam_session_create(m, &o, &s, err, sizeof err), COVIDCAM_ERR_LIMIT,
                  "max_batch 256 at 1024 px", err);
    assert_null(s);
    assert_non_null(strstr(err, "options.max_batch 256 needs about"));
    o.max_batch = 2;
    expect_status(covidcam_session_create(m, &o, &s, err, sizeof err), COVIDCAM_OK,
                  "max_batch 2 at 1024 px", err);
    covidcam_session_free(s);
    covidcam_model_free(m);
}

/* A buffer one byte over COVIDCAM_MAX_MODEL_BYTES is refused from its length.
 * The buffer is real (a lazily mapped, never touched anonymous mapping), so a
 * missing check would read zeros, not wild memory. */
static void test_model_memory_limit(void **state)
{
    (void)state;
    size_t len = (size_t)COVIDCAM_MAX_MODEL_BYTES + 1;
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        skip(); /* no 4 GiB of address space (e.g. a 32-bit or limited run) */
        return;
    }
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    expect_status(load_bytes(p, len, err, SMALL), COVIDCAM_ERR_LIMIT, "4 GiB + 1 buffer", err);
    munmap(p, len);
}

/* A sparse file one byte over COVIDCAM_MAX_MODEL_BYTES is refused from its
 * size, without being read. */
static void test_model_file_limit(void **state)
{
    (void)state;
    char *path = rb_temp_file("huge", "", 0);
    assert_non_null(path);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    int sparse = ftruncate(fd, (off_t)COVIDCAM_MAX_MODEL_BYTES + 1) == 0;
    close(fd);
    if (!sparse) {
        unlink(path);
        free(path);
        skip(); /* the temporary file system does not do sparse files this large */
        return;
    }
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_model *m = NULL;
    aw_arm(0);
    covidcam_status st = covidcam_model_load(path, &m, err, sizeof err);
    aw_disarm();
    unlink(path);
    free(path);
    expect_status(st, COVIDCAM_ERR_LIMIT, "4 GiB + 1 file", err);
    assert_true(aw_peak_request() <= SMALL);
    assert_null(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_bomb),          cmocka_unit_test(test_png_side_limit),
        cmocka_unit_test(test_png_pixel_limit),   cmocka_unit_test(test_pixels_limits),
        cmocka_unit_test(test_render_limits),     cmocka_unit_test(test_render_errbuf),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_tensor_count_limit), cmocka_unit_test(test_class_limit),
        cmocka_unit_test(test_input_size_boundary), cmocka_unit_test(test_batch_memory_limit),
        cmocka_unit_test(test_model_memory_limit),
        cmocka_unit_test(test_model_file_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
