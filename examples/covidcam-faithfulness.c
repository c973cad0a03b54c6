/* covidcam-faithfulness: are a model's maps faithful? For each image and CAM
 * method, the confidence drop when the input keeps only what the map shows
 * (x * map) and when the map's most salient part is removed, each against a
 * random map of the same shape (docs/gradcam.md, "Faithfulness"). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "covidcam.h"
#include "faith_metrics.h"
#include "faith_sample.h"
#include "json_escape.h"

#define MAX_METHODS 16

static const char *prog = "covidcam-faithfulness";

typedef struct args {
    const char *model, *layer;
    covidcam_cam_method methods[MAX_METHODS];
    int num_methods, per_class, threads, json;
    double fraction;
    unsigned long long seed;
} args;

/* Sums over the measured images of one method. */
typedef struct tally {
    double mult, mult_rand, remove, remove_rand, ms;
    int mult_wins, remove_wins, n;
} tally;

/* The buffers of one image: the input, a perturbed copy, the maps, scratch. */
typedef struct bufs {
    float *x, *px, *rand_map, *tmp, *probs;
    faith_rank *ranks;
} bufs;

static void usage(FILE *f)
{
    char names[256];
    cli_method_list(names, sizeof names);
    fprintf(f,
            "Usage: %s --model FILE [OPTIONS] ROOT...\n"
            "\n"
            "Measure how faithful the model's class activation maps are on a seeded\n"
            "sample of every class folder of each ROOT (ROOT/<class>/<image>). For each\n"
            "image, with c its top class and p its probability:\n"
            "  x*map    the network input multiplied by the map, keeping what it\n"
            "           highlights (pytorch-grad-cam's CamMultImageConfidenceChange):\n"
            "           drop = p - p(c | x * map); a faithful map loses LESS than random;\n"
            "  remove   the most salient --fraction of the input set to its mean:\n"
            "           drop = p - p(c | removed); a faithful map loses MORE than random;\n"
            "each against a random map of the same resolution (uniform noise at the\n"
            "target layer's size, resized). \"beats\" is the share of images where the\n"
            "map does better than the random one. Prints a Markdown table, one row\n"
            "per method. Probabilities are the library's (calibrated when the model\n"
            "has a temperature).\n"
            "\n"
            "Options:\n"
            "  -m, --model FILE      covidcam safetensors model\n"
            "  -M, --methods LIST    comma-separated methods (default: all): %s\n"
            "  -l, --layer NAME      target layer(s), as covidcam-gradcam (default layer4)\n"
            "  -f, --fraction F      share of the input removed, in (0, 1) (default 0.2)\n"
            "  -n, --per-class N     images per class folder, 0 = all (default 25)\n"
            "  -s, --seed S          seed of the sample and the random maps (default 0)\n"
            "  -j, --json            one JSON line per image and method, then one per\n"
            "                        method with the means (no table)\n"
            "  -t, --threads N       oneDNN threads (default 0 = all cores)\n"
            "  -h, --help            this text\n"
            "\n"
            "Exit status: 0 when at least one image was measured, 1 otherwise or on a\n"
            "model or folder error, 2 on a usage error.\n",
            prog, names);
}

static int parse_methods(const char *list, args *a)
{
    char buf[512];
    if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf)
        return -1;
    a->num_methods = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (a->num_methods == MAX_METHODS ||
            covidcam_cam_method_parse(t, &a->methods[a->num_methods]) != COVIDCAM_OK) {
            char names[256];
            cli_method_list(names, sizeof names);
            fprintf(stderr, "%s: unknown method '%s' (%s)\n", prog, t, names);
            return -1;
        }
        a->num_methods++;
    }
    return a->num_methods ? 0 : -1;
}

static int parse_args(int argc, char **argv, args *a)
{
    static const struct option longs[] = {
        {"model", required_argument, NULL, 'm'},    {"methods", required_argument, NULL, 'M'},
        {"layer", required_argument, NULL, 'l'},    {"fraction", required_argument, NULL, 'f'},
        {"per-class", required_argument, NULL, 'n'}, {"seed", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},           {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    int c, seed = 0;
    for (int m = 0; covidcam_cam_method_name((covidcam_cam_method)m); m++)
        a->methods[a->num_methods++] = (covidcam_cam_method)m;
    while ((c = getopt_long(argc, argv, "m:M:l:f:n:s:jt:h", longs, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'l': a->layer = optarg; break;
        case 'j': a->json = 1; break;
        case 'M': bad = parse_methods(optarg, a); break;
        case 'f': bad = cli_parse_double(optarg, 1e-6, 1 - 1e-6, &a->fraction); break;
        case 'n': bad = cli_parse_int(optarg, 0, 1 << 30, &a->per_class); break;
        case 's':
            bad = cli_parse_int(optarg, 0, 2147483647, &seed);
            a->seed = (unsigned long long)seed;
            break;
        case 't': bad = cli_parse_int(optarg, 0, 4096, &a->threads); break;
        case 'h': usage(stdout); return 1;
        default: bad = 1;
        }
        if (bad) {
            if (c != 'M')
                fprintf(stderr, "%s: bad value for -%c: '%s'\n", prog, c, optarg ? optarg : "");
            return 2;
        }
    }
    if (!a->model || optind >= argc) {
        usage(stderr);
        return 2;
    }
    return 0;
}

static int bufs_alloc(bufs *b, int channels, int size)
{
    size_t s2 = (size_t)size * (size_t)size, n = (size_t)channels * s2;
    b->x = malloc(n * sizeof *b->x);
    b->px = malloc(n * sizeof *b->px);
    b->rand_map = malloc(s2 * sizeof *b->rand_map);
    b->tmp = malloc(s2 * sizeof *b->tmp);
    b->probs = malloc(COVIDCAM_MAX_CLASSES * sizeof *b->probs);
    b->ranks = malloc(s2 * sizeof *b->ranks);
    return b->x && b->px && b->rand_map && b->tmp && b->probs && b->ranks ? 0 : -1;
}

static void bufs_free(bufs *b)
{
    free(b->x);
    free(b->px);
    free(b->rand_map);
    free(b->tmp);
    free(b->probs);
    free(b->ranks);
}

/* p(cls) of a perturbed input; -1 on failure (message printed). */
static double prob_of(covidcam_session *s, const float *x, int channels, int size, int cls,
                      float *probs)
{
    if (covidcam_classify_tensor(s, x, channels, size, size, probs, NULL, COVIDCAM_MAX_CLASSES,
                                 NULL) != COVIDCAM_OK) {
        fprintf(stderr, "%s: %s\n", prog, covidcam_session_last_error(s));
        return -1;
    }
    return probs[cls];
}

/* The two drops of a map: x * map, and the top fraction removed. */
static int drops(covidcam_session *s, const args *a, bufs *b, const float *map, int channels,
                 int size, int cls, double p0, double *mult, double *remove)
{
    double p;
    faith_multiply(b->x, map, channels, size, b->px);
    if ((p = prob_of(s, b->px, channels, size, cls, b->probs)) < 0)
        return -1;
    *mult = p0 - p;
    faith_remove_top(b->x, map, channels, size, a->fraction, b->ranks, b->px);
    if ((p = prob_of(s, b->px, channels, size, cls, b->probs)) < 0)
        return -1;
    *remove = p0 - p;
    return 0;
}

static void print_line(const faith_item *it, const char *top, double p0, covidcam_cam_method m,
                       const double d[4], double ms)
{
    json_t *o = json_object();
    if (!o || cli_json_set_file(o, "file", it->path)) {
        json_decref(o);
        cli_print_json_failure();
        return;
    }
    json_object_set_new(o, "truth", cli_json_text(it->truth));
    json_object_set_new(o, "top", cli_json_text(top));
    json_object_set_new(o, "p", json_real(p0));
    json_object_set_new(o, "method", json_string(covidcam_cam_method_name(m)));
    json_object_set_new(o, "mult_drop", json_real(d[0]));
    json_object_set_new(o, "mult_random_drop", json_real(d[1]));
    json_object_set_new(o, "remove_drop", json_real(d[2]));
    json_object_set_new(o, "remove_random_drop", json_real(d[3]));
    json_object_set_new(o, "ms", json_real(cli_round3(ms)));
    if (cli_print_json(o))
        cli_print_json_failure();
}

/* One image: classify, the random baseline, then every method. 0 measured,
 * 1 skipped (the image could not be read or classified), -1 fatal. */
static int measure(covidcam_session *s, const covidcam_model *m, const args *a,
                   const faith_item *it, size_t index, bufs *b, tally *t)
{
    int channels = covidcam_model_input_channels(m), size = covidcam_model_input_size(m), top;
    size_t n = (size_t)channels * (size_t)size * (size_t)size;
    if (covidcam_classify_file(s, it->path, b->probs, NULL, COVIDCAM_MAX_CLASSES, &top) ||
        covidcam_session_input(s, b->x, n)) {
        fprintf(stderr, "%s: skipped %s: %s\n", prog, it->path, covidcam_session_last_error(s));
        if (a->json)
            cli_print_error_json(it->path, "skipped", covidcam_session_last_error(s));
        return 1;
    }
    double p0 = b->probs[top], d[4];
    for (int k = 0; k < a->num_methods; k++) {
        covidcam_gradcam_options o;
        covidcam_gradcam_options_init(&o);
        o.method = a->methods[k];
        o.layer = a->layer;
        o.target_class = top;
        covidcam_heatmap *h = NULL;
        double t0 = cli_now_ms();
        if (covidcam_gradcam_tensor(s, b->x, channels, size, size, &o, &h)) {
            fprintf(stderr, "%s: %s\n", prog, covidcam_session_last_error(s));
            return -1;
        }
        double ms = cli_now_ms() - t0;
        if (k == 0) { /* one random map per image, at the layer's resolution */
            faith_rng r;
            faith_rng_seed(&r, a->seed, index);
            float *noise = malloc((size_t)covidcam_heatmap_raw_width(h) *
                                  (size_t)covidcam_heatmap_raw_height(h) * sizeof *noise);
            int rc = noise ? 0 : -1;
            if (noise)
                faith_random_map(&r, covidcam_heatmap_raw_width(h),
                                 covidcam_heatmap_raw_height(h), size, noise, b->rand_map);
            free(noise);
            if (rc || drops(s, a, b, b->rand_map, channels, size, top, p0, &d[1], &d[3])) {
                covidcam_heatmap_free(h);
                return -1;
            }
        }
        int rc = drops(s, a, b, covidcam_heatmap_data(h), channels, size, top, p0, &d[0], &d[2]);
        covidcam_heatmap_free(h);
        if (rc)
            return -1;
        tally *tk = &t[k];
        tk->mult += d[0];
        tk->mult_rand += d[1];
        tk->remove += d[2];
        tk->remove_rand += d[3];
        tk->mult_wins += d[0] < d[1]; /* keeping the map's region: lose less */
        tk->remove_wins += d[2] > d[3]; /* removing it: lose more */
        tk->ms += ms;
        tk->n++;
        if (a->json)
            print_line(it, covidcam_model_class_name(m, top), p0, a->methods[k], d, ms);
    }
    return 0;
}

static void print_table(const args *a, const tally *t, size_t skipped)
{
    printf("Model %s, layer %s, %d images (%zu skipped), remove = top %.0f%%, seed %llu\n\n",
           a->model, a->layer ? a->layer : "layer4", t[0].n, skipped, 100 * a->fraction,
           a->seed);
    printf("| method | x*map: drop (lower is better) | random | beats | "
           "remove: drop (higher is better) | random | beats | ms/map |\n"
           "|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < a->num_methods; k++) {
        const tally *x = &t[k];
        double n = x->n ? x->n : 1;
        printf("| %s | %.4f | %.4f | %.1f%% | %.4f | %.4f | %.1f%% | %.1f |\n",
               covidcam_cam_method_name(a->methods[k]), x->mult / n, x->mult_rand / n,
               100.0 * x->mult_wins / n, x->remove / n, x->remove_rand / n,
               100.0 * x->remove_wins / n, x->ms / n);
    }
}

static void print_summary_json(const args *a, const tally *t)
{
    for (int k = 0; k < a->num_methods; k++) {
        const tally *x = &t[k];
        double n = x->n ? x->n : 1;
        json_t *o = json_pack("{s:b, s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "summary", 1,
                              "method", covidcam_cam_method_name(a->methods[k]), "images", x->n,
                              "mult_drop", x->mult / n, "mult_random_drop", x->mult_rand / n,
                              "mult_wins", x->mult_wins / n, "remove_drop", x->remove / n,
                              "remove_random_drop", x->remove_rand / n, "remove_wins",
                              x->remove_wins / n, "ms", cli_round3(x->ms / n));
        if (!o || cli_print_json(o))
            cli_print_json_failure();
    }
}

static int run(const args *a, const faith_sample *sample)
{
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    bufs b = {0};
    tally t[MAX_METHODS] = {{0}};
    size_t skipped = 0;
    int rc = 0;
    if (cli_open(prog, a->model, a->threads, &m, &s))
        return 1;
    if (bufs_alloc(&b, covidcam_model_input_channels(m), covidcam_model_input_size(m))) {
        fprintf(stderr, "%s: out of memory\n", prog);
        rc = -1;
    }
    for (size_t i = 0; rc >= 0 && i < sample->n; i++) {
        rc = measure(s, m, a, &sample->items[i], i, &b, t);
        skipped += rc == 1;
    }
    if (rc >= 0 && a->json)
        print_summary_json(a, t);
    else if (rc >= 0)
        print_table(a, t, skipped);
    bufs_free(&b);
    covidcam_session_free(s);
    covidcam_model_free(m);
    return rc < 0 || t[0].n == 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    args a = {.fraction = 0.2, .per_class = 25};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : 2;
    faith_sample sample = {0};
    char msg[512];
    for (int i = optind; i < argc; i++)
        if (faith_sample_add(&sample, argv[i], a.per_class, a.seed, msg, sizeof msg)) {
            fprintf(stderr, "%s: %s\n", prog, msg);
            faith_sample_free(&sample);
            return 1;
        }
    rc = run(&a, &sample);
    faith_sample_free(&sample);
    return rc;
}
