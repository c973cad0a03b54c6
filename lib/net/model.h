/* The model handle: validated metadata and BN-folded weights in oneDNN layouts. */
#ifndef COVIDCAM_MODEL_H
#define COVIDCAM_MODEL_H

#include "arch.h"
#include "dnn.h"
#include "error.h"
#include "safetensors.h"

/* A convolution (or the fc layer) with batch norm folded in: the weights are
 * kept in the layout oneDNN chose for the forward primitive, so sessions whose
 * primitives agree on it (the usual case) use them without a copy. */
typedef struct cc_conv_w {
    cc_dnn_conv geom;
    int ic;
    cc_dnn_md *w_md; /* layout of w */
    float *w;        /* cc_dnn_alloc'd */
    float *b;        /* oc floats, cc_dnn_alloc'd */
} cc_conv_w;

typedef struct cc_block_w {
    char name[32]; /* "layer2.0" */
    int stage, index;
    int in_ch, out_ch, stride;
    int nconv;          /* 2 (basic) or 3 (bottleneck) */
    cc_conv_w conv[3];
    int has_down;
    cc_conv_w down;
} cc_block_w;

struct covidcam_model {
    cc_arch arch;
    int input_size;
    int in_ch;
    int num_classes;
    char **classes;
    float mean[3], std[3];
    double bn_eps;
    float temperature; /* softmax(logits / temperature): metadata, default 1 */
    int resize;        /* cc_resize_mode (preprocess.h): metadata, default stretch */
    cc_st_meta *meta; /* copied metadata */
    size_t num_meta;

    cc_conv_w stem;
    cc_block_w *blocks;
    int num_blocks;
    cc_conv_w fc; /* geom.oc = classes, ic = features, k = 1 */
    float *fc_plain; /* fc.weight as classes x features, for the Grad-CAM closed form */

    struct cc_ood *ood; /* out-of-distribution statistics (ood.h), NULL when absent */
    int has_ood_meta;     /* the metadata announces them (set at parse, read at load) */
    double ood_threshold; /* from the metadata */

    char **layer_names; /* blocks first, then stage aliases */
    int num_layers;

    /* int8 calibration scales from the metadata (qscales.h); NULL when the
     * file has none, and then int8 sessions are refused. */
    struct cc_qscales *qs;

    cc_dnn_engine *eng;
    /* Weights converted for bf16 and int8 sessions, made by the first one (prepared.h).
     * The model is otherwise immutable; this cache has its own lock. */
    struct cc_prep_cache *prep;
};

/* Build a model from a parsed safetensors file (data still in memory). */
covidcam_status cc_model_from_safetensors(const cc_safetensors *st, covidcam_model **out,
                                          cc_err *e);

/* Resolve a Grad-CAM layer name ("layer4", "layer2.0"; NULL or "" = last block)
 * to a block index; -1 if unknown. */
int cc_model_find_layer(const covidcam_model *m, const char *name);

#endif
