#include "tr_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_io.h"
#include "tr_loss.h"
#include "tr_scan.h"

covidcam_status tr_evaluate(tr_net *net, tr_loader *ld, double smoothing, tr_confusion *c,
                            const volatile sig_atomic_t *stop, tr_eval_out *out, cc_err *e)
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
        if (stop && *stop) {
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
    out->loss = out->n ? loss / (double)out->n : 0;
    out->accuracy = out->n ? (double)correct / (double)out->n : 0;
    return st;
}

/* The pieces of a test run, released together. */
typedef struct test_run {
    tr_file f;
    cc_arch arch;
    tr_model_info mi;
    tr_params p;
    tr_split own;         /* listed from a folder */
    const tr_split *split; /* own, or the caller's */
    tr_net net;
    tr_loader *ld;
    tr_confusion c;
} test_run;

static void test_run_free(test_run *t)
{
    tr_loader_free(t->ld);
    tr_net_free(&t->net);
    tr_split_free(&t->own);
    tr_params_free(&t->p);
    tr_model_info_free(&t->mi);
    tr_file_free(&t->f);
    tr_confusion_free(&t->c);
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
    if ((st = tr_scan(&t->own, t->mi.input_size, 0, o->workers, o->strict, &r, e)))
        return st;
    tr_split_remove(&t->own, r.bad);
    tr_scan_free(&r);
    return COVIDCAM_OK;
}

static covidcam_status open_test(test_run *t, const tr_opts *o, const char *model_path,
                                 const char *dir, const tr_split *given, cc_err *e)
{
    covidcam_status st;
    if ((st = tr_file_read(model_path, &t->f, e)) ||
        (st = tr_file_info(&t->f, &t->arch, &t->mi, e)) ||
        (st = tr_file_params(&t->f, &t->arch, &t->mi, 0, &t->p, e)) ||
        (st = test_images(t, o, dir, given, e)))
        return st;
    if (t->split->n == 0)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "no readable test images");
    int batch = o->batch < t->split->n ? o->batch : t->split->n;
    tr_loader_cfg c = {.split = t->split, .batch = batch, .size = t->mi.input_size,
                       .channels = t->mi.in_channels, .mean = t->mi.mean, .std = t->mi.std,
                       .workers = o->workers, .strict = o->strict};
    if ((st = tr_net_build(&t->net, &t->p, batch, t->mi.input_size, CC_TPREC_FP32, 0,
                           (float)t->mi.bn_eps, e)) ||
        (st = tr_loader_create(&c, &t->ld, e)))
        return st;
    if (tr_confusion_init(&t->c, t->mi.classes.n))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    return COVIDCAM_OK;
}

covidcam_status tr_test_model(const tr_opts *o, const char *model_path, const char *dir,
                              const tr_split *split, double *accuracy, cc_err *e)
{
    test_run t;
    memset(&t, 0, sizeof t);
    tr_eval_out v;
    tr_report r;
    covidcam_status st = open_test(&t, o, model_path, dir, split, e);
    if (!st)
        st = tr_evaluate(&t.net, t.ld, 0.0, &t.c, NULL, &v, e);
    if (!st && tr_report_make(&t.c, &r))
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st) {
        printf("test: %s on %s: %ld images, loss %.4f, accuracy %.4f\n", model_path,
               dir ? dir : "the test split", v.n, v.loss, v.accuracy);
        tr_confusion_print(stdout, &t.c, t.mi.classes.names);
        putchar('\n');
        tr_report_print(stdout, &r, t.mi.classes.names);
        fflush(stdout);
        tr_report_free(&r);
        *accuracy = v.accuracy;
    }
    test_run_free(&t);
    return st;
}
