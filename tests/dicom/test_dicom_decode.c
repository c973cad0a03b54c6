/* DICOM decoding to 8-bit gray: every fixture of tests/fixtures/dicom against
 * gray values computed independently by tools/make_dicom_fixtures.py (numpy,
 * from the pixel values each file was built from), the metadata each file
 * carries, every error file's status and message, truncation at every length,
 * and the sniffing rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dicom_io.h"
#include "png_io.h"
#include "test_util.h"

static uint8_t *load(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "dicom/%s", name);
    uint8_t *d = tu_read_file(tu_fixture(rel), len);
    if (!d)
        fail_msg("missing fixture %s (run tools/make_dicom_fixtures.py)", rel);
    return d;
}

static FILE *open_list(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "dicom/%s", name);
    FILE *f = fopen(tu_fixture(rel), "r");
    if (!f)
        fail_msg("missing list %s", rel);
    return f;
}

/* One line of manifest.txt. */
typedef struct expect {
    char name[96], ts[65], photometric[17], modality[17], view[17], body[17];
    int width, height, bits, spp, is_signed, frames, wsrc;
    double center, wwidth, slope, intercept;
} expect;

static void dash_to_empty(char *s)
{
    if (strcmp(s, "-") == 0)
        s[0] = '\0';
}

static int next_expect(FILE *f, expect *x)
{
    int n = fscanf(f, "%95s %d %d %64s %16s %16s %16s %16s %d %d %d %d %d %lf %lf %lf %lf", x->name,
                   &x->width, &x->height, x->ts, x->photometric, x->modality, x->view, x->body, &x->bits,
                   &x->spp, &x->is_signed, &x->frames, &x->wsrc, &x->center, &x->wwidth, &x->slope,
                   &x->intercept);
    if (n == EOF)
        return 0;
    if (n != 17)
        fail_msg("manifest.txt: bad line after %s", x->name);
    dash_to_empty(x->modality);
    dash_to_empty(x->view);
    dash_to_empty(x->body);
    return 1;
}

static void check_meta(const expect *x, const cc_dicom_meta *m)
{
    if (strcmp(m->transfer_syntax, x->ts) || strcmp(m->photometric, x->photometric) ||
        strcmp(m->modality, x->modality) || strcmp(m->view_position, x->view) ||
        strcmp(m->body_part, x->body))
        fail_msg("%s: meta strings ts=%s photometric=%s modality=%s view=%s body=%s, want %s %s %s %s %s",
                 x->name, m->transfer_syntax, m->photometric, m->modality, m->view_position, m->body_part,
                 x->ts, x->photometric, x->modality, x->view, x->body);
    if (m->bits_stored != x->bits || m->samples_per_pixel != x->spp || m->is_signed != x->is_signed ||
        m->frames != x->frames || m->window_source != x->wsrc)
        fail_msg("%s: meta bits=%d spp=%d signed=%d frames=%d window_source=%d, want %d %d %d %d %d",
                 x->name, m->bits_stored, m->samples_per_pixel, m->is_signed, m->frames, m->window_source,
                 x->bits, x->spp, x->is_signed, x->frames, x->wsrc);
    if (m->window_center != x->center || m->window_width != x->wwidth || m->rescale_slope != x->slope ||
        m->rescale_intercept != x->intercept)
        fail_msg("%s: window %.17g/%.17g rescale %.17g/%.17g, want %.17g/%.17g %.17g/%.17g", x->name,
                 m->window_center, m->window_width, m->rescale_slope, m->rescale_intercept, x->center,
                 x->wwidth, x->slope, x->intercept);
}

/* Every decodable fixture: exact pixels and metadata. The references are
 * exact for every file, the lossy JPEG baseline one included (it was decoded
 * by libjpeg-turbo for the reference, and DCMTK's IJG decoder with the
 * default integer IDCT gives the same samples), so the tolerance is 0. */
static void test_decode_all(void **state)
{
    (void)state;
    FILE *f = open_list("manifest.txt");
    expect x;
    int count = 0;
    while (next_expect(f, &x)) {
        char file[128];
        size_t len, glen;
        snprintf(file, sizeof file, "%s.dcm", x.name);
        uint8_t *dcm = load(file, &len);
        snprintf(file, sizeof file, "%s.gray", x.name);
        uint8_t *want = load(file, &glen);
        assert_int_equal(glen, (size_t)x.width * x.height);
        assert_true(cc_dicom_sniff(dcm, len));

        cc_err e = {{0}};
        cc_image img;
        cc_dicom_meta m;
        memset(&m, 0x55, sizeof m);
        covidcam_status st = cc_dicom_decode_gray(dcm, len, &img, &m, &e);
        if (st != COVIDCAM_OK)
            fail_msg("%s: status %d: %s", x.name, st, e.msg);
        if (img.width != x.width || img.height != x.height)
            fail_msg("%s: %dx%d, want %dx%d", x.name, img.width, img.height, x.width, x.height);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < glen; i++)
            if (img.pixels[i] != want[i] && bad++ == 0)
                first = i;
        if (bad)
            fail_msg("%s: %zu of %zu pixels differ, first at %zu: %d, want %d", x.name, bad, glen, first,
                     img.pixels[first], want[first]);
        check_meta(&x, &m);
        cc_image_free(&img);
        free(dcm);
        free(want);
        count++;
    }
    fclose(f);
    assert_true(count >= 25);
}

/* A lossless DICOM made from sample_97x131.png decodes to exactly the PNG's
 * gray pixels, whatever the transfer syntax (the second decoder is libpng). */
static void test_same_as_png(void **state)
{
    (void)state;
    size_t plen;
    uint8_t *png = tu_read_file(tu_fixture("sample_97x131.png"), &plen);
    assert_non_null(png);
    cc_err e = {{0}};
    cc_image ref;
    assert_int_equal(cc_png_decode_gray(png, plen, &ref, &e), COVIDCAM_OK);
    static const char *const files[] = {
        "mono8_explicit_le.dcm", "mono8_implicit_le.dcm", "mono8_deflated.dcm",
        "mono8_jpeg_lossless_sv1.dcm", "mono8_jpeg_lossless.dcm", "mono8_jpegls.dcm",
        "mono8_rle.dcm", "mono8_no_preamble.dcm",
    };
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        size_t len;
        uint8_t *dcm = load(files[k], &len);
        cc_image img;
        covidcam_status st = cc_dicom_decode_gray(dcm, len, &img, NULL, &e);
        if (st != COVIDCAM_OK)
            fail_msg("%s: %s", files[k], e.msg);
        assert_int_equal(img.width, ref.width);
        assert_int_equal(img.height, ref.height);
        if (memcmp(img.pixels, ref.pixels, (size_t)ref.width * ref.height) != 0)
            fail_msg("%s: pixels differ from the PNG's", files[k]);
        cc_image_free(&img);
        free(dcm);
    }
    cc_image_free(&ref);
    free(png);
}

static covidcam_status status_of(const char *s)
{
    static const struct {
        const char *name;
        covidcam_status st;
    } t[] = {{"BAD_FORMAT", COVIDCAM_ERR_BAD_FORMAT},
             {"UNSUPPORTED", COVIDCAM_ERR_UNSUPPORTED},
             {"LIMIT", COVIDCAM_ERR_LIMIT},
             {"OUT_OF_MEMORY", COVIDCAM_ERR_OUT_OF_MEMORY}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(s, t[i].name) == 0)
            return t[i].st;
    fail_msg("errors.txt: unknown status %s", s);
    return COVIDCAM_OK;
}

/* Every error fixture: its status, a message naming the culprit, *out untouched. */
static void test_errors(void **state)
{
    (void)state;
    FILE *f = open_list("errors.txt");
    char line[512];
    int count = 0;
    while (fgets(line, sizeof line, f)) {
        char name[96], status[32];
        int used = 0;
        if (sscanf(line, "%95s %31s %n", name, status, &used) != 2)
            continue;
        char *msg = line + used;
        msg[strcspn(msg, "\n")] = '\0';
        char file[128];
        size_t len;
        snprintf(file, sizeof file, "%s.dcm", name);
        uint8_t *dcm = load(file, &len);
        cc_err e = {{0}};
        cc_image img = {7, 9, (uint8_t *)&img};
        cc_dicom_meta m;
        covidcam_status st = cc_dicom_decode_gray(dcm, len, &img, &m, &e);
        if (st != status_of(status))
            fail_msg("%s: status %d (%s), want %s", name, st, e.msg, status);
        if (!strstr(e.msg, msg))
            fail_msg("%s: message \"%s\" does not contain \"%s\"", name, e.msg, msg);
        assert_int_equal(img.width, 7);
        assert_int_equal(img.height, 9);
        assert_ptr_equal(img.pixels, (uint8_t *)&img);
        /* No error buffer: same status, no crash. */
        assert_int_equal(cc_dicom_decode_gray(dcm, len, &img, NULL, NULL), st);
        free(dcm);
        count++;
    }
    fclose(f);
    assert_true(count >= 10);
}

/* Every proper prefix of a file fails cleanly (BAD_FORMAT with a message):
 * native, deflated, encapsulated and preamble-less encodings. */
static void test_truncation_sweep(void **state)
{
    (void)state;
    static const char *const files[] = {"mono8_explicit_le.dcm", "mono8_deflated.dcm",
                                        "mono12_window_jpegls.dcm", "mono8_no_preamble.dcm",
                                        "multiframe_rle.dcm", "voi_lut.dcm", "mono12_big_endian.dcm"};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        size_t len;
        uint8_t *dcm = load(files[k], &len);
        /* Every length in the headers, then a stride through the pixels. */
        for (size_t n = 0; n < len; n += n < 1200 ? 1 : 37) {
            uint8_t *cut = malloc(n ? n : 1);
            memcpy(cut, dcm, n);
            cc_err e = {{0}};
            cc_image img = {0, 0, NULL};
            covidcam_status st = cc_dicom_decode_gray(cut, n, &img, NULL, &e);
            if (st == COVIDCAM_OK)
                fail_msg("%s cut to %zu of %zu bytes decoded", files[k], n, len);
            if (st != COVIDCAM_ERR_BAD_FORMAT || !e.msg[0])
                fail_msg("%s cut to %zu bytes: status %d \"%s\"", files[k], n, st, e.msg);
            assert_null(img.pixels);
            free(cut);
        }
        free(dcm);
    }
}

static void test_sniff(void **state)
{
    (void)state;
    assert_false(cc_dicom_sniff(NULL, 0));
    assert_false(cc_dicom_sniff("", 0));
    size_t len;
    uint8_t *png = tu_read_file(tu_fixture("sample_64.png"), &len);
    assert_non_null(png);
    assert_false(cc_dicom_sniff(png, len));
    free(png);
    static const uint8_t jpeg[16] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0};
    assert_false(cc_dicom_sniff(jpeg, sizeof jpeg));

    uint8_t buf[200];
    memset(buf, 0, sizeof buf);
    memcpy(buf + 128, "DICM", 4);
    assert_true(cc_dicom_sniff(buf, 132));
    assert_false(cc_dicom_sniff(buf, 131)); /* "DICM" must be whole */
    /* No preamble: (0008,0005) CS explicit, (0008,0016) implicit with a length that fits. */
    static const uint8_t ex[] = {0x08, 0x00, 0x05, 0x00, 'C', 'S', 0x0A, 0x00, 'I', 'S', 'O'};
    assert_true(cc_dicom_sniff(ex, sizeof ex));
    static const uint8_t im[] = {0x08, 0x00, 0x16, 0x00, 0x02, 0x00, 0x00, 0x00, '1', '2'};
    assert_true(cc_dicom_sniff(im, sizeof im));
    static const uint8_t im_long[] = {0x08, 0x00, 0x16, 0x00, 0x40, 0x00, 0x00, 0x00, '1', '2'};
    assert_false(cc_dicom_sniff(im_long, sizeof im_long)); /* length past the end */
    static const uint8_t group9[] = {0x09, 0x00, 0x05, 0x00, 'C', 'S', 0x0A, 0x00};
    assert_false(cc_dicom_sniff(group9, sizeof group9));
    static const uint8_t elem_high[] = {0x08, 0x00, 0x50, 0x00, 'S', 'H', 0x02, 0x00};
    assert_false(cc_dicom_sniff(elem_high, sizeof elem_high));
}

static void test_arguments(void **state)
{
    (void)state;
    size_t len;
    uint8_t *dcm = load("mono8_explicit_le.dcm", &len);
    cc_err e = {{0}};
    cc_image img = {0, 0, NULL};
    assert_int_equal(cc_dicom_decode_gray(dcm, len, NULL, NULL, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "out"));
    assert_int_equal(cc_dicom_decode_gray(NULL, len, &img, NULL, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "buf"));
    assert_int_equal(cc_dicom_decode_gray(NULL, 0, &img, NULL, &e), COVIDCAM_ERR_BAD_FORMAT);
    assert_null(img.pixels);
    /* meta and e may be NULL on success. */
    assert_int_equal(cc_dicom_decode_gray(dcm, len, &img, NULL, NULL), COVIDCAM_OK);
    cc_image_free(&img);
    free(dcm);
}

/* Metadata strings: padding trimmed, non-printable bytes replaced, long values cut. */
static void test_meta_strings(void **state)
{
    (void)state;
    size_t len;
    uint8_t *dcm = load("mono8_explicit_le.dcm", &len);
    /* ViewPosition "PA" sits in the header as 'C','S',2,0,'P','A' after (0018,5101). */
    static const uint8_t tag[] = {0x18, 0x00, 0x01, 0x51, 'C', 'S', 0x02, 0x00};
    uint8_t *at = NULL;
    for (size_t i = 0; i + sizeof tag + 2 <= len; i++)
        if (memcmp(dcm + i, tag, sizeof tag) == 0)
            at = dcm + i + sizeof tag;
    assert_non_null(at);
    at[0] = 0x01; /* a control byte */
    cc_err e = {{0}};
    cc_image img;
    cc_dicom_meta m;
    assert_int_equal(cc_dicom_decode_gray(dcm, len, &img, &m, &e), COVIDCAM_OK);
    assert_string_equal(m.view_position, "?A");
    assert_string_equal(m.body_part, "CHEST");
    assert_string_equal(m.modality, "DX");
    cc_image_free(&img);
    free(dcm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_all),      cmocka_unit_test(test_same_as_png),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_truncation_sweep),
        cmocka_unit_test(test_sniff),           cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_meta_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
