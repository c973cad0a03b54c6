/* PNG files crafted for the robustness tests. */
#ifndef RB_PNG_H
#define RB_PNG_H

#include <stddef.h>
#include <stdint.h>

/* A valid 8-bit gray PNG of w x h with a deterministic pattern that depends on
 * `seed` (malloc'd, *len bytes). The pixels themselves go to *pixels when it is
 * not NULL (malloc'd, w * h bytes). NULL on failure. */
uint8_t *rb_png_gray(int w, int h, unsigned seed, uint8_t **pixels, size_t *len);

/* A well-formed PNG of exactly `total` bytes (at least 128) whose IHDR claims
 * w x h 8-bit gray, with one IDAT holding a zlib stream of zero rows as long as
 * fits: the classic decompression bomb shape. The stream ends early, so a
 * decoder that accepts the size must still fail with BAD_FORMAT. */
uint8_t *rb_png_claim(uint32_t w, uint32_t h, size_t total);

#endif
