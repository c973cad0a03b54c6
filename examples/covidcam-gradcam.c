/* covidcam-gradcam: explain chest X-ray classifications with class activation maps. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "batch.h"
#include "json_escape.h"
#include "pool.h"
#include "name_set.h"
#include "npy.h"

static const char *prog = "covidcam-gradcam";

typedef struct args {
    const char *model, *layer, *class_arg, *out_dir, *csv, *pattern;
    covidcam_cam_method method;
    covidcam_aug_smooth aug_smooth;
    int eigen_smooth, label;
    double alpha; /* heatmap opacity in the overlay */
    int json, threads, threads_set, jobs, quiet, list_layers;
    covidcam_precision precision;
    /* Single-image mode: output paths. Batch mode: non-NULL marks a wanted output. */
    const char *overlay, *heatmap, *npy;
} args;

/* Where one image's outputs go; NULL entries are not written. */
typedef struct outputs {
    const char *overlay, *heatmap, *npy;
} outputs;

enum {
    OPT_HEATMAP = 256,
    OPT_NPY,
    OPT_OUT_DIR,
    OPT_LIST_LAYERS,
    OPT_CSV,
    OPT_PATTERN,
    OPT_EIGEN,
    OPT_AUG,
    OPT_LABEL,
    OPT_PRECISION
};

static void usage(FILE *f)
{
    char methods[256];
    cli_method_list(methods, sizeof methods);
    fprintf(f,
            "Usage: %s --model FILE [OPTIONS] [-o OVERLAY.png] [--heatmap HEAT.png]\n"
            "                        [--npy MAP.npy] IMAGE|FOLDER|-...\n"
            "       %s --model FILE [OPTIONS] --out-dir DIR [--overlay] [--heatmap] [--npy]\n"
            "                        IMAGE|FOLDER|-...\n"
            "\n"
            "Classify each IMAGE (PNG, JPEG or DICOM, recognised from its bytes) and\n"
            "compute the class activation map that explains the decision, then print the\n"
            "probabilities and write the requested images.\n"
            "\n"
            "Options:\n"
            "  -m, --model FILE        covidcam safetensors model (docs/model-format.md)\n"
            "  -l, --layer NAME        target block: layer4 (default; last block of stage 4),\n"
            "                          layer4.1, layer3, layer2.0, ... (see --list-layers);\n"
            "                          several separated by commas give their mean map\n"
            "  -c, --class NAME|INDEX  class to explain (default: the top class)\n"
            "  -M, --method METHOD     gradcam (default) or any of: %s\n"
            "                          (docs/gradcam.md; scorecam: one pass per channel)\n"
            "      --eigen-smooth      first principal component instead of the weighted sum\n"
            "      --aug-smooth MODE   none (default), intensity (x 0.9, 1, 1.1) or flip\n"
            "                          (those and their mirrors; see docs/gradcam.md)\n"
            "      --label             draw the class, probability, method and layer and a\n"
            "                          colour bar on the overlay\n"
            "  -a, --alpha A           heatmap opacity in the overlay, 0..1 (default 0.5,\n"
            "                          i.e. pytorch-grad-cam's image_weight = 1 - A = 0.5)\n"
            "  -j, --json              one JSON object per image and line: file, top,\n"
            "                          probabilities, class, probability, method, layer,\n"
            "                          eigen_smooth and aug_smooth (when used),\n"
            "                          raw_size [h, w], outputs {kind: path}, ms, image,\n"
            "                          ood, ood_score, warnings (as covidcam-classify --json)\n"
            "      --csv FILE          also write one CSV row per image (RFC 4180): file,\n"
            "                          status, top, a column per class, class, probability,\n"
            "                          overlay, heatmap, npy, ood, ood_score, warnings,\n"
            "                          error, file_bytes (as covidcam-classify --csv)\n"
            "  -t, --threads N         oneDNN threads per worker (default: all cores for one\n"
            "                          worker, cores / workers for several)\n"
            "  -J, --jobs N            workers, each with its own session (default: min(cores,\n"
            "                          8), cores / --threads when given); input order kept\n"
            "      --pattern GLOB      only files in FOLDERs whose name matches GLOB\n"
            "      --precision P       fp32 (default), bf16 (CPUs with AVX512-BF16 or AMX),\n"
            "                          int8 (files made by covidcam-quantize; the map from\n"
            "                          fp32) or auto (int8 for such files, else bf16 where\n"
            "                          the CPU has it, else fp32)\n"
            "  -q, --quiet             no progress and no summary on stderr\n"
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
            "no file name and select what to write for each IMAGE, named after its path\n"
            "under its FOLDER (the file name for an IMAGE named directly or listed on\n"
            "stdin) without the extension: DIR/SUB/NAME.overlay.png, .heatmap.png, .npy,\n"
            "mirroring the FOLDER's tree. Without any of them only the overlay is\n"
            "written. When two IMAGEs would get the same NAME (x.png beside x.jpg, or the\n"
            "same path under two FOLDERs), the later ones in input order are NAME~2,\n"
            "NAME~3... DIR/index.csv (the --csv columns) and DIR/index.jsonl (the --json\n"
            "lines) list every input, what was written for it and its result or error.\n"
            "\n"
            "A FOLDER is searched recursively for PNG, JPEG and DICOM files (recognised\n"
            "from their bytes), in the byte order of their paths; \"-\" reads paths from\n"
            "stdin, one per line. Progress and a summary go to stderr as for\n"
            "covidcam-classify.\n"
            "\n"
            "Errors go to stderr with the library's message. Images that fail are reported\n"
            "and counted; the exit status is then 1. Usage errors exit with 2.\n",
            prog, prog, methods);
}

/* Long options shared by both modes; the output options differ in arity. */
#define COMMON_OPTS                                                                          \
    {"model", required_argument, NULL, 'm'}, {"layer", required_argument, NULL, 'l'},         \
        {"class", required_argument, NULL, 'c'}, {"method", required_argument, NULL, 'M'},    \
        {"alpha", required_argument, NULL, 'a'}, {"json", no_argument, NULL, 'j'},            \
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},          \
        {"version", no_argument, NULL, 'V'}, {"out-dir", required_argument, NULL, OPT_OUT_DIR}, \
        {"list-layers", no_argument, NULL, OPT_LIST_LAYERS},                                 \
        {"csv", required_argument, NULL, OPT_CSV}, {"pattern", required_argument, NULL, OPT_PATTERN}, \
        {"jobs", required_argument, NULL, 'J'}, {"quiet", no_argument, NULL, 'q'},            \
        {"eigen-smooth", no_argument, NULL, OPT_EIGEN},                                      \
        {"aug-smooth", required_argument, NULL, OPT_AUG}, {"label", no_argument, NULL, OPT_LABEL}, \
        {"precision", required_argument, NULL, OPT_PRECISION}

static const struct option single_opts[] = {
    COMMON_OPTS,
    {"overlay", required_argument, NULL, 'o'},
    {"heatmap", required_argument, NULL, OPT_HEATMAP},
    {"npy", required_argument, NULL, OPT_NPY},
    {NULL, 0, NULL, 0}};
static const char *single_short = "m:l:c:M:a:jt:J:qhVo:";

static const struct option batch_opts[] = {
    COMMON_OPTS,
    {"overlay", no_argument, NULL, 'o'},
    {"heatmap", no_argument, NULL, OPT_HEATMAP},
    {"npy", no_argument, NULL, OPT_NPY},
    {NULL, 0, NULL, 0}};
static const char *batch_short = "m:l:c:M:a:jt:J:qhVo";

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
    case OPT_CSV: a->csv = optarg; return 0;
    case OPT_PATTERN: a->pattern = optarg; return 0;
    case 'q': a->quiet = 1; return 0;
    case 'J':
        if (!cli_parse_int(optarg, 1, 1024, &a->jobs))
            return 0;
        fprintf(stderr, "%s: --jobs needs an integer in [1, 1024], not '%s'\n", prog, optarg);
        return 2;
    case 'o': a->overlay = batch ? flag : optarg; return 0;
    case OPT_HEATMAP: a->heatmap = batch ? flag : optarg; return 0;
    case OPT_NPY: a->npy = batch ? flag : optarg; return 0;
    case 'M':
        if (covidcam_cam_method_parse(optarg, &a->method) == COVIDCAM_OK)
            return 0;
        char names[256];
        cli_method_list(names, sizeof names);
        fprintf(stderr, "%s: unknown method '%s' (%s)\n", prog, optarg, names);
        return 2;
    case OPT_EIGEN: a->eigen_smooth = 1; return 0;
    case OPT_LABEL: a->label = 1; return 0;
    case OPT_PRECISION: return cli_parse_precision(prog, optarg, &a->precision);
    case OPT_AUG:
        if (!cli_parse_aug(optarg, &a->aug_smooth))
            return 0;
        fprintf(stderr, "%s: --aug-smooth needs none, intensity or flip, not '%s'\n", prog,
                optarg);
        return 2;
    case 'a':
        if (!cli_parse_double(optarg, 0.0, 1.0, &a->alpha))
            return 0;
        fprintf(stderr, "%s: --alpha needs a number in [0, 1], not '%s'\n", prog, optarg);
        return 2;
    case 't':
        if (!cli_parse_int(optarg, 0, 1024, &a->threads)) {
            a->threads_set = 1;
            return 0;
        }
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

/* 1 if `name` (len bytes) is one of the model's layer names. */
static int known_layer(const covidcam_model *m, const char *name, size_t len)
{
    for (int i = 0; i < covidcam_model_num_layers(m); i++) {
        const char *l = covidcam_model_layer_name(m, i);
        if (strlen(l) == len && !strncmp(l, name, len))
            return 1;
    }
    return 0;
}

/* Refuse an unknown --layer (or one of a comma list) once rather than once
 * per image; the library refuses the rest (empty names, too many). */
static int check_layer(const covidcam_model *m, const char *layer)
{
    if (!layer || !*layer)
        return 0;
    for (const char *p = layer;;) {
        size_t len = strcspn(p, ",");
        while (len && *p == ' ')
            p++, len--;
        size_t trimmed = len;
        while (trimmed && p[trimmed - 1] == ' ')
            trimmed--;
        if (!known_layer(m, p, trimmed)) {
            fprintf(stderr, "%s: unknown --layer '%.*s'; this model has:", prog, (int)trimmed, p);
            for (int i = 0; i < covidcam_model_num_layers(m); i++)
                fprintf(stderr, " %s", covidcam_model_layer_name(m, i));
            fputc('\n', stderr);
            return -1;
        }
        if (!p[len])
            return 0;
        p += len + 1;
    }
}

static void list_layers(const covidcam_model *m)
{
    for (int i = 0; i < covidcam_model_num_layers(m); i++)
        puts(covidcam_model_layer_name(m, i));
}

static int make_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0777) == 0 || (errno == EEXIST && !stat(dir, &st) && S_ISDIR(st.st_mode)))
        return 0;
    if (errno == EEXIST)
        errno = ENOTDIR;
    return -1;
}

/* Create the folders of `path` below `root` (which exists); -1 with the
 * failing folder in `bad` (PATH_MAX bytes) and errno set. Workers may race
 * on one folder: EEXIST of a folder is success. */
static int make_parents(const char *root, const char *path, char *bad)
{
    size_t skip = strlen(root) + 1;
    snprintf(bad, PATH_MAX, "%s", path);
    for (char *p = bad + skip; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (make_dir(bad))
            return -1;
        *p = '/';
    }
    return 0;
}

/* The output names of every input under --out-dir: its path under its
 * folder without the extension, NAME~2, NAME~3... for later inputs that would
 * clash. prefix[i] is "DIR/SUB/NAME" (owned), NULL when it cannot be made
 * (the image then fails with the reason in why[i]). -1 when out of memory. */
static int name_outputs(const char *dir, const cli_inputs *in, char **prefix, const char **why)
{
    name_set taken = {0};
    char stem[PATH_MAX], name[PATH_MAX + 16];
    int rc = 0;
    for (size_t i = 0; i < in->count && rc == 0; i++) {
        const char *rel = in->item[i].rel, *slash = strrchr(rel, '/');
        size_t dirlen = slash ? (size_t)(slash - rel) + 1 : 0;
        if (in->item[i].status)
            continue;
        if (cli_stem(rel, stem, sizeof stem) || dirlen >= PATH_MAX) {
            why[i] = "cannot name outputs after this path";
            continue;
        }
        snprintf(name, sizeof name, "%.*s%s", (int)dirlen, rel, stem);
        for (int k = 2; (rc = name_set_add(&taken, name)) == 0; k++)
            snprintf(name, sizeof name, "%.*s%s~%d", (int)dirlen, rel, stem, k);
        if (rc < 0)
            break;
        rc = 0;
        int n = snprintf(NULL, 0, "%s/%s", dir, name);
        /* room for the longest suffix, ".overlay.png" */
        if (n + 12 >= PATH_MAX) {
            why[i] = "output path too long";
            continue;
        }
        if (!(prefix[i] = malloc((size_t)n + 1)))
            rc = -1;
        else
            snprintf(prefix[i], (size_t)n + 1, "%s/%s", dir, name);
    }
    name_set_free(&taken);
    return rc;
}

/* The overlay, with the heatmap's label drawn on it when `m` is given. */
static covidcam_status write_overlay(const covidcam_heatmap *h, const covidcam_model *m,
                                     const char *path, double alpha, char *err, size_t size)
{
    char label[256];
    if (m && covidcam_heatmap_label(h, m, label, sizeof label) == COVIDCAM_OK)
        return covidcam_heatmap_write_labelled_overlay(h, path, (float)(1.0 - alpha), label, err,
                                                       size);
    return covidcam_heatmap_write_overlay(h, path, (float)(1.0 - alpha), err, size);
}

/* Write the requested files (the overlay labelled when label_model is not
 * NULL); 0, or 1 with the first failure in msg and st. */
static int write_outputs(const covidcam_heatmap *h, const covidcam_model *label_model,
                         const outputs *o, double alpha, char *msg, size_t size,
                         covidcam_status *st)
{
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_status rc;
    if (o->overlay &&
        (rc = write_overlay(h, label_model, o->overlay, alpha, err, sizeof err))) {
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

static void text_result(cli_result *r, const covidcam_model *m, const char *file,
                        const covidcam_heatmap *h, const outputs *o)
{
    const float *p = covidcam_heatmap_probabilities(h);
    int top = covidcam_heatmap_top_class(h);
    cli_append(&r->out, "%s: %s (%.4f); %s of %s (%.4f) at %s\n", file,
               covidcam_model_class_name(m, top), (double)p[top],
               covidcam_cam_method_name(covidcam_heatmap_method(h)),
               covidcam_model_class_name(m, covidcam_heatmap_class(h)),
               (double)covidcam_heatmap_probability(h), covidcam_heatmap_layer(h));
    for (int i = 0; i < covidcam_heatmap_num_classes(h); i++)
        cli_append(&r->out, "  %-20s %.4f\n", covidcam_model_class_name(m, i), (double)p[i]);
    const char *kind[3] = {"overlay", "heatmap", "npy"};
    const char *path[3] = {o->overlay, o->heatmap, o->npy};
    for (int k = 0; k < 3; k++)
        if (path[k])
            cli_append(&r->out, "  %-8s %s\n", kind[k], path[k]);
    covidcam_assessment as;
    covidcam_assessment_init(&as);
    char line[256];
    if (covidcam_heatmap_assessment(h, &as) == COVIDCAM_OK && cli_ood_line(&as, line, sizeof line))
        cli_append(&r->out, "%s\n", line);
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

static json_t *json_result(const covidcam_model *m, const char *file, const covidcam_heatmap *h,
                           const outputs *o, double ms)
{
    json_t *j = json_pack(
        "{s:s, s:o, s:s, s:o, s:s, s:s, s:[i,i], s:o, s:f}", "top",
        covidcam_model_class_name(m, covidcam_heatmap_top_class(h)), "probabilities",
        cli_json_class_map(m, covidcam_heatmap_probabilities(h)), "class",
        covidcam_model_class_name(m, covidcam_heatmap_class(h)), "probability",
        cli_json_float(covidcam_heatmap_probability(h)), "method",
        covidcam_cam_method_name(covidcam_heatmap_method(h)), "layer", covidcam_heatmap_layer(h),
        "raw_size", covidcam_heatmap_raw_height(h), covidcam_heatmap_raw_width(h), "outputs",
        json_outputs(o), "ms", ms);
    if (j && cli_json_set_smoothing(j, h)) {
        json_decref(j);
        j = NULL;
    }
    covidcam_image_info info;
    covidcam_image_info_init(&info);
    if (j && covidcam_heatmap_image_info(h, &info) == COVIDCAM_OK)
        json_object_set_new(j, "image", cli_json_image_info(&info));
    covidcam_assessment as;
    covidcam_assessment_init(&as);
    covidcam_heatmap_assessment(h, &as);
    json_t *line = json_object();
    if (!j || !line || cli_json_set_trust(j, &info, &as) || cli_json_set_file(line, "file", file) ||
        json_object_update(line, j)) {
        json_decref(line);
        line = NULL;
    }
    json_decref(j);
    return line;
}

/* What every image shares: the options and, with --out-dir, its outputs. */
typedef struct tool {
    const args *a;
    const covidcam_gradcam_options *go;
    char **prefix;    /* --out-dir: "DIR/SUB/NAME" per input */
    const char **why; /* --out-dir: why an input has no prefix */
} tool;

/* Fill `o` for input i (paths in buf, 3 * PATH_MAX bytes); -1 with *why set. */
static int item_outputs(const tool *t, size_t i, char *buf, outputs *o, const char **why)
{
    *o = (outputs){t->a->overlay, t->a->heatmap, t->a->npy};
    if (!t->a->out_dir)
        return 0;
    if (!t->prefix[i]) {
        *why = t->why[i];
        return -1;
    }
    const char *suffix[3] = {".overlay.png", ".heatmap.png", ".npy"};
    const char **dst[3] = {&o->overlay, &o->heatmap, &o->npy};
    for (int k = 0; k < 3; k++) {
        if (!*dst[k])
            continue;
        snprintf(buf + k * PATH_MAX, PATH_MAX, "%s%s", t->prefix[i], suffix[k]);
        *dst[k] = buf + k * PATH_MAX;
    }
    return 0;
}

/* Explain one image with session s (a worker thread's) into *r. */
static void explain_image(covidcam_session *s, const cli_input *item, size_t i, cli_result *r,
                          void *arg)
{
    const tool *t = arg;
    const char *file = item->path, *why = NULL;
    char paths[3 * PATH_MAX], msg[2 * PATH_MAX];
    outputs o;
    if (item_outputs(t, i, paths, &o, &why)) {
        cli_result_error(r, prog, file, COVIDCAM_ERR_INVALID_ARGUMENT, why);
        return;
    }
    covidcam_heatmap *h = NULL;
    double t0 = cli_now_ms();
    covidcam_status rc = covidcam_gradcam_file(s, file, t->go, &h);
    double ms = cli_round3(cli_now_ms() - t0);
    if (rc) {
        cli_result_error(r, prog, file, rc, covidcam_session_last_error(s));
        return;
    }
    covidcam_image_info info;
    covidcam_image_info_init(&info);
    covidcam_heatmap_image_info(h, &info);
    covidcam_assessment as;
    covidcam_assessment_init(&as);
    covidcam_heatmap_assessment(h, &as);
    char warnings[CLI_MAX_WARNINGS][128];
    int nwarn = cli_warnings(&info, &as, warnings, CLI_MAX_WARNINGS);
    for (int k = 0; k < nwarn; k++)
        cli_append(&r->err, "%s: %s: warning: %s\n", prog, file, warnings[k]);
    const char *first = o.overlay ? o.overlay : o.heatmap ? o.heatmap : o.npy;
    if (t->a->out_dir && first && make_parents(t->a->out_dir, first, msg)) {
        char e[sizeof msg + 64];
        snprintf(e, sizeof e, "cannot create directory %s: %s", msg, strerror(errno));
        cli_result_error(r, prog, file, COVIDCAM_ERR_IO, e);
    } else if (write_outputs(h, t->a->label ? covidcam_session_model(s) : NULL, &o, t->a->alpha,
                             msg, sizeof msg, &rc)) {
        cli_result_error(r, prog, file, rc, msg);
    } else {
        r->top = covidcam_heatmap_top_class(h);
        if (!t->a->json)
            text_result(r, covidcam_session_model(s), file, h, &o);
        r->obj = json_result(covidcam_session_model(s), file, h, &o, ms);
        if (!r->obj) {
            cli_append(&r->err, "%s: %s: cannot format JSON output\n", prog, file);
            r->status = -1;
        }
    }
    covidcam_heatmap_free(h);
}

static FILE *open_index(const char *dir, const char *name)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        fprintf(stderr, "%s: %s/%s: path too long\n", prog, dir, name);
        return NULL;
    }
    return cli_open_csv(prog, path);
}

static const char *const csv_extra[] = {"class", "probability", "overlay", "heatmap", "npy"};

/* Everything after the options are checked: the inputs, the outputs'
 * names, the files, the workers. */
static int run(const args *a, const covidcam_model *m, const covidcam_gradcam_options *go,
               cli_inputs *in, int jobs, covidcam_session **s)
{
    tool t = {a, go, NULL, NULL};
    FILE *csv = NULL, *index_csv = NULL, *index_jsonl = NULL;
    FILE *files[3] = {NULL, NULL, NULL}; /* closed at the end */
    int status = 1;
    if (a->out_dir) {
        if (make_dir(a->out_dir)) {
            fprintf(stderr, "%s: cannot create directory %s: %s\n", prog, a->out_dir,
                    errno == ENOTDIR ? "not a directory" : strerror(errno));
            return 1;
        }
        t.prefix = calloc(in->count, sizeof *t.prefix);
        t.why = calloc(in->count, sizeof *t.why);
        if (!t.prefix || !t.why || name_outputs(a->out_dir, in, t.prefix, t.why)) {
            fprintf(stderr, "%s: out of memory\n", prog);
            goto done;
        }
        files[1] = index_csv = open_index(a->out_dir, "index.csv");
        files[2] = index_jsonl = open_index(a->out_dir, "index.jsonl");
        if (!index_csv || !index_jsonl)
            goto done;
    }
    if (a->csv && !(csv = cli_open_csv(prog, a->csv)))
        goto done;
    files[0] = csv;
    cli_batch b = {.prog = prog, .model = m, .in = in, .json = a->json, .quiet = a->quiet,
                   .csv = csv, .index_csv = index_csv, .index_jsonl = index_jsonl,
                   .columns = {m, csv_extra, (int)(sizeof csv_extra / sizeof *csv_extra)},
                   .image = explain_image, .tool = &t};
    status = cli_batch_run(&b, s, jobs);
done:
    for (int k = 0; k < 3; k++)
        if (files[k] && fclose(files[k])) {
            fprintf(stderr, "%s: cannot write the CSV or index files\n", prog);
            status = 1;
        }
    for (size_t i = 0; t.prefix && i < in->count; i++)
        free(t.prefix[i]);
    free(t.prefix);
    free(t.why);
    return status;
}

int main(int argc, char **argv)
{
    args a = {.alpha = 0.5, .method = COVIDCAM_CAM_GRADCAM};
    covidcam_model *m = NULL;
    covidcam_session **s = NULL;
    cli_inputs in = {0};
    covidcam_gradcam_options go;
    int status = 1, jobs = 0;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (a.list_layers) {
        if (cli_load(prog, a.model, &m))
            return 1;
        list_layers(m);
        covidcam_model_free(m);
        return 0;
    }
    if (cli_expand(prog, argc - optind, argv + optind, a.pattern, &in))
        goto done;
    if (!a.out_dir && in.count > 1 && (a.overlay || a.heatmap || a.npy)) {
        fprintf(stderr, "%s: several IMAGEs need --out-dir to write images or maps\n", prog);
        usage(stderr);
        status = 2;
        goto done;
    }
    if (cli_open_pool(prog, a.model, in.count, a.jobs, a.threads, a.threads_set, a.precision, 0, &m,
                      &s, &jobs))
        goto done;
    covidcam_gradcam_options_init(&go);
    go.method = a.method;
    go.layer = a.layer;
    go.eigen_smooth = a.eigen_smooth;
    go.aug_smooth = a.aug_smooth;
    if (check_layer(m, a.layer) || resolve_class(m, a.class_arg, &go.target_class)) {
        status = 2;
        goto done;
    }
    status = run(&a, m, &go, &in, jobs, s);
done:
    for (int i = 0; s && i < jobs; i++)
        covidcam_session_free(s[i]);
    free(s);
    covidcam_model_free(m);
    cli_inputs_free(&in);
    return status;
}
