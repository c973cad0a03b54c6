#include "tr_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_io.h"
#include "tr_loss.h"
#include "tr_scan.h"

/* Whether any process was told to stop, in *any. */
static covidcam_status any_stop(tr_dist *d, const volatile sig_atomic_t *stop, int *any,
                                cc_err *e)
{
    double v = stop && *stop ? 1 : 0;
    covidcam_status st = tr_dist_sum_f64(d, &v, 1, "stop requests", e);
    *any = v > 0;
    return st;
}

/* The whole split's loss, counts and confusion matrix from every share. */
static covidcam_status sum_results(tr_dist *d, tr_confusion *c, double *loss, long *correct,
                                   long *n, cc_err *e)
{
    size_t kk = (size_t)c->k * c->k;
    double *v = malloc((kk + 3) * sizeof *v);
    if (!v)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < kk; i++)
        v[i] = (double)c->m[i];
    v[kk] = *loss;
    v[kk + 1] = (double)*correct;
    v[kk + 2] = (double)*n;
    covidcam_status st = tr_dist_sum_f64(d, v, kk + 3, "validation results", e);
    for (size_t i = 0; i < kk; i++)
        c->m[i] = (long)v[i];
    *loss = v[kk];
    *correct = (long)v[kk + 1];
    *n = (long)v[kk + 2];
    free(v);
    return st;
}

covidcam_status tr_evaluate(tr_net *net, tr_loader *ld, double smoothing, tr_confusion *c,
                            const volatile sig_atomic_t *stop, tr_dist *d, tr_eval_out *out,
                            cc_err *e)
{
    memset(out, 0, sizeof *out);
    tr_confusion_reset(c);
    int *pred = malloc((size_t)net->batch * sizeof *pred);
    if (!pred)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    size_t floats = (size_t)net->batch * net->channels * net->size * net->size;
    double loss = 0;
    long correct = 0;
    covidcam_status st = tr_loader_start(ld, 0, 0, e);
    for (int k = 0; !st && k < tr_loader_batches(ld); k++) {
        const tr_batch *b = NULL;
        int halt = 0;
        if ((st = any_stop(d, stop, &halt, e)))
            break;
        if (halt) {
            out->stopped = 1;
            break;
        }
        if ((st = tr_loader_next(ld, &b, e)))
            break;
        memcpy(cc_tt_host(net->input), b->x, floats * sizeof(float));
        st = cc_tnet_forward(net->tn, 0, e);
        if (!st) {
            tr_loss_out lo = tr_softmax_xent(cc_tt_host(net->logits), b->labels, net->batch,
                                             net->classes, smoothing, NULL, pred);
            for (int i = 0; i < net->batch; i++)
                tr_confusion_add(c, b->labels[i], pred[i]);
            loss += lo.loss_sum;
            correct += lo.correct;
            out->n += lo.valid;
        }
        tr_loader_release(ld);
    }
    free(pred);
    if (!st && !out->stopped)
        st = sum_results(d, c, &loss, &correct, &out->n, e);
    out->loss = out->n ? loss / (double)out->n : 0;
    out->accuracy = out->n ? (double)correct / (double)out->n : 0;
    return st;
}

/* The pieces of a test run, released together. The model is scored through
 * the library's shipping path: covidcam_model_load, a session and
 * covidcam_classify_file on each image file, so the library's own decoders
 * (PNG, JPEG, DICOM), preprocessing, batch-norm folding and weight layouts are
 * what is measured, not the trainer's loader or graph. */
typedef struct test_run {
    tr_file f;
    cc_arch arch;
    tr_model_info mi;
    tr_split own;         /* listed from a folder */
    const tr_split *split; /* own, or the caller's */
    covidcam_model *model;
    covidcam_session *session;
    tr_confusion c;
    float *logits, *scaled; /* raw, and divided by the model's temperature */
    double temperature;     /* the model's (1 without calibration) */
    double cal_loss;        /* the mean NLL of the probabilities the library reports */
} test_run;

static void test_run_free(test_run *t)
{
    covidcam_session_free(t->session);
    covidcam_model_free(t->model);
    tr_split_free(&t->own);
    tr_model_info_free(&t->mi);
    tr_file_free(&t->f);
    tr_confusion_free(&t->c);
    free(t->logits);
    free(t->scaled);
}

/* The test images: the caller's split, or the folder's (then scanned for
 * unreadable images like the training data). */
static covidcam_status test_images(test_run *t, const tr_opts *o, const char *dir,
                                   const tr_split *given, cc_err *e)
{
    tr_scan_result r;
    covidcam_status st;
    t->split = given ? given : &t->own;
    if (given)
        return COVIDCAM_OK;
    if ((st = tr_split_list(dir, &t->mi.classes, 1, &t->own, e)))
        return st;
    tr_split_limit(&t->own, t->mi.classes.n, o->subset);
    if ((st = tr_scan(&t->own, t->mi.input_size, (cc_resize_mode)t->mi.resize, 0, o->workers, o->strict, &r, e)))
        return st;
    tr_split_remove(&t->own, r.bad);
    tr_scan_free(&r);
    return COVIDCAM_OK;
}

static covidcam_status open_library(test_run *t, const tr_opts *o, const char *model_path,
                                    cc_err *e)
{
    covidcam_session_options so;
    covidcam_session_options_init(&so);
    so.num_threads = o->threads > 0 ? o->threads : 0;
    covidcam_status st = covidcam_model_load(model_path, &t->model, e->msg, sizeof e->msg);
    if (!st)
        st = covidcam_session_create(t->model, &so, &t->session, e->msg, sizeof e->msg);
    if (st)
        return st;
    t->logits = malloc((size_t)t->mi.classes.n * sizeof *t->logits);
    t->scaled = malloc((size_t)t->mi.classes.n * sizeof *t->scaled);
    if (!t->logits || !t->scaled)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    t->temperature = covidcam_model_temperature(t->model);
    return COVIDCAM_OK;
}

static covidcam_status open_test(test_run *t, const tr_opts *o, const char *model_path,
                                 const char *dir, const tr_split *given, cc_err *e)
{
    covidcam_status st;
    /* The metadata gives the class names the folders must match. */
    if ((st = tr_file_read(model_path, &t->f, e)) ||
        (st = tr_file_info(&t->f, &t->arch, &t->mi, e)) ||
        (st = open_library(t, o, model_path, e)) || (st = test_images(t, o, dir, given, e)))
        return st;
    if (t->split->n == 0)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "no readable test images");
    if (tr_confusion_init(&t->c, t->mi.classes.n))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    return COVIDCAM_OK;
}

/* Every test image through covidcam_classify_file. An image the trainer's
 * scan read but the library refuses stops the test, naming the file: the
 * model would refuse it in use too. */
static covidcam_status evaluate_library(test_run *t, tr_eval_out *out, cc_err *e)
{
    memset(out, 0, sizeof *out);
    tr_confusion_reset(&t->c);
    int k = t->mi.classes.n;
    double loss = 0, cal = 0;
    long correct = 0;
    for (int i = 0; i < t->split->n; i++) {
        const tr_item *it = &t->split->items[i];
        int top = -1, pred = 0;
        covidcam_status st = covidcam_classify_file(t->session, it->path, NULL, t->logits,
                                                    (size_t)k, &top);
        if (st)
            return cc_fail(e, st, "%s: %s", it->path, covidcam_session_last_error(t->session));
        tr_loss_out lo = tr_softmax_xent(t->logits, &it->label, 1, k, 0.0, NULL, &pred);
        tr_confusion_add(&t->c, it->label, pred);
        loss += lo.loss_sum;
        correct += lo.correct;
        out->n += lo.valid;
        for (int c = 0; c < k; c++)
            t->scaled[c] = (float)(t->logits[c] / t->temperature);
        cal += tr_softmax_xent(t->scaled, &it->label, 1, k, 0.0, NULL, NULL).loss_sum;
    }
    out->loss = out->n ? loss / (double)out->n : 0;
    t->cal_loss = out->n ? cal / (double)out->n : 0;
    out->accuracy = out->n ? (double)correct / (double)out->n : 0;
    return COVIDCAM_OK;
}

covidcam_status tr_test_model(const tr_opts *o, const char *model_path, const char *dir,
                              const tr_split *split, tr_test_out *out, cc_err *e)
{
    test_run t;
    memset(&t, 0, sizeof t);
    tr_eval_out v;
    tr_report r;
    covidcam_status st = open_test(&t, o, model_path, dir, split, e);
    if (!st)
        st = evaluate_library(&t, &v, e);
    if (!st && tr_report_make(&t.c, &r))
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st) {
        printf("test: %s on ", model_path);
        for (const char *p = dir ? dir : "the test split"; *p; p++)
            fputs(*p == TR_SOURCE_SEP ? ", " : (char[2]){*p, 0}, stdout);
        printf(": %ld images, loss %.4f, accuracy %.4f\n", v.n, v.loss, v.accuracy);
        /* the raw logits' loss is the training curve's figure; a calibrated
         * model's probabilities are those at its temperature */
        if (t.temperature != 1.0)
            printf("loss at the model's temperature %.4f: %.4f\n", t.temperature, t.cal_loss);
        tr_confusion_print(stdout, &t.c, t.mi.classes.names);
        putchar('\n');
        tr_report_print(stdout, &r, t.mi.classes.names);
        fflush(stdout);
        tr_report_free(&r);
        *out = (tr_test_out){v.accuracy, v.loss, t.temperature, t.cal_loss};
    }
    test_run_free(&t);
    return st;
}
