/* ResNet architecture description shared by the loader and the trainer. */
#ifndef COVIDCAM_ARCH_H
#define COVIDCAM_ARCH_H

#include <stdint.h>

#include "error.h"
#include "safetensors.h" /* CC_MAX_NDIM */

#define CC_MAX_STAGES 4

typedef enum cc_block_kind { CC_BLOCK_BASIC = 0, CC_BLOCK_BOTTLENECK = 1 } cc_block_kind;

/* torchvision ResNet (v1.5: stride on the 3x3 conv). Stage s has layers[s]
 * blocks of width widths[s]; its output has widths[s] * expansion channels.
 * Stage 0 has stride 1, the others stride 2. The stem is conv7x7/2 (stem_width)
 * + BN + ReLU + maxpool3x3/2. */
typedef struct cc_arch {
    char name[16]; /* "resnet18"... or "resnet" */
    cc_block_kind block;
    int num_stages; /* 1..4 */
    int layers[CC_MAX_STAGES];
    int widths[CC_MAX_STAGES];
    int stem_width;
} cc_arch;

/* 1 for basic blocks, 4 for bottlenecks. */
int cc_arch_expansion(const cc_arch *a);

/* Channels out of stage s. */
int cc_arch_stage_channels(const cc_arch *a, int s);

/* Channels fed to fc (the last stage's output). */
int cc_arch_features(const cc_arch *a);

/* One residual block, the only statement of torchvision's rule: the first block
 * of every stage after the first has stride 2 (on the 3x3 conv: ResNet v1.5),
 * and a block whose stride or channel count changes has a downsample branch
 * (1x1 conv with the block's stride, then BN). conv i maps conv_in(g, i)
 * channels to conv_out(g, i) with kernel k[i] and stride conv_stride(g, i). */
typedef struct cc_block_geom {
    int in_ch, width, out_ch;
    int stride;
    int has_down;
    int nconv;        /* 2 (basic) or 3 (bottleneck) */
    int k[3];         /* kernel side of each conv */
    int stride_conv;  /* the conv that carries the stride */
} cc_block_geom;

/* The geometry of block b (0-based) of stage s. */
void cc_arch_block(const cc_arch *a, int s, int b, cc_block_geom *g);

static inline int cc_block_conv_in(const cc_block_geom *g, int i)
{
    return i == 0 ? g->in_ch : g->width;
}

static inline int cc_block_conv_out(const cc_block_geom *g, int i)
{
    return i == g->nconv - 1 ? g->out_ch : g->width;
}

static inline int cc_block_conv_stride(const cc_block_geom *g, int i)
{
    return i == g->stride_conv ? g->stride : 1;
}

/* Fill *a for "resnet18|34|50|101|152". COVIDCAM_ERR_UNSUPPORTED otherwise. */
covidcam_status cc_arch_from_name(const char *name, cc_arch *a, cc_err *e);

/* Fill *a for a custom "resnet" from the metadata strings block ("basic" |
 * "bottleneck"), layers ("[2,2,2,2]"), widths ("[64,128,256,512]") and stem_width
 * ("64"). Every count and width must be in [1, 4096]. BAD_FORMAT names the key. */
covidcam_status cc_arch_custom(const char *block, const char *layers, const char *widths,
                               const char *stem_width, cc_arch *a, cc_err *e);

/* Fill *a for a custom "resnet" from already parsed values: n stages (1 to
 * CC_MAX_STAGES) of layers[s] blocks of width widths[s], every count and width
 * in [1, 4096]. BAD_FORMAT names the offending value. */
covidcam_status cc_arch_from_lists(cc_block_kind block, const int *layers, const int *widths,
                                   int n, int stem_width, cc_arch *a, cc_err *e);

/* Number of tensors cc_arch_tensors() would list, computed without
 * allocating (so oversized architectures can be refused first). */
long cc_arch_num_tensors(const cc_arch *a, int in_channels);

/* One tensor the model file must hold, with torchvision's name and shape. */
typedef struct cc_tensor_spec {
    char name[96];
    int ndim;
    int64_t shape[CC_MAX_NDIM];
} cc_tensor_spec;

/* The parameter tensors of the architecture in a fixed order: conv1.weight,
 * bn1.{weight,bias,running_mean,running_var}, then per block conv/bn in order
 * (conv1, bn1, conv2, bn2[, conv3, bn3][, downsample.0.weight, downsample.1.*]),
 * then fc.weight, fc.bias. Returns a malloc'd array (caller frees) and its
 * length in *n, or NULL when out of memory. */
cc_tensor_spec *cc_arch_tensors(const cc_arch *a, int in_channels, int num_classes, int *n);

#endif
