/* The epoch loop: train on the batches, validate, keep the best model, write
 * the checkpoint, metrics.csv and report.html. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_eval.h"
#include "tr_loss.h"
#include "tr_mixup.h"
#include "tr_optim.h"
#include "tr_report.h"
#include "tr_session.h"
#include "tr_util.h"

static covidcam_status save_checkpoint(tr_session *s, cc_err *e)
{
    if (!tr_dist_root(s->dist)) /* rank 0 writes the files */
        return COVIDCAM_OK;
    char *state = tr_session_state_json(s);
    if (!state)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    covidcam_status st = tr_save_checkpoint(s->out_ckpt, &s->p, &s->mi, state, &s->h,
                                            s->have_best ? &s->best_conf : NULL, e);
    free(state);
    return st;
}

static covidcam_status write_reports(tr_session *s, cc_err *e)
{
    if (!tr_dist_root(s->dist))
        return COVIDCAM_OK;
    char title[128], summary[4096];
    snprintf(title, sizeof title, "covidcam-train: %s, %d px", s->arch.name, s->mi.input_size);
    tr_session_summary(s, summary, sizeof summary);
    tr_report_info ri = {title, s->command, summary, s->mi.classes.names, &s->h,
                         s->have_best ? &s->best_conf : NULL, s->best_epoch};
    covidcam_status st = tr_history_write_csv(&s->h, s->out_csv, e);
    return st ? st : tr_report_write_html(&ri, s->out_html, e);
}

/* The whole batch's loss sum, correct and valid counts and weight sum from
 * every share. */
static covidcam_status sum_metrics(tr_session *s, tr_loss_out *lo, cc_err *e)
{
    double m[4] = {lo->loss_sum, lo->correct, lo->valid, lo->weight_sum};
    covidcam_status st = tr_dist_sum_f64(s->dist, m, 4, "metrics", e);
    *lo = (tr_loss_out){m[0], (int)m[2], (int)m[1], m[3]};
    return st;
}

/* One SGD iteration on batch b (this process's share of it; `norm`, the
 * whole batch's labelled images, or the sum of their class weights); returns
 * the whole batch's loss outputs. */
static covidcam_status train_step(tr_session *s, const tr_batch *b, double norm, double lr,
                                  tr_loss_out *lo, cc_err *e)
{
    tr_net *net = &s->net;
    size_t floats = (size_t)net->batch * net->channels * net->size * net->size;
    memcpy(cc_tt_host(net->input), b->x, floats * sizeof(float));
    if (s->o->mixup > 0) /* the share's first row in the whole batch */
        tr_mixup(cc_tt_host(net->input), b->labels, net->batch, floats / (size_t)net->batch,
                 s->o->mixup, (uint64_t)s->o->seed, s->iter,
                 (s->dist ? s->dist->rank : 0) * net->batch, s->mix_y2, s->mix_lam);
    covidcam_status st = cc_tnet_forward(net->tn, 1, e);
    if (st)
        return st;
    if (s->o->mixup > 0)
        *lo = tr_softmax_xent_mixed(cc_tt_host(net->logits), b->labels, s->mix_y2, s->mix_lam,
                                    net->batch, net->classes, s->o->label_smoothing, norm,
                                    cc_tt_host_diff(net->logits), NULL);
    else
        *lo = tr_softmax_xent_weighted(cc_tt_host(net->logits), b->labels, net->batch,
                                       net->classes, s->o->label_smoothing, s->class_w, norm,
                                       cc_tt_host_diff(net->logits), NULL);
    if ((st = cc_tnet_backward(net->tn, e)))
        return st;
    /* Each share's gradient is its part of the whole batch's mean. */
    if ((st = tr_dist_sum_f32(s->dist, s->p.g, s->p.total, "gradients", e)) ||
        (st = sum_metrics(s, lo, e)))
        return st;
    tr_sgd o = {s->o->momentum, s->o->weight_decay, s->o->decay_all};
    tr_sgd_step(&s->p, &o, lr);
    if (s->o->ema > 0) /* after the step: the running statistics of this forward are in too */
        tr_ema_update(&s->p, tr_ema_decay_at(s->o->ema, s->iter + 1));
    cc_tnet_params_changed(net->tn);
    return COVIDCAM_OK;
}

static void record_iteration(tr_session *s, double lr, const tr_loss_out *lo)
{
    double n = lo->valid > 0 ? lo->valid : 1;
    /* the batch's loss is its weighted mean (the sum over the weight sum) */
    double mean = lo->weight_sum > 0 ? lo->loss_sum / lo->weight_sum : 0;
    float row[TH_IT_COLS] = {(float)(s->iter + 1), (float)(s->epoch + 1), (float)lr,
                             (float)mean, (float)(lo->correct / n)};
    if (tr_history_add_iter(&s->h, row))
        fprintf(stderr, "warning: out of memory for the metrics history\n");
    s->ep_loss += s->class_w ? mean * lo->valid : lo->loss_sum;
    s->ep_correct += lo->correct;
    s->ep_seen += lo->valid;
    s->iter++;
    s->batch++;
}

static void show_progress(tr_session *s, double t0, int b0)
{
    if (!tr_dist_root(s->dist))
        return;
    double dt = tr_now() - t0, seen = s->ep_seen > 0 ? (double)s->ep_seen : 1;
    int done = s->batch - b0;
    double ips = dt > 0 ? done * s->o->batch / dt : 0;
    double per_iter = done > 0 ? dt / done : -1;
    double eta = done > 0 ? per_iter * (s->iters_per_epoch - s->batch) : -1;
    /* the whole run: this epoch's rest, the later epochs' iterations, and a
     * validation pass per epoch left as long as the last one took */
    int epochs_left = s->o->epochs - s->epoch - 1;
    double run = done > 0 ? eta + per_iter * s->iters_per_epoch * epochs_left +
                                s->val_seconds * (epochs_left + 1)
                          : -1;
    tr_progress_update(&s->prog, s->epoch + 1, s->o->epochs, s->batch, s->iters_per_epoch,
                       s->ep_loss / seen, s->ep_correct / seen, ips, eta, run);
}

/* What every process needs before a step: whether any of them was told to
 * stop (all stop at the same batch), and the whole batch's loss normaliser:
 * its labelled images, or the sum of their class weights. */
static covidcam_status agree(tr_session *s, const tr_batch *b, double *norm, int *stop,
                             cc_err *e)
{
    double v[2] = {0, *s->stop ? 1 : 0};
    for (int i = 0; i < s->net.batch; i++)
        if (b->labels[i] >= 0)
            v[0] += s->class_w ? (double)s->class_w[b->labels[i]] : 1.0;
    covidcam_status st = tr_dist_sum_f64(s->dist, v, 2, "stop requests", e);
    *norm = v[0];
    *stop = v[1] > 0;
    return st;
}

/* Whether the current epoch enters --average-from's uniform average, and how
 * many epochs are in it before this one. */
static int averaged_epoch(const tr_session *s)
{
    return s->o->average_from > 0 && s->epoch + 1 >= s->o->average_from;
}

static int averaged_before(const tr_session *s)
{
    return s->epoch + 1 - s->o->average_from;
}

/* Train the rest of the current epoch. Returns with s->batch ==
 * iters_per_epoch, or earlier when stopped. */
static covidcam_status train_epoch(tr_session *s, cc_err *e)
{
    const tr_opts *o = s->o;
    long warmup = (long)o->warmup_epochs * s->iters_per_epoch;
    long total = (long)o->epochs * s->iters_per_epoch;
    covidcam_status st = tr_loader_start(s->train_ld, s->epoch, s->batch, e);
    double t0 = tr_now(), prior = s->ep_train_seconds;
    int b0 = s->batch;
    while (!st && s->batch < s->iters_per_epoch &&
           !(o->stop_after && s->iter >= o->stop_after)) {
        const tr_batch *b = NULL;
        tr_loss_out lo;
        double norm = 0;
        int stop = 0;
        double lr = averaged_epoch(s) && o->average_lr > 0 ? o->average_lr
                                                          : tr_lr_at(o->lr, s->iter, warmup, total);
        if ((st = tr_loader_next(s->train_ld, &b, e)))
            break;
        if (!(st = agree(s, b, &norm, &stop, e)) && stop) {
            tr_loader_release(s->train_ld);
            break;
        }
        if (!st)
            st = train_step(s, b, norm, lr, &lo, e);
        tr_loader_release(s->train_ld);
        if (st)
            break;
        record_iteration(s, lr, &lo);
        s->ep_train_seconds = prior + tr_now() - t0;
        show_progress(s, t0, b0);
    }
    return st;
}

/* One epoch's validation: of the trained weights, and of their average
 * when the run keeps one (have_avg). */
typedef struct epoch_val {
    tr_eval_out raw, avg;
    int have_avg;
} epoch_val;

static void print_epoch(tr_session *s, const epoch_val *v, const tr_report *r, int best)
{
    if (!tr_dist_root(s->dist))
        return;
    double seen = s->ep_seen > 0 ? (double)s->ep_seen : 1;
    char avg[96] = "";
    if (v->have_avg)
        snprintf(avg, sizeof avg, " | average val loss %.4f acc %.4f", v->avg.loss, v->avg.accuracy);
    tr_progress_clear(&s->prog);
    printf("epoch %d/%d: train loss %.4f acc %.4f | val loss %.4f acc %.4f%s | lr %.3g | "
           "%.0f s, %.1f img/s%s\n",
           s->epoch + 1, s->o->epochs, s->ep_loss / seen, s->ep_correct / seen, v->raw.loss,
           v->raw.accuracy, avg, s->h.nit ? s->h.it[(s->h.nit - 1) * TH_IT_COLS + TH_IT_LR] : 0.0,
           s->ep_train_seconds, s->ep_train_seconds > 0 ? seen / s->ep_train_seconds : 0.0,
           best ? "  (best so far: saved)" : "");
    /* the table of the weights that compete for best.safetensors */
    tr_confusion_print(stdout, &s->conf, s->mi.classes.names);
    putchar('\n');
    tr_report_print(stdout, r, s->mi.classes.names);
    putchar('\n');
    fflush(stdout);
}

/* Writes the model now in s->p.w to `path` with its training metadata. */
static covidcam_status save_epoch_model(tr_session *s, const char *path, const tr_report *r,
                                        double val_loss, int average, cc_err *e)
{
    if (!tr_dist_root(s->dist))
        return COVIDCAM_OK;
    char *training = tr_session_training_json(s, r, val_loss, average);
    if (!training)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    covidcam_status st = tr_save_model(path, &s->p, &s->mi, training, e);
    free(training);
    return st;
}

static covidcam_status save_best(tr_session *s, const tr_report *r, double val_loss, int average,
                                 cc_err *e)
{
    covidcam_status st = save_epoch_model(s, s->out_model, r, val_loss, average, e);
    if (st)
        return st;
    memcpy(s->best_conf.m, s->conf.m, (size_t)s->conf.k * s->conf.k * sizeof *s->conf.m);
    s->best_acc = r->accuracy;
    s->best_loss = val_loss;
    s->best_epoch = s->epoch + 1;
    s->have_best = 1;
    return COVIDCAM_OK;
}

/* Whether this epoch beats the best so far by the --select rule. */
static int is_best(const tr_session *s, const tr_report *r, double val_loss)
{
    if (strcmp(s->o->select, "accuracy") == 0)
        return r->accuracy > s->best_acc;
    return val_loss < s->best_loss;
}

/* Validate the values now in s->p.w into s->conf and *r (made only when the
 * pass was not interrupted: *made). */
static covidcam_status validate(tr_session *s, tr_eval_out *v, tr_report *r, int *made, cc_err *e)
{
    *made = 0;
    covidcam_status st = tr_evaluate(&s->net, s->val_ld, s->o->label_smoothing, &s->conf, s->stop,
                                     s->dist, v, e);
    if (st || v->stopped)
        return st;
    if (tr_report_make(&s->conf, r)) {
        tr_report_free(r);
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *made = 1;
    return COVIDCAM_OK;
}

/* The weight average's turn: swapped into the graph, validated into s->conf
 * and *r, saved as best.safetensors when it beats the best so far, and
 * swapped back whatever happens. */
static covidcam_status validate_average(tr_session *s, tr_eval_out *v, tr_report *r, int *made,
                                        int *best, cc_err *e)
{
    tr_ema_swap(&s->p);
    cc_tnet_params_changed(s->net.tn);
    covidcam_status st = validate(s, v, r, made, e);
    if (!st && *made && (*best = is_best(s, r, v->loss)))
        st = save_best(s, r, v->loss, 1, e);
    tr_ema_swap(&s->p);
    cc_tnet_params_changed(s->net.tn);
    return st;
}

/* A pass over the training split in training mode without any update, the
 * running statistics of batch norm re-estimated from the weights now in
 * s->p.w (tr_bn_restat_*). Sets *stopped when interrupted (the statistics
 * are then incomplete: the caller discards the weights). */
static covidcam_status bn_pass(tr_session *s, int *stopped, cc_err *e)
{
    tr_net *net = &s->net;
    size_t floats = (size_t)net->batch * net->channels * net->size * net->size;
    float *acc = calloc(tr_bn_stat_floats(&s->p) + 1, sizeof *acc); /* + 1: never calloc(0) */
    if (!acc)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for batch-norm statistics");
    covidcam_status st = tr_loader_start(s->train_ld, s->epoch, 0, e);
    *stopped = 0;
    for (int k = 0; !st && k < s->iters_per_epoch; k++) {
        const tr_batch *b = NULL;
        double norm = 0;
        if ((st = tr_loader_next(s->train_ld, &b, e)))
            break;
        if (!(st = agree(s, b, &norm, stopped, e)) && !*stopped) {
            memcpy(cc_tt_host(net->input), b->x, floats * sizeof(float));
            tr_bn_restat_begin(&s->p);
            if (!(st = cc_tnet_forward(net->tn, 1, e)))
                tr_bn_restat_add(&s->p, acc, k + 1, TR_BN_MOMENTUM);
        }
        tr_loader_release(s->train_ld);
        if (*stopped)
            break;
    }
    if (!st && !*stopped)
        tr_bn_restat_end(&s->p, acc);
    free(acc);
    return st;
}

/* --average-from: this epoch's weights folded into the uniform average
 * (tr_swa_fold), its batch-norm statistics re-estimated (bn_pass), validated
 * into s->conf and *r and saved as best.safetensors -- the average is the
 * run's model, whatever validation says of it. The trained weights are
 * restored whatever happens; the average in s->p.avg changes only when the
 * pass completes (*made), so that an interrupted validation, repeated on
 * resume, folds this epoch in once. */
static covidcam_status validate_uniform_average(tr_session *s, tr_eval_out *v, tr_report *r,
                                                int *made, int *best, cc_err *e)
{
    size_t bytes = s->p.total * sizeof *s->p.w;
    int stopped = 0;
    *made = 0;
    float *trained = malloc(bytes);
    if (!trained)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for the weight average");
    memcpy(trained, s->p.w, bytes);
    tr_swa_fold(&s->p, averaged_before(s));
    cc_tnet_params_changed(s->net.tn);
    if (tr_dist_root(s->dist))
        tr_progress_note(&s->prog, "re-estimating the average's batch-norm statistics...");
    covidcam_status st = bn_pass(s, &stopped, e);
    if (!st && !stopped) {
        cc_tnet_params_changed(s->net.tn);
        st = validate(s, v, r, made, e);
    }
    if (!st && *made) {
        memcpy(s->p.avg, s->p.w, bytes);
        st = save_best(s, r, v->loss, 1, e);
        *best = 1;
    }
    memcpy(s->p.w, trained, bytes);
    cc_tnet_params_changed(s->net.tn);
    free(trained);
    return st;
}

/* Validation, reports and saving at the end of an epoch: last.safetensors
 * holds the trained weights; best.safetensors competes among the average's
 * epochs when the run keeps one, else among the trained weights'. Returns 1
 * in *stopped when interrupted during validation (nothing saved but the
 * checkpoint, which then repeats the validation on resume). */
static covidcam_status end_epoch(tr_session *s, tr_result *res, int *stopped, cc_err *e)
{
    epoch_val v = {.have_avg = s->o->ema > 0 || averaged_epoch(s)};
    tr_report r, ra;
    int made = 0, made_avg = 0, best = 0;
    double seen = s->ep_seen > 0 ? (double)s->ep_seen : 1;
    if (tr_dist_root(s->dist))
        tr_progress_note(&s->prog, "validating...");
    double t0 = tr_now();
    covidcam_status st = validate(s, &v.raw, &r, &made, e);
    if (!st && made)
        st = save_epoch_model(s, s->out_last, &r, v.raw.loss, 0, e);
    if (!st && made && !v.have_avg && (best = is_best(s, &r, v.raw.loss)))
        st = save_best(s, &r, v.raw.loss, 0, e);
    if (!st && made && s->o->ema > 0)
        st = validate_average(s, &v.avg, &ra, &made_avg, &best, e);
    if (!st && made && averaged_epoch(s))
        st = validate_uniform_average(s, &v.avg, &ra, &made_avg, &best, e);
    s->val_seconds = tr_now() - t0;
    if (!st && (!made || (v.have_avg && !made_avg))) {
        *stopped = 1;
        goto done;
    }
    float row[TH_EP_COLS] = {
        (float)(s->epoch + 1), s->h.nit ? s->h.it[(s->h.nit - 1) * TH_IT_COLS + TH_IT_LR] : 0.f,
        (float)(s->ep_loss / seen), (float)(s->ep_correct / seen), (float)v.raw.loss,
        (float)v.raw.accuracy, (float)s->ep_train_seconds,
        (float)(s->ep_train_seconds > 0 ? seen / s->ep_train_seconds : 0),
        v.have_avg ? (float)v.avg.loss : NAN, v.have_avg ? (float)v.avg.accuracy : NAN};
    if (!st && tr_history_add_epoch(&s->h, row))
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st)
        print_epoch(s, &v, v.have_avg ? &ra : &r, best);
    res->last_train_acc = s->ep_correct / seen;
    res->last_val_acc = v.raw.accuracy;
    res->last_val_loss = v.raw.loss;
done:
    if (made)
        tr_report_free(&r);
    if (made_avg)
        tr_report_free(&ra);
    return st;
}

static void next_epoch(tr_session *s)
{
    s->epoch++;
    s->batch = 0;
    s->ep_loss = 0;
    s->ep_correct = s->ep_seen = 0;
    s->ep_train_seconds = 0;
}

static covidcam_status interrupted(tr_session *s, tr_result *res, cc_err *e)
{
    tr_progress_clear(&s->prog);
    covidcam_status st = save_checkpoint(s, e);
    res->interrupted = 1;
    if (st || !tr_dist_root(s->dist))
        return st;
    fprintf(stderr, "interrupted at epoch %d batch %d: checkpoint saved to %s; continue with "
                    "--resume --out %s\n",
            s->epoch + 1, s->batch, s->out_ckpt, s->o->out_dir);
    res->interrupted = 1;
    return COVIDCAM_OK;
}

covidcam_status tr_train_run(tr_session *s, tr_result *res, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    memset(res, 0, sizeof *res);
    res->test_acc = -1;
    if (s->epoch >= s->o->epochs)
        fprintf(stderr, "training already complete (%d epochs); --epochs N extends it\n",
                s->epoch);
    while (s->epoch < s->o->epochs) {
        int stopped = 0;
        if ((st = train_epoch(s, e)))
            return st;
        if (s->batch < s->iters_per_epoch)
            return interrupted(s, res, e);
        if ((st = end_epoch(s, res, &stopped, e)))
            return st;
        if (stopped)
            return interrupted(s, res, e);
        next_epoch(s);
        if ((st = save_checkpoint(s, e)) || (st = write_reports(s, e)))
            return st;
        res->epochs_done = s->epoch;
    }
    res->best_val_acc = s->best_acc;
    res->best_epoch = s->best_epoch;
    res->skipped = s->skipped + tr_loader_failures(s->train_ld) + tr_loader_failures(s->val_ld);
    return st;
}
