#include "jpeg_io.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

/* libjpeg's own memory for one decode (coefficient buffers of a progressive
 * file, row buffers): a 64-Mpixel 4-component progressive file needs 512 MiB. */
#define CC_JPEG_MAX_LIBJPEG_MEMORY ((long)768 << 20)

/* Everything the libjpeg callbacks and the decode need; lives in the caller of
 * the function that calls setjmp, so it keeps its values across longjmp. */
typedef struct jpeg_ctx {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf jmp;
    covidcam_status status; /* of the failure that longjmp'ed */
    cc_err *e;
    uint8_t *px;            /* w x h gray, before orientation */
    uint8_t *row;           /* one decoded row of output_components samples */
    cc_jpeg_meta meta;
} jpeg_ctx;

static void on_error(j_common_ptr c)
{
    jpeg_ctx *x = (jpeg_ctx *)c->client_data;
    char msg[JMSG_LENGTH_MAX];
    (*c->err->format_message)(c, msg);
    int code = c->err->msg_code;
    x->status = code == JERR_OUT_OF_MEMORY || code == JERR_NO_BACKING_STORE
                    ? COVIDCAM_ERR_OUT_OF_MEMORY
                : code == JERR_SOF_UNSUPPORTED || code == JERR_BAD_PRECISION
                    ? COVIDCAM_ERR_UNSUPPORTED
                    : COVIDCAM_ERR_BAD_FORMAT;
    cc_fail(x->e, x->status, "invalid JPEG: %s", msg);
    longjmp(x->jmp, 1);
}

/* Warnings that concern metadata only; every other warning means the entropy
 * coded data is damaged or cut, and libjpeg would fill the rest with gray. */
static int harmless_warning(int code)
{
    return code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM || code == JWRN_BOGUS_ICC;
}

static void on_message(j_common_ptr c, int level)
{
    if (level >= 0 || harmless_warning(c->err->msg_code))
        return; /* trace messages */
    on_error(c);
}

static void on_progress(j_common_ptr c)
{
    jpeg_ctx *x = (jpeg_ctx *)c->client_data;
    if (x->cinfo.input_scan_number <= CC_JPEG_MAX_SCANS)
        return;
    x->status = cc_fail(x->e, COVIDCAM_ERR_LIMIT, "JPEG has more than %d scans; refused",
                        CC_JPEG_MAX_SCANS);
    longjmp(x->jmp, 1);
}

static void fail_with(jpeg_ctx *x, covidcam_status st)
{
    x->status = st;
    longjmp(x->jmp, 1);
}

/* ------------------------------------------------------------------ EXIF */

static unsigned rd16(const uint8_t *p, int be)
{
    return be ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t rd32(const uint8_t *p, int be)
{
    return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
              : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* The Orientation tag (0x0112) of IFD0 in an "Exif\0\0" APP1 payload, or 1.
 * Every offset is checked against the marker length. */
static int exif_orientation(const uint8_t *d, size_t n)
{
    if (n < 6 + 8 || memcmp(d, "Exif\0\0", 6) != 0)
        return 1;
    const uint8_t *t = d + 6;
    size_t tn = n - 6;
    int be = t[0] == 'M' && t[1] == 'M';
    if (!be && !(t[0] == 'I' && t[1] == 'I'))
        return 1;
    if (rd16(t + 2, be) != 42)
        return 1;
    uint32_t ifd = rd32(t + 4, be);
    if (ifd > tn - 2)
        return 1;
    unsigned count = rd16(t + ifd, be);
    for (unsigned i = 0; i < count; i++) {
        size_t at = (size_t)ifd + 2 + (size_t)i * 12;
        if (at + 12 > tn)
            return 1;
        if (rd16(t + at, be) != 0x0112)
            continue;
        unsigned type = rd16(t + at + 2, be), v = rd16(t + at + 8, be);
        return type == 3 && rd32(t + at + 4, be) == 1 && v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

static int find_orientation(j_decompress_ptr c)
{
    for (jpeg_saved_marker_ptr m = c->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1)
            return exif_orientation(m->data, m->data_length);
    return 1;
}

/* Apply EXIF orientation o to a w x h image (TIFF 6.0 / EXIF 2.3 meanings:
 * 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 clockwise,
 * 7 transverse, 8 rotate 90 counter-clockwise). Returns the new pixels (the
 * old ones are freed) or NULL on out of memory. */
static uint8_t *orient(uint8_t *in, int w, int h, int o)
{
    if (o == 1)
        return in;
    uint8_t *out = malloc((size_t)w * h);
    if (!out)
        return NULL;
    int ow = o >= 5 ? h : w, oh = o >= 5 ? w : h;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            default: sx = w - 1 - y; sy = x; break; /* 8 */
            }
            out[(size_t)y * ow + x] = in[(size_t)sy * w + sx];
        }
    free(in);
    return out;
}

/* ------------------------------------------------------------------ decode */

static const char *photometric_of(J_COLOR_SPACE cs)
{
    switch (cs) {
    case JCS_GRAYSCALE: return "GRAY";
    case JCS_YCbCr: return "YCbCr";
    case JCS_RGB: return "RGB";
    case JCS_CMYK: return "CMYK";
    case JCS_YCCK: return "YCCK";
    default: return "";
    }
}

/* PIL's CMYK -> RGB (Convert.c cmyk2rgb) then RGB -> L (ITU-R 601, 16-bit
 * fixed point), so a CMYK file gives exactly PIL's convert("L"). */
static void cmyk_row_to_gray(const uint8_t *in, int w, int inverted, uint8_t *out)
{
    for (int x = 0; x < w; x++, in += 4) {
        int k = inverted ? 255 - in[3] : in[3], nk = 255 - k, rgb[3];
        for (int c = 0; c < 3; c++) {
            int v = inverted ? 255 - in[c] : in[c];
            int t = v * nk + 128;
            int r = nk - (((t >> 8) + t) >> 8);
            rgb[c] = r < 0 ? 0 : r;
        }
        out[x] = (uint8_t)((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
    }
}

static void check_header(jpeg_ctx *x)
{
    j_decompress_ptr c = &x->cinfo;
    JDIMENSION w = c->image_width, h = c->image_height;
    if (w > COVIDCAM_MAX_IMAGE_DIM || h > COVIDCAM_MAX_IMAGE_DIM ||
        (uint64_t)w * h > COVIDCAM_MAX_IMAGE_PIXELS) {
        cc_fail(x->e, COVIDCAM_ERR_LIMIT,
                "JPEG is %ux%u; the limits are %u per side and %u pixels", (unsigned)w,
                (unsigned)h, COVIDCAM_MAX_IMAGE_DIM, COVIDCAM_MAX_IMAGE_PIXELS);
        fail_with(x, COVIDCAM_ERR_LIMIT);
    }
    if (c->data_precision != 8) {
        cc_fail(x->e, COVIDCAM_ERR_UNSUPPORTED, "%d-bit JPEG is not supported (8-bit only)",
                c->data_precision);
        fail_with(x, COVIDCAM_ERR_UNSUPPORTED);
    }
    const char *pm = photometric_of(c->jpeg_color_space);
    if (!*pm) {
        cc_fail(x->e, COVIDCAM_ERR_UNSUPPORTED,
                "JPEG with %d components in an unknown color space is not supported",
                c->num_components);
        fail_with(x, COVIDCAM_ERR_UNSUPPORTED);
    }
    x->meta.width = (int)w;
    x->meta.height = (int)h;
    x->meta.components = c->num_components;
    x->meta.bits = c->data_precision;
    x->meta.progressive = c->progressive_mode != 0;
    snprintf(x->meta.photometric, sizeof x->meta.photometric, "%s", pm);
    int cmyk = c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK;
    c->out_color_space = cmyk ? JCS_CMYK : JCS_GRAYSCALE;
    c->dct_method = JDCT_ISLOW; /* the accurate default; PIL uses it too */
}

/* Everything that may longjmp. No local of this function changes between
 * setjmp and a longjmp that matters, so none needs to be volatile. */
static covidcam_status decode(jpeg_ctx *x, const void *buf, size_t len)
{
    j_decompress_ptr c = &x->cinfo;
    if (setjmp(x->jmp))
        return x->status; /* message written before the longjmp */

    c->client_data = x; /* kept by jpeg_create_decompress */
    jpeg_create_decompress(c);
    c->progress = &x->progress;
    c->mem->max_memory_to_use = CC_JPEG_MAX_LIBJPEG_MEMORY;
    jpeg_mem_src(c, buf, (unsigned long)len);
    jpeg_save_markers(c, JPEG_APP0 + 1, 0xffff);
    if (jpeg_read_header(c, TRUE) != JPEG_HEADER_OK) {
        cc_fail(x->e, COVIDCAM_ERR_BAD_FORMAT, "invalid JPEG: no image (tables only)");
        fail_with(x, COVIDCAM_ERR_BAD_FORMAT);
    }
    check_header(x);
    /* Saved markers live in libjpeg's image pool, freed by finish_decompress. */
    x->meta.orientation = find_orientation(c);
    int w = x->meta.width, h = x->meta.height;
    x->px = malloc((size_t)w * h);
    x->row = malloc((size_t)w * 4);
    if (!x->px || !x->row) {
        cc_fail(x->e, COVIDCAM_ERR_OUT_OF_MEMORY, "no memory for a %dx%d image", w, h);
        fail_with(x, COVIDCAM_ERR_OUT_OF_MEMORY);
    }
    jpeg_start_decompress(c);
    int cmyk = c->out_color_space == JCS_CMYK;
    while (c->output_scanline < c->output_height) {
        uint8_t *dst = x->px + (size_t)c->output_scanline * w;
        JSAMPROW r = cmyk ? x->row : dst;
        if (jpeg_read_scanlines(c, &r, 1) != 1) {
            cc_fail(x->e, COVIDCAM_ERR_BAD_FORMAT, "invalid JPEG: decoder stalled");
            fail_with(x, COVIDCAM_ERR_BAD_FORMAT);
        }
        if (cmyk)
            cmyk_row_to_gray(x->row, w, c->saw_Adobe_marker, dst);
    }
    /* Reading to EOI makes a file cut after its last scan line an error too. */
    jpeg_finish_decompress(c);
    return COVIDCAM_OK;
}

covidcam_status cc_jpeg_decode_gray(const void *buf, size_t len, cc_image *out,
                                    cc_jpeg_meta *meta, cc_err *e)
{
    if (!buf || !out)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "NULL buffer or output image");
    if (len < 4 || ((const uint8_t *)buf)[0] != 0xff || ((const uint8_t *)buf)[1] != 0xd8)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "not a JPEG file");
    jpeg_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "no memory for the JPEG decoder");
    x->e = e;
    x->cinfo.err = jpeg_std_error(&x->jerr);
    x->jerr.error_exit = on_error;
    x->jerr.emit_message = on_message;
    x->progress.progress_monitor = on_progress;
    covidcam_status st = decode(x, buf, len);
    free(x->row);
    jpeg_destroy_decompress(&x->cinfo);
    if (st == COVIDCAM_OK) {
        const cc_jpeg_meta *m = &x->meta;
        uint8_t *px = orient(x->px, m->width, m->height, m->orientation);
        if (!px) {
            free(x->px);
            free(x);
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "no memory to orient the image");
        }
        int turn = m->orientation >= 5;
        out->width = turn ? m->height : m->width;
        out->height = turn ? m->width : m->height;
        out->pixels = px;
        if (meta)
            *meta = *m;
    } else {
        free(x->px);
    }
    free(x);
    return st;
}
