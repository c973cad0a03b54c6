#include "arch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CC_ARCH_MAX_COUNT 4096

int cc_arch_expansion(const cc_arch *a)
{
    return a->block == CC_BLOCK_BOTTLENECK ? 4 : 1;
}

int cc_arch_stage_channels(const cc_arch *a, int s)
{
    return a->widths[s] * cc_arch_expansion(a);
}

int cc_arch_features(const cc_arch *a)
{
    return cc_arch_stage_channels(a, a->num_stages - 1);
}

void cc_arch_block(const cc_arch *a, int s, int b, cc_block_geom *g)
{
    int bottleneck = a->block == CC_BLOCK_BOTTLENECK;
    memset(g, 0, sizeof *g);
    g->in_ch = b > 0 ? cc_arch_stage_channels(a, s)
               : s > 0 ? cc_arch_stage_channels(a, s - 1)
                       : a->stem_width;
    g->width = a->widths[s];
    g->out_ch = cc_arch_stage_channels(a, s);
    g->stride = (s > 0 && b == 0) ? 2 : 1;
    g->has_down = g->stride != 1 || g->in_ch != g->out_ch;
    g->nconv = bottleneck ? 3 : 2;
    g->k[0] = bottleneck ? 1 : 3;
    g->k[1] = 3;
    g->k[2] = 1;
    g->stride_conv = bottleneck ? 1 : 0;
}

static void set_standard(cc_arch *a, const char *name, cc_block_kind block, int l0, int l1, int l2,
                         int l3)
{
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->block = block;
    a->num_stages = 4;
    a->layers[0] = l0;
    a->layers[1] = l1;
    a->layers[2] = l2;
    a->layers[3] = l3;
    for (int s = 0; s < 4; s++)
        a->widths[s] = 64 << s;
    a->stem_width = 64;
}

covidcam_status cc_arch_from_name(const char *name, cc_arch *a, cc_err *e)
{
    static const struct {
        const char *name;
        cc_block_kind block;
        int layers[4];
    } known[] = {
        {"resnet18", CC_BLOCK_BASIC, {2, 2, 2, 2}},
        {"resnet34", CC_BLOCK_BASIC, {3, 4, 6, 3}},
        {"resnet50", CC_BLOCK_BOTTLENECK, {3, 4, 6, 3}},
        {"resnet101", CC_BLOCK_BOTTLENECK, {3, 4, 23, 3}},
        {"resnet152", CC_BLOCK_BOTTLENECK, {3, 8, 36, 3}},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(name, known[i].name) == 0) {
            set_standard(a, name, known[i].block, known[i].layers[0], known[i].layers[1],
                         known[i].layers[2], known[i].layers[3]);
            return COVIDCAM_OK;
        }
    }
    return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                   "arch '%s' is not supported (resnet18, resnet34, resnet50, resnet101, "
                   "resnet152 or resnet with block/layers/widths/stem_width)",
                   name);
}

static int parse_count(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || v < 1 || v > CC_ARCH_MAX_COUNT)
        return -1;
    *out = (int)v;
    return (int)(end - s);
}

/* Parse a JSON list of small positive integers like "[2, 2, 2, 2]". Written by
 * hand rather than with jansson because the grammar is this narrow and the
 * error should name the element. Returns the element count or -1. */
static int parse_int_list(const char *s, int *vals, int max)
{
    int n = 0;
    while (*s == ' ')
        s++;
    if (*s++ != '[')
        return -1;
    for (;;) {
        while (*s == ' ')
            s++;
        if (*s == ']' && n == 0) {
            s++;
            break;
        }
        if (n == max)
            return -1;
        int used = parse_count(s, &vals[n]);
        if (used < 0)
            return -1;
        n++;
        s += used;
        while (*s == ' ')
            s++;
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == ']') {
            s++;
            break;
        }
        return -1;
    }
    while (*s == ' ')
        s++;
    return *s ? -1 : n;
}

covidcam_status cc_arch_from_lists(cc_block_kind block, const int *layers, const int *widths,
                                   int n, int stem_width, cc_arch *a, cc_err *e)
{
    if (n < 1 || n > CC_MAX_STAGES)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "layers: %d stages; 1 to %d are supported", n,
                       CC_MAX_STAGES);
    for (int s = 0; s < n; s++)
        if (layers[s] < 1 || layers[s] > CC_ARCH_MAX_COUNT || widths[s] < 1 ||
            widths[s] > CC_ARCH_MAX_COUNT)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "stage %d has %d blocks of width %d; both must be in [1, %d]", s + 1,
                           layers[s], widths[s], CC_ARCH_MAX_COUNT);
    if (stem_width < 1 || stem_width > CC_ARCH_MAX_COUNT)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "stem_width %d is not in [1, %d]", stem_width,
                       CC_ARCH_MAX_COUNT);
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "resnet");
    a->block = block;
    a->num_stages = n;
    for (int s = 0; s < n; s++) {
        a->layers[s] = layers[s];
        a->widths[s] = widths[s];
    }
    a->stem_width = stem_width;
    return COVIDCAM_OK;
}

covidcam_status cc_arch_custom(const char *block, const char *layers, const char *widths,
                               const char *stem_width, cc_arch *a, cc_err *e)
{
    cc_arch tmp;
    memset(&tmp, 0, sizeof tmp);
    snprintf(tmp.name, sizeof tmp.name, "resnet");
    if (!block || !layers || !widths || !stem_width)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: arch 'resnet' needs keys block, layers, widths and stem_width "
                       "(missing %s)",
                       !block ? "block" : !layers ? "layers" : !widths ? "widths" : "stem_width");
    if (strcmp(block, "basic") == 0)
        tmp.block = CC_BLOCK_BASIC;
    else if (strcmp(block, "bottleneck") == 0)
        tmp.block = CC_BLOCK_BOTTLENECK;
    else
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: block must be 'basic' or 'bottleneck', not '%s'", block);
    int nl = parse_int_list(layers, tmp.layers, CC_MAX_STAGES);
    if (nl < 1)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: layers must be a JSON list of 1 to %d block counts in [1, %d], "
                       "not '%s'",
                       CC_MAX_STAGES, CC_ARCH_MAX_COUNT, layers);
    int nw = parse_int_list(widths, tmp.widths, CC_MAX_STAGES);
    if (nw != nl)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: widths must be a JSON list of %d widths in [1, %d] (one per "
                       "stage), not '%s'",
                       nl, CC_ARCH_MAX_COUNT, widths);
    if (parse_count(stem_width, &tmp.stem_width) != (int)strlen(stem_width))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: stem_width must be an integer in [1, %d], not '%s'",
                       CC_ARCH_MAX_COUNT, stem_width);
    tmp.num_stages = nl;
    *a = tmp;
    return COVIDCAM_OK;
}

static void spec1(cc_tensor_spec *t, const char *name, int64_t d0)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = 1;
    t->shape[0] = d0;
}

static void spec_conv(cc_tensor_spec *t, const char *name, int64_t o, int64_t i, int64_t k)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = 4;
    t->shape[0] = o;
    t->shape[1] = i;
    t->shape[2] = k;
    t->shape[3] = k;
}

static int add_bn(cc_tensor_spec *t, const char *prefix, int64_t c)
{
    static const char *const parts[] = {"weight", "bias", "running_mean", "running_var"};
    char name[96];
    for (int p = 0; p < 4; p++) {
        snprintf(name, sizeof name, "%s.%s", prefix, parts[p]);
        spec1(&t[p], name, c);
    }
    return 4;
}

static int add_block(cc_tensor_spec *t, const cc_arch *a, int s, int b)
{
    char name[80], bn[64];
    cc_block_geom g;
    int n = 0;
    cc_arch_block(a, s, b, &g);
    for (int c = 0; c < g.nconv; c++) {
        snprintf(name, sizeof name, "layer%d.%d.conv%d.weight", s + 1, b, c + 1);
        spec_conv(&t[n++], name, cc_block_conv_out(&g, c), cc_block_conv_in(&g, c), g.k[c]);
        snprintf(bn, sizeof bn, "layer%d.%d.bn%d", s + 1, b, c + 1);
        n += add_bn(&t[n], bn, cc_block_conv_out(&g, c));
    }
    if (g.has_down) {
        snprintf(name, sizeof name, "layer%d.%d.downsample.0.weight", s + 1, b);
        spec_conv(&t[n++], name, g.out_ch, g.in_ch, 1);
        snprintf(bn, sizeof bn, "layer%d.%d.downsample.1", s + 1, b);
        n += add_bn(&t[n], bn, g.out_ch);
    }
    return n;
}

long cc_arch_num_tensors(const cc_arch *a, int in_channels)
{
    (void)in_channels;
    long n = 5 + 2; /* stem conv + bn, fc weight + bias */
    cc_block_geom g;
    for (int s = 0; s < a->num_stages; s++)
        for (int b = 0; b < a->layers[s]; b++) {
            cc_arch_block(a, s, b, &g);
            n += 5L * g.nconv + (g.has_down ? 5 : 0);
        }
    return n;
}

cc_tensor_spec *cc_arch_tensors(const cc_arch *a, int in_channels, int num_classes, int *n)
{
    int blocks = 0;
    for (int s = 0; s < a->num_stages; s++)
        blocks += a->layers[s];
    /* per block at most 3 convs + downsample, each with 4 BN tensors */
    size_t cap = 5 + (size_t)blocks * 20 + 2;
    cc_tensor_spec *t = calloc(cap, sizeof *t);
    if (!t)
        return NULL;
    int k = 0;
    spec_conv(&t[k++], "conv1.weight", a->stem_width, in_channels, 7);
    k += add_bn(&t[k], "bn1", a->stem_width);
    for (int s = 0; s < a->num_stages; s++)
        for (int b = 0; b < a->layers[s]; b++)
            k += add_block(&t[k], a, s, b);
    snprintf(t[k].name, sizeof t[k].name, "fc.weight");
    t[k].ndim = 2;
    t[k].shape[0] = num_classes;
    t[k].shape[1] = cc_arch_features(a);
    k++;
    spec1(&t[k++], "fc.bias", num_classes);
    *n = k;
    return t;
}
