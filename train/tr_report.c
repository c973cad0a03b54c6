#include "tr_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tr_util.h"

#define CW 640 /* chart size and margins */
#define CH 280
#define ML 64
#define MR 16
#define MT 30
#define MB 42

/* One line of a chart: y against x, read from rows `stride` floats apart. */
typedef struct series {
    const float *x, *y;
    long n;
    int stride;
    const char *color, *label;
    double width;
    int dots; /* mark every point (few points: epochs) */
} series;

static void html_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about 5 ticks. */
static double nice_step(double range)
{
    if (!(range > 0))
        return 1;
    double raw = range / 5, p = pow(10, floor(log10(raw))), m = raw / p;
    return p * (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10);
}

typedef struct box {
    double x0, x1, y0, y1;
} box;

static box data_box(const series *s, int ns)
{
    box b = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (int k = 0; k < ns; k++)
        for (long i = 0; i < s[k].n; i++) {
            double x = s[k].x[i * s[k].stride], y = s[k].y[i * s[k].stride];
            if (!isfinite(x) || !isfinite(y))
                continue;
            b.x0 = fmin(b.x0, x);
            b.x1 = fmax(b.x1, x);
            b.y0 = fmin(b.y0, y);
            b.y1 = fmax(b.y1, y);
        }
    if (!(b.x0 <= b.x1))
        b = (box){0, 1, 0, 1};
    if (b.x1 == b.x0)
        b.x1 = b.x0 + 1;
    if (b.y1 == b.y0) {
        b.y0 -= 0.5;
        b.y1 += 0.5;
    }
    double sy = nice_step(b.y1 - b.y0);
    b.y0 = floor(b.y0 / sy) * sy;
    b.y1 = ceil(b.y1 / sy) * sy;
    return b;
}

static double px(const box *b, double x)
{
    return ML + (x - b->x0) / (b->x1 - b->x0) * (CW - ML - MR);
}

static double py(const box *b, double y)
{
    return CH - MB - (y - b->y0) / (b->y1 - b->y0) * (CH - MT - MB);
}

static void axes(FILE *f, const box *b, const char *xlabel, int integer_x)
{
    double sy = nice_step(b->y1 - b->y0), sx = nice_step(b->x1 - b->x0);
    if (integer_x && sx < 1)
        sx = 1;
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>\n", ML, MT,
            CW - ML - MR, CH - MT - MB);
    for (double y = b->y0; y <= b->y1 + sy * 1e-6; y += sy)
        fprintf(f,
                "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#ddd'/>"
                "<text x='%d' y='%.1f' text-anchor='end' font-size='11'>%g</text>\n",
                ML, CW - MR, py(b, y), py(b, y), ML - 4, py(b, y) + 4, fabs(y) < sy * 1e-6 ? 0 : y);
    for (double x = ceil(b->x0 / sx) * sx; x <= b->x1 + sx * 1e-6; x += sx)
        fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle' font-size='11'>%g</text>\n",
                px(b, x), CH - MB + 14, x);
    fprintf(f, "<text x='%d' y='%d' text-anchor='middle' font-size='12'>", (ML + CW - MR) / 2,
            CH - 8);
    html_text(f, xlabel);
    fputs("</text>\n", f);
}

static void dots(FILE *f, const box *b, const series *s)
{
    for (long i = 0; s->dots && i < s->n; i++) {
        double x = s->x[i * s->stride], y = s->y[i * s->stride];
        if (isfinite(x) && isfinite(y))
            fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'/>\n", px(b, x), py(b, y),
                    s->color);
    }
}

/* A line chart; iteration or epoch numbers on x (integer_x: epochs). */
static void chart(FILE *f, const char *title, const char *xlabel, const series *s, int ns,
                  int integer_x)
{
    box b = data_box(s, ns);
    fprintf(f, "<figure><svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
               "viewBox='0 0 %d %d' font-family='sans-serif'>\n", CW, CH, CW, CH);
    fprintf(f, "<text x='%d' y='18' font-size='14' font-weight='bold'>", ML);
    html_text(f, title);
    fputs("</text>\n", f);
    axes(f, &b, xlabel, integer_x);
    for (int k = 0; k < ns; k++) {
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='%.1f' points='", s[k].color,
                s[k].width);
        for (long i = 0; i < s[k].n; i++) {
            double x = s[k].x[i * s[k].stride], y = s[k].y[i * s[k].stride];
            if (isfinite(x) && isfinite(y))
                fprintf(f, "%.1f,%.1f ", px(&b, x), py(&b, y));
        }
        fputs("'/>\n", f);
        dots(f, &b, &s[k]);
        if (s[k].label) {
            fprintf(f, "<text x='%d' y='%d' font-size='12' fill='%s'>", CW - MR - 150,
                    MT + 16 + 16 * k, s[k].color);
            html_text(f, s[k].label);
            fputs("</text>\n", f);
        }
    }
    fputs("</svg></figure>\n", f);
}

/* Exponential moving average of column `col` of n rows, for a readable trend. */
static float *smooth(const float *rows, long n, int stride, int col)
{
    float *out = malloc((size_t)(n > 0 ? n : 1) * 2 * sizeof *out);
    if (!out)
        return NULL;
    double a = n > 200 ? 0.02 : 0.1, v = n ? rows[col] : 0;
    for (long i = 0; i < n; i++) {
        v = (1 - a) * v + a * rows[i * stride + col];
        out[2 * i] = rows[i * stride + TH_IT_ITER];
        out[2 * i + 1] = (float)v;
    }
    return out;
}

static void iteration_charts(FILE *f, const tr_history *h)
{
    const float *it = h->it;
    long n = h->nit;
    float *sl = smooth(it, n, TH_IT_COLS, TH_IT_LOSS), *sa = smooth(it, n, TH_IT_COLS, TH_IT_ACC);
    series loss[2] = {
        {it + TH_IT_ITER, it + TH_IT_LOSS, n, TH_IT_COLS, "#9ecae1", "batch", 1, 0},
        {sl, sl ? sl + 1 : NULL, sl ? n : 0, 2, "#08519c", "smoothed", 2, 0}};
    series acc[2] = {
        {it + TH_IT_ITER, it + TH_IT_ACC, n, TH_IT_COLS, "#a1d99b", "batch", 1, 0},
        {sa, sa ? sa + 1 : NULL, sa ? n : 0, 2, "#006d2c", "smoothed", 2, 0}};
    series lr = {it + TH_IT_ITER, it + TH_IT_LR, n, TH_IT_COLS, "#d94801", NULL, 2, 0};
    chart(f, "Training loss", "iteration", loss, 2, 1);
    chart(f, "Training accuracy", "iteration", acc, 2, 1);
    chart(f, "Learning rate", "iteration", &lr, 1, 1);
    free(sl);
    free(sa);
}

static void epoch_charts(FILE *f, const tr_history *h)
{
    const float *ep = h->ep;
    long n = h->nep;
    /* the weight average's curves (--ema), from its first epoch with one */
    long a0 = 0;
    while (a0 < n && isnan(ep[a0 * TH_EP_COLS + TH_EP_AVG_VAL_LOSS]))
        a0++;
    const float *ea = ep + a0 * TH_EP_COLS;
    int ns = a0 < n ? 3 : 2;
    series loss[3] = {
        {ep + TH_EP_EPOCH, ep + TH_EP_TRAIN_LOSS, n, TH_EP_COLS, "#6baed6", "train", 2, 1},
        {ep + TH_EP_EPOCH, ep + TH_EP_VAL_LOSS, n, TH_EP_COLS, "#08306b", "validation", 2, 1},
        {ea + TH_EP_EPOCH, ea + TH_EP_AVG_VAL_LOSS, n - a0, TH_EP_COLS, "#d94801",
         "validation, weight average", 2, 1}};
    series acc[3] = {
        {ep + TH_EP_EPOCH, ep + TH_EP_TRAIN_ACC, n, TH_EP_COLS, "#74c476", "train", 2, 1},
        {ep + TH_EP_EPOCH, ep + TH_EP_VAL_ACC, n, TH_EP_COLS, "#00441b", "validation", 2, 1},
        {ea + TH_EP_EPOCH, ea + TH_EP_AVG_VAL_ACC, n - a0, TH_EP_COLS, "#d94801",
         "validation, weight average", 2, 1}};
    chart(f, "Loss per epoch", "epoch", loss, ns, 1);
    chart(f, "Accuracy per epoch", "epoch", acc, ns, 1);
}

static void confusion_table(FILE *f, const tr_confusion *c, char *const *names)
{
    long max = 1;
    for (int i = 0; i < c->k * c->k; i++)
        if (c->m[i] > max)
            max = c->m[i];
    fputs("<table class='cm'><tr><th>true \\ predicted</th>", f);
    for (int j = 0; j < c->k; j++) {
        fputs("<th>", f);
        html_text(f, names[j]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (int i = 0; i < c->k; i++) {
        fputs("<tr><th>", f);
        html_text(f, names[i]);
        fputs("</th>", f);
        for (int j = 0; j < c->k; j++) {
            long v = c->m[i * c->k + j];
            int shade = 255 - (int)(180.0 * (double)v / (double)max);
            fprintf(f, "<td style='background:rgb(%d,%d,255)'>%ld</td>", shade, shade, v);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void class_table(FILE *f, const tr_confusion *c, char *const *names)
{
    tr_report r;
    if (tr_report_make(c, &r))
        return;
    fputs("<table><tr><th></th><th>precision</th><th>recall</th><th>f1-score</th>"
          "<th>support</th></tr>\n", f);
    for (int i = 0; i < r.k; i++) {
        fputs("<tr><th>", f);
        html_text(f, names[i]);
        fprintf(f, "</th><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%ld</td></tr>\n",
                r.cls[i].precision, r.cls[i].recall, r.cls[i].f1, r.cls[i].support);
    }
    fprintf(f, "<tr><th>accuracy</th><td></td><td></td><td>%.4f</td><td>%ld</td></tr>\n",
            r.accuracy, r.total);
    fprintf(f, "<tr><th>macro avg</th><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%ld</td></tr>\n",
            r.macro.precision, r.macro.recall, r.macro.f1, r.total);
    fprintf(f, "<tr><th>weighted avg</th><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%ld</td></tr>\n",
            r.weighted.precision, r.weighted.recall, r.weighted.f1, r.total);
    fputs("</table>\n", f);
    tr_report_free(&r);
}

static int write_html(FILE *f, void *arg)
{
    const tr_report_info *ri = arg;
    fputs("<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>", f);
    html_text(f, ri->title);
    fputs("</title><style>body{font-family:sans-serif;max-width:1340px;margin:1em auto}"
          "figure{display:inline-block;margin:4px}table{border-collapse:collapse;margin:8px 0}"
          "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
          "pre{background:#f4f4f4;padding:8px;white-space:pre-wrap}</style></head><body>\n<h1>", f);
    html_text(f, ri->title);
    fputs("</h1>\n<pre>", f);
    html_text(f, ri->command);
    fputs("\n\n", f);
    html_text(f, ri->summary);
    fputs("</pre>\n<h2>Training curves</h2>\n", f);
    iteration_charts(f, ri->h);
    epoch_charts(f, ri->h);
    if (ri->best) {
        fprintf(f, "<h2>Best model: epoch %d (validation)</h2>\n", ri->best_epoch);
        confusion_table(f, ri->best, ri->classes);
        class_table(f, ri->best, ri->classes);
    }
    fputs("</body></html>\n", f);
    return ferror(f) ? -1 : 0;
}

covidcam_status tr_report_write_html(const tr_report_info *ri, const char *path, cc_err *e)
{
    return tr_write_atomic(path, write_html, (void *)ri, e);
}
