/* Legend drawing: bitmap text and the jet bar, clipped to the image. */
#include <stddef.h>
#include <string.h>

#include "font.h"
#include "legend.h"
#include "render.h"

#define MARGIN 3    /* pixels (times the scale) around text and bar */
#define BAR_H 8     /* colour bar height */
#define DARKEN 0.3f /* what is left of the image under a band */
#define MAX_LINES 3 /* text lines in the top band before the rest is cut */
#define LEADING 2   /* pixels between text lines */

typedef struct canvas {
    uint8_t *rgb;
    int w, h;
} canvas;

static void put(const canvas *c, int x, int y, const uint8_t px[3])
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = px[0];
    p[1] = px[1];
    p[2] = px[2];
}

static void darken_rows(const canvas *c, int y0, int y1)
{
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
            for (int k = 0; k < 3; k++)
                p[k] = (uint8_t)(p[k] * DARKEN);
        }
}

/* One glyph with its top-left corner at (x, y), each font pixel s x s. */
static void glyph(const canvas *c, int x, int y, int s, unsigned char ch)
{
    static const uint8_t white[3] = {255, 255, 255};
    int g = ch >= CC_FONT_FIRST && ch < CC_FONT_FIRST + CC_FONT_GLYPHS ? ch - CC_FONT_FIRST
                                                                        : '?' - CC_FONT_FIRST;
    for (int r = 0; r < CC_FONT_H; r++)
        for (int col = 0; col < CC_FONT_W; col++)
            if (cc_font_6x13[g][r] & (1u << (CC_FONT_W - 1 - col)))
                for (int dy = 0; dy < s; dy++)
                    for (int dx = 0; dx < s; dx++)
                        put(c, x + col * s + dx, y + r * s + dy, white);
}

/* Up to n bytes of text from (x, y), cut where the next glyph would cross
 * the right margin. */
static void text_at(const canvas *c, int x, int y, int s, const char *text, size_t n)
{
    for (const unsigned char *p = (const unsigned char *)text; *p && n; p++, n--) {
        if (x + CC_FONT_W * s > c->w - MARGIN * s)
            return;
        glyph(c, x, y, s, *p);
        x += CC_FONT_W * s;
    }
}

/* Split text into at most MAX_LINES lines of at most `fit` glyphs, breaking
 * after a space where one is in reach; the last line takes the rest (and is
 * cut when drawn). starts/lens receive each line. Returns the count (>= 1). */
static int wrap(const char *text, size_t fit, const char *starts[], size_t lens[])
{
    int n = 0;
    size_t len = strlen(text);
    fit = fit ? fit : 1;
    while (n < MAX_LINES - 1 && len > fit) {
        size_t cut = fit;
        while (cut > 0 && text[cut] != ' ')
            cut--;
        if (cut == 0)
            cut = fit; /* no space in reach: break inside the word */
        starts[n] = text;
        lens[n++] = cut;
        text += cut;
        len -= cut;
        while (*text == ' ')
            text++, len--;
    }
    starts[n] = text;
    lens[n++] = len;
    return n;
}

static void colour_bar(const canvas *c, int x0, int x1, int y0, int y1)
{
    for (int x = x0; x < x1; x++) {
        float v = x1 - x0 > 1 ? (float)(x - x0) / (float)(x1 - 1 - x0) : 1.0f;
        uint8_t px[3];
        cc_colormap_jet(&v, 1, px);
        for (int y = y0; y < y1; y++)
            put(c, x, y, px);
    }
}

int cc_legend_scale(int width, int height)
{
    int side = width < height ? width : height;
    return side >= 640 ? side / 320 : 1;
}

void cc_legend_draw(uint8_t *rgb, int width, int height, const char *text)
{
    canvas c = {rgb, width, height};
    int s = cc_legend_scale(width, height), m = MARGIN * s;
    const char *starts[MAX_LINES];
    size_t lens[MAX_LINES];
    int usable = width - 2 * m;
    int lines = wrap(text ? text : "", usable > 0 ? (size_t)usable / (CC_FONT_W * s) : 0,
                     starts, lens);
    int band = (lines * CC_FONT_H + (lines - 1) * LEADING + 2 * MARGIN) * s;
    darken_rows(&c, 0, band);
    for (int i = 0; i < lines; i++)
        text_at(&c, m, m + i * (CC_FONT_H + LEADING) * s, s, starts[i], lens[i]);
    /* bottom: the end labels over the bar */
    int bar_y1 = height - m, bar_y0 = bar_y1 - BAR_H * s, label_y = bar_y0 - m - CC_FONT_H * s;
    darken_rows(&c, label_y - m, height);
    colour_bar(&c, m, width - m, bar_y0, bar_y1);
    text_at(&c, m, label_y, s, "0", 1);
    text_at(&c, width - m - CC_FONT_W * s, label_y, s, "1", 1);
}
