/* The legend of a labelled overlay: a line of text and the colour bar. */
#ifndef COVIDCAM_LEGEND_H
#define COVIDCAM_LEGEND_H

#include <stdint.h>

/* The integer scale of the legend on a width x height image: glyphs and bar
 * grow with the image so the label stays readable on a full-size film. */
int cc_legend_scale(int width, int height);

/* Draw onto rgb (width x height, 3 bytes a pixel, rows packed): a band along
 * the top, darkened, with `text` in white (printable ASCII; other bytes as
 * '?'), wrapped at spaces onto up to three lines and the last one cut at the
 * right edge, and a band along the bottom with the jet
 * colour bar from 0 (left) to 1 (right) and its end labels. Pixels outside
 * the image are skipped, so any size is safe. Allocation-free. */
void cc_legend_draw(uint8_t *rgb, int width, int height, const char *text);

#endif
