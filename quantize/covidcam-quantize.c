/* covidcam-quantize: int8 calibration of a covidcam model (docs/precision.md,
 * "int8"). Runs fp32 on calibration X-rays, takes a scale for every tensor
 * an int8 session quantizes, and writes a copy of the model file with them
 * in its metadata; with --val, compares fp32 and int8 on labelled images.
 * It drives the library's fp32 forward pass through the internal archive
 * (the observer of lib/net/resnet.h), as the trainer does. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "cli_util.h"
#include "covidcam.h"
#include "q_images.h"
#include "q_val.h"
#include "qscales.h"
#include "session.h"
#include "st_rewrite.h"

static const char *prog = "covidcam-quantize";

#define MAX_DIRS 8

typedef struct args {
    const char *model, *out;
    const char *calibrate[MAX_DIRS], *val[MAX_DIRS];
    int ncal, nval;
    long images, val_images;
    q_method method;
    int threads, json;
} args;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s --model IN --calibrate DIR... -o OUT [OPTIONS]\n"
            "\n"
            "Calibrate IN for int8 sessions: run it in fp32 on images of DIR (any folder\n"
            "of X-rays; with class subfolders the images are spread over them), take one\n"
            "scale per activation tensor, and write OUT, a copy of IN whose metadata holds\n"
            "them (int8_scales; the tensors are unchanged, so every reader that loads IN\n"
            "loads OUT). OUT may be IN: it is replaced atomically.\n"
            "\n"
            "Options:\n"
            "  -m, --model IN        covidcam safetensors model\n"
            "  -c, --calibrate DIR   calibration images (repeat for more folders, up to %d)\n"
            "  -o, --output OUT      the calibrated model to write\n"
            "  -n, --images N        calibration images, 0 = all (default 200)\n"
            "  -M, --method M        minmax (default): the largest value seen; percentile:\n"
            "                        the mean over images of the 99.99th percentile of |x|\n"
            "  -v, --val DIR         then classify DIR/<class>/<image> in fp32 and int8 and\n"
            "                        print both accuracies, top-1 agreement, max |dprob|\n"
            "                        (repeat for more trees; classes merge by name)\n"
            "  -N, --val-images N    --val images, spread over the classes, 0 = all (default)\n"
            "  -j, --json            one JSON object on stdout instead of the text\n"
            "  -t, --threads N       oneDNN threads (default 0 = all cores)\n"
            "  -h, --help            this text\n"
            "\n"
            "Exit status: 0 written, 1 on a model, image or file error, 2 on a usage error.\n",
            prog, MAX_DIRS);
}

static int bad(const char *what, const char *value)
{
    fprintf(stderr, "%s: bad %s '%s' (see --help)\n", prog, what, value);
    return 2;
}

static int parse_long(const char *s, long *out)
{
    int v;
    if (cli_parse_int(s, 0, 1000000000, &v))
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, args *a)
{
    static const struct option longs[] = {
        {"model", required_argument, NULL, 'm'},  {"calibrate", required_argument, NULL, 'c'},
        {"output", required_argument, NULL, 'o'}, {"images", required_argument, NULL, 'n'},
        {"method", required_argument, NULL, 'M'}, {"val", required_argument, NULL, 'v'},
        {"val-images", required_argument, NULL, 'N'}, {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    *a = (args){.images = 200};
    while ((c = getopt_long(argc, argv, "m:c:o:n:M:v:N:jt:h", longs, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'c':
            if (a->ncal == MAX_DIRS)
                return bad("--calibrate (too many)", optarg);
            a->calibrate[a->ncal++] = optarg;
            break;
        case 'o': a->out = optarg; break;
        case 'v':
            if (a->nval == MAX_DIRS)
                return bad("--val (too many)", optarg);
            a->val[a->nval++] = optarg;
            break;
        case 'j': a->json = 1; break;
        case 'n':
            if (parse_long(optarg, &a->images))
                return bad("--images", optarg);
            break;
        case 'N':
            if (parse_long(optarg, &a->val_images))
                return bad("--val-images", optarg);
            break;
        case 't':
            if (cli_parse_int(optarg, 0, 1024, &a->threads))
                return bad("--threads", optarg);
            break;
        case 'M':
            if (strcmp(optarg, "minmax") && strcmp(optarg, "percentile"))
                return bad("--method (minmax or percentile)", optarg);
            a->method = strcmp(optarg, "minmax") ? Q_PERCENTILE : Q_MINMAX;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        return 2;
    }
    if (!a->model || !a->ncal || !a->out) {
        fprintf(stderr, "%s: --model, --calibrate and -o are required (see --help)\n", prog);
        return 2;
    }
    return 0;
}

/* The images of the folder arguments, or -1 after the message. */
static int list(const char *const *dirs, int n, cli_inputs *in)
{
    for (int k = 0; k < n; k++) {
        size_t before = in->count;
        if (cli_inputs_add(in, prog, dirs[k], NULL, NULL))
            return -1;
        if (in->count == before) {
            fprintf(stderr, "%s: %s: no PNG, JPEG or DICOM images found\n", prog, dirs[k]);
            return -1;
        }
    }
    for (size_t i = 0; i < in->count; i++)
        if (in->item[i].status) {
            fprintf(stderr, "%s: %s: %s\n", prog, in->item[i].path, in->item[i].error);
            return -1;
        }
    return 0;
}

/* fp32 passes over the picked images with the observer on the session's net. */
static int calibrate(const args *a, const covidcam_model *m, q_calib *c, long *used)
{
    cli_inputs in = {0};
    size_t *idx = NULL;
    covidcam_session *s = NULL;
    int rc = -1;
    long n;
    if (list(a->calibrate, a->ncal, &in) || cli_sessions(prog, m, a->threads, COVIDCAM_PRECISION_FP32,
                                                1, 1, &s))
        goto done;
    if ((n = q_pick(&in, a->images, &idx)) < 0 || q_calib_init(c, m, a->method)) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    s->net->observe = q_calib_observe;
    s->net->observe_ctx = c;
    for (long i = 0; i < n; i++) {
        const char *path = in.item[idx[i]].path;
        if (covidcam_classify_file(s, path, NULL, NULL, 0, NULL)) {
            fprintf(stderr, "%s: %s: %s\n", prog, path, covidcam_session_last_error(s));
            goto done;
        }
        q_calib_image_done(c);
    }
    if (c->oom) {
        fprintf(stderr, "%s: out of memory for the percentile\n", prog);
        goto done;
    }
    *used = n;
    rc = 0;
done:
    covidcam_session_free(s);
    free(idx);
    cli_inputs_free(&in);
    return rc;
}

/* The metadata covidcam-quantize adds: int8_scales (what the loader reads)
 * and, for people, how they were made. */
static json_t *metadata(const args *a, const q_calib *c, long used, int *tensors)
{
    char culprit[64];
    json_t *scales = q_calib_scales(c, culprit, sizeof culprit), *meta = json_object();
    int overflow = !scales && culprit[0];
    if (overflow)
        fprintf(stderr, "%s: the activations of '%s' overflowed float on the calibration "
                        "images; this model cannot be quantized\n",
                prog, culprit);
    *tensors = scales ? (int)json_object_size(scales) : 0;
    char *text = scales ? json_dumps(scales, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char num[32];
    snprintf(num, sizeof num, "%ld", used);
    int bad = !text || !meta ||
              json_object_set_new(meta, CC_META_INT8_SCALES, json_string(text)) ||
              json_object_set_new(meta, "int8_method",
                                  json_string(a->method == Q_MINMAX ? "minmax" : "percentile")) ||
              json_object_set_new(meta, "int8_images", json_string(num));
    free(text);
    json_decref(scales);
    if (bad) {
        if (!overflow)
            fprintf(stderr, "%s: out of memory\n", prog);
        json_decref(meta);
        return NULL;
    }
    return meta;
}

static int validate(const args *a, q_val *v)
{
    covidcam_model *m = NULL;
    cli_inputs in = {0};
    size_t *idx = NULL;
    int rc = -1;
    long n;
    if (cli_load(prog, a->out, &m) || list(a->val, a->nval, &in))
        goto done;
    if ((n = q_pick(&in, a->val_images, &idx)) < 0) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    rc = q_val_run(prog, m, a->threads, &in, idx, n, v);
done:
    free(idx);
    cli_inputs_free(&in);
    covidcam_model_free(m);
    return rc;
}

static double pct(long k, long n)
{
    return n ? 100.0 * (double)k / (double)n : 0;
}

static int report(const args *a, long used, int tensors, const q_val *v)
{
    if (!a->json) {
        printf("calibrated %d tensors on %ld images (%s)\nwrote %s\n", tensors, used,
               a->method == Q_MINMAX ? "minmax" : "percentile", a->out);
        if (v)
            printf("val: %ld images: fp32 accuracy %.2f %%, int8 accuracy %.2f %%, top-1 "
                   "agreement %.2f %% (%ld/%ld), max |dprob| %.4f\n",
                   v->images, pct(v->fp32_correct, v->images), pct(v->int8_correct, v->images),
                   pct(v->agree, v->images), v->agree, v->images, v->max_dprob);
        return 0;
    }
    json_t *o = json_pack("{s:s, s:I, s:s, s:i}", "output", a->out, "calibration_images",
                          (json_int_t)used, "method",
                          a->method == Q_MINMAX ? "minmax" : "percentile", "tensors", tensors);
    if (o && v)
        json_object_set_new(
            o, "val",
            json_pack("{s:I, s:f, s:f, s:f, s:I, s:f}", "images", (json_int_t)v->images,
                      "fp32_accuracy", cli_round3(pct(v->fp32_correct, v->images)),
                      "int8_accuracy", cli_round3(pct(v->int8_correct, v->images)), "agreement",
                      cli_round3(pct(v->agree, v->images)), "agree", (json_int_t)v->agree,
                      "max_dprob", v->max_dprob));
    return o ? cli_print_json(o) : -1;
}

int main(int argc, char **argv)
{
    args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    covidcam_model *m = NULL;
    q_calib c = {0};
    json_t *meta = NULL;
    char err[1024];
    long used = 0;
    int tensors = 0;
    q_val v, *vp = NULL;
    rc = 1;
    if (cli_load(prog, a.model, &m) || calibrate(&a, m, &c, &used))
        goto done;
    if (!(meta = metadata(&a, &c, used, &tensors)))
        goto done; /* the message is printed */
    if (st_rewrite(a.model, a.out, meta, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        goto done;
    }
    if (a.nval && validate(&a, &v))
        goto done;
    vp = a.nval ? &v : NULL;
    rc = report(&a, used, tensors, vp) ? 1 : 0;
done:
    json_decref(meta);
    q_calib_free(&c);
    covidcam_model_free(m);
    return rc;
}
