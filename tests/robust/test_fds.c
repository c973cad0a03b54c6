/* No descriptor outlives a call: loads, classifications, Grad-CAM and the
 * PNG writers, failing and succeeding, repeated, leave /proc/self/fd as it
 * was. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "covidcam.h"
#include "rb_files.h"
#include "rb_model.h"
#include "rb_png.h"

#define ROUNDS 20

typedef struct fx {
    char *model, *bad_model, *png, *bad_png, *out, *sparse;
    covidcam_model *m;
    covidcam_session *s;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    rb_model_spec spec = rb_model_default();
    size_t len, plen;
    uint8_t *b = rb_model_build(&spec, &len);
    uint8_t *png = rb_png_gray(30, 20, 2, NULL, &plen);
    if (!b || !png)
        return -1;
    f->model = rb_temp_file("fd-model", b, len);
    f->bad_model = rb_temp_file("fd-badmodel", b, len / 2); /* truncated */
    f->png = rb_temp_file("fd-png", png, plen);
    f->bad_png = rb_temp_file("fd-badpng", png, plen - 20);
    f->out = rb_temp_file("fd-out", "", 0);
    f->sparse = rb_temp_file("fd-sparse", "", 0);
    free(b);
    free(png);
    if (!f->model || !f->bad_model || !f->png || !f->bad_png || !f->out || !f->sparse)
        return -1;
    /* a "PNG" of 1 GiB + 1 bytes: refused by size before it is read */
    int fd = open(f->sparse, O_WRONLY);
    if (fd < 0 || ftruncate(fd, ((off_t)1 << 30) + 1) != 0)
        return -1;
    close(fd);
    if (covidcam_model_load(f->model, &f->m, NULL, 0) != COVIDCAM_OK)
        return -1;
    if (covidcam_session_create(f->m, NULL, &f->s, NULL, 0) != COVIDCAM_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    covidcam_session_free(f->s);
    covidcam_model_free(f->m);
    char *paths[] = {f->model, f->bad_model, f->png, f->bad_png, f->out, f->sparse};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        unlink(paths[i]);
        free(paths[i]);
    }
    free(f);
    return 0;
}

static void loads(fx *f)
{
    /* a PNG's signature read as a header length is far above the limit */
    const char *paths[] = {f->model, f->bad_model, f->png, "/nonexistent/model", "/tmp"};
    const covidcam_status want[] = {COVIDCAM_OK, COVIDCAM_ERR_BAD_FORMAT, COVIDCAM_ERR_LIMIT,
                                    COVIDCAM_ERR_IO, COVIDCAM_ERR_IO};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        covidcam_model *m = NULL;
        char err[COVIDCAM_ERRBUF_SIZE] = "";
        covidcam_status st = covidcam_model_load(paths[i], &m, err, sizeof err);
        if (st != want[i])
            fail_msg("model_load %s: %s (%s)", paths[i], covidcam_status_string(st), err);
        covidcam_model_free(m);
    }
}

static void images(fx *f)
{
    const char *paths[] = {f->png, f->bad_png, f->model, "/nonexistent.png", "/tmp", f->sparse};
    /* a model file is recognised and named ("looks like a safetensors file") */
    const covidcam_status want[] = {COVIDCAM_OK, COVIDCAM_ERR_BAD_FORMAT, COVIDCAM_ERR_UNSUPPORTED,
                                    COVIDCAM_ERR_IO, COVIDCAM_ERR_IO, COVIDCAM_ERR_LIMIT};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        float p[3];
        covidcam_status st = covidcam_classify_file(f->s, paths[i], p, NULL, 3, NULL);
        if (st != want[i])
            fail_msg("classify_file %s: %s (%s)", paths[i], covidcam_status_string(st),
                     covidcam_session_last_error(f->s));
        covidcam_heatmap *h = NULL;
        st = covidcam_gradcam_file(f->s, paths[i], NULL, &h);
        assert_int_equal(st, want[i]);
        if (h) {
            assert_int_equal(covidcam_heatmap_write_overlay(h, f->out, 0.5f, NULL, 0),
                             COVIDCAM_OK);
            assert_int_equal(covidcam_heatmap_write_colormap(h, f->out, NULL, 0), COVIDCAM_OK);
            assert_int_equal(covidcam_heatmap_write_overlay(h, "/nonexistent/x.png", 0.5f, NULL,
                                                            0),
                             COVIDCAM_ERR_IO);
            assert_int_equal(covidcam_heatmap_write_colormap(h, "/tmp", NULL, 0),
                             COVIDCAM_ERR_IO);
        }
        covidcam_heatmap_free(h);
    }
}

static void test_no_descriptor_leaks(void **state)
{
    fx *f = *state;
    loads(f); /* warm-up: lazily opened runtime files (oneDNN, OpenMP) */
    images(f);
    int before = rb_count_fds();
    assert_true(before > 0);
    for (int r = 0; r < ROUNDS; r++) {
        loads(f);
        images(f);
    }
    int after = rb_count_fds();
    if (after != before)
        fail_msg("%d descriptors before %d rounds, %d after", before, ROUNDS, after);
}

/* The session survives every failure above: a clean call still works. */
static void test_session_still_works(void **state)
{
    fx *f = *state;
    float a[3], b[3];
    assert_int_equal(covidcam_classify_file(f->s, f->png, a, NULL, 3, NULL), COVIDCAM_OK);
    covidcam_session *fresh = NULL;
    assert_int_equal(covidcam_session_create(f->m, NULL, &fresh, NULL, 0), COVIDCAM_OK);
    assert_int_equal(covidcam_classify_file(fresh, f->png, b, NULL, 3, NULL), COVIDCAM_OK);
    covidcam_session_free(fresh);
    for (int i = 0; i < 3; i++)
        assert_float_equal(a[i], b[i], 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_descriptor_leaks),
        cmocka_unit_test(test_session_still_works),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
