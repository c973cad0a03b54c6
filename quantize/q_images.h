/* Which images covidcam-quantize reads: a folder's images (examples/inputs.c)
 * grouped by their class folder (the first component under the folder), and
 * a fixed, evenly spread subset of them. */
#ifndef COVIDCAM_QUANTIZE_Q_IMAGES_H
#define COVIDCAM_QUANTIZE_Q_IMAGES_H

#include <stddef.h>

#include "inputs.h"

/* Up to `want` items of `in` (0: all), spread over the class folders (a
 * class folder of each folder argument is a group of its own): each
 * folder gets want / folders (the first want % folders one more, in name
 * order), a folder with fewer gives all it has, and within a folder the
 * picks are evenly spaced in path order. Indices into in->item, in path
 * order, into *out (caller frees); returns how many, -1 when out of memory. */
long q_pick(const cli_inputs *in, long want, size_t **out);

/* The class folder of an item (its first path component under the folder,
 * into buf), or "" when the image was named directly or sits at the top. */
const char *q_class_of(const cli_input *item, char *buf, size_t size);

#endif
