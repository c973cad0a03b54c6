#include "tr_metrics.h"

#include <stdlib.h>
#include <string.h>

int tr_confusion_init(tr_confusion *c, int k)
{
    c->k = k;
    c->m = calloc((size_t)k * k, sizeof *c->m);
    return c->m ? 0 : -1;
}

void tr_confusion_free(tr_confusion *c)
{
    if (!c)
        return;
    free(c->m);
    c->m = NULL;
}

void tr_confusion_reset(tr_confusion *c)
{
    memset(c->m, 0, (size_t)c->k * c->k * sizeof *c->m);
}

void tr_confusion_add(tr_confusion *c, int truth, int predicted)
{
    if (truth < 0 || truth >= c->k || predicted < 0 || predicted >= c->k)
        return;
    c->m[truth * c->k + predicted]++;
}

static double ratio(long a, long b)
{
    return b > 0 ? (double)a / (double)b : 0.0;
}

int tr_report_make(const tr_confusion *c, tr_report *r)
{
    int k = c->k;
    memset(r, 0, sizeof *r);
    r->k = k;
    r->cls = calloc((size_t)k, sizeof *r->cls);
    if (!r->cls)
        return -1;
    long correct = 0;
    for (int i = 0; i < k; i++) {
        long tp = c->m[i * k + i], row = 0, col = 0;
        for (int j = 0; j < k; j++) {
            row += c->m[i * k + j];
            col += c->m[j * k + i];
        }
        tr_class_stats *s = &r->cls[i];
        s->precision = ratio(tp, col);
        s->recall = ratio(tp, row);
        s->f1 = s->precision + s->recall > 0
                    ? 2 * s->precision * s->recall / (s->precision + s->recall)
                    : 0.0;
        s->support = row;
        correct += tp;
        r->total += row;
    }
    r->accuracy = ratio(correct, r->total);
    for (int i = 0; i < k; i++) {
        const tr_class_stats *s = &r->cls[i];
        double w = ratio(s->support, r->total);
        r->macro.precision += s->precision / k;
        r->macro.recall += s->recall / k;
        r->macro.f1 += s->f1 / k;
        r->weighted.precision += s->precision * w;
        r->weighted.recall += s->recall * w;
        r->weighted.f1 += s->f1 * w;
    }
    r->macro.support = r->weighted.support = r->total;
    return 0;
}

void tr_report_free(tr_report *r)
{
    if (!r)
        return;
    free(r->cls);
    r->cls = NULL;
}

static int name_width(char *const *names, int k)
{
    int w = 12; /* "weighted avg" */
    for (int i = 0; i < k; i++) {
        int l = (int)strlen(names[i]);
        if (l > w)
            w = l;
    }
    return w;
}

void tr_report_print(FILE *f, const tr_report *r, char *const *names)
{
    int w = name_width(names, r->k);
    fprintf(f, "%*s %10s %10s %10s %10s\n\n", w, "", "precision", "recall", "f1-score",
            "support");
    for (int i = 0; i < r->k; i++) {
        const tr_class_stats *s = &r->cls[i];
        fprintf(f, "%*s %10.4f %10.4f %10.4f %10ld\n", w, names[i], s->precision, s->recall, s->f1,
                s->support);
    }
    fprintf(f, "\n%*s %10s %10s %10.4f %10ld\n", w, "accuracy", "", "", r->accuracy, r->total);
    fprintf(f, "%*s %10.4f %10.4f %10.4f %10ld\n", w, "macro avg", r->macro.precision,
            r->macro.recall, r->macro.f1, r->total);
    fprintf(f, "%*s %10.4f %10.4f %10.4f %10ld\n", w, "weighted avg", r->weighted.precision,
            r->weighted.recall, r->weighted.f1, r->total);
}

void tr_confusion_print(FILE *f, const tr_confusion *c, char *const *names)
{
    int w = name_width(names, c->k), cw = 8;
    if (w < 16)
        w = 16;
    for (int i = 0; i < c->k; i++) {
        int l = (int)strlen(names[i]);
        if (l > cw)
            cw = l;
    }
    fprintf(f, "%*s", w, "true \\ predicted");
    for (int j = 0; j < c->k; j++)
        fprintf(f, " %*s", cw, names[j]);
    fputc('\n', f);
    for (int i = 0; i < c->k; i++) {
        fprintf(f, "%*s", w, names[i]);
        for (int j = 0; j < c->k; j++)
            fprintf(f, " %*ld", cw, c->m[i * c->k + j]);
        fputc('\n', f);
    }
}
