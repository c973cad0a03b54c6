/* covidcam-gradcam: explain chest X-ray classifications with class activation maps. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "json_escape.h"
#include "name_set.h"
#include "npy.h"

static const char *prog = "covidcam-gradcam";

typedef struct args {
    const char *model, *layer, *class_arg, *out_dir;
    covidcam_cam_method method;
    double alpha; /* heatmap opacity in the overlay */
    int json, threads, list_layers;
    /* Single-image mode: output paths. Batch mode: non-NULL marks a wanted output. */
    const char *overlay, *heatmap, *npy;
} args;

/* Where one image's outputs go; NULL entries are not written. */
typedef struct outputs {
    const char *overlay, *heatmap, *npy;
} outputs;

enum { OPT_HEATMAP = 256, OPT_NPY, OPT_OUT_DIR, OPT_LIST_LAYERS };

static const char *method_names[] = {"gradcam", "gradcam++", "layercam"};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s --model FILE [OPTIONS] [-o OVERLAY.png] [--heatmap HEAT.png]\n"
            "                        [--npy MAP.npy] IMAGE...\n"
            "       %s --model FILE [OPTIONS] --out-dir DIR [--overlay] [--heatmap] [--npy]\n"
            "                        IMAGE...\n"
            "\n"
            "Classify each IMAGE (PNG, JPEG or DICOM, recognised from its bytes) and\n"
            "compute the class activation map that explains the decision, then print the\n"
            "probabilities and write the requested images.\n"
            "\n"
            "Options:\n"
            "  -m, --model FILE        covidcam safetensors model (docs/model-format.md)\n"
            "  -l, --layer NAME        target block: layer4 (default; last block of stage 4),\n"
            "                          layer4.1, layer3, layer2.0, ... (see --list-layers)\n"
            "  -c, --class NAME|INDEX  class to explain (default: the top class)\n"
            "  -M, --method METHOD     gradcam (default), gradcam++ or layercam\n"
            "  -a, --alpha A           heatmap opacity in the overlay, 0..1 (default 0.5,\n"
            "                          i.e. pytorch-grad-cam's image_weight = 1 - A = 0.5)\n"
            "  -j, --json              one JSON object per image and line: file, top,\n"
            "                          probabilities, class, probability, method, layer,\n"
            "                          raw_size [h, w], outputs {kind: path}, ms, image,\n"
            "                          ood, ood_score, warnings (as covidcam-classify --json)\n"
            "  -t, --threads N         oneDNN threads (default 0 = all cores)\n"
            "      --list-layers       print the model's target layer names and exit\n"
            "  -h, --help              show this help\n"
            "  -V, --version           show the library version\n"
            "\n"
            "Outputs for one image (several IMAGEs without --out-dir are only printed):\n"
            "  -o, --overlay FILE      the map over the image, at the image's size (RGB PNG)\n"
            "      --heatmap FILE      the jet colormap alone, at the image's size (RGB PNG)\n"
            "      --npy FILE          the map normalised to [0, 1] at the model input size,\n"
            "                          float32 NumPy array of shape (S, S)\n"
            "\n"
            "Batch mode, with --out-dir DIR (created if missing), the output options take\n"
            "no file name and select what to write for each IMAGE, named after the file\n"
            "name without its extension (x.jpg, x.dcm, x.png: NAME x): DIR/NAME.overlay.png,\n"
            "DIR/NAME.heatmap.png, DIR/NAME.npy.\n"
            "Without any of them only the overlay is written. Two IMAGEs with the same\n"
            "NAME are refused.\n"
            "\n"
            "Errors go to stderr with the library's message. Images that fail are skipped\n"
            "and the exit status is then 1. Usage errors exit with 2.\n",
            prog, prog);
}

/* Long options shared by both modes; the output options differ in arity. */
#define COMMON_OPTS                                                                          \
    {"model", required_argument, NULL, 'm'}, {"layer", required_argument, NULL, 'l'},         \
        {"class", required_argument, NULL, 'c'}, {"method", required_argument, NULL, 'M'},    \
        {"alpha", required_argument, NULL, 'a'}, {"json", no_argument, NULL, 'j'},            \
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},          \
        {"version", no_argument, NULL, 'V'}, {"out-dir", required_argument, NULL, OPT_OUT_DIR}, \
        {"list-layers", no_argument, NULL, OPT_LIST_LAYERS}

static const struct option single_opts[] = {
    COMMON_OPTS,
    {"overlay", required_argument, NULL, 'o'},
    {"heatmap", required_argument, NULL, OPT_HEATMAP},
    {"npy", required_argument, NULL, OPT_NPY},
    {NULL, 0, NULL, 0}};
static const char *single_short = "m:l:c:M:a:jt:hVo:";

static const struct option batch_opts[] = {
    COMMON_OPTS,
    {"overlay", no_argument, NULL, 'o'},
    {"heatmap", no_argument, NULL, OPT_HEATMAP},
    {"npy", no_argument, NULL, OPT_NPY},
    {NULL, 0, NULL, 0}};
static const char *batch_short = "m:l:c:M:a:jt:hVo";

/* 1 if --out-dir is among the options. Parsed on a copy of argv because GNU
 * getopt permutes it, and with the batch table, under which --out-dir can
 * never be taken for the file name of an output option. */
static int batch_mode(int argc, char **argv)
{
    int found = 0;
    char **copy = malloc(((size_t)argc + 1) * sizeof *copy);
    if (!copy)
        return 0;
    memcpy(copy, argv, ((size_t)argc + 1) * sizeof *copy);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, copy, batch_short, batch_opts, NULL)) != -1)
        if (c == OPT_OUT_DIR)
            found = 1;
    opterr = 1;
    optind = 0; /* glibc: fully reinitialise for the real pass */
    free(copy);
    return found;
}

static int parse_method(const char *s, covidcam_cam_method *m)
{
    if (!strcmp(s, "gradcam"))
        *m = COVIDCAM_CAM_GRADCAM;
    else if (!strcmp(s, "gradcam++") || !strcmp(s, "gradcampp"))
        *m = COVIDCAM_CAM_GRADCAMPP;
    else if (!strcmp(s, "layercam"))
        *m = COVIDCAM_CAM_LAYERCAM;
    else
        return -1;
    return 0;
}

/* One option; 0 to go on, 1 to exit successfully, 2 on a usage error. */
static int take_option(int c, int batch, args *a)
{
    const char *flag = "yes"; /* marks a wanted output in batch mode */
    switch (c) {
    case 'm': a->model = optarg; return 0;
    case 'l': a->layer = optarg; return 0;
    case 'c': a->class_arg = optarg; return 0;
    case 'j': a->json = 1; return 0;
    case OPT_OUT_DIR: a->out_dir = optarg; return 0;
    case OPT_LIST_LAYERS: a->list_layers = 1; return 0;
    case 'o': a->overlay = batch ? flag : optarg; return 0;
    case OPT_HEATMAP: a->heatmap = batch ? flag : optarg; return 0;
    case OPT_NPY: a->npy = batch ? flag : optarg; return 0;
    case 'M':
        if (!parse_method(optarg, &a->method))
            return 0;
        fprintf(stderr, "%s: unknown method '%s' (gradcam, gradcam++, layercam)\n", prog, optarg);
        return 2;
    case 'a':
        if (!cli_parse_double(optarg, 0.0, 1.0, &a->alpha))
            return 0;
        fprintf(stderr, "%s: --alpha needs a number in [0, 1], not '%s'\n", prog, optarg);
        return 2;
    case 't':
        if (!cli_parse_int(optarg, 0, 1024, &a->threads))
            return 0;
        fprintf(stderr, "%s: --threads needs an integer in [0, 1024], not '%s'\n", prog, optarg);
        return 2;
    case 'h': usage(stdout); return 1;
    case 'V': printf("%s (libcovidcam %s)\n", prog, covidcam_version()); return 1;
    default: usage(stderr); return 2;
    }
}

static int check_args(int argc, const args *a)
{
    const char *why = NULL;
    if (!a->model)
        why = "--model is required";
    else if (a->list_layers)
        return 0;
    else if (optind >= argc)
        why = "no IMAGE given";
    else if (!a->out_dir && argc - optind > 1 && (a->overlay || a->heatmap || a->npy))
        why = "several IMAGEs need --out-dir to write images or maps";
    if (!why)
        return 0;
    fprintf(stderr, "%s: %s\n", prog, why);
    usage(stderr);
    return 2;
}

/* 0 to run, 1 to exit successfully (--help/--version), 2 on usage errors. */
static int parse(int argc, char **argv, args *a)
{
    int batch = batch_mode(argc, argv);
    const struct option *opts = batch ? batch_opts : single_opts;
    const char *shorts = batch ? batch_short : single_short;
    int c, rc;
    while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1)
        if ((rc = take_option(c, batch, a)))
            return rc;
    if ((rc = check_args(argc, a)))
        return rc;
    if (batch && !a->overlay && !a->heatmap && !a->npy)
        a->overlay = "yes";
    return 0;
}

/* --class as a class name, else as an index; -1 (top class) when absent. */
static int resolve_class(const covidcam_model *m, const char *s, int *out)
{
    int n = covidcam_model_num_classes(m);
    *out = -1;
    if (!s)
        return 0;
    if ((*out = covidcam_model_class_index(m, s)) >= 0)
        return 0;
    if (!cli_parse_int(s, 0, n - 1, out))
        return 0;
    fprintf(stderr, "%s: --class '%s' is neither a class name nor an index in [0, %d]:",
            prog, s, n - 1);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %s", covidcam_model_class_name(m, i));
    fputc('\n', stderr);
    return -1;
}

/* Refuse an unknown --layer once rather than once per image. */
static int check_layer(const covidcam_model *m, const char *layer)
{
    if (!layer || !*layer)
        return 0;
    for (int i = 0; i < covidcam_model_num_layers(m); i++)
        if (!strcmp(layer, covidcam_model_layer_name(m, i)))
            return 0;
    fprintf(stderr, "%s: unknown --layer '%s'; this model has:", prog, layer);
    for (int i = 0; i < covidcam_model_num_layers(m); i++)
        fprintf(stderr, " %s", covidcam_model_layer_name(m, i));
    fputc('\n', stderr);
    return -1;
}

static void list_layers(const covidcam_model *m)
{
    for (int i = 0; i < covidcam_model_num_layers(m); i++)
        puts(covidcam_model_layer_name(m, i));
}

/* The earlier of files[0..i) named `stem` (called once, on a clash). */
static const char *first_with_stem(char **files, int i, const char *stem)
{
    char b[PATH_MAX];
    for (int j = 0; j < i; j++)
        if (!cli_stem(files[j], b, sizeof b) && !strcmp(b, stem))
            return files[j];
    return "another image";
}

/* Batch mode: refuse two images that would write the same files (a usage
 * error, found before any work is done), in linear time. */
static int check_unique_names(int n, char **files)
{
    char a[PATH_MAX];
    name_set seen = {0};
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (cli_stem(files[i], a, sizeof a)) {
            fprintf(stderr, "%s: %s: cannot name outputs after this path\n", prog, files[i]);
            rc = -1;
        } else if ((rc = name_set_add(&seen, a)) == 0) {
            fprintf(stderr, "%s: %s and %s would both write %s.* in --out-dir\n", prog,
                    first_with_stem(files, i, a), files[i], a);
            rc = -1;
        } else if (rc < 0) {
            fprintf(stderr, "%s: out of memory\n", prog);
        } else {
            rc = 0;
        }
    }
    name_set_free(&seen);
    return rc;
}

static int make_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0777) == 0 || (errno == EEXIST && !stat(dir, &st) && S_ISDIR(st.st_mode)))
        return 0;
    fprintf(stderr, "%s: cannot create directory %s: %s\n", prog, dir,
            errno == EEXIST ? "not a directory" : strerror(errno));
    return -1;
}

/* Fill `o` (paths in `buf`, 3 * PATH_MAX bytes) for `file` in batch mode. */
static int batch_outputs(const args *a, const char *file, char *buf, outputs *o)
{
    char stem[PATH_MAX];
    const char *suffix[3] = {".overlay.png", ".heatmap.png", ".npy"};
    const char *want[3] = {a->overlay, a->heatmap, a->npy};
    const char **dst[3] = {&o->overlay, &o->heatmap, &o->npy};
    if (cli_stem(file, stem, sizeof stem))
        return -1;
    for (int k = 0; k < 3; k++) {
        char *p = buf + k * PATH_MAX;
        *dst[k] = NULL;
        if (!want[k])
            continue;
        int n = snprintf(p, PATH_MAX, "%s/%s%s", a->out_dir, stem, suffix[k]);
        if (n < 0 || n >= PATH_MAX)
            return -1;
        *dst[k] = p;
    }
    return 0;
}

/* Write the requested files; 0, or 1 with the first failure in msg and st. */
static int write_outputs(const covidcam_heatmap *h, const outputs *o, double alpha, char *msg,
                         size_t size, covidcam_status *st)
{
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_status rc;
    if (o->overlay &&
        (rc = covidcam_heatmap_write_overlay(h, o->overlay, (float)(1.0 - alpha), err,
                                             sizeof err))) {
        snprintf(msg, size, "overlay %s: %s", o->overlay, err);
        *st = rc;
        return 1;
    }
    if (o->heatmap &&
        (rc = covidcam_heatmap_write_colormap(h, o->heatmap, err, sizeof err))) {
        snprintf(msg, size, "heatmap %s: %s", o->heatmap, err);
        *st = rc;
        return 1;
    }
    int s = covidcam_heatmap_size(h);
    if (o->npy && npy_write_f32(o->npy, covidcam_heatmap_data(h), s, s)) {
        snprintf(msg, size, "npy %s: cannot write: %s", o->npy, strerror(errno));
        *st = COVIDCAM_ERR_IO;
        return 1;
    }
    return 0;
}

static void print_text(const covidcam_model *m, const char *file, const covidcam_heatmap *h,
                       const outputs *o)
{
    const float *p = covidcam_heatmap_probabilities(h);
    int top = covidcam_heatmap_top_class(h);
    printf("%s: %s (%.4f); %s of %s (%.4f) at %s\n", file, covidcam_model_class_name(m, top),
           (double)p[top], method_names[covidcam_heatmap_method(h)],
           covidcam_model_class_name(m, covidcam_heatmap_class(h)),
           (double)covidcam_heatmap_probability(h), covidcam_heatmap_layer(h));
    for (int i = 0; i < covidcam_heatmap_num_classes(h); i++)
        printf("  %-20s %.4f\n", covidcam_model_class_name(m, i), (double)p[i]);
    const char *kind[3] = {"overlay", "heatmap", "npy"};
    const char *path[3] = {o->overlay, o->heatmap, o->npy};
    for (int k = 0; k < 3; k++)
        if (path[k])
            printf("  %-8s %s\n", kind[k], path[k]);
    covidcam_assessment as;
    covidcam_assessment_init(&as);
    char line[256];
    if (covidcam_heatmap_assessment(h, &as) == COVIDCAM_OK && cli_ood_line(&as, line, sizeof line))
        printf("%s\n", line);
}

static json_t *json_outputs(const outputs *o)
{
    json_t *j = json_object();
    const char *key[3] = {"overlay", "heatmap", "npy"};
    const char *path[3] = {o->overlay, o->heatmap, o->npy};
    for (int k = 0; k < 3 && j; k++)
        if (path[k] && cli_json_set_file(j, key[k], path[k])) {
            json_decref(j);
            j = NULL;
        }
    return j;
}

static int print_json(const covidcam_model *m, const char *file, const covidcam_heatmap *h,
                      const outputs *o, double ms)
{
    json_t *j = json_pack(
        "{s:s, s:o, s:s, s:o, s:s, s:s, s:[i,i], s:o, s:f}", "top",
        covidcam_model_class_name(m, covidcam_heatmap_top_class(h)), "probabilities",
        cli_json_class_map(m, covidcam_heatmap_probabilities(h)), "class",
        covidcam_model_class_name(m, covidcam_heatmap_class(h)), "probability",
        cli_json_float(covidcam_heatmap_probability(h)), "method",
        method_names[covidcam_heatmap_method(h)], "layer", covidcam_heatmap_layer(h),
        "raw_size", covidcam_heatmap_raw_height(h), covidcam_heatmap_raw_width(h), "outputs",
        json_outputs(o), "ms", ms);
    covidcam_image_info info;
    covidcam_image_info_init(&info);
    if (j && covidcam_heatmap_image_info(h, &info) == COVIDCAM_OK)
        json_object_set_new(j, "image", cli_json_image_info(&info));
    covidcam_assessment as;
    covidcam_assessment_init(&as);
    covidcam_heatmap_assessment(h, &as);
    json_t *line = json_object();
    if (!j || !line || cli_json_set_trust(j, &info, &as) || cli_json_set_file(line, "file", file) || json_object_update(line, j)) {
        json_decref(j);
        json_decref(line);
        cli_print_json_failure();
        fprintf(stderr, "%s: %s: cannot format JSON output\n", prog, file);
        return 1;
    }
    json_decref(j);
    if (!cli_print_json(line))
        return 0;
    cli_print_json_failure();
    return 1;
}

/* A failed image: stderr, and with --json its error object on stdout. */
static void report_error(const args *a, const char *file, covidcam_status rc, const char *msg)
{
    fprintf(stderr, "%s: %s: %s: %s\n", prog, file, covidcam_status_string(rc), msg);
    if (a->json)
        cli_print_error_json(file, covidcam_status_string(rc), msg);
}

/* Explain one image; 0 on success, 1 after reporting a failure. */
static int explain_one(covidcam_session *s, const args *a, const covidcam_gradcam_options *go,
                       const char *file, const outputs *o)
{
    covidcam_heatmap *h = NULL;
    double t0 = cli_now_ms();
    covidcam_status rc = covidcam_gradcam_file(s, file, go, &h);
    double ms = cli_round3(cli_now_ms() - t0);
    if (rc) {
        report_error(a, file, rc, covidcam_session_last_error(s));
        return 1;
    }
    covidcam_image_info info;
    covidcam_image_info_init(&info);
    covidcam_heatmap_image_info(h, &info);
    covidcam_assessment as;
    covidcam_assessment_init(&as);
    covidcam_heatmap_assessment(h, &as);
    char warnings[CLI_MAX_WARNINGS][128];
    int nwarn = cli_warnings(&info, &as, warnings, CLI_MAX_WARNINGS);
    for (int i = 0; i < nwarn; i++)
        fprintf(stderr, "%s: %s: warning: %s\n", prog, file, warnings[i]);
    char msg[2 * PATH_MAX];
    int failed = write_outputs(h, o, a->alpha, msg, sizeof msg, &rc);
    if (failed)
        report_error(a, file, rc, msg);
    else if (a->json)
        failed = print_json(covidcam_session_model(s), file, h, o, ms);
    else if (!failed)
        print_text(covidcam_session_model(s), file, h, o);
    covidcam_heatmap_free(h);
    return failed;
}

static int run(covidcam_session *s, const args *a, const covidcam_gradcam_options *go,
               int n, char **files)
{
    static char paths[3 * PATH_MAX];
    outputs o = {a->overlay, a->heatmap, a->npy};
    int failed = 0;
    if (a->out_dir && check_unique_names(n, files))
        return 2;
    if (a->out_dir && make_dir(a->out_dir))
        return 1;
    for (int i = 0; i < n; i++) {
        if (a->out_dir && batch_outputs(a, files[i], paths, &o)) {
            report_error(a, files[i], COVIDCAM_ERR_INVALID_ARGUMENT, "output path too long");
            failed = 1;
            continue;
        }
        failed |= explain_one(s, a, go, files[i], &o);
        fflush(stdout);
    }
    return failed;
}

int main(int argc, char **argv)
{
    args a = {.alpha = 0.5, .method = COVIDCAM_CAM_GRADCAM};
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    covidcam_gradcam_options go;
    int status = 1;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (cli_open(prog, a.model, a.threads, &m, &s))
        goto done;
    if (a.list_layers) {
        list_layers(m);
        status = 0;
        goto done;
    }
    covidcam_gradcam_options_init(&go);
    go.method = a.method;
    go.layer = a.layer;
    if (check_layer(m, a.layer) || resolve_class(m, a.class_arg, &go.target_class)) {
        status = 2;
        goto done;
    }
    status = run(s, &a, &go, argc - optind, argv + optind);
done:
    covidcam_session_free(s);
    covidcam_model_free(m);
    return status;
}
