#include "rb_png.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "png_io.h"

uint8_t *rb_png_gray(int w, int h, unsigned seed, uint8_t **pixels, size_t *len)
{
    uint8_t *px = malloc((size_t)w * (size_t)h);
    if (!px)
        return NULL;
    unsigned state = seed * 2654435761u + 1;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            state = state * 1103515245u + 12345u;
            /* a smooth gradient plus noise, so images differ in their logits */
            px[(size_t)y * w + x] = (uint8_t)((x * 255 / w + y * (int)(seed % 7)) / 2 +
                                              (int)((state >> 16) % 64));
        }
    }
    uint8_t *png = NULL;
    if (cc_png_encode(px, w, h, 1, &png, len, NULL) != COVIDCAM_OK)
        png = NULL;
    if (pixels && png)
        *pixels = px;
    else
        free(px);
    return png;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Write a chunk (length, type, data, CRC) at p; returns its size. */
static size_t chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t n)
{
    put32(p, n);
    memcpy(p + 4, type, 4);
    if (n)
        memcpy(p + 8, data, n);
    put32(p + 8 + n, (uint32_t)crc32(0, p + 4, 4 + n));
    return 12 + n;
}

uint8_t *rb_png_claim(uint32_t w, uint32_t h, size_t total)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (total < 128)
        return NULL;
    uint8_t *out = calloc(1, total);
    uint8_t *zeros = calloc(1, 1 << 20);
    if (!out || !zeros) {
        free(out);
        free(zeros);
        return NULL;
    }
    uint8_t ihdr[13] = {0};
    put32(ihdr, w);
    put32(ihdr + 4, h);
    ihdr[8] = 8; /* bit depth; color type 0 (gray), no interlace */
    size_t o = 0;
    memcpy(out, sig, 8);
    o += 8;
    o += chunk(out + o, "IHDR", ihdr, 13);
    /* IDAT fills what is left after the IDAT, padding and IEND chunk headers */
    uLongf room = (uLongf)(total - o - 3 * 12);
    z_stream z = {0};
    deflateInit(&z, 9);
    z.next_in = zeros;
    z.avail_in = 1 << 20;
    z.next_out = out + o + 8;
    z.avail_out = (uInt)room;
    deflate(&z, Z_NO_FLUSH); /* no Z_FINISH: the stream is cut off, like a bomb's head */
    deflate(&z, Z_SYNC_FLUSH);
    uLongf used = room - z.avail_out;
    deflateEnd(&z);
    /* chunk() copies over itself when data == destination; move it aside */
    uint8_t *idat = malloc(used ? used : 1);
    memcpy(idat, out + o + 8, used);
    o += chunk(out + o, "IDAT", idat, (uint32_t)used);
    free(idat);
    /* pad with an ancillary private chunk so the file has exactly `total` bytes */
    o += chunk(out + o, "ruBb", zeros, (uint32_t)(total - o - 2 * 12));
    o += chunk(out + o, "IEND", NULL, 0);
    free(zeros);
    if (o != total) {
        free(out);
        return NULL;
    }
    return out;
}
