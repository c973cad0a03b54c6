/* Turning a decoded radiograph into a network input: the library's
 * preprocessing (bilinear resize to the input size, (x - mean) / std), with
 * optional random augmentation in between. */
#ifndef TR_AUGMENT_H
#define TR_AUGMENT_H

#include <stdint.h>

#include "png_io.h"
#include "preprocess.h"

/* Augmentation ranges; every parameter is drawn uniformly per sample. */
typedef struct tr_aug {
    int enabled;
    double scale;      /* zoom factor in [1 - scale, 1 + scale] */
    double translate;  /* shift in [-translate, translate] * size, each axis */
    double rotate;     /* degrees in [-rotate, rotate] */
    double brightness; /* pixel factor in [1 - b, 1 + b] */
    double contrast;   /* contrast factor in [1 - c, 1 + c] around the image mean */
    int hflip;         /* mirror with probability 1/2 (off: laterality matters) */
} tr_aug;

void tr_aug_defaults(tr_aug *a);

/* Write `channels` planes of size x size floats for img to out. Without
 * augmentation this is exactly cc_preprocess_gray_mode(). With it: the same
 * fitted resize (`resize`, the model's metadata mode), a random
 * affine warp about the centre (bilinear, black outside), brightness and
 * contrast jitter clamped to [0, 255], then normalization. The random draws
 * come only from `seed`. tmp holds 2 * size * size floats. */
void tr_prepare(const cc_image *img, int size, cc_resize_mode resize, int channels,
                const float *mean, const float *std, const tr_aug *aug, uint64_t seed, float *tmp,
                float *out);

#endif
