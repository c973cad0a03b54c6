/* The heatmap handle. */
#ifndef COVIDCAM_HEATMAP_H
#define COVIDCAM_HEATMAP_H

#include "covidcam.h"
#include "png_io.h"

struct covidcam_heatmap {
    int raw_w, raw_h;
    float *raw; /* relu(cam) at layer resolution */
    int size;
    float *map; /* normalised, size x size */
    int cls;
    float prob;
    char layer[32];
    covidcam_cam_method method;
    int num_classes;
    float *probs, *logits;
    int top;
    cc_image image; /* gray copy of the original image; empty for tensors */
    covidcam_image_info info; /* what the input was */
    covidcam_assessment assess; /* of the classification the map came with */
    int resize;                 /* the model's cc_resize_mode: how the map maps back */
};

#endif
