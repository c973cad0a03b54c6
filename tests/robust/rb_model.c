#include "rb_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"

/* A growable byte buffer; on allocation failure it stays failed (ok == 0). */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int ok;
} sbuf;

static void sb_reserve(sbuf *b, size_t extra)
{
    if (!b->ok || b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->ok = 0;
        return;
    }
    b->p = np;
    b->cap = cap;
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_reserve(b, (size_t)n);
    if (!b->ok)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

rb_model_spec rb_model_default(void)
{
    rb_model_spec s = {"basic", "[1,1]", "[2,4]", 2, 32, 1, 3, 0, 1, 0.0};
    return s;
}

static void meta_json(sbuf *h, const rb_model_spec *s)
{
    sb_printf(h, "\"__metadata__\":{\"format\":\"covidcam\",\"format_version\":\"1\","
                 "\"arch\":\"resnet\",\"block\":\"%s\",\"layers\":\"%s\",\"widths\":\"%s\","
                 "\"stem_width\":\"%d\",\"input_size\":\"%d\",\"input_channels\":\"%d\",",
              s->block, s->layers, s->widths, s->stem_width, s->input_size, s->in_ch);
    sb_printf(h, "\"mean\":\"[%s]\",\"std\":\"[%s]\",\"classes\":\"[",
              s->in_ch == 3 ? "120,127.5,135" : "127.5", s->in_ch == 3 ? "50,60,70" : "64");
    for (int i = 0; i < s->num_classes; i++)
        sb_printf(h, "%s\\\"c%d\\\"", i ? "," : "", i);
    sb_printf(h, "]\"");
    if (s->ood_threshold > 0)
        sb_printf(h, ",\"ood_method\":\"mahalanobis\",\"ood_threshold\":\"%.9g\"",
                  s->ood_threshold);
    sb_printf(h, "}");
}

/* The OOD tensors' specs and values (see rb_model_spec.ood_threshold). */
static void ood_specs(int classes, int features, cc_tensor_spec *t)
{
    snprintf(t[0].name, sizeof t[0].name, "ood.class_means");
    t[0].ndim = 2;
    t[0].shape[0] = classes;
    t[0].shape[1] = features;
    snprintf(t[1].name, sizeof t[1].name, "ood.precision");
    t[1].ndim = 2;
    t[1].shape[0] = t[1].shape[1] = features;
}

static void ood_values(int classes, int features, float *means, float *prec)
{
    for (int k = 0; k < classes; k++)
        for (int i = 0; i < features; i++)
            means[(size_t)k * features + i] = (float)k;
    for (int i = 0; i < features; i++)
        for (int j = 0; j < features; j++)
            prec[(size_t)i * features + j] = i == j ? 1.0f : 0.0f;
}

/* Header length field + JSON padded with spaces to a multiple of 8 + data. */
static uint8_t *assemble(sbuf *h, int pad, const uint8_t *data, size_t data_len, size_t *len)
{
    size_t spaces = (size_t)pad + (8 - ((size_t)pad + h->len) % 8) % 8;
    sb_reserve(h, spaces);
    if (!h->ok)
        return NULL;
    memset(h->p + h->len, ' ', spaces);
    h->len += spaces;
    uint8_t *out = malloc(8 + h->len + data_len);
    if (!out)
        return NULL;
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)((uint64_t)h->len >> (8 * i));
    memcpy(out + 8, h->p, h->len);
    if (data_len)
        memcpy(out + 8 + h->len, data, data_len);
    *len = 8 + h->len + data_len;
    return out;
}

static size_t numel(const cc_tensor_spec *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

/* Deterministic values; running_var stays positive so the model is valid. */
static float value(unsigned *state, const char *name)
{
    *state = *state * 1664525u + 1013904223u;
    float u = (float)(*state >> 8) / (float)(1u << 24); /* [0, 1) */
    size_t l = strlen(name);
    if (l > 11 && strcmp(name + l - 11, "running_var") == 0)
        return 0.5f + u;
    if (l > 6 && strcmp(name + l - 6, "weight") == 0 && strstr(name, "bn"))
        return 0.5f + u;
    return u - 0.5f;
}

static uint8_t *fill_data(const cc_tensor_spec *t, int n, unsigned seed, size_t *bytes)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += numel(&t[i]) * 4;
    uint8_t *d = malloc(total ? total : 1);
    if (!d)
        return NULL;
    unsigned state = seed;
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < numel(&t[i]); k++, o += 4) {
            float v = value(&state, t[i].name);
            memcpy(d + o, &v, 4); /* x86-64 is little-endian like the format */
        }
    }
    *bytes = total;
    return d;
}

uint8_t *rb_model_build(const rb_model_spec *s, size_t *len)
{
    char stem[16];
    snprintf(stem, sizeof stem, "%d", s->stem_width);
    cc_arch a;
    if (cc_arch_custom(s->block, s->layers, s->widths, stem, &a, NULL) != COVIDCAM_OK)
        return NULL;
    int n = 0, narch;
    cc_tensor_spec *t = cc_arch_tensors(&a, s->in_ch, s->num_classes, &n);
    size_t data_len = 0;
    uint8_t *data = NULL;
    uint8_t *out = NULL;
    sbuf h = {NULL, 0, 0, 1};
    narch = n;
    if (t && s->ood_threshold > 0) {
        cc_tensor_spec *more = realloc(t, (size_t)(n + 2) * sizeof *t);
        if (!more)
            goto done;
        t = more;
        memset(t + n, 0, 2 * sizeof *t);
        ood_specs(s->num_classes, cc_arch_features(&a), t + n);
        n += 2;
    }
    if (!t || !(data = fill_data(t, n, s->seed, &data_len)))
        goto done;
    if (n > narch) {
        size_t arch_bytes = data_len - (numel(&t[narch]) + numel(&t[narch + 1])) * 4;
        float *means = (float *)(void *)(data + arch_bytes);
        ood_values(s->num_classes, cc_arch_features(&a), means,
                   means + numel(&t[narch]));
    }
    sb_printf(&h, "{");
    meta_json(&h, s);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        sb_printf(&h, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", t[i].name);
        for (int d = 0; d < t[i].ndim; d++)
            sb_printf(&h, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        size_t b = numel(&t[i]) * 4;
        sb_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + b);
        off += b;
    }
    sb_printf(&h, "}");
    out = assemble(&h, s->pad_header, data, data_len, len);
done:
    free(h.p);
    free(data);
    free(t);
    return out;
}

uint8_t *rb_model_many_tensors(size_t count, int with_meta, size_t *len)
{
    rb_model_spec s = rb_model_default();
    sbuf h = {NULL, 0, 0, 1};
    sb_printf(&h, "{");
    if (with_meta)
        meta_json(&h, &s);
    for (size_t i = 0; i < count; i++)
        sb_printf(&h, "%s\"t%zu\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
                  (i || with_meta) ? "," : "", i);
    sb_printf(&h, "}");
    uint8_t *out = assemble(&h, 0, NULL, 0, len);
    free(h.p);
    return out;
}
