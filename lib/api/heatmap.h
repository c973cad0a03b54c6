/* The heatmap handle. */
#ifndef COVIDCAM_HEATMAP_H
#define COVIDCAM_HEATMAP_H

#include "covidcam.h"
#include "png_io.h"

struct covidcam_heatmap {
    int raw_w, raw_h;
    float *raw; /* relu(cam) at layer resolution; several layers: their mean at size */
    int size;
    float *map; /* normalised, size x size */
    int cls;
    float prob;
    char layer[COVIDCAM_MAX_CAM_LAYERS * 32]; /* "layer4.1" or "layer3.1,layer4.1" */
    covidcam_cam_method method;
    int eigen_smooth;
    covidcam_aug_smooth aug_smooth;
    int num_classes;
    float *probs, *logits;
    int top;
    cc_image image; /* gray copy of the original image; empty for tensors */
    covidcam_image_info info; /* what the input was */
    covidcam_assessment assess; /* of the classification the map came with */
    int resize;                 /* the model's cc_resize_mode: how the map maps back */
};

#endif
