#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_util.h"

/* A plain line this often when stderr is not a terminal; the bar at most
 * this often when it is. */
#define PLAIN_EVERY_MS 10000.0
#define BAR_EVERY_MS 100.0

int cli_progress_start(cli_progress *p, const char *prog, const covidcam_model *model,
                       size_t total, int show)
{
    memset(p, 0, sizeof *p);
    p->prog = prog;
    p->model = model;
    p->total = total;
    p->show = show;
    p->tty = isatty(STDERR_FILENO);
    p->t0 = p->last = cli_now_ms();
    p->by_class = calloc((size_t)covidcam_model_num_classes(model) + 1, sizeof *p->by_class);
    return p->by_class ? 0 : -1;
}

static void eta(char *buf, size_t size, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
}

static void draw(cli_progress *p, double now)
{
    double s = (now - p->t0) / 1e3;
    double rate = s > 0 ? (double)p->done / s : 0.0;
    char left[32] = "?";
    if (rate > 0)
        eta(left, sizeof left, (double)(p->total - p->done) / rate);
    int pct = p->total ? (int)(100.0 * (double)p->done / (double)p->total) : 100;
    if (!p->tty) {
        fprintf(stderr, "%s: %zu/%zu images (%d%%), %.2f images/s, ETA %s\n", p->prog, p->done,
                p->total, pct, rate, left);
        return;
    }
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r[%s] %zu/%zu %3d%% %.2f images/s ETA %s\033[K", bar, p->done, p->total,
            pct, rate, left);
    p->drawn = 1;
}

void cli_progress_clear(cli_progress *p)
{
    if (p->drawn)
        fputs("\r\033[K", stderr);
    p->drawn = 0;
}

void cli_progress_step(cli_progress *p, int status, int top)
{
    p->done++;
    if (status) {
        p->failed++;
        p->by_status[status > 0 && status < CLI_NUM_STATUS ? status : CLI_NUM_STATUS]++;
    } else if (top >= 0 && top < covidcam_model_num_classes(p->model)) {
        p->by_class[top]++;
    }
    if (!p->show || p->done == p->total)
        return;
    double now = cli_now_ms();
    if (now - p->last >= (p->tty ? BAR_EVERY_MS : PLAIN_EVERY_MS)) {
        p->last = now;
        draw(p, now);
    }
}

void cli_progress_finish(cli_progress *p, int show, size_t not_images, size_t not_files)
{
    cli_progress_clear(p);
    if (show) {
        double s = (cli_now_ms() - p->t0) / 1e3;
        fprintf(stderr, "%s: %zu images, %zu ok, %zu failed", p->prog, p->done,
                p->done - p->failed, p->failed);
        const char *sep = " (";
        for (int i = 1; i <= CLI_NUM_STATUS; i++)
            if (p->by_status[i]) {
                fprintf(stderr, "%s%s: %zu", sep,
                        i < CLI_NUM_STATUS ? covidcam_status_string((covidcam_status)i)
                                           : "output error",
                        p->by_status[i]);
                sep = ", ";
            }
        fputs(*sep == ',' ? ")\n" : "\n", stderr);
        if (not_images || not_files)
            fprintf(stderr, "%s: skipped in folders: %zu not images, %zu not regular files\n",
                    p->prog, not_images, not_files);
        fprintf(stderr, "%s: top class:", p->prog);
        for (int i = 0; i < covidcam_model_num_classes(p->model); i++)
            fprintf(stderr, "%s %s %zu", i ? "," : "", covidcam_model_class_name(p->model, i),
                    p->by_class[i]);
        fprintf(stderr, "\n%s: %.2f s, %.2f images/s\n", p->prog, s,
                s > 0 ? (double)p->done / s : 0.0);
    }
    free(p->by_class);
    p->by_class = NULL;
}
