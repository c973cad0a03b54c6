/* The perturbations of covidcam-faithfulness: what "removing" the salient
 * part of a network input means, and the random maps it is compared with. */
#ifndef COVIDCAM_FAITH_METRICS_H
#define COVIDCAM_FAITH_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* A small seeded generator (splitmix64): the random maps are reproducible
 * from --seed and the image's index, whatever the platform. */
typedef struct faith_rng {
    uint64_t state;
} faith_rng;

void faith_rng_seed(faith_rng *r, uint64_t seed, uint64_t stream);
double faith_rng_uniform(faith_rng *r); /* [0, 1) */

/* A random map shaped like a CAM: uniform noise at rw x rh (the target
 * layer's resolution), bilinearly resized (half-pixel centres) to size x size
 * and min-max scaled to [0, 1], into map. `tmp` holds rw * rh floats. */
void faith_random_map(faith_rng *r, int rw, int rh, int size, float *tmp, float *map);

/* pytorch-grad-cam's CamMultImageConfidenceChange perturbation: the
 * normalised input (channels x size x size) times the map (size x size),
 * into out. */
void faith_multiply(const float *input, const float *map, int channels, int size, float *out);

/* A map position with its value, for ranking. */
typedef struct faith_rank {
    float value;
    int index;
} faith_rank;

/* Remove the most salient `fraction` of the input: exactly
 * round(fraction * size^2) positions with the highest map values (ties by
 * position) take each channel's mean, into out. `ranks` holds size^2 entries. */
void faith_remove_top(const float *input, const float *map, int channels, int size,
                      double fraction, faith_rank *ranks, float *out);

#endif
