/* The public image API: every format through covidcam_classify_file/_image and
 * covidcam_gradcam_file/_image, format recognised from the bytes whatever the
 * file name, covidcam_session_image_info / covidcam_heatmap_image_info /
 * covidcam_image_probe(_file). Results are compared with classify_pixels on
 * PIL's decode of the same JPEG (tests/fixtures/jpeg). */
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
#include "covidcam_config.h"
#include "test_util.h"

typedef struct fx {
    covidcam_model *m;
    covidcam_session *s;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    char err[COVIDCAM_ERRBUF_SIZE];
    if (covidcam_model_load(tu_fixture("basic.safetensors"), &f->m, err, sizeof err) ||
        covidcam_session_create(f->m, NULL, &f->s, err, sizeof err)) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
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

static uint8_t *fixture(const char *rel, size_t *len)
{
    uint8_t *d = tu_read_file(tu_fixture(rel), len);
    if (!d)
        fail_msg("missing fixture %s", rel);
    return d;
}

static void info_of(covidcam_session *s, covidcam_image_info *info)
{
    covidcam_image_info_init(info);
    assert_int_equal(covidcam_session_image_info(s, info), COVIDCAM_OK);
}

static void test_jpeg_equals_pixels(void **state)
{
    fx *f = *state;
    size_t len, glen;
    uint8_t *jpg = fixture("jpeg/exif_o6.jpg", &len);
    uint8_t *gray = fixture("jpeg/exif_o6.pil.gray", &glen); /* 47 x 61 after rotation */
    assert_int_equal(glen, 47 * 61);
    float a[8], b[8], c[8];
    int nc = covidcam_model_num_classes(f->m);
    assert_int_equal(covidcam_classify_pixels(f->s, gray, 47, 61, 47, a, NULL, 8, NULL),
                     COVIDCAM_OK);
    covidcam_image_info info;
    info_of(f->s, &info);
    assert_int_equal(info.format, COVIDCAM_FORMAT_PIXELS);
    assert_int_equal(info.width, 47);
    assert_int_equal(covidcam_classify_image(f->s, jpg, len, b, NULL, 8, NULL), COVIDCAM_OK);
    info_of(f->s, &info);
    assert_int_equal(info.format, COVIDCAM_FORMAT_JPEG);
    assert_int_equal(info.width, 47);
    assert_int_equal(info.height, 61);
    assert_int_equal(info.orientation, 6);
    assert_string_equal(info.photometric, "GRAY");
    assert_int_equal(covidcam_classify_file(f->s, tu_fixture("jpeg/exif_o6.jpg"), c, NULL, 8,
                                            NULL),
                     COVIDCAM_OK);
    for (int i = 0; i < nc; i++) {
        assert_true(a[i] == b[i]);
        assert_true(a[i] == c[i]);
    }
    /* the _png entry point stays PNG-only */
    assert_int_equal(covidcam_classify_png(f->s, jpg, len, b, NULL, 8, NULL),
                     COVIDCAM_ERR_BAD_FORMAT);
    assert_non_null(strstr(covidcam_session_last_error(f->s), "JPEG"));
    /* ...and a failed call leaves no stale info */
    covidcam_image_info_init(&info);
    assert_int_equal(covidcam_session_image_info(f->s, &info), COVIDCAM_ERR_INVALID_ARGUMENT);
    free(jpg);
    free(gray);
}

/* A JPEG called .png and a PNG called .jpg: the bytes decide. */
static void test_name_does_not_matter(void **state)
{
    fx *f = *state;
    static const struct {
        const char *src, *ext;
        covidcam_image_format want;
    } cases[] = {{"jpeg/gray_q75.jpg", "png", COVIDCAM_FORMAT_JPEG},
                 {"png/rgb8.png", "jpg", COVIDCAM_FORMAT_PNG},
                 {"jpeg/ycc420_q90.jpg", "dcm", COVIDCAM_FORMAT_JPEG}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len;
        uint8_t *d = fixture(cases[i].src, &len);
        char path[96];
        snprintf(path, sizeof path, "/tmp/cc-api-%d-%zu.%s", (int)getpid(), i, cases[i].ext);
        FILE *o = fopen(path, "wb");
        assert_non_null(o);
        assert_int_equal(fwrite(d, 1, len, o), len);
        fclose(o);
        float p1[8], p2[8];
        assert_int_equal(covidcam_classify_file(f->s, path, p1, NULL, 8, NULL), COVIDCAM_OK);
        covidcam_image_info info;
        info_of(f->s, &info);
        assert_int_equal(info.format, cases[i].want);
        assert_int_equal(covidcam_classify_image(f->s, d, len, p2, NULL, 8, NULL), COVIDCAM_OK);
        assert_memory_equal(p1, p2, sizeof(float) * (size_t)covidcam_model_num_classes(f->m));
        /* probe_file says the same without a session */
        covidcam_image_info probe;
        covidcam_image_info_init(&probe);
        assert_int_equal(covidcam_image_probe_file(path, &probe, NULL, 0), COVIDCAM_OK);
        assert_memory_equal(&probe, &info, sizeof info);
        unlink(path);
        free(d);
    }
}

static void test_gradcam_image_info(void **state)
{
    fx *f = *state;
    size_t len;
    uint8_t *d = fixture("jpeg/cmyk_adobe.jpg", &len);
    covidcam_heatmap *h = NULL, *h2 = NULL;
    assert_int_equal(covidcam_gradcam_image(f->s, d, len, NULL, &h), COVIDCAM_OK);
    assert_int_equal(covidcam_gradcam_file(f->s, tu_fixture("png/gray16.png"), NULL, &h2),
                     COVIDCAM_OK);
    /* the heatmap keeps its own input's info after the session moved on */
    covidcam_image_info info;
    covidcam_image_info_init(&info);
    assert_int_equal(covidcam_heatmap_image_info(h, &info), COVIDCAM_OK);
    assert_int_equal(info.format, COVIDCAM_FORMAT_JPEG);
    assert_string_equal(info.photometric, "CMYK");
    assert_int_equal(info.channels, 4);
    assert_int_equal(info.width, covidcam_heatmap_image_width(h));
    assert_int_equal(covidcam_heatmap_image_info(h2, &info), COVIDCAM_OK);
    assert_int_equal(info.format, COVIDCAM_FORMAT_PNG);
    assert_int_equal(info.bits, 16);
    assert_int_equal(covidcam_heatmap_image_info(NULL, &info), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_heatmap_image_info(h, NULL), COVIDCAM_ERR_INVALID_ARGUMENT);
    info.struct_size = 0;
    assert_int_equal(covidcam_heatmap_image_info(h, &info), COVIDCAM_ERR_INVALID_ARGUMENT);
    covidcam_heatmap_free(h);
    covidcam_heatmap_free(h2);
    free(d);
}

static void test_tensor_info(void **state)
{
    fx *f = *state;
    int n = covidcam_model_input_size(f->m), ch = covidcam_model_input_channels(f->m);
    float *t = calloc((size_t)n * n * ch, sizeof *t);
    float p[8];
    assert_int_equal(covidcam_classify_tensor(f->s, t, ch, n, n, p, NULL, 8, NULL), COVIDCAM_OK);
    covidcam_image_info info;
    info_of(f->s, &info);
    assert_int_equal(info.format, COVIDCAM_FORMAT_TENSOR);
    assert_int_equal(info.channels, ch);
    assert_int_equal(info.width, n);
    assert_int_equal(info.bits, 32);
    free(t);
}

static void test_refusals(void **state)
{
    fx *f = *state;
    char dicm[200] = {0};
    memcpy(dicm + 128, "DICM", 4);
    float p[8];
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_image_info info;
    covidcam_image_info_init(&info);
#if COVIDCAM_HAVE_DICOM
    /* recognised as DICOM, refused by the decoder: nothing follows "DICM" */
    const covidcam_status want = COVIDCAM_ERR_BAD_FORMAT;
    const char *why = "no file meta group";
#else
    const covidcam_status want = COVIDCAM_ERR_UNSUPPORTED;
    const char *why = "looks like DICOM";
#endif
    assert_int_equal(covidcam_classify_image(f->s, dicm, sizeof dicm, p, NULL, 8, NULL), want);
    assert_non_null(strstr(covidcam_session_last_error(f->s), why));
    assert_int_equal(covidcam_image_probe(dicm, sizeof dicm, &info, err, sizeof err), want);
    assert_non_null(strstr(err, "DICOM"));
    assert_int_equal(covidcam_image_probe("GIF89a..", 8, &info, err, sizeof err),
                     COVIDCAM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "GIF"));
    assert_int_equal(covidcam_image_probe(NULL, 8, &info, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_image_probe(dicm, 8, NULL, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_image_probe_file(NULL, &info, err, sizeof err),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_classify_image(NULL, dicm, 8, p, NULL, 8, NULL),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(covidcam_classify_image(f->s, NULL, 8, p, NULL, 8, NULL),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    covidcam_heatmap *h = (covidcam_heatmap *)&info;
    assert_int_equal(covidcam_gradcam_image(f->s, "hello", 5, NULL, &h), COVIDCAM_ERR_BAD_FORMAT);
    assert_ptr_equal(h, (covidcam_heatmap *)&info);
    assert_int_equal(covidcam_session_image_info(NULL, &info), COVIDCAM_ERR_INVALID_ARGUMENT);
    /* struct_size too small, or not set: refused, nothing written */
    info.struct_size = 4;
    info.width = -3;
    assert_int_equal(covidcam_image_probe_file(tu_fixture("png/gray8.png"), &info, NULL, 0),
                     COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_int_equal(info.width, -3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_equals_pixels), cmocka_unit_test(test_name_does_not_matter),
        cmocka_unit_test(test_gradcam_image_info), cmocka_unit_test(test_tensor_info),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
