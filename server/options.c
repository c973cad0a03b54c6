#include "options.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"

static const char *prog = "covidcam-server";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s --model FILE [--host 127.0.0.1] [--port 8080] [--workers N]\n"
            "                       [--threads-per-worker T] [--precision fp32|bf16|int8|auto]\n"
            "                       [--max-body-mb 32] [--queue Q] [--timeout-s S] [--quiet]\n"
            "\n"
            "Serve a covidcam model over HTTP: a JSON API (/v1/model, /v1/classify,\n"
            "/v1/gradcam, /healthz, /metrics) and a try-it web page at /.\n"
            "See docs/server.md.\n"
            "\n"
            "  -m, --model FILE            covidcam safetensors model\n"
            "  -H, --host ADDR             numeric address to bind (default 127.0.0.1;\n"
            "                              0.0.0.0 or :: exposes the server to the network)\n"
            "  -p, --port N                TCP port (default 8080; 0 = any free port)\n"
            "  -w, --workers N             worker threads, each with its own session\n"
            "                              (default: half the cores, at least 1)\n"
            "  -t, --threads-per-worker T  oneDNN threads per worker (default: cores / workers)\n"
            "      --precision P           fp32, bf16 (CPUs with AVX512-BF16 or AMX), int8\n"
            "                              (model files made by covidcam-quantize) or auto\n"
            "                              (int8 for such files, else bf16 where the CPU has\n"
            "                              it, else fp32)\n"
            "      --max-body-mb M         largest request body in MiB (default 32)\n"
            "  -q, --queue Q               requests that may wait for a busy worker; more get\n"
            "                              503 with Retry-After (default 4 per worker)\n"
            "      --timeout-s S           close connections idle for S seconds (default 30)\n"
            "      --quiet                 no log line per request\n"
            "  -h, --help                  show this help\n"
            "  -V, --version               show the library version\n",
            prog);
}

static int parse_precision(const char *s, server_options *o)
{
    if (covidcam_precision_parse(s, &o->precision))
        return -1;
    o->precision_name = s;
    return 0;
}

static int bad(const char *opt, const char *range, const char *value)
{
    fprintf(stderr, "%s: %s needs %s, not '%s'\n", prog, opt, range, value);
    return 2;
}

/* One option; 0 to go on, 1 to exit successfully, 2 on a usage error. */
static int take_option(int c, server_options *o)
{
    int mb;
    switch (c) {
    case 'm': o->model = optarg; return 0;
    case 'H': o->host = optarg; return 0;
    case 'p':
        return cli_parse_int(optarg, 0, 65535, &o->port) ? bad("--port", "an integer in [0, 65535]", optarg) : 0;
    case 'w':
        return cli_parse_int(optarg, 1, 256, &o->workers) ? bad("--workers", "an integer in [1, 256]", optarg) : 0;
    case 't':
        return cli_parse_int(optarg, 1, 1024, &o->threads_per_worker)
                   ? bad("--threads-per-worker", "an integer in [1, 1024]", optarg)
                   : 0;
    case 'P':
        return parse_precision(optarg, o) ? bad("--precision", "fp32, auto, bf16 or int8", optarg) : 0;
    case 'B':
        if (cli_parse_int(optarg, 1, 4096, &mb))
            return bad("--max-body-mb", "an integer in [1, 4096]", optarg);
        o->max_body = (size_t)mb << 20;
        return 0;
    case 'q':
        return cli_parse_int(optarg, 0, 100000, &o->queue) ? bad("--queue", "an integer in [0, 100000]", optarg) : 0;
    case 'T':
        return cli_parse_int(optarg, 1, 3600, &o->timeout_s) ? bad("--timeout-s", "an integer in [1, 3600]", optarg) : 0;
    case 'Q': o->quiet = 1; return 0;
    case 'h': usage(stdout); return 1;
    case 'V': printf("%s (libcovidcam %s)\n", prog, covidcam_version()); return 1;
    default: usage(stderr); return 2;
    }
}

/* Cores split between the workers: fewer, wider sessions keep latency low on
 * small machines; from 4 cores up, two threads per session. */
static void default_split(server_options *o)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    if (o->workers == 0)
        o->workers = cores >= 4 ? (int)(cores / 2) : 1;
    if (o->threads_per_worker == 0)
        o->threads_per_worker = cores / o->workers > 0 ? (int)(cores / o->workers) : 1;
    if (o->queue < 0)
        o->queue = 4 * o->workers;
}

int options_parse(int argc, char **argv, server_options *o)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"workers", required_argument, NULL, 'w'},
        {"threads-per-worker", required_argument, NULL, 't'},
        {"precision", required_argument, NULL, 'P'},
        {"max-body-mb", required_argument, NULL, 'B'},
        {"queue", required_argument, NULL, 'q'},
        {"timeout-s", required_argument, NULL, 'T'},
        {"quiet", no_argument, NULL, 'Q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    *o = (server_options){.host = "127.0.0.1", .port = 8080, .precision_name = "fp32",
                          .max_body = (size_t)32 << 20, .queue = -1, .timeout_s = 30};
    int c, rc;
    while ((c = getopt_long(argc, argv, "m:H:p:w:t:q:hV", opts, NULL)) != -1)
        if ((rc = take_option(c, o)))
            return rc;
    if (!o->model || optind < argc) {
        fprintf(stderr, "%s: %s\n", prog,
                o->model ? "unexpected argument (the image comes in requests)" : "--model is required");
        usage(stderr);
        return 2;
    }
    default_split(o);
    return 0;
}
