#include "tr_session.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_meta.h"
#include "tr_outdir.h"
#include "tr_scan.h"
#include "tr_util.h"

static const char *const k_split_names[3] = {"train", "val", "test"};

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int same_classes(const tr_classes *a, const tr_classes *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], b->names[i]) != 0)
            return 0;
    return 1;
}

/* Class list and the three splits (test may be empty). */
static covidcam_status list_splits(tr_session *s, tr_classes *cls, cc_err *e)
{
    const tr_opts *o = s->o;
    covidcam_status st;
    if (o->data_root)
        return tr_split_root(o->data_root, o->split_f, (uint64_t)o->seed, cls, s->split, e);
    if ((st = tr_classes_list(o->train_dir, cls, e)) ||
        (st = tr_split_list(o->train_dir, cls, 0, &s->split[TR_TRAIN], e)) ||
        (st = tr_split_list(o->val_dir, cls, 0, &s->split[TR_VAL], e)))
        return st;
    if (o->test_dir)
        return tr_split_list(o->test_dir, cls, 1, &s->split[TR_TEST], e);
    return COVIDCAM_OK;
}

/* Drop unreadable images (or stop with --strict); the training scan also
 * yields the normalization statistics. */
static covidcam_status scan_splits(tr_session *s, double *mean, double *sd, cc_err *e)
{
    const tr_opts *o = s->o;
    int workers = o->workers > cpu_count() ? o->workers : cpu_count();
    for (int k = 0; k < 3; k++) {
        tr_scan_result r;
        if (s->split[k].n == 0)
            continue;
        covidcam_status st = tr_scan_dist(
            &s->split[k], o->input_size, (cc_resize_mode)cc_meta_resize_mode(o->resize),
            k == TR_TRAIN && !o->resume, workers, o->strict, s->dist, &r, e);
        if (st) {
            cc_err_prefix(e, "%s split", k_split_names[k]);
            return st;
        }
        if (k == TR_TRAIN) {
            *mean = r.mean;
            *sd = r.std;
        }
        tr_split_remove(&s->split[k], r.bad);
        s->skipped += r.nbad;
        tr_scan_free(&r);
    }
    return COVIDCAM_OK;
}

static covidcam_status setup_data(tr_session *s, cc_err *e)
{
    tr_opts *o = s->o;
    tr_classes cls = {0};
    double mean = 0, sd = 0;
    covidcam_status st = list_splits(s, &cls, e);
    if (st) {
        tr_classes_free(&cls);
        return st;
    }
    if (o->resume && !same_classes(&cls, &s->mi.classes)) {
        tr_classes_free(&cls);
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "the class folders differ from the checkpoint's classes");
    }
    for (int k = 0; k < 3; k++)
        tr_split_limit(&s->split[k], cls.n, o->subset);
    if (!o->resume)
        s->mi.classes = cls;
    else
        tr_classes_free(&cls);
    if ((st = scan_splits(s, &mean, &sd, e)))
        return st;
    if (s->split[TR_TRAIN].n < o->batch)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "the training split has %d readable images, fewer than --batch-size %d",
                       s->split[TR_TRAIN].n, o->batch);
    if (s->split[TR_VAL].n == 0)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "the validation split has no images");
    if (o->resume)
        return COVIDCAM_OK;
    if (!(sd > 0))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "the training images have no pixel variance; cannot normalize");
    for (int c = 0; c < 3; c++) {
        s->mi.mean[c] = (float)mean;
        s->mi.std[c] = (float)sd;
    }
    return COVIDCAM_OK;
}

covidcam_status tr_pick_precision(const char *p, cc_tprec *prec, cc_err *e)
{
    if (strcmp(p, "auto") == 0) {
        /* bf16 only where the CPU computes it natively (AVX512-BF16, AMX):
         * there a real run's curves and validation accuracy match fp32's
         * (docs/training.md, Precision) at 1.6-2x the speed. On plain AVX-512
         * oneDNN emulates bf16 arithmetic, which was never validated. */
        *prec = cc_dnn_isa_bf16() ? CC_TPREC_BF16 : CC_TPREC_FP32;
        return COVIDCAM_OK;
    }
    if (strcmp(p, "bf16") && strcmp(p, "fp32")) /* e.g. a checkpoint's */
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "precision '%s' is none of fp32, bf16, auto", p);
    *prec = strcmp(p, "bf16") == 0 ? CC_TPREC_BF16 : CC_TPREC_FP32;
    if (*prec == CC_TPREC_BF16 && !cc_tdnn_has_bf16())
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                       "--precision bf16: oneDNN needs AVX-512 for bf16 and this CPU offers %s; "
                       "use fp32",
                       cc_dnn_isa_name());
    return COVIDCAM_OK;
}

/* The precision of the run, and its name in place of "auto" in the options:
 * the one name the log, checkpoints and the model's training metadata print,
 * and a resumed run continues in it unless --precision says otherwise. */
static covidcam_status resolve_precision(tr_session *s, cc_err *e)
{
    covidcam_status st = tr_pick_precision(s->o->precision, &s->prec, e);
    if (!st)
        s->o->precision = s->prec == CC_TPREC_BF16 ? "bf16" : "fp32";
    return st;
}

static covidcam_status make_loaders(tr_session *s, cc_err *e)
{
    const tr_opts *o = s->o;
    tr_loader_cfg c = {.split = &s->split[TR_TRAIN],
                       .batch = o->batch,
                       .size = s->mi.input_size,
                       .resize = (cc_resize_mode)s->mi.resize,
                       .channels = s->mi.in_channels,
                       .mean = s->mi.mean,
                       .std = s->mi.std,
                       .shuffle = 1,
                       .drop_last = 1,
                       .seed = (uint64_t)o->seed,
                       .workers = o->workers,
                       .strict = o->strict,
                       .shard = s->dist ? s->dist->rank : 0,
                       .shards = tr_session_world(s)};
    tr_aug_defaults(&c.aug);
    c.aug.enabled = !o->no_augment;
    c.aug.scale = o->aug_scale;
    c.aug.translate = o->aug_translate;
    c.aug.rotate = o->aug_rotate;
    c.aug.brightness = o->aug_brightness;
    c.aug.contrast = o->aug_contrast;
    c.aug.hflip = o->hflip;
    covidcam_status st = tr_loader_create(&c, &s->train_ld, e);
    if (st)
        return st;
    c.split = &s->split[TR_VAL];
    c.shuffle = 0;
    c.drop_last = 0;
    c.aug.enabled = 0;
    return tr_loader_create(&c, &s->val_ld, e);
}

static int same_arch(const cc_arch *a, const cc_arch *b)
{
    if (a->block != b->block || a->num_stages != b->num_stages || a->stem_width != b->stem_width)
        return 0;
    for (int i = 0; i < a->num_stages; i++)
        if (a->layers[i] != b->layers[i] || a->widths[i] != b->widths[i])
            return 0;
    return 1;
}

/* --init-from: the model's weights replace the fresh initialisation. Its
 * architecture and input channels must be the run's (the tensors would not
 * fit otherwise); its mean/std replace the scanned ones, since its weights
 * expect that normalisation (and its batch-norm epsilon, which its running
 * statistics go with); its fc layer is kept only for the same classes
 * in the same order. A different input size or resize mode is allowed (the
 * network is size-agnostic) and said. */
static covidcam_status init_from(tr_session *s, cc_err *e)
{
    const char *path = s->o->init_from;
    tr_file f = {0};
    cc_arch a;
    tr_model_info mi = {0};
    int copied = 0;
    covidcam_status st = tr_file_read(path, &f, e);
    if (!st)
        st = tr_file_info(&f, &a, &mi, e);
    if (!st && !same_arch(&a, &s->arch))
        st = cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                     "--init-from %s: its architecture (%s) is not the run's (%s): give the same "
                     "--arch/--block/--layers/--widths/--stem-width",
                     path, a.name, s->arch.name);
    else if (!st && mi.in_channels != s->mi.in_channels)
        st = cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                     "--init-from %s: it takes %d input channels, the run %d", path,
                     mi.in_channels, s->mi.in_channels);
    int keep_fc = !st && same_classes(&mi.classes, &s->mi.classes);
    if (!st)
        st = tr_file_copy_weights(&f, &s->p, !keep_fc, &copied, e);
    if (!st) {
        memcpy(s->mi.mean, mi.mean, sizeof s->mi.mean);
        memcpy(s->mi.std, mi.std, sizeof s->mi.std);
        s->mi.bn_eps = mi.bn_eps; /* its running statistics were kept with it */
        printf("initialised from %s: %d tensors%s; its normalisation (mean %.3f, std %.3f)%s\n",
               path, copied, keep_fc ? "" : " (fc re-initialised: the classes differ)",
               (double)mi.mean[0], (double)mi.std[0],
               mi.input_size != s->mi.input_size || mi.resize != s->mi.resize
                   ? "; note: it was trained at another input size or resize mode"
                   : "");
    } else if (st != COVIDCAM_ERR_INVALID_ARGUMENT) {
        cc_err_prefix(e, "--init-from %s", path);
    }
    tr_model_info_free(&mi);
    tr_file_free(&f);
    return st;
}

/* The --ema or --average-from average, starting at the current weights (a resumed run then
 * overwrites it with the checkpoint's). */
static covidcam_status alloc_average(tr_session *s, cc_err *e)
{
    if (!(s->p.avg = malloc(s->p.total * sizeof *s->p.avg)))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for the weight average");
    memcpy(s->p.avg, s->p.w, s->p.total * sizeof *s->p.avg);
    return COVIDCAM_OK;
}

/* --class-weights balanced: N / (K * n_c) over the training split (sklearn's
 * "balanced"), the mean weight of a training image then being 1. A class
 * without training images keeps weight 1 (it cannot appear in a batch). */
static covidcam_status class_weights(tr_session *s, cc_err *e)
{
    int k = s->mi.classes.n, n = s->split[TR_TRAIN].n;
    if (strcmp(s->o->class_weights, "balanced") != 0)
        return COVIDCAM_OK;
    int *cnt = calloc((size_t)k, sizeof *cnt);
    if (!cnt || !(s->class_w = malloc((size_t)k * sizeof *s->class_w))) {
        free(cnt);
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    tr_split_counts(&s->split[TR_TRAIN], k, cnt);
    for (int c = 0; c < k; c++)
        s->class_w[c] = cnt[c] > 0 ? (float)((double)n / ((double)k * cnt[c])) : 1.f;
    free(cnt);
    return COVIDCAM_OK;
}

/* --mixup's per-row second labels and weights, one of each per row of this
 * process's share of a batch. */
static covidcam_status mixup_buffers(tr_session *s, cc_err *e)
{
    if (s->o->mixup <= 0)
        return COVIDCAM_OK;
    size_t rows = (size_t)(s->o->batch / tr_session_world(s));
    s->mix_y2 = malloc(rows * sizeof *s->mix_y2);
    s->mix_lam = malloc(rows * sizeof *s->mix_lam);
    if (!s->mix_y2 || !s->mix_lam)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    return COVIDCAM_OK;
}

static covidcam_status setup_model(tr_session *s, cc_err *e)
{
    const tr_opts *o = s->o;
    covidcam_status st;
    if (!o->resume) {
        if ((st = tr_arch_from_opts(o, &s->arch, e)) ||
            (st = tr_params_create(&s->arch, o->input_channels, s->mi.classes.n, &s->p, e)))
            return st;
        tr_params_init(&s->p, (uint64_t)o->seed);
        s->mi.input_size = o->input_size;
        s->mi.resize = cc_meta_resize_mode(o->resize);
        s->mi.in_channels = o->input_channels;
        s->mi.bn_eps = o->bn_eps;
        if (o->description && !(s->mi.description = strdup(o->description)))
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        if (o->init_from && (st = init_from(s, e)))
            return st;
        if ((o->ema > 0 || o->average_from > 0) && (st = alloc_average(s, e)))
            return st;
    }
    if ((st = class_weights(s, e)) || (st = mixup_buffers(s, e)))
        return st;
    s->sync = (cc_tnet_sync){tr_dist_sum_cb, s->dist, tr_session_world(s)};
    if ((st = tr_net_build_synced(&s->net, &s->p, o->batch / tr_session_world(s),
                                  s->mi.input_size, s->prec, 1, (float)s->mi.bn_eps, &s->sync,
                                  e)))
        return st;
    return make_loaders(s, e);
}

/* Position and extras of a checkpoint (its params are loaded separately). */
static covidcam_status restore_position(tr_session *s, const tr_file *f, cc_err *e)
{
    json_t *st = s->state;
    s->epoch = (int)json_integer_value(json_object_get(st, "epoch"));
    s->batch = (int)json_integer_value(json_object_get(st, "batch"));
    s->iter = (long)json_integer_value(json_object_get(st, "iteration"));
    s->ep_loss = json_number_value(json_object_get(st, "epoch_loss_sum"));
    s->ep_correct = (long)json_integer_value(json_object_get(st, "epoch_correct"));
    s->ep_seen = (long)json_integer_value(json_object_get(st, "epoch_seen"));
    s->ep_train_seconds = json_number_value(json_object_get(st, "epoch_train_seconds"));
    s->best_acc = json_number_value(json_object_get(st, "best_accuracy"));
    json_t *bl = json_object_get(st, "best_loss");
    s->best_loss = json_is_number(bl) && json_number_value(bl) >= 0 ? json_number_value(bl) : HUGE_VAL;
    s->best_epoch = (int)json_integer_value(json_object_get(st, "best_epoch"));
    s->have_best = s->best_epoch > 0;
    if (s->epoch < 0 || s->batch < 0 || s->iter < 0)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "checkpoint position is invalid");
    return tr_file_history(f, &s->h, e);
}

static covidcam_status load_checkpoint(tr_session *s, cc_err *e)
{
    tr_file f;
    covidcam_status st = tr_file_read(s->out_ckpt, &f, e);
    if (st)
        return st;
    const char *fmt = cc_st_meta_get(&f.st, "format"), *state = cc_st_meta_get(&f.st, "state");
    if (!fmt || strcmp(fmt, TR_CKPT_FORMAT) != 0 || !state ||
        !(s->state = json_loads(state, 0, NULL))) {
        st = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "%s is not a covidcam-train checkpoint",
                     s->out_ckpt);
        goto fail;
    }
    if ((st = tr_opts_apply_config(s->o, json_object_get(s->state, "config"), e)) ||
        (st = tr_file_info(&f, &s->arch, &s->mi, e)) ||
        (st = tr_file_params(&f, &s->arch, &s->mi, 1, &s->p, e)) ||
        (st = restore_position(s, &f, e)))
        goto fail;
    if ((s->o->ema > 0 || s->o->average_from > 0) &&
        ((st = alloc_average(s, e)) || (st = tr_file_average(&f, &s->p, e))))
        goto fail;
    if (tr_confusion_init(&s->best_conf, s->mi.classes.n) == 0)
        tr_file_confusion(&f, &s->best_conf);
fail:
    if (st)
        cc_err_prefix(e, "resume");
    tr_file_free(&f);
    return st;
}

/* The data folders as absolute paths, so that the checkpoint (which records
 * them) can be resumed from another working directory. A repeated --train or
 * --val is a list: each folder is resolved. */
static void absolute_data_paths(tr_session *s)
{
    tr_opts *o = s->o;
    const char **dirs[4] = {&o->train_dir, &o->val_dir, &o->test_dir, &o->data_root};
    char one[PATH_MAX], abs[PATH_MAX], given[sizeof s->data_paths[0]];
    for (int k = 0; k < 4; k++) {
        if (!*dirs[k])
            continue;
        /* *dirs[k] may already be data_paths[k] (called again after resume) */
        snprintf(given, sizeof given, "%s", *dirs[k]);
        char *out = s->data_paths[k];
        size_t size = sizeof s->data_paths[k], used = 0;
        int ok = 1, n = tr_sources_count(given);
        for (int i = 0; ok && i < n; i++) {
            ok = !tr_source_get(given, i, one, sizeof one) && realpath(one, abs);
            int w = ok ? snprintf(out + used, size - used, "%s%s", i ? "\n" : "", abs) : 0;
            ok = ok && (size_t)w < size - used;
            used += ok ? (size_t)w : 0;
        }
        if (ok)
            *dirs[k] = out;
    }
}

/* Every process takes an equal share of each batch (batch norm and the
 * gradient mean rely on it). */
static covidcam_status check_shares(const tr_session *s, cc_err *e)
{
    int world = tr_session_world(s);
    if (s->o->batch % world == 0)
        return COVIDCAM_OK;
    return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                   "--batch-size %d is not divisible by the %d processes: each process trains an "
                   "equal share of every batch; use a multiple of %d",
                   s->o->batch, world, world);
}

covidcam_status tr_session_open(tr_session *s, tr_opts *o, const char *command,
                                const volatile sig_atomic_t *stop, cc_err *e)
{
    return tr_session_open_dist(s, o, command, stop, NULL, e);
}

covidcam_status tr_session_open_dist(tr_session *s, tr_opts *o, const char *command,
                                     const volatile sig_atomic_t *stop, tr_dist *d, cc_err *e)
{
    memset(s, 0, sizeof *s);
    s->o = o;
    s->command = command;
    s->stop = stop;
    s->dist = d;
    s->best_acc = -1;
    s->best_loss = HUGE_VAL;
    tr_path(s->out_model, sizeof s->out_model, o->out_dir, "best.safetensors");
    tr_path(s->out_last, sizeof s->out_last, o->out_dir, "last.safetensors");
    tr_path(s->out_ckpt, sizeof s->out_ckpt, o->out_dir, "checkpoint.safetensors");
    tr_path(s->out_csv, sizeof s->out_csv, o->out_dir, "metrics.csv");
    tr_path(s->out_html, sizeof s->out_html, o->out_dir, "report.html");
    covidcam_status st;
    /* Refuse an impossible precision before the (long) scan of the images;
     * a resumed run picks again once the checkpoint's is known. */
    if ((st = resolve_precision(s, e)))
        return st;
    /* A resumed run's batch is the checkpoint's: checked once it is loaded. */
    if (!o->resume && (st = check_shares(s, e)))
        return st;
    if (!o->resume && !o->force && (st = tr_refuse_earlier_run(o->out_dir, e)))
        return st;
    absolute_data_paths(s); /* as given, to compare with the checkpoint's */
    if (o->resume && ((st = load_checkpoint(s, e)) || (st = resolve_precision(s, e))))
        return st;
    absolute_data_paths(s); /* as restored */
    if (o->resume && (st = check_shares(s, e)))
        return st;
    if ((st = tr_mkdirs(o->out_dir, e)) || (st = setup_data(s, e)) || (st = setup_model(s, e)))
        return st;
    s->iters_per_epoch = tr_loader_batches(s->train_ld);
    if (s->batch > s->iters_per_epoch)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "resume: the checkpoint is at batch %d but an epoch now has %d batches "
                       "(did the training images change?)",
                       s->batch, s->iters_per_epoch);
    if (tr_confusion_init(&s->conf, s->mi.classes.n) ||
        (!s->best_conf.m && tr_confusion_init(&s->best_conf, s->mi.classes.n)))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    tr_progress_init(&s->prog, o->log_interval);
    return COVIDCAM_OK;
}

void tr_session_close(tr_session *s)
{
    if (!s)
        return;
    tr_loader_free(s->train_ld);
    tr_loader_free(s->val_ld);
    tr_net_free(&s->net);
    tr_params_free(&s->p);
    free(s->class_w);
    free(s->mix_y2);
    free(s->mix_lam);
    for (int k = 0; k < 3; k++)
        tr_split_free(&s->split[k]);
    tr_history_free(&s->h);
    tr_confusion_free(&s->conf);
    tr_confusion_free(&s->best_conf);
    tr_model_info_free(&s->mi);
    json_decref(s->state);
    memset(s, 0, sizeof *s);
}

char *tr_session_state_json(const tr_session *s)
{
    json_t *j = json_pack("{s:o,s:i,s:i,s:I,s:f,s:I,s:I,s:f,s:f,s:f,s:i,s:I,s:s,s:i,s:s}", "config",
                          tr_opts_config(s->o), "epoch", s->epoch, "batch", s->batch, "iteration",
                          (json_int_t)s->iter, "epoch_loss_sum", s->ep_loss, "epoch_correct",
                          (json_int_t)s->ep_correct, "epoch_seen", (json_int_t)s->ep_seen,
                          "epoch_train_seconds", s->ep_train_seconds, "best_accuracy", s->best_acc,
                          "best_loss", isfinite(s->best_loss) ? s->best_loss : -1.0,
                          "best_epoch", s->best_epoch, "skipped_images", (json_int_t)s->skipped,
                          "precision", s->o->precision,
                          "train_images", s->split[TR_TRAIN].n, "command", s->command);
    char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(j);
    return txt;
}

static json_t *report_json(const tr_session *s, const tr_report *r)
{
    json_t *per = json_object();
    for (int i = 0; per && i < r->k; i++)
        json_object_set_new(per, s->mi.classes.names[i],
                            json_pack("{s:f,s:f,s:f,s:I}", "precision", r->cls[i].precision,
                                      "recall", r->cls[i].recall, "f1", r->cls[i].f1, "support",
                                      (json_int_t)r->cls[i].support));
    json_t *cm = json_array();
    for (int i = 0; cm && i < s->conf.k; i++) {
        json_t *row = json_array();
        for (int j = 0; row && j < s->conf.k; j++)
            json_array_append_new(row, json_integer(s->conf.m[i * s->conf.k + j]));
        json_array_append_new(cm, row);
    }
    return json_pack("{s:o*,s:o*,s:f,s:f}", "per_class", per, "confusion", cm, "macro_f1",
                     r->macro.f1, "weighted_f1", r->weighted.f1);
}

char *tr_session_training_json(const tr_session *s, const tr_report *val, double val_loss,
                               int average)
{
    double seen = s->ep_seen > 0 ? (double)s->ep_seen : 1;
    json_t *j = json_pack(
        "{s:s,s:s,s:i,s:i,s:s,s:f,s:f,s:f,s:f,s:s,s:i,s:i,s:I,s:o*,s:o*}", "trainer",
        "covidcam-train", "command", s->command, "epoch", s->epoch + 1, "epochs", s->o->epochs,
        "weights", average ? "average" : "trained",
        "val_accuracy", val->accuracy, "val_loss", val_loss, "train_loss", s->ep_loss / seen,
        "train_accuracy", (double)s->ep_correct / seen, "precision",
        s->o->precision, "train_images", s->split[TR_TRAIN].n,
        "val_images", s->split[TR_VAL].n, "skipped_images", (json_int_t)s->skipped, "metrics",
        report_json(s, val), "config", tr_opts_config(s->o));
    char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(j);
    return txt;
}

/* "sources:" lines: images per class from each --train/--val folder. */
static size_t source_table(const tr_session *s, char *buf, size_t n, size_t l)
{
    const tr_opts *o = s->o;
    const char *lists[2] = {o->train_dir, o->val_dir};
    int nc = s->mi.classes.n;
    if (o->data_root || !lists[0] || !lists[1])
        return l;
    l += (size_t)snprintf(buf + l, n - l, "sources:\n");
    for (int k = 0; k < 2 && l < n; k++) {
        int nsrc = tr_sources_count(lists[k]);
        int *cnt = calloc((size_t)nsrc * (size_t)nc, sizeof *cnt);
        if (!cnt)
            return l;
        tr_split_source_counts(&s->split[k], lists[k], nc, cnt);
        char dir[PATH_MAX];
        for (int i = 0; i < nsrc && l < n; i++) {
            if (tr_source_get(lists[k], i, dir, sizeof dir))
                continue;
            l += (size_t)snprintf(buf + l, n - l, "  %s %s:", k_split_names[k], dir);
            for (int c = 0; c < nc && l < n; c++)
                if (cnt[i * nc + c])
                    l += (size_t)snprintf(buf + l, n - l, " %s %d", s->mi.classes.names[c],
                                          cnt[i * nc + c]);
            if (l < n)
                l += (size_t)snprintf(buf + l, n - l, "\n");
        }
        free(cnt);
    }
    return l;
}

void tr_session_summary(const tr_session *s, char *buf, size_t n)
{
    const tr_opts *o = s->o;
    size_t l = 0, params = 0;
    for (int i = 0; i < s->p.n; i++)
        if (tr_kind_trainable(s->p.p[i].kind))
            params += s->p.p[i].numel;
    char avg[96] = "no weight average", aug[64], sched[96];
    if (o->ema > 0)
        snprintf(avg, sizeof avg, "weight average decay %g", o->ema);
    else if (o->average_from > 0 && o->average_lr > 0)
        snprintf(avg, sizeof avg, "uniform weight average of epochs %d-%d at lr %g",
                 o->average_from, o->epochs, o->average_lr);
    else if (o->average_from > 0)
        snprintf(avg, sizeof avg, "uniform weight average of epochs %d-%d", o->average_from,
                 o->epochs);
    /* --average-lr replaces the schedule in the averaged epochs */
    if (o->average_from > 1 && o->average_lr > 0)
        snprintf(sched, sizeof sched, "warm-up %d epochs, cosine; %g from epoch %d on",
                 o->warmup_epochs, o->average_lr, o->average_from);
    else if (o->average_from == 1 && o->average_lr > 0)
        snprintf(sched, sizeof sched, "not used: %g throughout", o->average_lr);
    else
        snprintf(sched, sizeof sched, "warm-up %d epochs, cosine", o->warmup_epochs);
    if (o->mixup > 0)
        snprintf(aug, sizeof aug, "%s, mixup alpha %g", o->no_augment ? "no augmentation" : "augmented",
                 o->mixup);
    else
        snprintf(aug, sizeof aug, "%s", o->no_augment ? "no augmentation" : "augmented");
    l += (size_t)snprintf(buf + l, n - l, "classes:");
    for (int c = 0; c < s->mi.classes.n && l < n; c++) {
        int cnt[3] = {0, 0, 0};
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < s->split[k].n; i++)
                cnt[k] += s->split[k].items[i].label == c;
        l += (size_t)snprintf(buf + l, n - l, " %s (%d/%d/%d)", s->mi.classes.names[c], cnt[0],
                              cnt[1], cnt[2]);
    }
    if (l >= n)
        return;
    l += (size_t)snprintf(buf + l, n - l, "  [train/val/test]\n");
    l = source_table(s, buf, n, l);
    if (l >= n)
        return;
    l += (size_t)snprintf(
        buf + l, n - l,
        "images: %d train, %d val, %d test, %ld unreadable skipped\n"
        "model: %s%s, %d px, %d channel%s, mean %.3f std %.3f, %zu parameters\n"
        "training: %d epochs x %d iterations, batch %d, lr %g (%s), "
        "momentum %g, weight decay %g%s, label smoothing %g, class weights %s, %s, %s, %s, seed %ld\n"
        "processes: %d (%d images of every batch each)\n",
        s->split[0].n, s->split[1].n, s->split[2].n, s->skipped, s->arch.name,
        s->arch.block == CC_BLOCK_BASIC ? " (basic)" : " (bottleneck)", s->mi.input_size,
        s->mi.in_channels, s->mi.in_channels > 1 ? "s" : "", s->mi.mean[0], s->mi.std[0],
        params, o->epochs, s->iters_per_epoch, o->batch, o->lr, sched,
        o->momentum, o->weight_decay, o->decay_all ? " (all)" : "", o->label_smoothing,
        o->class_weights, avg, aug,
        s->o->precision, o->seed, tr_session_world(s),
        o->batch / tr_session_world(s));
}
