/* Small covidcam model files built in memory, for tests that need a model of
 * a given shape (limits, allocation failures, threads) without committing one
 * fixture per case. */
#ifndef RB_MODEL_H
#define RB_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct rb_model_spec {
    const char *block;  /* "basic" or "bottleneck" */
    const char *layers; /* JSON list, e.g. "[1,1]" */
    const char *widths; /* JSON list, e.g. "[2,4]" */
    int stem_width;
    int input_size;
    int in_ch;       /* 1 or 3 */
    int num_classes; /* class names are "c0", "c1", ... */
    int pad_header;  /* extra spaces appended to the JSON header */
    unsigned seed;   /* weights are a deterministic function of the seed */
    double ood_threshold; /* > 0: add OOD statistics with this threshold: class k's
                             mean is k in every feature, the precision the identity */
} rb_model_spec;

/* The defaults used throughout: basic, layers [1,1], widths [2,4], stem 2,
 * input 32, 1 channel, 3 classes. */
rb_model_spec rb_model_default(void);

/* A complete covidcam safetensors file for `spec` (malloc'd, *len bytes), or
 * NULL if the spec is not a valid custom ResNet. */
uint8_t *rb_model_build(const rb_model_spec *spec, size_t *len);

/* A file whose JSON header has exactly `count` tensor entries (plus the
 * metadata of rb_model_default when with_meta), every one an empty F32
 * tensor. Tests the tensor-count limit. */
uint8_t *rb_model_many_tensors(size_t count, int with_meta, size_t *len);

#endif
