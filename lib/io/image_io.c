#include "image_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "covidcam_config.h"
#include "dicom_io.h"
#include "file_io.h"
#include "image_info.h"
#include "jpeg_io.h"

/* ------------------------------------------------------------------ sniff */

static int has(const uint8_t *buf, size_t len, size_t at, const char *magic, size_t n)
{
    return len >= at + n && memcmp(buf + at, magic, n) == 0;
}

/* Formats we recognise but do not decode, so the message can say which. */
static const char *unsupported_format(const uint8_t *b, size_t len)
{
    static const struct {
        size_t at;
        const char *magic;
        size_t n;
        const char *name;
    } sigs[] = {
        {0, "GIF87a", 6, "GIF"},
        {0, "GIF89a", 6, "GIF"},
        {0, "II*\0", 4, "TIFF"},
        {0, "MM\0*", 4, "TIFF"},
        {0, "%PDF-", 5, "PDF"},
        {0, "\xff\x4f\xff\x51", 4, "a JPEG 2000 codestream"},
        {0, "\0\0\0\x0cjP  \r\n\x87\n", 12, "JPEG 2000 (JP2)"},
        {0, "\xff\x0a", 2, "JPEG XL"},
        {0, "\0\0\0\x0cJXL \r\n\x87\n", 12, "JPEG XL"},
        {0, "PK\x03\x04", 4, "a ZIP archive"},
        {0, "\x1f\x8b", 2, "gzip data"},
        {0, "BZh", 3, "bzip2 data"},
        {0, "\xfd" "7zXZ", 5, "xz data"},
        {0, "7z\xbc\xaf\x27\x1c", 6, "a 7-Zip archive"},
        {0, "\x93NUMPY", 6, "a NumPy array"},
        {0, "v/1\x01", 4, "OpenEXR"},
        {0, "8BPS", 4, "a Photoshop document"},
        {0, "\0\0\1\0", 4, "an ICO icon"},
        {0, "\x7f" "ELF", 4, "an ELF executable"},
        {0, "{", 1, "JSON"},
        {0, "<", 1, "HTML or XML"},
        {8, "WEBP", 4, "WebP"},
        {4, "ftypavif", 8, "AVIF"},
        {4, "ftypheic", 8, "HEIF"},
        {4, "ftypmif1", 8, "HEIF"},
        {257, "ustar", 5, "a tar archive"},
    };
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        if (has(b, len, sigs[i].at, sigs[i].magic, sigs[i].n))
            return strcmp(sigs[i].name, "WebP") == 0 && !has(b, len, 0, "RIFF", 4)
                       ? NULL
                       : sigs[i].name;
    /* BMP: "BM" then a DIB header size of 12, 40, 52, 56, 64, 108 or 124. */
    if (has(b, len, 0, "BM", 2) && len >= 18) {
        uint32_t dib = (uint32_t)b[14] | (uint32_t)b[15] << 8;
        if (dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 ||
            dib == 124)
            return "BMP";
    }
    /* PNM: P1..P7 then white space. */
    if (len >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7' &&
        (b[2] == '\n' || b[2] == ' ' || b[2] == '\r' || b[2] == '\t'))
        return "a Netpbm image (PNM)";
    /* safetensors: 8-byte little-endian header length, then a JSON object. */
    if (len >= 9 && b[8] == '{' && b[6] == 0 && b[7] == 0)
        return "a safetensors file (a model, not an image)";
    return NULL;
}

covidcam_image_format cc_image_sniff(const uint8_t *buf, size_t len, const char **looks_like)
{
    if (looks_like)
        *looks_like = NULL;
    if (!buf)
        return COVIDCAM_FORMAT_NONE;
    if (has(buf, len, 0, "\x89PNG\r\n\x1a\n", 8))
        return COVIDCAM_FORMAT_PNG;
    if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
        return COVIDCAM_FORMAT_JPEG;
    if (cc_dicom_sniff(buf, len))
        return COVIDCAM_FORMAT_DICOM;
    if (looks_like)
        *looks_like = unsupported_format(buf, len);
    return COVIDCAM_FORMAT_NONE;
}

covidcam_status cc_image_check_format(const uint8_t *buf, size_t len, cc_err *e)
{
    const char *other = NULL;
    if (cc_image_sniff(buf, len, &other) != COVIDCAM_FORMAT_NONE)
        return COVIDCAM_OK;
    if (other)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "not a supported image: looks like %s (PNG, JPEG and DICOM are "
                       "supported)", other);
    if (len == 0)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "not an image: empty");
    char hex[3 * 8 + 1] = "";
    for (size_t i = 0, at = 0; i < len && i < 8; i++)
        at += (size_t)snprintf(hex + at, sizeof hex - at, "%s%02x", i ? " " : "", buf[i]);
    return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                   "not a PNG, JPEG or DICOM image (it starts with bytes %s)", hex);
}

/* ------------------------------------------------------------------ decode */

static covidcam_status decode_png(const void *buf, size_t len, cc_image *out,
                                  covidcam_image_info *info, cc_err *e)
{
    covidcam_status st = cc_png_decode_gray(buf, len, out, e);
    if (st == COVIDCAM_OK && info)
        cc_info_from_png(buf, out->width, out->height, info);
    return st;
}

static covidcam_status decode_jpeg(const void *buf, size_t len, cc_image *out,
                                   covidcam_image_info *info, cc_err *e)
{
    cc_jpeg_meta meta;
    covidcam_status st = cc_jpeg_decode_gray(buf, len, out, &meta, e);
    if (st == COVIDCAM_OK && info)
        cc_info_from_jpeg(&meta, out->width, out->height, info);
    return st;
}

/* The one place DICOM decoding plugs in: DCMTK when the build has it
 * (COVIDCAM_HAVE_DICOM, lib/io/dicom_io.cpp). */
static covidcam_status decode_dicom(const void *buf, size_t len, cc_image *out,
                                    covidcam_image_info *info, cc_err *e)
{
#if COVIDCAM_HAVE_DICOM
    cc_dicom_meta meta;
    covidcam_status st = cc_dicom_decode_gray(buf, len, out, &meta, e);
    if (st == COVIDCAM_OK && info)
        cc_info_from_dicom(&meta, out->width, out->height, info);
    return st;
#else
    (void)buf;
    (void)len;
    (void)out;
    (void)info;
    return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                   "looks like DICOM; this build has no DICOM decoder (DCMTK)");
#endif
}

covidcam_status cc_image_decode(const void *buf, size_t len, cc_image *out,
                                covidcam_image_info *info, cc_err *e)
{
    if (!buf || !out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "NULL image buffer or output");
    covidcam_status st = cc_image_check_format(buf, len, e);
    if (st != COVIDCAM_OK)
        return st;
    switch (cc_image_sniff(buf, len, NULL)) {
    case COVIDCAM_FORMAT_PNG: return decode_png(buf, len, out, info, e);
    case COVIDCAM_FORMAT_JPEG: return decode_jpeg(buf, len, out, info, e);
    default: return decode_dicom(buf, len, out, info, e);
    }
}

covidcam_status cc_image_decode_png(const void *buf, size_t len, cc_image *out,
                                    covidcam_image_info *info, cc_err *e)
{
    if (!buf || !out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "PNG buffer must not be NULL");
    covidcam_image_format f = cc_image_sniff(buf, len, NULL);
    if (f == COVIDCAM_FORMAT_JPEG || f == COVIDCAM_FORMAT_DICOM)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "not a PNG file: it is %s (the _image functions take every format)",
                       f == COVIDCAM_FORMAT_JPEG ? "a JPEG" : "a DICOM");
    return decode_png(buf, len, out, info, e);
}

/* ------------------------------------------------------------------ files */

static covidcam_status check_image_prefix(const uint8_t *head, size_t have, uint64_t size,
                                          size_t *want, void *ctx, cc_err *e)
{
    (void)size;
    (void)want;
    (void)ctx;
    return cc_image_check_format(head, have, e);
}

covidcam_status cc_image_read_file(const char *path, cc_image *out, covidcam_image_info *info,
                                   cc_err *e)
{
    if (!path || !out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "NULL path or output image");
    uint8_t *data;
    size_t len;
    covidcam_status st = cc_read_file_checked(path, CC_MAX_IMAGE_FILE_BYTES, CC_SNIFF_BYTES,
                                              check_image_prefix, NULL, &data, &len, e);
    if (st == COVIDCAM_ERR_BAD_FORMAT || st == COVIDCAM_ERR_UNSUPPORTED)
        cc_err_prefix(e, "%s", path);
    if (st != COVIDCAM_OK)
        return st;
    st = cc_image_decode(data, len, out, info, e);
    free(data);
    if (st != COVIDCAM_OK)
        cc_err_prefix(e, "%s", path);
    return st;
}

/* ------------------------------------------------------------------ probe */

/* covidcam_image_probe(_file): decode bytes (path NULL) or a file. */
static covidcam_status probe(const void *image, size_t len, const char *path,
                             covidcam_image_info *info, char *errbuf, size_t errbuf_size)
{
    cc_err e = {{0}};
    cc_image img = {0};
    covidcam_image_info got;
    covidcam_status st = cc_info_check(info, &e);
    if (st == COVIDCAM_OK)
        st = path ? cc_image_read_file(path, &img, &got, &e)
                  : cc_image_decode(image, len, &img, &got, &e);
    if (st == COVIDCAM_OK)
        st = cc_info_export(&got, info, &e);
    cc_image_free(&img);
    cc_err_export(&e, errbuf, errbuf_size);
    return st;
}

covidcam_status covidcam_image_probe(const void *image, size_t len, covidcam_image_info *info,
                                     char *errbuf, size_t errbuf_size)
{
    return probe(image, len, NULL, info, errbuf, errbuf_size);
}

covidcam_status covidcam_image_probe_file(const char *path, covidcam_image_info *info,
                                          char *errbuf, size_t errbuf_size)
{
    if (!path) {
        cc_err e = {{0}};
        covidcam_status st = cc_fail(&e, COVIDCAM_ERR_INVALID_ARGUMENT, "path must not be NULL");
        cc_err_export(&e, errbuf, errbuf_size);
        return st;
    }
    return probe(NULL, 0, path, info, errbuf, errbuf_size);
}
