/* The image-format layer: sniffing (supported and named unsupported formats),
 * dispatch, covidcam_image_info filling and export, the DICOM mapping, and the
 * file reader (FIFOs, prefix checks before the rest is read, size limits). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "covidcam_config.h"
#include "file_io.h"
#include "image_info.h"
#include "image_io.h"
#include "safetensors.h"
#include "test_util.h"

static void expect_sniff(const char *bytes, size_t len, covidcam_image_format want,
                         const char *looks)
{
    const char *other = "unset";
    covidcam_image_format f = cc_image_sniff((const uint8_t *)bytes, len, &other);
    if (f != want)
        fail_msg("sniff of %s: format %d, expected %d", looks ? looks : "?", f, want);
    if (looks && (!other || !strstr(other, looks)))
        fail_msg("sniff: looks like %s, expected %s", other ? other : "NULL", looks);
    if (!looks && want == COVIDCAM_FORMAT_NONE && other)
        fail_msg("sniff: looks like %s, expected nothing", other);
}

static void test_sniff(void **state)
{
    (void)state;
    char dicm[140] = {0};
    memcpy(dicm + 128, "DICM", 4);
    expect_sniff("\x89PNG\r\n\x1a\n", 8, COVIDCAM_FORMAT_PNG, NULL);
    expect_sniff("\xff\xd8\xff\xe0", 4, COVIDCAM_FORMAT_JPEG, NULL);
    expect_sniff(dicm, sizeof dicm, COVIDCAM_FORMAT_DICOM, NULL);
    /* no preamble: (0002,0000) UL 4, explicit VR; (0008,0005) implicit, length 10 */
    expect_sniff("\x02\x00\x00\x00UL\x04\x00\x00\x00\x00\x00", 12, COVIDCAM_FORMAT_DICOM, NULL);
    expect_sniff("\x08\x00\x05\x00\x0a\x00\x00\x00ISO_IR 100", 18, COVIDCAM_FORMAT_DICOM, NULL);
    /* group 0008 but neither a VR nor a plausible length */
    expect_sniff("\x08\x00\x05\x00\xff\xff\xff\x7f", 8, COVIDCAM_FORMAT_NONE, NULL);
    expect_sniff("GIF89a\x01\x00", 8, COVIDCAM_FORMAT_NONE, "GIF");
    expect_sniff("II*\0\x08\0\0\0", 8, COVIDCAM_FORMAT_NONE, "TIFF");
    expect_sniff("MM\0*\0\0\0\x08", 8, COVIDCAM_FORMAT_NONE, "TIFF");
    expect_sniff("RIFF\x10\0\0\0WEBPVP8 ", 16, COVIDCAM_FORMAT_NONE, "WebP");
    expect_sniff("RIFF\x10\0\0\0WAVEfmt ", 16, COVIDCAM_FORMAT_NONE, NULL);
    expect_sniff("%PDF-1.7\n", 9, COVIDCAM_FORMAT_NONE, "PDF");
    expect_sniff("\xff\x4f\xff\x51\0\0", 6, COVIDCAM_FORMAT_NONE, "JPEG 2000");
    expect_sniff("\0\0\0\x0cjP  \r\n\x87\n", 12, COVIDCAM_FORMAT_NONE, "JPEG 2000");
    expect_sniff("PK\x03\x04\x14\0", 6, COVIDCAM_FORMAT_NONE, "ZIP");
    expect_sniff("\x10\0\0\0\0\0\0\0{\"a\":1}", 15, COVIDCAM_FORMAT_NONE, "safetensors");
    char bmp[20] = "BM";
    bmp[14] = 40;
    expect_sniff(bmp, sizeof bmp, COVIDCAM_FORMAT_NONE, "BMP");
    expect_sniff("P5\n3 2\n255\n", 11, COVIDCAM_FORMAT_NONE, "PNM");
    expect_sniff("hello", 5, COVIDCAM_FORMAT_NONE, NULL);
    expect_sniff("", 0, COVIDCAM_FORMAT_NONE, NULL);
    /* a 4-byte PNG signature prefix is not a PNG */
    expect_sniff("\x89PNG", 4, COVIDCAM_FORMAT_NONE, NULL);
}

static void expect_decode(const void *buf, size_t len, covidcam_status want, const char *needle)
{
    cc_err e = {{0}};
    cc_image img = {-1, -1, NULL};
    covidcam_image_info info = {.struct_size = 12345};
    covidcam_status st = cc_image_decode(buf, len, &img, &info, &e);
    if (st != want)
        fail_msg("status %d, expected %d (%s)", st, want, e.msg);
    if (!strstr(e.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
    assert_int_equal(img.width, -1);
    assert_int_equal(info.struct_size, 12345);
}

static void test_refusals(void **state)
{
    (void)state;
    char dicm[140] = {0};
    memcpy(dicm + 128, "DICM", 4);
#if COVIDCAM_HAVE_DICOM
    /* DICM and nothing after it: the decoder's own refusal */
    expect_decode(dicm, sizeof dicm, COVIDCAM_ERR_BAD_FORMAT, "no file meta group");
#else
    expect_decode(dicm, sizeof dicm, COVIDCAM_ERR_UNSUPPORTED, "looks like DICOM");
#endif
    expect_decode("GIF89a\1\0\1\0", 10, COVIDCAM_ERR_UNSUPPORTED, "looks like GIF");
    expect_decode("%PDF-1.4", 8, COVIDCAM_ERR_UNSUPPORTED, "PDF");
    expect_decode("hello world", 11, COVIDCAM_ERR_BAD_FORMAT, "68 65 6c 6c 6f 20 77 6f");
    expect_decode("", 0, COVIDCAM_ERR_BAD_FORMAT, "empty");
    expect_decode(NULL, 3, COVIDCAM_ERR_INVALID_ARGUMENT, "NULL");
}

static uint8_t *fixture(const char *rel, size_t *len)
{
    uint8_t *d = tu_read_file(tu_fixture(rel), len);
    if (!d)
        fail_msg("missing fixture %s", rel);
    return d;
}

static void test_info_png_jpeg(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        covidcam_image_format f;
        int bits, channels, orientation;
        const char *pm;
    } cases[] = {
        {"png/gray16.png", COVIDCAM_FORMAT_PNG, 16, 1, 0, "GRAY"},
        {"png/rgba8.png", COVIDCAM_FORMAT_PNG, 8, 4, 0, "RGBA"},
        {"png/palette8.png", COVIDCAM_FORMAT_PNG, 8, 1, 0, "PALETTE"},
        {"png/gray_alpha8.png", COVIDCAM_FORMAT_PNG, 8, 2, 0, "GRAY_ALPHA"},
        {"png/gray2.png", COVIDCAM_FORMAT_PNG, 2, 1, 0, "GRAY"},
        {"jpeg/ycc420_q90.jpg", COVIDCAM_FORMAT_JPEG, 8, 3, 1, "YCbCr"},
        {"jpeg/cmyk_adobe.jpg", COVIDCAM_FORMAT_JPEG, 8, 4, 1, "CMYK"},
        {"jpeg/exif_o6.jpg", COVIDCAM_FORMAT_JPEG, 8, 1, 6, "GRAY"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len;
        uint8_t *d = fixture(cases[i].file, &len);
        cc_err e = {{0}};
        cc_image img;
        covidcam_image_info info;
        if (cc_image_decode(d, len, &img, &info, &e) != COVIDCAM_OK)
            fail_msg("%s: %s", cases[i].file, e.msg);
        assert_int_equal(info.struct_size, sizeof info);
        assert_int_equal(info.format, cases[i].f);
        assert_int_equal(info.width, img.width);
        assert_int_equal(info.height, img.height);
        assert_int_equal(info.bits, cases[i].bits);
        assert_int_equal(info.channels, cases[i].channels);
        assert_int_equal(info.orientation, cases[i].orientation);
        assert_int_equal(info.frames, 1);
        assert_string_equal(info.photometric, cases[i].pm);
        assert_string_equal(info.modality, "");
        assert_int_equal(info.window_source, COVIDCAM_WINDOW_NONE);
        /* the _png entry point takes PNG only and says what the JPEG is */
        cc_image other;
        covidcam_status st = cc_image_decode_png(d, len, &other, NULL, &e);
        if (cases[i].f == COVIDCAM_FORMAT_PNG) {
            assert_int_equal(st, COVIDCAM_OK);
            assert_memory_equal(other.pixels, img.pixels, (size_t)img.width * img.height);
            cc_image_free(&other);
        } else {
            assert_int_equal(st, COVIDCAM_ERR_BAD_FORMAT);
            assert_non_null(strstr(e.msg, "JPEG"));
        }
        cc_image_free(&img);
        free(d);
    }
}

/* The DICOM decoder's metadata lands in the public fields unchanged. */
static void test_info_from_dicom(void **state)
{
    (void)state;
    cc_dicom_meta m = {
        .transfer_syntax = "1.2.840.10008.1.2.4.70",
        .photometric = "MONOCHROME1",
        .modality = "DX",
        .view_position = "LATERAL",
        .body_part = "CHEST",
        .bits_stored = 12,
        .samples_per_pixel = 1,
        .is_signed = 1,
        .frames = 3,
        .window_source = CC_DICOM_WINDOW_VOI_LUT,
        .window_center = -512.5,
        .window_width = 2047,
    };
    covidcam_image_info info;
    cc_info_from_dicom(&m, 300, 200, &info);
    assert_int_equal(info.format, COVIDCAM_FORMAT_DICOM);
    assert_int_equal(info.width, 300);
    assert_int_equal(info.height, 200);
    assert_int_equal(info.bits, 12);
    assert_int_equal(info.channels, 1);
    assert_int_equal(info.frames, 3);
    assert_int_equal(info.orientation, 0);
    assert_string_equal(info.photometric, "MONOCHROME1");
    assert_string_equal(info.modality, "DX");
    assert_string_equal(info.view_position, "LATERAL");
    assert_string_equal(info.body_part, "CHEST");
    assert_string_equal(info.transfer_syntax, "1.2.840.10008.1.2.4.70");
    assert_int_equal(info.window_source, COVIDCAM_WINDOW_VOI_LUT);
    assert_true(info.window_center == -512.5 && info.window_width == 2047);
    m.window_source = CC_DICOM_WINDOW_RANGE;
    cc_info_from_dicom(&m, 1, 1, &info);
    assert_int_equal(info.window_source, COVIDCAM_WINDOW_RANGE);
    m.window_source = CC_DICOM_WINDOW_FILE;
    cc_info_from_dicom(&m, 1, 1, &info);
    assert_int_equal(info.window_source, COVIDCAM_WINDOW_FILE);
    /* every string field of the meta fits its public field */
    assert_true(sizeof info.transfer_syntax >= sizeof m.transfer_syntax);
    assert_true(sizeof info.photometric >= sizeof m.photometric);
    assert_true(sizeof info.modality >= sizeof m.modality);
}

/* A caller compiled against a shorter struct gets only the fields it has. */
static void test_info_export_prefix(void **state)
{
    (void)state;
    covidcam_image_info src;
    cc_info_pixels(640, 480, &src);
    unsigned char buf[sizeof(covidcam_image_info) + 16];
    memset(buf, 0xab, sizeof buf);
    covidcam_image_info *dst = (covidcam_image_info *)(void *)buf;
    size_t small = offsetof(covidcam_image_info, height);
    dst->struct_size = small;
    cc_err e = {{0}};
    assert_int_equal(cc_info_export(&src, dst, &e), COVIDCAM_OK);
    assert_int_equal(dst->struct_size, small);
    assert_int_equal(dst->format, COVIDCAM_FORMAT_PIXELS);
    assert_int_equal(dst->width, 640);
    for (size_t i = small; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xab);
    dst->struct_size = sizeof(size_t);
    assert_int_equal(cc_info_export(&src, dst, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(e.msg, "struct_size"));
    assert_int_equal(cc_info_export(&src, NULL, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    /* a larger (future) struct: our fields written, the rest untouched */
    memset(buf, 0xab, sizeof buf);
    dst->struct_size = sizeof buf;
    assert_int_equal(cc_info_export(&src, dst, &e), COVIDCAM_OK);
    assert_int_equal(dst->height, 480);
    assert_string_equal(dst->photometric, "GRAY");
    for (size_t i = sizeof src; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0xab);
}

/* ------------------------------------------------------------------ files */

static char *temp_path(const char *tag)
{
    char *p = malloc(64);
    snprintf(p, 64, "/tmp/cc-fmt-%s-%d", tag, (int)getpid());
    unlink(p);
    return p;
}

/* A FIFO (no writer) used to block forever in fopen; now refused at once. */
static void test_fifo(void **state)
{
    (void)state;
    char *p = temp_path("fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    cc_err e = {{0}};
    cc_image img;
    assert_int_equal(cc_image_read_file(p, &img, NULL, &e), COVIDCAM_ERR_IO);
    assert_non_null(strstr(e.msg, "is a FIFO, not a regular file"));
    assert_non_null(strstr(e.msg, p));
    uint8_t *data;
    size_t len;
    assert_int_equal(cc_read_file(p, 100, &data, &len, &e), COVIDCAM_ERR_IO);
    assert_non_null(strstr(e.msg, "FIFO"));
    assert_int_equal(cc_image_read_file("/dev/null", &img, NULL, &e), COVIDCAM_ERR_IO);
    assert_non_null(strstr(e.msg, "character device"));
    /* the public entry points that take paths: model and image */
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    assert_int_equal(covidcam_model_load(p, &m, err, sizeof err), COVIDCAM_ERR_IO);
    assert_non_null(strstr(err, "is a FIFO, not a regular file"));
    assert_null(m);
    covidcam_image_info info;
    covidcam_image_info_init(&info);
    assert_int_equal(covidcam_image_probe_file(p, &info, err, sizeof err), COVIDCAM_ERR_IO);
    assert_non_null(strstr(err, "FIFO"));
    unlink(p);
    free(p);
}

typedef struct seen {
    size_t calls, have[4];
    size_t ask;
} seen;

static covidcam_status record(const uint8_t *head, size_t have, uint64_t size, size_t *want,
                              void *ctx, cc_err *e)
{
    (void)head;
    (void)size;
    seen *s = ctx;
    if (s->calls < 4)
        s->have[s->calls] = have;
    s->calls++;
    if (s->ask && have < s->ask) {
        *want = s->ask;
        return COVIDCAM_OK;
    }
    return s->ask ? COVIDCAM_OK : cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "refused");
}

static void write_file(const char *p, const void *d, size_t n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_prefix_check(void **state)
{
    (void)state;
    char *p = temp_path("prefix");
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    write_file(p, data, sizeof data);
    cc_err e = {{0}};
    uint8_t *got = NULL;
    size_t len = 0;
    seen s = {0};
    assert_int_equal(cc_read_file_checked(p, 5000, 16, record, &s, &got, &len, &e),
                     COVIDCAM_ERR_BAD_FORMAT);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.have[0], 16);
    assert_null(got);
    /* asking for more: called again with it, then the whole file */
    s = (seen){.ask = 300};
    assert_int_equal(cc_read_file_checked(p, 5000, 16, record, &s, &got, &len, &e), COVIDCAM_OK);
    assert_int_equal(s.calls, 2);
    assert_int_equal(s.have[1], 300);
    assert_int_equal(len, sizeof data);
    assert_memory_equal(got, data, sizeof data);
    free(got);
    /* asking past the end: the whole (short) file, once */
    s = (seen){.ask = 5000};
    assert_int_equal(cc_read_file_checked(p, 5000, 16, record, &s, &got, &len, &e), COVIDCAM_OK);
    assert_int_equal(s.have[s.calls - 1], sizeof data);
    free(got);
    unlink(p);
    free(p);
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static char *sparse_file(const char *tag, const void *head, size_t n, off_t size)
{
    char *p = temp_path(tag);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, head, n), (ssize_t)n);
    assert_int_equal(ftruncate(fd, size), 0);
    close(fd);
    return p;
}

/* A 1 GiB non-image and a 4 GiB model with a zero header length are refused
 * from their first bytes, without reading (or allocating) the rest. */
static void test_huge_files_refused_early(void **state)
{
    (void)state;
    long before = max_rss_kb();
    char *img = sparse_file("gif", "GIF89a", 6, ((off_t)1 << 30) - 1);
    cc_err e = {{0}};
    cc_image im;
    assert_int_equal(cc_image_read_file(img, &im, NULL, &e), COVIDCAM_ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "GIF"));
    char *png = sparse_file("png", "not a png", 9, ((off_t)1 << 30) - 1);
    assert_int_equal(cc_png_read_gray_file(png, &im, &e), COVIDCAM_ERR_BAD_FORMAT);
    assert_non_null(strstr(e.msg, "not a PNG"));
    char *model = sparse_file("st", "\0\0\0\0\0\0\0\0", 8, ((off_t)4 << 30) - 16);
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    assert_int_equal(covidcam_model_load(model, &m, err, sizeof err), COVIDCAM_ERR_BAD_FORMAT);
    assert_non_null(strstr(err, "header length 0"));
    assert_non_null(strstr(err, model));
    uint8_t *data;
    size_t len;
    /* header length past the end of the file, and bad JSON in the header */
    char *model2 = sparse_file("st2", "\x10\0\0\0\0\0\0\0{not json}xxxxx", 24, (off_t)1 << 30);
    assert_int_equal(cc_read_file_checked(model2, (size_t)COVIDCAM_MAX_MODEL_BYTES, 8,
                                          cc_st_check_prefix, NULL, &data, &len, &e),
                     COVIDCAM_ERR_BAD_FORMAT);
    assert_non_null(strstr(e.msg, "bad JSON"));
    long grew_mb = (max_rss_kb() - before) / 1024;
    if (grew_mb > 64)
        fail_msg("peak RSS grew by %ld MB reading refused files", grew_mb);
    char *paths[] = {img, png, model, model2};
    for (int i = 0; i < 4; i++) {
        unlink(paths[i]);
        free(paths[i]);
    }
}

static void test_image_file_errors(void **state)
{
    (void)state;
    cc_err e = {{0}};
    cc_image img;
    covidcam_image_info info;
    const char *bad = tu_fixture("jpeg/err_truncated.jpg");
    assert_int_equal(cc_image_read_file(bad, &img, &info, &e), COVIDCAM_ERR_BAD_FORMAT);
    assert_true(strncmp(e.msg, bad, strlen(bad)) == 0);
    assert_int_equal(cc_image_read_file(tu_fixture("jpeg"), &img, &info, &e), COVIDCAM_ERR_IO);
    assert_non_null(strstr(e.msg, "is a directory"));
    assert_int_equal(cc_image_read_file(tu_fixture("jpeg/gray_q75.jpg"), &img, &info, &e),
                     COVIDCAM_OK);
    assert_int_equal(info.format, COVIDCAM_FORMAT_JPEG);
    cc_image_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_info_png_jpeg),
        cmocka_unit_test(test_info_from_dicom),
        cmocka_unit_test(test_info_export_prefix),
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_prefix_check),
        cmocka_unit_test(test_huge_files_refused_early),
        cmocka_unit_test(test_image_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
