/* covidcam-classify: classify chest X-rays (PNG, JPEG, DICOM) with a covidcam model. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_util.h"
#include "batch.h"
#include "json_escape.h"
#include "pool.h"

static const char *prog = "covidcam-classify";

typedef struct args {
    const char *model, *csv, *pattern;
    int json, quiet;
    int threads, threads_set, jobs, batch;
    covidcam_precision precision;
} args;

enum { OPT_CSV = 256, OPT_PATTERN, OPT_PRECISION, OPT_BATCH };

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s --model FILE [--json] [--csv FILE] [--threads N] [--jobs N]\n"
            "                         [--precision P] [--batch N] [--pattern GLOB] [--quiet]\n"
            "                         IMAGE|FOLDER|-...\n"
            "\n"
            "Classify each IMAGE (PNG, JPEG or DICOM, recognised from its bytes whatever\n"
            "its name; converted to gray) with the covidcam model FILE and print the top\n"
            "class and the probability of every class. Doubts about an answer are\n"
            "warnings on stderr (and in the JSON), never failures: a DICOM whose\n"
            "ViewPosition is lateral or whose Modality is not CR/DX, an image that is\n"
            "nearly constant, of low dynamic range, likely inverted or far from square,\n"
            "and, with a model that carries OOD statistics, an image unlike the training\n"
            "images (a line \"OUT OF DISTRIBUTION\" in the table). docs/trust.md.\n"
            "\n"
            "  -m, --model FILE   covidcam safetensors model (docs/model-format.md)\n"
            "  -j, --json         one JSON object per image and line:\n"
            "                       {\"file\":..., \"top\":..., \"probabilities\":{class: p},\n"
            "                        \"logits\":{class: z}, \"ms\":...,\n"
            "                        \"image\":{\"format\", \"width\", \"height\", \"bits\",\n"
            "                        \"channels\", \"photometric\", and for DICOM \"modality\",\n"
            "                        \"view_position\", \"body_part\", \"window_center\"...},\n"
            "                        \"ood\": true|false, \"ood_score\": number (null when\n"
            "                        the model has no OOD statistics),\n"
            "                        \"warnings\":[...] ([] when none)}\n"
            "                     ms is the wall time of the classify call (decode,\n"
            "                     preprocessing, network). A failed image gives\n"
            "                     {\"file\":..., \"status\":..., \"error\":...} instead.\n"
            "                     A name that is not UTF-8 is printed with U+FFFD for\n"
            "                     each bad byte, plus \"file_bytes\": its bytes in hex.\n"
            "      --csv FILE     also write one CSV row per image (RFC 4180): file,\n"
            "                     status (ok or the failure), top, a column per class\n"
            "                     (its probability), ood, ood_score, warnings (joined\n"
            "                     with \"; \"), error, file_bytes; values as in the JSON\n"
            "  -t, --threads N    oneDNN threads per worker (default: all cores for one\n"
            "                     worker, cores / workers for several)\n"
            "  -J, --jobs N       workers, each with its own session over the one model\n"
            "                     (default: min(cores, 8), cores / --threads when given,\n"
            "                     never more than images); output stays in input order\n"
            "      --precision P  fp32 (default), bf16 (CPUs with AVX512-BF16 or AMX), int8\n"
            "                     (files made by covidcam-quantize) or auto (int8 for such\n"
            "                     files, else bf16 where the CPU has it, else fp32)\n"
            "      --batch N      classify N images per network pass in each worker (1 to\n"
            "                     %d, default 1); results agree with one by one up to\n"
            "                     float rounding (last digits of --json values)\n"
            "      --pattern GLOB only files in FOLDERs whose name matches GLOB\n"
            "                     (fnmatch: * ? [...]), e.g. '*.png'\n"
            "  -q, --quiet        no progress and no summary on stderr\n"
            "  -h, --help         show this help\n"
            "  -V, --version      show the library version\n"
            "\n"
            "A FOLDER is searched recursively for PNG, JPEG and DICOM files, recognised\n"
            "from their bytes (other files are skipped and counted), in the byte order of\n"
            "their paths; links to folders are not followed. \"-\" reads paths (files or\n"
            "folders) from stdin, one per line. With several images or a FOLDER, stderr\n"
            "shows progress (a bar on a terminal, else a line every 10 s) and ends with a\n"
            "summary: images, failures by status, top classes, time, images/s.\n"
            "\n"
            "Errors go to stderr with the library's message. Images that fail are\n"
            "reported and counted; the exit status is then 1. Usage errors exit with 2.\n",
            prog, COVIDCAM_MAX_BATCH);
}

/* 0 to run, 1 to exit successfully (--help/--version), 2 on usage errors. */
static int parse(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},   {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'}, {"jobs", required_argument, NULL, 'J'},
        {"csv", required_argument, NULL, OPT_CSV}, {"pattern", required_argument, NULL, OPT_PATTERN},
        {"quiet", no_argument, NULL, 'q'},         {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {"precision", required_argument, NULL, OPT_PRECISION},
        {"batch", required_argument, NULL, OPT_BATCH},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:jt:J:qhV", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'j': a->json = 1; break;
        case 'q': a->quiet = 1; break;
        case OPT_CSV: a->csv = optarg; break;
        case OPT_PATTERN: a->pattern = optarg; break;
        case OPT_PRECISION:
            if (cli_parse_precision(prog, optarg, &a->precision))
                return 2;
            break;
        case OPT_BATCH:
            if (cli_parse_int(optarg, 1, COVIDCAM_MAX_BATCH, &a->batch)) {
                fprintf(stderr, "%s: --batch needs an integer in [1, %d], not '%s'\n", prog,
                        COVIDCAM_MAX_BATCH, optarg);
                return 2;
            }
            break;
        case 't':
            if (cli_parse_int(optarg, 0, 1024, &a->threads)) {
                fprintf(stderr, "%s: --threads needs an integer in [0, 1024], not '%s'\n",
                        prog, optarg);
                return 2;
            }
            a->threads_set = 1;
            break;
        case 'J':
            if (cli_parse_int(optarg, 1, 1024, &a->jobs)) {
                fprintf(stderr, "%s: --jobs needs an integer in [1, 1024], not '%s'\n", prog,
                        optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 1;
        case 'V': printf("%s (libcovidcam %s)\n", prog, covidcam_version()); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (!a->model || optind >= argc) {
        fprintf(stderr, "%s: %s\n", prog, a->model ? "no IMAGE given" : "--model is required");
        usage(stderr);
        return 2;
    }
    return 0;
}

static void text_result(cli_result *r, const covidcam_model *m, const char *file,
                        const float *probs, int top, const covidcam_assessment *as)
{
    char line[256];
    cli_append(&r->out, "%s: %s\n", file, covidcam_model_class_name(m, top));
    for (int i = 0; i < covidcam_model_num_classes(m); i++)
        cli_append(&r->out, "  %-20s %.4f\n", covidcam_model_class_name(m, i), (double)probs[i]);
    if (cli_ood_line(as, line, sizeof line))
        cli_append(&r->out, "%s\n", line);
}

static json_t *json_result(const covidcam_model *m, const char *file, const float *probs,
                           const float *logits, int top, double ms,
                           const covidcam_image_info *info, const covidcam_assessment *as)
{
    json_t *o = json_object();
    json_t *rest = json_pack("{s:s, s:o, s:o, s:f, s:o}", "top", covidcam_model_class_name(m, top),
                             "probabilities", cli_json_class_map(m, probs), "logits",
                             cli_json_class_map(m, logits), "ms", ms, "image",
                             cli_json_image_info(info));
    if (!o || !rest || cli_json_set_file(o, "file", file) || json_object_update(o, rest) ||
        cli_json_set_trust(o, info, as)) {
        json_decref(o);
        o = NULL;
    }
    json_decref(rest);
    return o;
}

/* One classified image's output into *r: warnings, text, JSON. */
static void fill_result(cli_result *r, const args *a, const covidcam_model *m, const char *file,
                        const float *probs, const float *logits, int top, double ms,
                        const covidcam_image_info *info, const covidcam_assessment *as)
{
    char warnings[CLI_MAX_WARNINGS][128];
    int nwarn = cli_warnings(info, as, warnings, CLI_MAX_WARNINGS);
    for (int k = 0; k < nwarn; k++)
        cli_append(&r->err, "%s: %s: warning: %s\n", prog, file, warnings[k]);
    r->top = top;
    if (!a->json)
        text_result(r, m, file, probs, top, as);
    r->obj = json_result(m, file, probs, logits, top, ms, info, as);
    if (!r->obj) {
        cli_append(&r->err, "%s: %s: cannot format JSON output\n", prog, file);
        r->status = -1;
    }
}

/* Classify one image with session s (a worker thread's) into *r. */
static void classify_image(covidcam_session *s, const cli_input *item, size_t i, cli_result *r,
                           void *tool)
{
    (void)i;
    const args *a = tool;
    const char *file = item->path;
    const covidcam_model *m = covidcam_session_model(s);
    size_t n = (size_t)covidcam_model_num_classes(m);
    float *probs = malloc(2 * n * sizeof *probs), *logits = probs + n;
    if (!probs) {
        cli_result_error(r, prog, file, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        return;
    }
    int top;
    double t0 = cli_now_ms();
    covidcam_status rc = covidcam_classify_file(s, file, probs, logits, n, &top);
    double ms = cli_round3(cli_now_ms() - t0);
    if (rc) {
        cli_result_error(r, prog, file, rc, covidcam_session_last_error(s));
        free(probs);
        return;
    }
    covidcam_image_info info;
    covidcam_image_info_init(&info);
    covidcam_session_image_info(s, &info);
    covidcam_assessment as;
    covidcam_assessment_init(&as);
    covidcam_session_assessment(s, &as);
    fill_result(r, a, m, file, probs, logits, top, ms, &info, &as);
    free(probs);
}

/* Classify the listable ones of `count` images in one covidcam_classify_files
 * call into r[k]; "ms" is the call's time per image. */
static void classify_chunk(covidcam_session *s, const cli_input *items, int count, cli_result *r,
                           void *tool)
{
    const args *a = tool;
    const covidcam_model *m = covidcam_session_model(s);
    size_t n = (size_t)covidcam_model_num_classes(m);
    const char *paths[COVIDCAM_MAX_BATCH];
    int at[COVIDCAM_MAX_BATCH], k = 0;
    for (int i = 0; i < count; i++)
        if (!items[i].status) {
            at[k] = i;
            paths[k++] = items[i].path;
        }
    if (!k)
        return;
    float *probs = malloc(2 * n * (size_t)k * sizeof *probs), *logits = probs + n * (size_t)k;
    int tops[COVIDCAM_MAX_BATCH];
    covidcam_status st[COVIDCAM_MAX_BATCH];
    if (!probs) {
        for (int j = 0; j < k; j++)
            cli_result_error(&r[at[j]], prog, paths[j], COVIDCAM_ERR_OUT_OF_MEMORY,
                             "out of memory");
        return;
    }
    double t0 = cli_now_ms();
    covidcam_classify_files(s, paths, k, probs, logits, n, tops, st);
    double ms = cli_round3((cli_now_ms() - t0) / k);
    for (int j = 0; j < k; j++) {
        cli_result *res = &r[at[j]];
        const char *why = covidcam_session_batch_error(s, j);
        if (st[j]) { /* this image failed, or the call as a whole */
            cli_result_error(res, prog, paths[j], st[j], *why ? why : covidcam_session_last_error(s));
            continue;
        }
        covidcam_image_info info;
        covidcam_image_info_init(&info);
        covidcam_session_batch_image_info(s, j, &info);
        covidcam_assessment as;
        covidcam_assessment_init(&as);
        covidcam_session_batch_assessment(s, j, &as);
        fill_result(res, a, m, paths[j], probs + (size_t)j * n, logits + (size_t)j * n, tops[j],
                    ms, &info, &as);
    }
    free(probs);
}

int main(int argc, char **argv)
{
    args a = {0};
    covidcam_model *m = NULL;
    covidcam_session **s = NULL;
    cli_inputs in = {0};
    FILE *csv = NULL;
    int jobs = 0, status = 1;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (cli_expand(prog, argc - optind, argv + optind, a.pattern, &in))
        goto done;
    int batch = a.batch > 1 ? a.batch : 1;
    size_t units = (in.count + (size_t)batch - 1) / (size_t)batch;
    if (cli_open_pool(prog, a.model, units, a.jobs, a.threads, a.threads_set, a.precision,
                      batch, &m, &s, &jobs))
        goto done;
    if (a.csv && !(csv = cli_open_csv(prog, a.csv)))
        goto done;
    cli_batch b = {.prog = prog, .model = m, .in = &in, .json = a.json, .quiet = a.quiet,
                   .csv = csv, .columns = {.model = m}, .image = classify_image,
                   .chunk = classify_chunk, .chunk_size = batch, .tool = &a};
    status = cli_batch_run(&b, s, jobs);
done:
    if (csv && fclose(csv)) {
        fprintf(stderr, "%s: cannot write %s\n", prog, a.csv);
        status = 1;
    }
    for (int i = 0; s && i < jobs; i++)
        covidcam_session_free(s[i]);
    free(s);
    covidcam_model_free(m);
    cli_inputs_free(&in);
    return status;
}
