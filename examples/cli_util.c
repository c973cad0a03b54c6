#include "cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

double cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double cli_round3(double x)
{
    return round(x * 1e3) / 1e3;
}

int cli_parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* The negated comparisons also reject NaN. */
    if (errno || end == s || *end || !(v >= lo) || !(v <= hi))
        return -1;
    *out = v;
    return 0;
}

json_t *cli_json_float(float f)
{
    char buf[32];
    /* 9 significant digits always round-trip a float; fewer usually do. */
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f)
            break;
    }
    return json_real(strtod(buf, NULL));
}

json_t *cli_json_class_map(const covidcam_model *model, const float *values)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    for (int i = 0; i < covidcam_model_num_classes(model); i++) {
        if (json_object_set_new(obj, covidcam_model_class_name(model, i),
                                cli_json_float(values[i]))) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

int cli_print_json(json_t *obj)
{
    if (!obj)
        return -1;
    /* Precision 9 prints cli_json_float() values in their shortest form. */
    char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(obj);
    if (!s)
        return -1;
    int rc = puts(s) < 0 ? -1 : 0;
    free(s);
    return rc;
}

int cli_parse_precision(const char *prog, const char *value, covidcam_precision *out)
{
    if (!covidcam_precision_parse(value, out))
        return 0;
    fprintf(stderr, "%s: --precision needs fp32, bf16, int8 or auto, not '%s'\n", prog, value);
    return 2;
}

int cli_load(const char *prog, const char *path, covidcam_model **model)
{
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_status rc = covidcam_model_load(path, model, err, sizeof err);
    if (!rc)
        return 0;
    fprintf(stderr, "%s: cannot load model %s: %s: %s\n", prog, path,
            covidcam_status_string(rc), err);
    *model = NULL;
    return -1;
}

int cli_sessions(const char *prog, const covidcam_model *model, int threads,
                 covidcam_precision precision, int max_batch, int n,
                 covidcam_session **sessions)
{
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_session_options opt;
    covidcam_session_options_init(&opt);
    opt.num_threads = threads;
    opt.precision = precision;
    opt.max_batch = max_batch;
    for (int i = 0; i < n; i++) {
        covidcam_status rc = covidcam_session_create(model, &opt, &sessions[i], err, sizeof err);
        if (rc) {
            fprintf(stderr, "%s: cannot create a session: %s: %s\n", prog,
                    covidcam_status_string(rc), err);
            while (i > 0)
                covidcam_session_free(sessions[--i]);
            return -1;
        }
    }
    return 0;
}

int cli_open(const char *prog, const char *path, int threads, covidcam_model **model,
             covidcam_session **session)
{
    if (cli_load(prog, path, model))
        return -1;
    if (!cli_sessions(prog, *model, threads, COVIDCAM_PRECISION_FP32, 0, 1, session))
        return 0;
    covidcam_model_free(*model);
    *model = NULL;
    return -1;
}

int cli_stem(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    /* Drop the extension, whatever it is (.png, .jpg, .dcm...), but keep a
     * leading dot: ".scan" stays ".scan". */
    const char *dot = strrchr(base, '.');
    if (dot && dot > base)
        n = (size_t)(dot - base);
    if (n == 0 || n >= size)
        return -1;
    memcpy(out, base, n);
    out[n] = '\0';
    return 0;
}

static const char *format_name(covidcam_image_format f)
{
    switch (f) {
    case COVIDCAM_FORMAT_PNG: return "PNG";
    case COVIDCAM_FORMAT_JPEG: return "JPEG";
    case COVIDCAM_FORMAT_DICOM: return "DICOM";
    case COVIDCAM_FORMAT_PIXELS: return "pixels";
    case COVIDCAM_FORMAT_TENSOR: return "tensor";
    default: return "none";
    }
}

static const char *window_name(covidcam_window_source w)
{
    switch (w) {
    case COVIDCAM_WINDOW_FILE: return "file";
    case COVIDCAM_WINDOW_VOI_LUT: return "voi_lut";
    case COVIDCAM_WINDOW_RANGE: return "range";
    default: return "none";
    }
}

json_t *cli_json_image_info(const covidcam_image_info *info)
{
    json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:s}", "format", format_name(info->format),
                          "width", info->width, "height", info->height, "bits", info->bits,
                          "channels", info->channels, "photometric", info->photometric);
    if (!o)
        return NULL;
    int bad = 0;
    if (info->format == COVIDCAM_FORMAT_JPEG)
        bad |= json_object_set_new(o, "orientation", json_integer(info->orientation));
    if (info->format == COVIDCAM_FORMAT_DICOM) {
        bad |= json_object_set_new(o, "modality", json_string(info->modality));
        bad |= json_object_set_new(o, "view_position", json_string(info->view_position));
        bad |= json_object_set_new(o, "body_part", json_string(info->body_part));
        bad |= json_object_set_new(o, "transfer_syntax", json_string(info->transfer_syntax));
        bad |= json_object_set_new(o, "frames", json_integer(info->frames));
        bad |= json_object_set_new(o, "window_source",
                                   json_string(window_name(info->window_source)));
        /* a finite window only: JSON has no NaN */
        if (info->window_source != COVIDCAM_WINDOW_NONE && isfinite(info->window_center) &&
            isfinite(info->window_width)) {
            bad |= json_object_set_new(o, "window_center", json_real(info->window_center));
            bad |= json_object_set_new(o, "window_width", json_real(info->window_width));
        }
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int cli_warnings(const covidcam_image_info *info, const covidcam_assessment *a,
                 char warnings[][128], int max)
{
    int n = cli_image_warnings(info, warnings, max);
    for (unsigned i = 0; i < 32 && n < max; i++)
        if ((a->warnings & (1u << i)) && covidcam_warning_name(1u << i))
            snprintf(warnings[n++], 128, "%s: %s", covidcam_warning_name(1u << i),
                     covidcam_warning_description(1u << i));
    if (a->ood && n < max)
        snprintf(warnings[n++], 128,
                 "out_of_distribution: score %.1f is above the model's threshold %.1f",
                 a->ood_score, a->ood_threshold);
    return n;
}

int cli_json_set_trust(json_t *obj, const covidcam_image_info *info,
                       const covidcam_assessment *a)
{
    char warnings[CLI_MAX_WARNINGS][128];
    int n = cli_warnings(info, a, warnings, CLI_MAX_WARNINGS);
    json_t *w = json_array();
    int bad = !w;
    for (int i = 0; !bad && i < n; i++)
        bad = json_array_append_new(w, json_string(warnings[i])) != 0;
    json_t *score = a->ood_available && isfinite(a->ood_score) ? json_real(a->ood_score)
                                                               : json_null();
    bad |= json_object_set_new(obj, "ood", json_boolean(a->ood)) != 0;
    bad |= json_object_set_new(obj, "ood_score", score) != 0;
    bad |= json_object_set_new(obj, "warnings", w) != 0;
    return bad ? -1 : 0;
}

int cli_ood_line(const covidcam_assessment *a, char *buf, size_t size)
{
    if (!a->ood)
        return 0;
    snprintf(buf, size,
             "  OUT OF DISTRIBUTION: this image is unlike the model's training images "
             "(score %.1f > %.1f); do not trust the answer",
             a->ood_score, a->ood_threshold);
    return 1;
}

int cli_image_warnings(const covidcam_image_info *info, char warnings[][128], int max)
{
    int n = 0;
    if (info->format != COVIDCAM_FORMAT_DICOM)
        return 0;
    const char *v = info->view_position;
    if (n < max && (!strcmp(v, "LATERAL") || !strcmp(v, "LL") || !strcmp(v, "RL") ||
                    !strcmp(v, "LLD") || !strcmp(v, "RLD")))
        snprintf(warnings[n++], 128,
                 "ViewPosition is %s: the model was trained on frontal (PA/AP) views", v);
    const char *mo = info->modality;
    if (n < max && strcmp(mo, "CR") != 0 && strcmp(mo, "DX") != 0)
        snprintf(warnings[n++], 128,
                 "Modality is %s%s%s, not CR or DX: the model was trained on radiographs",
                 *mo ? "'" : "", *mo ? mo : "absent", *mo ? "'" : "");
    return n;
}

void cli_method_list(char *buf, size_t size)
{
    size_t o = 0;
    const char *name;
    if (!size)
        return;
    buf[0] = '\0';
    for (int m = 0; (name = covidcam_cam_method_name((covidcam_cam_method)m)) && o + 1 < size;
         m++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", m ? ", " : "", name);
}

static const char *const aug_names[] = {"none", "intensity", "flip"};

int cli_parse_aug(const char *s, covidcam_aug_smooth *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, aug_names[i])) {
            *out = (covidcam_aug_smooth)i;
            return 0;
        }
    return -1;
}

const char *cli_aug_name(covidcam_aug_smooth aug)
{
    return aug >= COVIDCAM_AUG_NONE && aug <= COVIDCAM_AUG_FLIP ? aug_names[aug] : "none";
}

int cli_json_set_smoothing(json_t *obj, const covidcam_heatmap *h)
{
    if (covidcam_heatmap_eigen_smooth(h) && json_object_set_new(obj, "eigen_smooth", json_true()))
        return -1;
    covidcam_aug_smooth aug = covidcam_heatmap_aug_smooth(h);
    if (aug != COVIDCAM_AUG_NONE &&
        json_object_set_new(obj, "aug_smooth", json_string(cli_aug_name(aug))))
        return -1;
    return 0;
}
