/* covidcam-bench: single-image latency and peak memory of one covidcam model. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli_util.h"
#include "stats.h"

static const char *prog = "covidcam-bench";

#define MAX_LAYERS 64
#define PIXEL_SIDE 256 /* the shared data set's image size */

typedef struct args {
    const char *model;
    int threads, runs, warmup, json, batch;
    covidcam_precision precision;
    int num_layers, num_bufs;
    const char *layers[MAX_LAYERS]; /* point into bufs */
    char *bufs[MAX_LAYERS];         /* strdup'd --gradcam arguments, split at commas */
} args;

/* What one timed call needs. */
typedef struct job {
    covidcam_session *s;
    const float *tensor; /* batch tensors one after the other (the first is the one) */
    const uint8_t *pixels;
    float *probs;        /* batch rows */
    int batch;
    size_t nc;
    covidcam_gradcam_options go;
} job;

typedef covidcam_status (*job_fn)(job *j);

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s --model FILE [--threads N] [--precision P] [--batch N] [--runs N]\n"
            "                      [--warmup N]\n"
            "                      [--gradcam LAYER[,LAYER...] [LAYER...]] [--json]\n"
            "\n"
            "Time single-image inference of one model (run one process per model so the\n"
            "peak RSS is the model's): model load, session creation, classification of a\n"
            "ready tensor and of a %dx%d gray image (resize + normalisation included),\n"
            "Grad-CAM for each LAYER and its cost relative to one classification.\n"
            "Latencies are median, p10 and p90 over --runs calls after --warmup calls;\n"
            "CPU is the median process CPU time per call (equal to the latency with one\n"
            "thread on an idle machine, and unaffected by other processes).\n"
            "\n"
            "  -m, --model FILE       covidcam safetensors model\n"
            "  -t, --threads N        oneDNN threads (default 0 = all cores)\n"
            "  -P, --precision P      fp32 (default), bf16, int8 or auto\n"
            "  -b, --batch N          also time covidcam_classify_tensor_batch of N tensors,\n"
            "                         last, on a session of max_batch N of its own (figures\n"
            "                         per call and image, and its peak RSS)\n"
            "  -r, --runs N           timed calls per measurement (default 30)\n"
            "  -w, --warmup N         untimed calls first (default 5)\n"
            "  -g, --gradcam LAYERS   also time Grad-CAM at these layers (e.g. layer4,layer3)\n"
            "  -j, --json             one JSON object instead of the table\n"
            "  -h, --help             show this help\n",
            prog, PIXEL_SIDE, PIXEL_SIDE);
}

static int add_layers(args *a, const char *list)
{
    if (a->num_bufs == MAX_LAYERS || !(a->bufs[a->num_bufs] = strdup(list)))
        return -1;
    char *buf = a->bufs[a->num_bufs++];
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (a->num_layers == MAX_LAYERS)
            return -1;
        a->layers[a->num_layers++] = t;
    }
    return 0;
}

static int bad_number(const char *opt, const char *value)
{
    fprintf(stderr, "%s: %s: bad value '%s'\n", prog, opt, value);
    return 2;
}

/* 0 to run, 1 to exit successfully (--help), 2 on usage errors. */
static int parse(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},  {"threads", required_argument, NULL, 't'},
        {"runs", required_argument, NULL, 'r'},   {"warmup", required_argument, NULL, 'w'},
        {"gradcam", required_argument, NULL, 'g'}, {"json", no_argument, NULL, 'j'},
        {"precision", required_argument, NULL, 'P'}, {"help", no_argument, NULL, 'h'},
        {"batch", required_argument, NULL, 'b'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:t:P:b:r:w:g:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 'P':
            if (covidcam_precision_parse(optarg, &a->precision))
                return bad_number("--precision", optarg);
            break;
        case 'b':
            if (cli_parse_int(optarg, 1, COVIDCAM_MAX_BATCH, &a->batch))
                return bad_number("--batch", optarg);
            break;
        case 'j': a->json = 1; break;
        case 't':
            if (cli_parse_int(optarg, 0, 1024, &a->threads))
                return bad_number("--threads", optarg);
            break;
        case 'r':
            if (cli_parse_int(optarg, 1, 100000, &a->runs))
                return bad_number("--runs", optarg);
            break;
        case 'w':
            if (cli_parse_int(optarg, 0, 100000, &a->warmup))
                return bad_number("--warmup", optarg);
            break;
        case 'g':
            if (add_layers(a, optarg)) {
                fprintf(stderr, "%s: at most %d Grad-CAM layers\n", prog, MAX_LAYERS);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    /* "--gradcam layer4 layer3": further operands are more layers. */
    for (; a->num_layers > 0 && optind < argc; optind++)
        if (add_layers(a, argv[optind]))
            return bad_number("--gradcam", argv[optind]);
    if (!a->model || optind < argc) {
        fprintf(stderr, "%s: %s\n", prog, a->model ? "unexpected argument" : "--model is required");
        usage(stderr);
        return 2;
    }
    return 0;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

static covidcam_status run_batch(job *j)
{
    const covidcam_model *m = covidcam_session_model(j->s);
    int c = covidcam_model_input_channels(m), n = covidcam_model_input_size(m);
    return covidcam_classify_tensor_batch(j->s, j->tensor, j->batch, c, n, n, j->probs, NULL,
                                          j->nc, NULL);
}

static covidcam_status run_tensor(job *j)
{
    const covidcam_model *m = covidcam_session_model(j->s);
    int c = covidcam_model_input_channels(m), n = covidcam_model_input_size(m);
    return covidcam_classify_tensor(j->s, j->tensor, c, n, n, j->probs, NULL, j->nc, NULL);
}

static covidcam_status run_pixels(job *j)
{
    return covidcam_classify_pixels(j->s, j->pixels, PIXEL_SIDE, PIXEL_SIDE, PIXEL_SIDE,
                                    j->probs, NULL, j->nc, NULL);
}

static covidcam_status run_gradcam(job *j)
{
    const covidcam_model *m = covidcam_session_model(j->s);
    int c = covidcam_model_input_channels(m), n = covidcam_model_input_size(m);
    covidcam_heatmap *h = NULL;
    covidcam_status rc = covidcam_gradcam_tensor(j->s, j->tensor, c, n, n, &j->go, &h);
    covidcam_heatmap_free(h);
    return rc;
}

/* Process CPU time in ms: with one thread it is the call's compute time even
 * when other processes compete for the cores (wall time is not). */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Warm up, then time `runs` calls (wall time into ms[0..runs), CPU time into
 * ms[runs..2*runs)); -1 after reporting a failure. */
static int time_job(job_fn fn, job *j, const args *a, double *ms, bench_stats *out)
{
    for (int i = 0; i < a->warmup + a->runs; i++) {
        double c0 = cpu_ms(), t0 = cli_now_ms();
        covidcam_status rc = fn(j);
        double dt = cli_now_ms() - t0, dc = cpu_ms() - c0;
        if (rc) {
            fprintf(stderr, "%s: %s: %s\n", prog, covidcam_status_string(rc),
                    covidcam_session_last_error(j->s));
            return -1;
        }
        if (i >= a->warmup) {
            ms[i - a->warmup] = dt;
            ms[a->runs + i - a->warmup] = dc;
        }
    }
    *out = bench_summarise(ms, (size_t)a->runs);
    out->cpu_median = bench_summarise(ms + a->runs, (size_t)a->runs).median;
    return 0;
}

/* Deterministic inputs: a normalised-looking tensor and a smooth gray image. */
static void fill_inputs(float *tensor, size_t n, uint8_t *pixels)
{
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        tensor[i] = (float)(x >> 8) / (float)(1u << 24) * 4.0f - 2.0f;
    }
    for (int y = 0; y < PIXEL_SIDE; y++)
        for (int xx = 0; xx < PIXEL_SIDE; xx++)
            pixels[y * PIXEL_SIDE + xx] = (uint8_t)((xx * 3 + y * 5 + (xx * y) / 97) & 0xff);
}

static json_t *json_stats(bench_stats s)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f}", "median", cli_round3(s.median), "p10",
                     cli_round3(s.p10), "p90", cli_round3(s.p90), "min", cli_round3(s.min),
                     "cpu_median", cli_round3(s.cpu_median));
}

static void print_row(const char *what, bench_stats s)
{
    printf("%-28s median %9.3f ms   p10 %9.3f   p90 %9.3f   CPU %9.3f\n", what, s.median, s.p10,
           s.p90, s.cpu_median);
}

/* The measurements, printed as they come (table) or gathered into `out` (JSON). */
static int measure(const args *a, job *j, double *ms, json_t *out)
{
    bench_stats cls, pix, g;
    if (time_job(run_tensor, j, a, ms, &cls) || time_job(run_pixels, j, a, ms, &pix))
        return -1;
    double rss = peak_rss_mb();
    if (a->json) {
        json_object_set_new(out, "classify", json_stats(cls));
        json_object_set_new(out, "classify_pixels", json_stats(pix));
        json_object_set_new(out, "rss_classify_mb", json_real(cli_round3(rss)));
    } else {
        print_row("classify (tensor)", cls);
        print_row("classify (256x256 pixels)", pix);
        printf("%-28s %.1f MB\n", "peak RSS after classify", rss);
    }
    json_t *gj = json_object();
    for (int i = 0; i < a->num_layers; i++) {
        j->go.layer = a->layers[i];
        if (time_job(run_gradcam, j, a, ms, &g)) {
            json_decref(gj);
            return -1;
        }
        double ratio = g.median / cls.median;
        if (a->json) {
            json_t *e = json_stats(g);
            json_object_set_new(e, "ratio", json_real(cli_round3(ratio)));
            json_object_set_new(gj, a->layers[i], e);
            continue;
        }
        char what[96];
        snprintf(what, sizeof what, "gradcam %s", a->layers[i]);
        print_row(what, g);
        printf("%-28s %.2fx one classification\n", "", ratio);
    }
    if (a->json)
        json_object_set_new(out, "gradcam", gj);
    else
        json_decref(gj);
    return 0;
}

static void print_header(const args *a, const covidcam_session *s, double load_ms,
                         double sess_ms, json_t *out)
{
    const covidcam_model *m = covidcam_session_model(s);
    covidcam_precision precision = covidcam_session_precision(s);
    int n = covidcam_model_input_size(m);
    if (a->json) {
        json_object_set_new(out, "model", json_string(a->model));
        json_object_set_new(out, "arch", json_string(covidcam_model_arch(m)));
        json_object_set_new(out, "input_size", json_integer(n));
        json_object_set_new(out, "input_channels", json_integer(covidcam_model_input_channels(m)));
        json_object_set_new(out, "threads", json_integer(a->threads));
        json_object_set_new(out, "precision", json_string(covidcam_precision_name(precision)));
        json_object_set_new(out, "runs", json_integer(a->runs));
        json_object_set_new(out, "warmup", json_integer(a->warmup));
        json_object_set_new(out, "load_ms", json_real(cli_round3(load_ms)));
        json_object_set_new(out, "session_ms", json_real(cli_round3(sess_ms)));
        return;
    }
    printf("model %s: %s, %dx%dx%d input, %d classes; threads %d (0 = all cores), %s\n",
           a->model, covidcam_model_arch(m), covidcam_model_input_channels(m), n, n,
           covidcam_model_num_classes(m), a->threads, covidcam_precision_name(precision));
    printf("load %.1f ms, session create %.1f ms; %d runs after %d warm-up\n", load_ms, sess_ms,
           a->runs, a->warmup);
}

static int open_timed(const args *a, covidcam_model **m, covidcam_session **s, double *load_ms,
                      double *sess_ms)
{
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_session_options opt;
    covidcam_session_options_init(&opt);
    opt.num_threads = a->threads;
    opt.precision = a->precision;
    double t0 = cli_now_ms();
    covidcam_status rc = covidcam_model_load(a->model, m, err, sizeof err);
    double t1 = cli_now_ms();
    if (!rc && (rc = covidcam_session_create(*m, &opt, s, err, sizeof err))) {
        covidcam_model_free(*m);
        *m = NULL;
    }
    if (rc) {
        fprintf(stderr, "%s: %s: %s: %s\n", prog, a->model, covidcam_status_string(rc), err);
        return -1;
    }
    *load_ms = t1 - t0;
    *sess_ms = cli_now_ms() - t1;
    return 0;
}

/* Batches after everything else, on a session of their own, so the figures
 * above (peak RSS included) are those of a one-image session. */
static int measure_batch(const args *a, job *j, double *ms, json_t *out)
{
    char err[COVIDCAM_ERRBUF_SIZE];
    covidcam_session_options opt;
    covidcam_session_options_init(&opt);
    opt.num_threads = a->threads;
    opt.precision = a->precision;
    opt.max_batch = a->batch;
    covidcam_session *one = j->s, *s = NULL;
    covidcam_status rc =
        covidcam_session_create(covidcam_session_model(one), &opt, &s, err, sizeof err);
    if (rc) {
        fprintf(stderr, "%s: batch session: %s: %s\n", prog, covidcam_status_string(rc), err);
        return -1;
    }
    bench_stats bat;
    j->s = s;
    int r = time_job(run_batch, j, a, ms, &bat);
    j->s = one;
    covidcam_session_free(s);
    if (r)
        return -1;
    double rss = peak_rss_mb();
    if (a->json) {
        json_object_set_new(out, "batch", json_integer(a->batch));
        json_object_set_new(out, "classify_batch", json_stats(bat));
        json_object_set_new(out, "classify_batch_per_image_ms",
                            json_real(cli_round3(bat.median / a->batch)));
        json_object_set_new(out, "rss_batch_mb", json_real(cli_round3(rss)));
        return 0;
    }
    char what[64];
    snprintf(what, sizeof what, "classify batch of %d", a->batch);
    print_row(what, bat);
    printf("%-28s %.3f ms per image, peak RSS %.1f MB\n", "", bat.median / a->batch, rss);
    return 0;
}

static int bench(const args *a)
{
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    job j = {0};
    double *ms = NULL;
    float *tensor = NULL;
    uint8_t *pixels = NULL;
    json_t *out = json_object();
    int status = 1;
    double load_ms, sess_ms;
    if (open_timed(a, &m, &s, &load_ms, &sess_ms))
        goto done;
    int c = covidcam_model_input_channels(m), n = covidcam_model_input_size(m);
    size_t len = (size_t)c * (size_t)n * (size_t)n * (size_t)(a->batch > 1 ? a->batch : 1);
    j.nc = (size_t)covidcam_model_num_classes(m);
    j.batch = a->batch > 1 ? a->batch : 1;
    ms = malloc(2 * (size_t)a->runs * sizeof *ms);
    tensor = malloc(len * sizeof *tensor);
    pixels = malloc(PIXEL_SIDE * PIXEL_SIDE);
    j.probs = malloc(j.nc * (size_t)j.batch * sizeof *j.probs);
    if (!out || !ms || !tensor || !pixels || !j.probs) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    fill_inputs(tensor, len, pixels);
    j.s = s;
    j.tensor = tensor;
    j.pixels = pixels;
    covidcam_gradcam_options_init(&j.go);
    print_header(a, s, load_ms, sess_ms, out);
    if (measure(a, &j, ms, out))
        goto done;
    if (a->json)
        json_object_set_new(out, "rss_mb", json_real(cli_round3(peak_rss_mb())));
    else
        printf("%-28s %.1f MB\n", "peak RSS", peak_rss_mb());
    if (a->batch > 1 && measure_batch(a, &j, ms, out))
        goto done;
    if (a->json) {
        status = cli_print_json(out) ? 1 : 0;
        out = NULL;
    } else {
        status = 0;
    }
done:
    json_decref(out);
    free(ms);
    free(tensor);
    free(pixels);
    free(j.probs);
    covidcam_session_free(s);
    covidcam_model_free(m);
    return status;
}

int main(int argc, char **argv)
{
    args a = {.runs = 30, .warmup = 5};
    int rc = parse(argc, argv, &a);
    int status = rc == 1 ? 0 : 2;
    if (!rc)
        status = bench(&a);
    for (int i = 0; i < a.num_bufs; i++)
        free(a.bufs[i]);
    return status;
}
