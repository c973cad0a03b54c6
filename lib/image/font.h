/* The legend's built-in bitmap font: printable ASCII, 6 x 13 pixels a glyph. */
#ifndef COVIDCAM_FONT_H
#define COVIDCAM_FONT_H

#include <stdint.h>

#define CC_FONT_W 6
#define CC_FONT_H 13
#define CC_FONT_FIRST 32 /* ' ' */
#define CC_FONT_GLYPHS 95 /* ' ' .. '~' */

/* Row r of glyph g is cc_font_6x13[g][r]; bit (CC_FONT_W - 1 - x) is pixel x. */
extern const uint8_t cc_font_6x13[CC_FONT_GLYPHS][CC_FONT_H];

#endif
