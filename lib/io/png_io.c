#include "png_io.h"

#include <errno.h>
#include <inttypes.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest PNG file read into memory. A maximal image (64 Mpixels of 16-bit
 * RGBA stored without compression) is about 512 MiB; nothing legitimate is
 * larger. */
#define CC_MAX_PNG_FILE_BYTES ((size_t)1 << 30)

/* rgb_to_gray coefficients in png_set_rgb_to_gray_fixed units (1/100000).
 * libpng truncates x * 32768 / 100000, so these give exactly its historical
 * defaults 6968 / 23434 (blue = 32768 - red - green = 2366). Passing them
 * explicitly (instead of -1) stops a cHRM or sRGB chunk from changing them. */
#define CC_RGB2GRAY_RED 21266
#define CC_RGB2GRAY_GREEN 71516

void cc_image_free(cc_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* ------------------------------------------------------------------ decode */

/* Shared with the libpng callbacks through png_get_io_ptr/png_get_error_ptr.
 * Lives in the caller of the function that calls setjmp, so it keeps its
 * value across longjmp. */
typedef struct png_reader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    cc_err *e;
} png_reader;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_reader *rd = png_get_error_ptr(png);
    cc_fail(rd->e, COVIDCAM_ERR_BAD_FORMAT, "invalid PNG: %s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    /* Warnings (bad ancillary CRC, extra IDAT data...) do not change the pixels. */
    (void)png;
    (void)msg;
}

static void read_from_buffer(png_structp png, png_bytep out, size_t n)
{
    png_reader *rd = png_get_io_ptr(png);
    if (n > rd->len - rd->pos)
        png_error(png, "truncated PNG data");
    memcpy(out, rd->buf + rd->pos, n);
    rd->pos += n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read the dimensions from the IHDR chunk ourselves, so that the limits are
 * checked before libpng or we allocate anything. */
static covidcam_status peek_dims(const uint8_t *buf, size_t len, uint32_t *w, uint32_t *h,
                                 cc_err *e)
{
    if (len < 8 || png_sig_cmp(buf, 0, 8) != 0)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "not a PNG file");
    if (len < 8 + 8)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "invalid PNG: truncated after %zu bytes, before the IHDR chunk", len);
    if (memcmp(buf + 12, "IHDR", 4) != 0)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "invalid PNG: first chunk is not IHDR");
    if (be32(buf + 8) != 13)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "invalid PNG: IHDR chunk is %" PRIu32 " bytes long; it must be 13",
                       be32(buf + 8));
    if (len < 8 + 8 + 13)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "invalid PNG: truncated IHDR (the file ends after %zu bytes)", len);
    *w = be32(buf + 16);
    *h = be32(buf + 20);
    /* A zero side is malformed (the PNG spec forbids it), not too large. */
    if (*w == 0 || *h == 0)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "invalid PNG: image is %" PRIu32 "x%" PRIu32 "; width and height must be "
                       "at least 1", *w, *h);
    if (*w > COVIDCAM_MAX_IMAGE_DIM || *h > COVIDCAM_MAX_IMAGE_DIM)
        return cc_fail(e, COVIDCAM_ERR_LIMIT,
                       "PNG is %" PRIu32 "x%" PRIu32 "; width and height must be in [1, %u]", *w,
                       *h, COVIDCAM_MAX_IMAGE_DIM);
    if ((uint64_t)*w * *h > COVIDCAM_MAX_IMAGE_PIXELS)
        return cc_fail(e, COVIDCAM_ERR_LIMIT, "PNG is %" PRIu32 "x%" PRIu32
                       " = %" PRIu64 " pixels; the limit is %u", *w, *h, (uint64_t)*w * *h,
                       COVIDCAM_MAX_IMAGE_PIXELS);
    return COVIDCAM_OK;
}

/* libpng allocates an ancillary chunk's declared length before reading it
 * (Debian's libpng has no chunk size limit built in), so a 60-byte file
 * declaring a 1.6 GB tEXt chunk made it allocate 1.6 GB. The whole PNG is in
 * memory: refuse any chunk other than IDAT that declares more bytes than the
 * buffer has left. A file cut inside IDAT is left to libpng's own message. */
static covidcam_status check_chunk_lengths(const uint8_t *buf, size_t len, cc_err *e)
{
    size_t at = 8;
    while (len - at >= 8) {
        uint32_t n = be32(buf + at);
        const uint8_t *type = buf + at + 4;
        if (memcmp(type, "IEND", 4) == 0)
            return COVIDCAM_OK;
        size_t left = len - at - 8;
        if (memcmp(type, "IDAT", 4) != 0 && ((uint64_t)n + 4 > left)) {
            char name[5];
            for (int i = 0; i < 4; i++)
                name[i] = (type[i] >= 0x20 && type[i] < 0x7f) ? (char)type[i] : '?';
            name[4] = '\0';
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "invalid PNG: chunk '%s' at byte %zu declares %" PRIu32
                           " bytes, but only %zu remain (truncated or corrupt)",
                           name, at, n, left);
        }
        if ((uint64_t)n + 4 > left)
            return COVIDCAM_OK;
        at += 8 + (size_t)n + 4;
    }
    return COVIDCAM_OK;
}

/* Ask libpng for 8-bit gray whatever the color type and bit depth. Gamma is
 * pinned to 1/1 so that gAMA/sRGB chunks never change the values (otherwise
 * libpng would do rgb_to_gray in linear light). */
static void set_gray_transforms(png_structp png, png_infop info)
{
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);

    png_set_gamma_fixed(png, PNG_FP_1, PNG_FP_1);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_scale_16(png);
    /* Unconditional: besides dropping an alpha channel, it stops a tRNS chunk
     * from adding one (png_set_palette_to_rgb would expand tRNS to alpha). */
    png_set_strip_alpha(png);
    if (color & PNG_COLOR_MASK_COLOR)
        png_set_rgb_to_gray_fixed(png, PNG_ERROR_ACTION_NONE, CC_RGB2GRAY_RED,
                                  CC_RGB2GRAY_GREEN);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
}

/* Everything that may longjmp. No local of this function changes after
 * setjmp, so nothing needs to be volatile. */
static covidcam_status decode_rows(png_structp png, png_infop info, png_reader *rd,
                                   uint32_t w, uint32_t h, png_bytep *rows)
{
    if (setjmp(png_jmpbuf(png)))
        return COVIDCAM_ERR_BAD_FORMAT; /* message written by on_png_error */

    png_set_user_limits(png, COVIDCAM_MAX_IMAGE_DIM, COVIDCAM_MAX_IMAGE_DIM);
    /* Ancillary chunks (and their decompressed text or profile) at most 8 MB,
     * at most 1000 of them: Debian's libpng is built without these limits, so
     * a 60-byte file declaring a 700 MB chunk made libpng allocate it. */
    png_set_chunk_malloc_max(png, 8u << 20);
    png_set_chunk_cache_max(png, 1000);
    png_set_read_fn(png, rd, read_from_buffer);
    png_read_info(png, info);
    if (png_get_image_width(png, info) != w || png_get_image_height(png, info) != h)
        png_error(png, "IHDR changed while reading");
    set_gray_transforms(png, info);
    if (png_get_channels(png, info) != 1 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != w)
        png_error(png, "cannot convert this color type to 8-bit gray");
    png_read_image(png, rows);
    /* Reading to IEND makes a file cut after its pixel data an error too. */
    png_read_end(png, NULL);
    return COVIDCAM_OK;
}

covidcam_status cc_png_decode_gray(const void *buf, size_t len, cc_image *out, cc_err *e)
{
    if (!buf || !out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "NULL buffer or output image");
    uint32_t w = 0, h = 0;
    covidcam_status st = peek_dims(buf, len, &w, &h, e);
    if (st == COVIDCAM_OK)
        st = check_chunk_lengths(buf, len, e);
    if (st != COVIDCAM_OK)
        return st;

    png_reader rd = {.buf = buf, .len = len, .pos = 0, .e = e};
    png_structp png = NULL;
    png_infop info = NULL;
    png_bytep *rows = malloc(h * sizeof *rows);
    uint8_t *px = malloc((size_t)w * h);
    if (!rows || !px) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "no memory for a %" PRIu32 "x%" PRIu32
                     " image", w, h);
        goto fail;
    }
    for (uint32_t y = 0; y < h; y++)
        rows[y] = px + (size_t)y * w;

    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &rd, on_png_error, on_png_warning);
    info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "cannot create the libpng reader");
        goto fail;
    }
    st = decode_rows(png, info, &rd, w, h, rows);
    if (st != COVIDCAM_OK)
        goto fail;

    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->width = (int)w;
    out->height = (int)h;
    out->pixels = px;
    return COVIDCAM_OK;

fail:
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(px);
    return st;
}

/* ------------------------------------------------------------------ files */

static covidcam_status errno_fail(cc_err *e, const char *what, const char *path, int err)
{
    char msg[128];
    if (strerror_r(err, msg, sizeof msg) != 0)
        snprintf(msg, sizeof msg, "error %d", err);
    return cc_fail(e, COVIDCAM_ERR_IO, "cannot %s %s: %s", what, path, msg);
}

/* Refuse a file that is not a PNG after reading its first 8 bytes. */
static covidcam_status check_png_signature(const uint8_t *head, size_t have, uint64_t size,
                                           size_t *want, void *ctx, cc_err *e)
{
    (void)size;
    (void)want;
    (void)ctx;
    if (have < 8 || png_sig_cmp(head, 0, 8) != 0)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "not a PNG file");
    return COVIDCAM_OK;
}

covidcam_status cc_png_read_gray_file(const char *path, cc_image *out, cc_err *e)
{
    if (!path || !out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "NULL path or output image");
    uint8_t *data;
    size_t len;
    covidcam_status st = cc_read_file_checked(path, CC_MAX_PNG_FILE_BYTES, 8,
                                              check_png_signature, NULL, &data, &len, e);
    if (st == COVIDCAM_ERR_BAD_FORMAT)
        cc_err_prefix(e, "%s", path);
    if (st != COVIDCAM_OK)
        return st;
    st = cc_png_decode_gray(data, len, out, e);
    free(data);
    if (st != COVIDCAM_OK)
        cc_err_prefix(e, "%s", path);
    return st;
}

/* ------------------------------------------------------------------ encode */

typedef struct png_writer {
    uint8_t *buf;
    size_t len;
    size_t cap;
    int oom;
    cc_err *e;
} png_writer;

static void on_png_write_error(png_structp png, png_const_charp msg)
{
    png_writer *wr = png_get_error_ptr(png);
    cc_fail(wr->e, COVIDCAM_ERR_BAD_FORMAT, "cannot encode PNG: %s", msg);
    png_longjmp(png, 1);
}

static void write_to_buffer(png_structp png, png_bytep data, size_t n)
{
    png_writer *wr = png_get_io_ptr(png);
    if (n > wr->cap - wr->len) {
        size_t cap = wr->cap ? wr->cap : 4096;
        while (cap - wr->len < n)
            cap *= 2;
        uint8_t *nb = realloc(wr->buf, cap);
        if (!nb) {
            wr->oom = 1;
            png_error(png, "out of memory");
        }
        wr->buf = nb;
        wr->cap = cap;
    }
    memcpy(wr->buf + wr->len, data, n);
    wr->len += n;
}

static void flush_nothing(png_structp png)
{
    (void)png;
}

static covidcam_status encode_rows(png_structp png, png_infop info, png_writer *wr,
                                   const uint8_t *px, int w, int h, int channels)
{
    if (setjmp(png_jmpbuf(png)))
        return wr->oom ? cc_fail(wr->e, COVIDCAM_ERR_OUT_OF_MEMORY, "no memory to encode PNG")
                       : COVIDCAM_ERR_BAD_FORMAT;

    png_set_write_fn(png, wr, write_to_buffer, flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, px + (size_t)y * w * channels);
    png_write_end(png, NULL);
    return COVIDCAM_OK;
}

covidcam_status cc_png_encode(const uint8_t *px, int width, int height, int channels,
                              uint8_t **png_out, size_t *len, cc_err *e)
{
    if (!px || !png_out || !len)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "NULL pixels or output");
    if (channels != 1 && channels != 3)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "cannot write a PNG with %d channels (1 or 3)", channels);
    if (width <= 0 || height <= 0 || (unsigned)width > COVIDCAM_MAX_IMAGE_DIM ||
        (unsigned)height > COVIDCAM_MAX_IMAGE_DIM ||
        (uint64_t)width * (uint64_t)height > COVIDCAM_MAX_IMAGE_PIXELS)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "cannot write a %dx%d PNG", width,
                       height);

    png_writer wr = {.e = e};
    png_infop info = NULL;
    covidcam_status st;
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, &wr, on_png_write_error, on_png_warning);
    info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "cannot create the libpng writer");
        goto fail;
    }
    st = encode_rows(png, info, &wr, px, width, height, channels);
    if (st != COVIDCAM_OK)
        goto fail;
    png_destroy_write_struct(&png, &info);
    *png_out = wr.buf;
    *len = wr.len;
    return COVIDCAM_OK;

fail:
    png_destroy_write_struct(&png, &info);
    free(wr.buf);
    return st;
}

covidcam_status cc_png_write_file(const char *path, const uint8_t *px, int width, int height,
                                  int channels, cc_err *e)
{
    if (!path)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "NULL path");
    uint8_t *png = NULL; /* set on success; initialised for -O3's flow analysis */
    size_t len = 0;
    covidcam_status st = cc_png_encode(px, width, height, channels, &png, &len, e);
    if (st != COVIDCAM_OK)
        return st;
    FILE *f = fopen(path, "wb");
    if (!f) {
        st = errno_fail(e, "create", path, errno);
        goto done;
    }
    size_t put = fwrite(png, 1, len, f);
    int werr = put != len ? errno : 0;
    if (fclose(f) != 0 && !werr)
        werr = errno;
    if (put != len || werr)
        st = errno_fail(e, "write", path, werr ? werr : EIO);
done:
    free(png);
    return st;
}
