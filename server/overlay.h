/* The Grad-CAM overlay as PNG bytes in memory. The library only writes PNGs to
 * files, so this goes through a private temporary file. */
#ifndef COVIDCAM_SERVER_OVERLAY_H
#define COVIDCAM_SERVER_OVERLAY_H

#include <stddef.h>

#include "covidcam.h"

/* covidcam_heatmap_write_overlay(h, ..., image_weight) into a new buffer
 * (*png, *len; the caller frees *png), with the legend `label` drawn on it
 * when label is not NULL (covidcam_heatmap_write_labelled_overlay). On
 * failure returns the status and writes a message to err. Thread-safe (one
 * temporary file per call). */
covidcam_status overlay_png(const covidcam_heatmap *h, float image_weight, const char *label,
                            unsigned char **png, size_t *len, char *err, size_t err_size);

#endif
