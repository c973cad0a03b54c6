#include "tr_progress.h"

#include <stdio.h>
#include <unistd.h>

#include "tr_util.h"

void tr_progress_init(tr_progress *p, double interval)
{
    p->tty = isatty(fileno(stderr));
    p->interval = interval;
    p->last = tr_now();
    p->drawn = 0;
}

void tr_format_duration(char *buf, int n, double s)
{
    if (!(s >= 0) || s > 1e8) {
        snprintf(buf, (size_t)n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, (size_t)n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, (size_t)n, "%ld:%02ld", t / 60, t % 60);
}

void tr_progress_update(tr_progress *p, int epoch, int epochs, int batch, int nbatches,
                        double loss, double acc, double img_s, double eta_s, double run_s)
{
    char eta[32], run[32];
    tr_format_duration(eta, sizeof eta, eta_s);
    tr_format_duration(run, sizeof run, run_s);
    double now = tr_now();
    if (p->tty) {
        char bar[21];
        int fill = nbatches > 0 ? 20 * batch / nbatches : 0;
        for (int i = 0; i < 20; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[20] = '\0';
        fprintf(stderr,
                "\r\033[Kepoch %d/%d [%s] %d/%d loss %.4f acc %.4f %.1f img/s ETA %s, run %s",
                epoch, epochs, bar, batch, nbatches, loss, acc, img_s, eta, run);
        fflush(stderr);
        p->drawn = 1;
        return;
    }
    if (now - p->last < p->interval && batch < nbatches)
        return;
    p->last = now;
    fprintf(stderr, "epoch %d/%d batch %d/%d loss %.4f acc %.4f %.1f img/s ETA %s, run %s\n",
            epoch, epochs, batch, nbatches, loss, acc, img_s, eta, run);
}

void tr_progress_clear(tr_progress *p)
{
    if (p->tty && p->drawn)
        fprintf(stderr, "\r\033[K");
    p->drawn = 0;
}

void tr_progress_note(tr_progress *p, const char *msg)
{
    tr_progress_clear(p);
    if (p->tty) {
        fprintf(stderr, "%s", msg);
        fflush(stderr);
        p->drawn = 1;
    } else {
        fprintf(stderr, "%s\n", msg);
    }
}
