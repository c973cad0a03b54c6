#include "model_meta.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *meta_req(const cc_safetensors *st, const char *key, cc_err *e,
                            covidcam_status *rc)
{
    const char *v = cc_st_meta_get(st, key);
    if (!v)
        *rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "metadata: missing key '%s'", key);
    return v;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1; /* strtol would accept blanks and signs */
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* A JSON value, or BAD_FORMAT naming the key, what it should be and what
 * jansson found wrong (an unterminated string, \u0000, a lone surrogate...). */
static json_t *load_json(const char *key, const char *want, const char *text, cc_err *e,
                         covidcam_status *rc)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j)
        *rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                      "metadata: %s must be %s, but '%.64s' is not valid JSON: %s at character %d",
                      key, want, text, jerr.text, jerr.position);
    return j;
}

/* The bounds every element must meet as the float preprocessing uses. */
static int float_ok(float f, int is_std)
{
    if (!isfinite(f))
        return 0;
    if (is_std)
        return isnormal(f) && f >= (float)CC_META_MIN_STD && f <= (float)CC_META_MAX_STD;
    return fabsf(f) <= (float)CC_META_MAX_ABS_MEAN;
}

static covidcam_status parse_floats(const char *key, const char *text, int n, float *out,
                                    int is_std, cc_err *e)
{
    covidcam_status rc = COVIDCAM_OK;
    json_t *a = load_json(key, "a JSON list of numbers", text, e, &rc);
    if (!a)
        return rc;
    if (!json_is_array(a)) {
        rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                     "metadata: %s must be a JSON list of %d number%s (one per input channel), "
                     "not %s ('%.64s')",
                     key, n, n == 1 ? "" : "s", json_kind(a), text);
        goto done;
    }
    if ((int)json_array_size(a) != n) {
        rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                     "metadata: %s lists %zu numbers; it needs %d number%s, one per input channel",
                     key, json_array_size(a), n, n == 1 ? "" : "s");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        json_t *v = json_array_get(a, (size_t)i);
        float f = (float)json_number_value(v);
        if (!json_is_number(v) || !float_ok(f, is_std)) {
            char got[40];
            if (json_is_number(v))
                snprintf(got, sizeof got, "%.9g", json_number_value(v));
            else
                snprintf(got, sizeof got, "%s", json_kind(v));
            rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                         "metadata: %s[%d] is %s; it must be a %s number in [%g, %g] (as float)",
                         key, i, got, is_std ? "positive" : "finite",
                         is_std ? CC_META_MIN_STD : -CC_META_MAX_ABS_MEAN,
                         is_std ? CC_META_MAX_STD : CC_META_MAX_ABS_MEAN);
            goto done;
        }
        out[i] = f;
    }
done:
    json_decref(a);
    return rc;
}

/* Control characters would let a class name forge output lines or terminal
 * escapes (model_meta.h). */
long cc_meta_control_char(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    for (long i = 0; p[i]; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return i;
        if (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return i;
    }
    return -1;
}

static covidcam_status check_name(const json_t *a, size_t i, char **names, cc_err *e)
{
    const json_t *v = json_array_get(a, i);
    const char *s = json_string_value(v);
    if (!s)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: classes[%zu] must be a string, not %s", i, json_kind(v));
    size_t len = json_string_length(v);
    if (len == 0 || len > CC_META_MAX_CLASS_NAME_BYTES)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: classes[%zu] must be a non-empty name of at most %d bytes, not "
                       "%zu bytes",
                       i, CC_META_MAX_CLASS_NAME_BYTES, len);
    long c = cc_meta_control_char(s);
    if (c >= 0)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: classes[%zu] contains a control character at byte %ld; class "
                       "names must be printable",
                       i, c);
    for (size_t j = 0; j < i; j++)
        if (strcmp(names[j], s) == 0)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "metadata: classes[%zu] '%s' repeats classes[%zu]", i, s, j);
    return COVIDCAM_OK;
}

static covidcam_status parse_classes(cc_model_meta *m, const char *text, cc_err *e)
{
    covidcam_status rc = COVIDCAM_OK;
    json_t *a = load_json("classes", "a JSON list of names", text, e, &rc);
    if (!a)
        return rc;
    size_t n = json_array_size(a);
    if (!json_is_array(a)) {
        rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                     "metadata: classes must be a JSON list of names, not %s", json_kind(a));
        goto done;
    }
    if (n < CC_META_MIN_CLASSES || n > COVIDCAM_MAX_CLASSES) {
        rc = cc_fail(e, n > COVIDCAM_MAX_CLASSES ? COVIDCAM_ERR_LIMIT : COVIDCAM_ERR_BAD_FORMAT,
                     "metadata: classes lists %zu name%s; a model has %d to %u classes", n, n == 1 ? "" : "s",
                     CC_META_MIN_CLASSES, COVIDCAM_MAX_CLASSES);
        goto done;
    }
    if (!(m->classes = calloc(n, sizeof *m->classes))) {
        rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    m->num_classes = (int)n;
    for (size_t i = 0; i < n && !rc; i++) {
        if ((rc = check_name(a, i, m->classes, e)))
            break;
        if (!(m->classes[i] = strdup(json_string_value(json_array_get(a, i)))))
            rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
done:
    json_decref(a);
    return rc;
}

static covidcam_status parse_arch(cc_model_meta *m, const cc_safetensors *st, cc_err *e)
{
    covidcam_status rc = COVIDCAM_OK;
    const char *arch = meta_req(st, "arch", e, &rc);
    if (!arch)
        return rc;
    if (strcmp(arch, "resnet") == 0)
        return cc_arch_custom(cc_st_meta_get(st, "block"), cc_st_meta_get(st, "layers"),
                              cc_st_meta_get(st, "widths"), cc_st_meta_get(st, "stem_width"),
                              &m->arch, e);
    return cc_arch_from_name(arch, &m->arch, e);
}

static covidcam_status parse_format(const cc_safetensors *st, int checkpoint, cc_err *e)
{
    covidcam_status rc = COVIDCAM_OK;
    const char *fmt = meta_req(st, "format", e, &rc);
    if (!fmt)
        return rc;
    if (strcmp(fmt, CC_META_FORMAT) != 0 && !(checkpoint && strcmp(fmt, CC_META_CKPT_FORMAT) == 0))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "metadata: format is '%s', not '%s'%s", fmt,
                       CC_META_FORMAT, checkpoint ? " or '" CC_META_CKPT_FORMAT "'" : "");
    const char *ver = meta_req(st, "format_version", e, &rc);
    if (!ver)
        return rc;
    if (strcmp(ver, "1") != 0)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "metadata: format_version '%s' is not supported (this library reads 1)", ver);
    return COVIDCAM_OK;
}

static covidcam_status parse_input(cc_model_meta *m, const cc_safetensors *st, cc_err *e)
{
    covidcam_status rc = COVIDCAM_OK;
    long v;
    const char *s = meta_req(st, "input_size", e, &rc);
    if (!s)
        return rc;
    if (parse_int(s, CC_META_MIN_INPUT_SIZE, 1L << 30, &v))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: input_size must be an integer >= %d, not '%s'",
                       CC_META_MIN_INPUT_SIZE, s);
    if (v > (long)COVIDCAM_MAX_INPUT_SIZE)
        return cc_fail(e, COVIDCAM_ERR_LIMIT, "metadata: input_size %ld exceeds the limit %u", v,
                       COVIDCAM_MAX_INPUT_SIZE);
    m->input_size = (int)v;
    if (!(s = meta_req(st, "input_channels", e, &rc)))
        return rc;
    if (parse_int(s, 1, 3, &v) || v == 2)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: input_channels must be 1 or 3, not '%s'", s);
    m->in_ch = (int)v;
    if (!(s = meta_req(st, "mean", e, &rc)) ||
        (rc = parse_floats("mean", s, m->in_ch, m->mean, 0, e)))
        return rc;
    if (!(s = meta_req(st, "std", e, &rc)) || (rc = parse_floats("std", s, m->in_ch, m->std, 1, e)))
        return rc;
    return COVIDCAM_OK;
}

/* An optional positive number `key` in [lo, hi] after conversion to float;
 * *out keeps its default when the key is absent. */
static covidcam_status parse_positive(const cc_safetensors *st, const char *key, double lo,
                                      double hi, double *out, cc_err *e)
{
    const char *s = cc_st_meta_get(st, key);
    if (!s)
        return COVIDCAM_OK;
    char *end;
    double d = strtod(s, &end);
    float f = (float)d;
    if (end == s || *end || isspace((unsigned char)*s) || !isnormal(f) || f < (float)lo ||
        f > (float)hi)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: %s must be a number in [%g, %g] (as float), not '%.64s'", key,
                       lo, hi, s);
    *out = d;
    return COVIDCAM_OK;
}

static covidcam_status parse_scalars(cc_model_meta *m, const cc_safetensors *st, cc_err *e)
{
    double t = 1;
    m->bn_eps = CC_META_DEFAULT_BN_EPS;
    covidcam_status rc = parse_positive(st, "bn_eps", CC_META_MIN_BN_EPS, CC_META_MAX_BN_EPS,
                                        &m->bn_eps, e);
    if (!rc)
        rc = parse_positive(st, "temperature", CC_META_MIN_TEMPERATURE, CC_META_MAX_TEMPERATURE,
                            &t, e);
    m->temperature = (float)t;
    return rc;
}

/* The resize modes by their metadata name, in cc_resize_mode order. */
static const char *const resize_names[] = {"stretch", "center_crop", "pad"};

int cc_meta_resize_mode(const char *name)
{
    for (int i = 0; i < (int)(sizeof resize_names / sizeof *resize_names); i++)
        if (strcmp(name, resize_names[i]) == 0)
            return i;
    return -1;
}

const char *cc_meta_resize_name(int mode)
{
    return mode >= 0 && mode < (int)(sizeof resize_names / sizeof *resize_names)
               ? resize_names[mode]
               : NULL;
}

static covidcam_status parse_resize(cc_model_meta *m, const cc_safetensors *st, cc_err *e)
{
    const char *s = cc_st_meta_get(st, "resize");
    m->resize = s ? cc_meta_resize_mode(s) : 0;
    if (m->resize < 0)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: resize must be stretch, center_crop or pad, not '%.64s'", s);
    return COVIDCAM_OK;
}

/* ood_method and ood_threshold come together or not at all; the tensors they
 * describe are checked by the loader (lib/net/ood.c). */
static covidcam_status parse_ood(cc_model_meta *m, const cc_safetensors *st, cc_err *e)
{
    const char *method = cc_st_meta_get(st, "ood_method");
    const char *thr = cc_st_meta_get(st, "ood_threshold");
    if (!method && !thr)
        return COVIDCAM_OK;
    if (!method || !thr)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "metadata: %s is present without %s (both or neither)",
                       method ? "ood_method" : "ood_threshold",
                       method ? "ood_threshold" : "ood_method");
    if (strcmp(method, CC_META_OOD_METHOD) != 0)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "metadata: ood_method '%.64s' is not supported (this library reads '%s')",
                       method, CC_META_OOD_METHOD);
    m->has_ood = 1;
    return parse_positive(st, "ood_threshold", CC_META_MIN_OOD_THRESHOLD,
                          CC_META_MAX_OOD_THRESHOLD, &m->ood_threshold, e);
}

covidcam_status cc_model_meta_parse(const cc_safetensors *st, int checkpoint, cc_model_meta *m,
                                    cc_err *e)
{
    covidcam_status rc;
    memset(m, 0, sizeof *m);
    const char *classes;
    if ((rc = parse_format(st, checkpoint, e)) || (rc = parse_arch(m, st, e)) ||
        (rc = parse_input(m, st, e)))
        goto fail;
    if (!(classes = meta_req(st, "classes", e, &rc)) || (rc = parse_classes(m, classes, e)) ||
        (rc = parse_scalars(m, st, e)) || (rc = parse_resize(m, st, e)) ||
        (rc = parse_ood(m, st, e)))
        goto fail;
    m->description = cc_st_meta_get(st, "description");
    return COVIDCAM_OK;
fail:
    cc_model_meta_free(m);
    return rc;
}

void cc_model_meta_free(cc_model_meta *m)
{
    if (!m)
        return;
    for (int i = 0; m->classes && i < m->num_classes; i++)
        free(m->classes[i]);
    free(m->classes);
    m->classes = NULL;
    m->num_classes = 0;
}
