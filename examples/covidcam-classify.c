/* covidcam-classify: classify chest X-rays (PNG, JPEG, DICOM) with a covidcam model. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_util.h"
#include "json_escape.h"

static const char *prog = "covidcam-classify";

typedef struct args {
    const char *model;
    int json;
    int threads;
} args;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s --model FILE [--json] [--threads N] IMAGE...\n"
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
            "  -t, --threads N    oneDNN threads (default 0 = all cores)\n"
            "  -h, --help         show this help\n"
            "  -V, --version      show the library version\n"
            "\n"
            "Errors go to stderr with the library's message. Images that fail are\n"
            "skipped; the exit status is then 1. Usage errors exit with 2.\n",
            prog);
}

/* 0 to run, 1 to exit successfully (--help/--version), 2 on usage errors. */
static int parse(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:jt:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'j': a->json = 1; break;
        case 't':
            if (cli_parse_int(optarg, 0, 1024, &a->threads)) {
                fprintf(stderr, "%s: --threads needs an integer in [0, 1024], not '%s'\n",
                        prog, optarg);
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

static void print_text(const covidcam_model *m, const char *file, const float *probs, int top,
                       const covidcam_assessment *as)
{
    char line[256];
    printf("%s: %s\n", file, covidcam_model_class_name(m, top));
    for (int i = 0; i < covidcam_model_num_classes(m); i++)
        printf("  %-20s %.4f\n", covidcam_model_class_name(m, i), (double)probs[i]);
    if (cli_ood_line(as, line, sizeof line))
        printf("%s\n", line);
}

static int print_json(const covidcam_model *m, const char *file, const float *probs,
                      const float *logits, int top, double ms, const covidcam_image_info *info,
                      const covidcam_assessment *as)
{
    json_t *o = json_object();
    json_t *rest = json_pack("{s:s, s:o, s:o, s:f, s:o}", "top", covidcam_model_class_name(m, top),
                             "probabilities", cli_json_class_map(m, probs), "logits",
                             cli_json_class_map(m, logits), "ms", ms, "image",
                             cli_json_image_info(info));
    if (!o || !rest || cli_json_set_file(o, "file", file) || json_object_update(o, rest)) {
        json_decref(o);
        json_decref(rest);
        return -1;
    }
    json_decref(rest);
    if (cli_json_set_trust(o, info, as)) {
        json_decref(o);
        return -1;
    }
    return cli_print_json(o);
}

static void report_error(int json, const char *file, covidcam_status rc, const char *msg)
{
    fprintf(stderr, "%s: %s: %s: %s\n", prog, file, covidcam_status_string(rc), msg);
    if (json)
        cli_print_error_json(file, covidcam_status_string(rc), msg);
}

/* 0 if the image was classified and printed, 1 otherwise. */
static int classify_one(covidcam_session *s, const char *file, int json, float *probs,
                        float *logits)
{
    const covidcam_model *m = covidcam_session_model(s);
    size_t n = (size_t)covidcam_model_num_classes(m);
    int top;
    double t0 = cli_now_ms();
    covidcam_status rc = covidcam_classify_file(s, file, probs, logits, n, &top);
    double ms = cli_round3(cli_now_ms() - t0);
    if (rc) {
        report_error(json, file, rc, covidcam_session_last_error(s));
        return 1;
    }
    covidcam_image_info info;
    covidcam_image_info_init(&info);
    covidcam_session_image_info(s, &info);
    covidcam_assessment as;
    covidcam_assessment_init(&as);
    covidcam_session_assessment(s, &as);
    char warnings[CLI_MAX_WARNINGS][128];
    int nwarn = cli_warnings(&info, &as, warnings, CLI_MAX_WARNINGS);
    for (int i = 0; i < nwarn; i++)
        fprintf(stderr, "%s: %s: warning: %s\n", prog, file, warnings[i]);
    if (!json) {
        print_text(m, file, probs, top, &as);
        return 0;
    }
    if (print_json(m, file, probs, logits, top, ms, &info, &as)) {
        cli_print_json_failure();
        fprintf(stderr, "%s: %s: cannot format JSON output\n", prog, file);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    args a = {0};
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    float *probs = NULL, *logits = NULL;
    int status = 1;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (cli_open(prog, a.model, a.threads, &m, &s))
        goto done;
    size_t n = (size_t)covidcam_model_num_classes(m);
    probs = malloc(n * sizeof *probs);
    logits = malloc(n * sizeof *logits);
    if (!probs || !logits) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    int failed = 0;
    for (int i = optind; i < argc; i++) {
        failed |= classify_one(s, argv[i], a.json, probs, logits);
        fflush(stdout);
    }
    status = failed;
done:
    free(probs);
    free(logits);
    covidcam_session_free(s);
    covidcam_model_free(m);
    return status;
}
