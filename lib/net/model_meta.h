/* The covidcam metadata of a model or checkpoint file (docs/model-format.md),
 * parsed and validated once, by the rules the library and the trainer share.
 * The numeric bounds below are also read by tools/covidcam_torch.py, so the
 * writer refuses what the loader refuses: keep them plain #defines. */
#ifndef COVIDCAM_MODEL_META_H
#define COVIDCAM_MODEL_META_H

#include "arch.h"
#include "error.h"
#include "safetensors.h"

#define CC_META_FORMAT "covidcam"
#define CC_META_CKPT_FORMAT "covidcam-checkpoint"

#define CC_META_MIN_INPUT_SIZE 8
#define CC_META_MIN_CLASSES 2
#define CC_META_MAX_CLASS_NAME_BYTES 255
/* mean and std are in 0-255 pixel units; bounds hold after conversion to
 * float, the type preprocessing computes in. */
#define CC_META_MAX_ABS_MEAN 1e4
#define CC_META_MIN_STD 1e-3
#define CC_META_MAX_STD 1e4
#define CC_META_DEFAULT_BN_EPS 1e-5
#define CC_META_MIN_BN_EPS 1e-10
#define CC_META_MAX_BN_EPS 0.1
/* Softmax temperature: probabilities are softmax(logits / T); 1 when absent. */
#define CC_META_MIN_TEMPERATURE 0.01
#define CC_META_MAX_TEMPERATURE 100
/* Out-of-distribution statistics (lib/net/ood.h): the one method, and the
 * bounds of its threshold (a squared Mahalanobis distance). */
#define CC_META_OOD_METHOD "mahalanobis"
#define CC_META_MIN_OOD_THRESHOLD 1e-6
#define CC_META_MAX_OOD_THRESHOLD 1e12

typedef struct cc_model_meta {
    cc_arch arch;
    int input_size;
    int in_ch;
    float mean[3], std[3];
    double bn_eps;      /* validated as a float; the library folds in double */
    float temperature;  /* softmax temperature, 1 when the file has none */
    int resize;         /* cc_resize_mode of the metadata `resize`; stretch when absent */
    int has_ood;        /* ood_method and ood_threshold are present (tensors: ood.h) */
    double ood_threshold;
    int num_classes;
    char **classes;     /* num_classes owned strings */
    const char *description; /* points into the safetensors metadata; may be NULL */
} cc_model_meta;

/* Parse and validate the metadata of `st`. `checkpoint` also accepts the
 * trainer's checkpoint format. On success the caller owns m->classes (free
 * with cc_model_meta_free); on failure *m holds nothing to free. Every error
 * names the key (and the element or class index). */
covidcam_status cc_model_meta_parse(const cc_safetensors *st, int checkpoint, cc_model_meta *m,
                                    cc_err *e);

void cc_model_meta_free(cc_model_meta *m);

/* The class-name character rule the loader applies: the byte offset of the
 * first control character of s (C0 0x00-0x1f, DEL, or C1 U+0080-U+009F, which
 * is 0xc2 0x80-0x9f in UTF-8), or -1 when there is none. The trainer applies
 * it to class folder names, so it never writes a model the loader refuses. */
long cc_meta_control_char(const char *s);

/* The metadata `resize` names, shared with the trainer's --resize: the
 * cc_resize_mode (preprocess.h) of `name`, or -1 when it is none of
 * "stretch", "center_crop", "pad"; and the name of a mode (NULL if invalid). */
int cc_meta_resize_mode(const char *name);
const char *cc_meta_resize_name(int mode);

#endif
