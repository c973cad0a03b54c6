#include "params.h"

#include <stdio.h>
#include <string.h>

#include "cli_util.h"

typedef struct unknown {
    const char *const *allowed;
    char *msg;
    size_t size;
    int found;
} unknown;

static enum MHD_Result check_key(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    unknown *u = cls;
    (void)kind;
    (void)value;
    for (int i = 0; u->allowed[i]; i++)
        if (!strcmp(key, u->allowed[i]))
            return MHD_YES;
    int n = snprintf(u->msg, u->size, "unknown query parameter '%s' (known:", key);
    for (int i = 0; u->allowed[i] && n >= 0 && (size_t)n < u->size; i++)
        n += snprintf(u->msg + n, u->size - (size_t)n, " %s", u->allowed[i]);
    if (!u->allowed[0] && n >= 0 && (size_t)n < u->size)
        n += snprintf(u->msg + n, u->size - (size_t)n, " none");
    if (n >= 0 && (size_t)n < u->size)
        snprintf(u->msg + n, u->size - (size_t)n, ")");
    u->found = 1;
    return MHD_NO;
}

int params_only(struct MHD_Connection *c, const char *const *allowed, char *msg, size_t size)
{
    unknown u = {allowed, msg, size, 0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_key, &u);
    return u.found ? -1 : 0;
}

static int parse_method(const char *s, covidcam_cam_method *m)
{
    /* "gradcam++" arrives as "gradcam  " when the client did not escape '+'. */
    if (!strcmp(s, "gradcam  "))
        s = "gradcam++";
    return covidcam_cam_method_parse(s, m) == COVIDCAM_OK ? 0 : -1;
}

static int parse_layer(const covidcam_model *m, const char *s, gradcam_params *p, char *msg,
                       size_t size)
{
    for (int i = 0; i < covidcam_model_num_layers(m); i++) {
        if (!strcmp(s, covidcam_model_layer_name(m, i))) {
            snprintf(p->layer, sizeof p->layer, "%s", s);
            p->opt.layer = p->layer;
            return 0;
        }
    }
    int n = snprintf(msg, size, "unknown layer '%.64s'; this model has:", s);
    for (int i = 0; i < covidcam_model_num_layers(m) && n >= 0 && (size_t)n < size; i++)
        n += snprintf(msg + n, size - (size_t)n, " %s", covidcam_model_layer_name(m, i));
    return -1;
}

static int parse_class(const covidcam_model *m, const char *s, gradcam_params *p, char *msg,
                       size_t size)
{
    int k = covidcam_model_num_classes(m);
    if ((p->opt.target_class = covidcam_model_class_index(m, s)) >= 0)
        return 0;
    if (!cli_parse_int(s, 0, k - 1, &p->opt.target_class))
        return 0;
    int n = snprintf(msg, size, "class '%.64s' is neither a class name nor an index in [0, %d]:",
                     s, k - 1);
    for (int i = 0; i < k && n >= 0 && (size_t)n < size; i++)
        n += snprintf(msg + n, size - (size_t)n, " %s", covidcam_model_class_name(m, i));
    return -1;
}

int params_gradcam(struct MHD_Connection *c, const covidcam_model *m, gradcam_params *p,
                   char *msg, size_t size)
{
    static const char *const allowed[] = {"layer", "class", "method", "alpha",
                                          "eigen", "aug",   "label",  NULL};
    covidcam_gradcam_options_init(&p->opt);
    p->layer[0] = '\0';
    p->alpha = 0.5;
    if (params_only(c, allowed, msg, size))
        return -1;
    const char *layer = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "layer");
    const char *cls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "class");
    const char *method = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "method");
    const char *alpha = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "alpha");
    const char *eigen = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "eigen");
    const char *aug = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "aug");
    const char *label = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "label");
    p->label = 0;
    if (eigen && *eigen && cli_parse_int(eigen, 0, 1, &p->opt.eigen_smooth)) {
        snprintf(msg, size, "eigen needs 0 or 1, not '%.64s'", eigen);
        return -1;
    }
    if (label && *label && cli_parse_int(label, 0, 1, &p->label)) {
        snprintf(msg, size, "label needs 0 or 1, not '%.64s'", label);
        return -1;
    }
    if (aug && *aug && cli_parse_aug(aug, &p->opt.aug_smooth)) {
        snprintf(msg, size, "aug needs none, intensity or flip, not '%.64s'", aug);
        return -1;
    }
    if (layer && *layer && parse_layer(m, layer, p, msg, size))
        return -1;
    if (cls && *cls && parse_class(m, cls, p, msg, size))
        return -1;
    if (method && *method && parse_method(method, &p->opt.method)) {
        char names[256];
        cli_method_list(names, sizeof names);
        snprintf(msg, size, "unknown method '%.64s' (%s)", method, names);
        return -1;
    }
    if (alpha && *alpha && cli_parse_double(alpha, 0.0, 1.0, &p->alpha)) {
        snprintf(msg, size, "alpha needs a number in [0, 1], not '%.64s'", alpha);
        return -1;
    }
    return 0;
}
