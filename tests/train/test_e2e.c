/* End-to-end runs of the trainer on small generated image trees: a tiny model
 * overfits a tiny set; an interrupted and resumed run ends with the same
 * weights as an uninterrupted one; the saved model loads in the library and
 * gives the validation accuracy the trainer reported; --select picks the
 * epoch its rule names from the recorded validation curve; the OOD fit after
 * training writes class means equal to the library's features averaged here,
 * and a threshold that flags the expected share of validation images. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "covidcam.h"
#include "file_io.h"
#include "safetensors.h"
#include "safetensors_write.h"
#include "test_util.h"
#include "train_util.h"
#include "tr_dataset.h"
#include "tr_eval.h"
#include "tr_io.h"
#include "tr_ood.h"
#include "tr_session.h"

#define OK(call)                                                                             \
    do {                                                                                     \
        covidcam_status ok_s_ = (call);                                                      \
        if (ok_s_ != COVIDCAM_OK)                                                            \
            fail_msg("%s -> %d: %s", #call, (int)ok_s_, e.msg);                              \
    } while (0)

static const char *g_data; /* train/ and val/ trees shared by the tests */
static const volatile sig_atomic_t g_never = 0;

static int setup(void **state)
{
    (void)state;
    static char data[64]; /* tt_tempdir's buffers are reused after eight calls */
    snprintf(data, sizeof data, "%s", tt_tempdir());
    g_data = data;
    char train[4096], val[4096];
    snprintf(train, sizeof train, "%s/train", g_data);
    snprintf(val, sizeof val, "%s/val", g_data);
    static const char *cls[3] = {"A", "B", "C"};
    for (int c = 0; c < 3; c++) {
        tt_write_class(train, cls[c], c, 12, 28, 100 + (uint64_t)c);
        tt_write_class(val, cls[c], c, 4, 28, 200 + (uint64_t)c);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tt_rmtree(g_data);
    return 0;
}

/* Parse a command line (space separated, %s = the data folder, %o = out). */
static void opts(tr_opts *o, const char *out, const char *fmt)
{
    static char buf[4096];
    char *argv[64];
    int argc = 0;
    cc_err e;
    size_t l = 0;
    for (const char *p = fmt; *p && l < sizeof buf - 1; p++) {
        if (p[0] == '%' && (p[1] == 's' || p[1] == 'o')) {
            l += (size_t)snprintf(buf + l, sizeof buf - l, "%s", p[1] == 's' ? g_data : out);
            p++;
        } else {
            buf[l++] = *p;
        }
    }
    buf[l] = '\0';
    argv[argc++] = "covidcam-train";
    for (char *t = strtok(buf, " "); t && argc < 64; t = strtok(NULL, " "))
        argv[argc++] = t;
    OK(tr_opts_parse(o, argc, argv, &e));
}

/* fp32 pinned: the expectations below are fp32 numbers, and auto is bf16 on
 * CPUs with native bf16. */
static const char *k_tiny = "--train %s/train --val %s/val --out %o --arch resnet --block basic "
                            "--layers 1,1 --widths 8,16 --stem-width 8 --input-size 32 "
                            "--input-channels 1 --batch-size 6 --lr 0.05 --warmup-epochs 1 "
                            "--workers 2 --seed 3 --precision fp32";

static void run(tr_opts *o, tr_result *res)
{
    tr_session s;
    cc_err e;
    OK(tr_session_open(&s, o, "test", &g_never, &e));
    OK(tr_train_run(&s, res, &e));
    tr_session_close(&s);
}

static void test_overfit(void **state)
{
    (void)state;
    const char *out = tt_tempdir();
    char cmd[1024], model[4096], train[4096];
    tr_opts o;
    tr_result res;
    cc_err e;
    snprintf(cmd, sizeof cmd, "%s --epochs 8 --no-augment", k_tiny);
    opts(&o, out, cmd);
    run(&o, &res);
    assert_int_equal(res.epochs_done, 8);
    assert_false(res.interrupted);
    assert_true(res.last_train_acc == 1.0);
    /* The best model classifies every training image correctly too. */
    tr_test_out t;
    snprintf(model, sizeof model, "%s/best.safetensors", out);
    snprintf(train, sizeof train, "%s/train", g_data);
    OK(tr_test_model(&o, model, train, NULL, &t, &e));
    assert_true(t.accuracy == 1.0);
    tt_rmtree(out);
}

/* Every tensor of two files, exactly equal. */
static void same_tensors(const char *a, const char *b)
{
    tr_file fa, fb;
    cc_err e;
    OK(tr_file_read(a, &fa, &e));
    OK(tr_file_read(b, &fb, &e));
    assert_int_equal(fa.st.num_tensors, fb.st.num_tensors);
    for (size_t i = 0; i < fa.st.num_tensors; i++) {
        const cc_st_tensor *x = &fa.st.tensors[i], *y = cc_st_find(&fb.st, x->name);
        assert_non_null(y);
        assert_int_equal(x->nbytes, y->nbytes);
        if (strncmp(x->name, "history.", 8) == 0)
            continue; /* wall-clock columns differ */
        if (memcmp(x->data, y->data, x->nbytes) != 0)
            fail_msg("%s differs between the runs", x->name);
    }
    tr_file_free(&fa);
    tr_file_free(&fb);
}

/* File `name` of run folders da and db: every tensor exactly equal. */
static void same_file(const char *da, const char *db, const char *name)
{
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/%s", da, name);
    snprintf(b, sizeof b, "%s/%s", db, name);
    same_tensors(a, b);
}

static void test_resume(void **state)
{
    (void)state;
    const char *straight = tt_tempdir(), *stopped = tt_tempdir();
    char cmd[1024], b[4096];
    tr_opts o;
    tr_result res;
    snprintf(cmd, sizeof cmd, "%s --epochs 3", k_tiny);
    opts(&o, straight, cmd);
    run(&o, &res);
    assert_false(res.interrupted);
    /* 36 images / batch 6 = 6 iterations per epoch: stop in epoch 2... */
    opts(&o, stopped, cmd);
    o.stop_after = 8;
    run(&o, &res);
    assert_true(res.interrupted);
    /* ...then resume with only --out: the configuration comes from the checkpoint. */
    opts(&o, stopped, "--resume --out %o --workers 3");
    run(&o, &res);
    assert_false(res.interrupted);
    assert_int_equal(res.epochs_done, 3);
    same_file(straight, stopped, "checkpoint.safetensors");
    same_file(straight, stopped, "best.safetensors");
    /* The history has every iteration once: 3 epochs x 6. */
    tr_file f;
    tr_history h = {0};
    cc_err e;
    snprintf(b, sizeof b, "%s/checkpoint.safetensors", stopped);
    OK(tr_file_read(b, &f, &e));
    OK(tr_file_history(&f, &h, &e));
    assert_int_equal(h.nit, 18);
    assert_int_equal(h.nep, 3);
    for (long i = 0; i < h.nit; i++)
        assert_true(h.it[i * TH_IT_COLS + TH_IT_ITER] == (float)(i + 1));
    tr_history_free(&h);
    tr_file_free(&f);
    tt_rmtree(straight);
    tt_rmtree(stopped);
}

/* Training again into an earlier run's --out is refused unless --resume or
 * --force; --force replaces it. */
static void test_refuse_overwrite(void **state)
{
    (void)state;
    const char *out = tt_tempdir();
    char cmd[1024], model[4096];
    tr_opts o;
    tr_result res;
    tr_session s;
    cc_err e;
    snprintf(cmd, sizeof cmd, "%s --epochs 2", k_tiny);
    opts(&o, out, cmd);
    run(&o, &res);
    snprintf(model, sizeof model, "%s/best.safetensors", out);
    size_t before = 0;
    unsigned char *old = tu_read_file(model, &before);
    assert_non_null(old);
    opts(&o, out, cmd);
    assert_int_equal(tr_session_open(&s, &o, "test", &g_never, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    tr_session_close(&s);
    assert_non_null(strstr(e.msg, "best.safetensors"));
    assert_non_null(strstr(e.msg, "--force"));
    size_t after = 0;
    unsigned char *same = tu_read_file(model, &after);
    assert_int_equal(before, after);
    assert_memory_equal(old, same, before);
    free(same);
    snprintf(cmd, sizeof cmd, "%s --epochs 2 --force --seed 9", k_tiny);
    opts(&o, out, cmd);
    run(&o, &res);
    unsigned char *fresh = tu_read_file(model, &after);
    assert_non_null(fresh);
    assert_true(after != before || memcmp(old, fresh, before) != 0);
    free(fresh);
    free(old);
    tt_rmtree(out);
}

/* The best model in the library: same validation accuracy as the trainer
 * recorded in the model's training metadata. */
/* The "training" metadata of a saved model, as JSON (caller frees). */
static json_t *training_of(const char *path)
{
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE];
    if (covidcam_model_load(path, &m, err, sizeof err) != COVIDCAM_OK)
        fail_msg("covidcam_model_load: %s", err);
    json_t *tj = json_loads(covidcam_model_metadata(m, "training"), 0, NULL);
    covidcam_model_free(m);
    assert_non_null(tj);
    return tj;
}

/* Two columns of the epoch rows of OUT/metrics.csv, by their 0-based index
 * in its header (6, 7: val_loss, val_accuracy; 10, 11: the weight average's,
 * NaN where empty). */
static int read_columns(const char *out, int cl, int ca, double *loss, double *acc, int max)
{
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/metrics.csv", out);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        if (strncmp(line, "epoch,", 6) != 0)
            continue;
        int col = 0, got = 0;
        for (char *p = line; p && *p; col++) {
            if (col == 1)
                assert_int_equal(atoi(p), n + 1);
            if (col == cl || col == ca) {
                char *end = p;
                double v = NAN; /* an empty field: no weight average that epoch */
                if (*p != ',' && *p != '\n') {
                    v = strtod(p, &end);
                    assert_true(end != p); /* the column holds a number */
                }
                *(col == cl ? &loss[n] : &acc[n]) = v;
                got++;
            }
            p = strchr(p, ',');
            p = p ? p + 1 : NULL;
        }
        assert_int_equal(got, 2);
        n++;
    }
    fclose(f);
    return n;
}

static int read_curve(const char *out, double *loss, double *acc, int max)
{
    return read_columns(out, 6, 7, loss, acc, max);
}

/* best.safetensors is the epoch the --select rule names from the curve in
 * metrics.csv (first of equals); last.safetensors is always the final epoch. */
static void check_select(const char *rule)
{
    const char *out = tt_tempdir();
    char cmd[1024], path[4096];
    double loss[8], acc[8];
    tr_opts o;
    tr_result res;
    snprintf(cmd, sizeof cmd, "%s --epochs 5 --lr 0.2 --select %s", k_tiny, rule);
    opts(&o, out, cmd);
    run(&o, &res);
    int n = read_curve(out, loss, acc, 8), want = 0;
    assert_int_equal(n, 5);
    for (int i = 1; i < n; i++)
        if (strcmp(rule, "loss") == 0 ? loss[i] < loss[want] : acc[i] > acc[want])
            want = i;
    snprintf(path, sizeof path, "%s/best.safetensors", out);
    json_t *tj = training_of(path);
    assert_int_equal(json_integer_value(json_object_get(tj, "epoch")), want + 1);
    assert_float_equal(json_number_value(json_object_get(tj, "val_loss")), loss[want], 1e-5);
    json_decref(tj);
    snprintf(path, sizeof path, "%s/last.safetensors", out);
    tj = training_of(path);
    assert_int_equal(json_integer_value(json_object_get(tj, "epoch")), 5);
    json_decref(tj);
    tt_rmtree(out);
}

static void test_select(void **state)
{
    (void)state;
    check_select("loss");
    check_select("accuracy");
}

/* Whether tensor `name` holds the same bytes in two files. */
static int same_tensor(const char *a, const char *b, const char *name)
{
    tr_file fa, fb;
    cc_err e;
    OK(tr_file_read(a, &fa, &e));
    OK(tr_file_read(b, &fb, &e));
    const cc_st_tensor *x = cc_st_find(&fa.st, name), *y = cc_st_find(&fb.st, name);
    assert_non_null(x);
    assert_non_null(y);
    int same = x->nbytes == y->nbytes && memcmp(x->data, y->data, x->nbytes) == 0;
    tr_file_free(&fa);
    tr_file_free(&fb);
    return same;
}

/* The 3-epoch run `cmd` straight into `straight`, and stopped after
 * `stop_after` iterations then resumed into `stopped`. `keep_last`: where the
 * stopped run's last.safetensors is moved before the resume (NULL: left).
 * Leaves the resume's options in *o. */
static void straight_and_resumed(const char *cmd, const char *straight, const char *stopped,
                                 long stop_after, const char *keep_last, tr_opts *o)
{
    tr_result res;
    char last[4096];
    opts(o, straight, cmd);
    run(o, &res);
    opts(o, stopped, cmd);
    o->stop_after = stop_after;
    run(o, &res);
    assert_true(res.interrupted);
    if (keep_last) {
        snprintf(last, sizeof last, "%s/last.safetensors", stopped);
        assert_int_equal(rename(last, keep_last), 0);
    }
    opts(o, stopped, "--resume --out %o");
    run(o, &res);
    assert_int_equal(res.epochs_done, 3);
}

/* --ema: a stopped and resumed run equals a straight one (the average is in
 * the checkpoint); best.safetensors is the average (not the trained weights
 * of last.safetensors) of the epoch with the lowest average validation loss
 * in metrics.csv, and the library classifies val as its metadata says. */
static void test_average(void **state)
{
    (void)state;
    const char *straight = tt_tempdir(), *stopped = tt_tempdir();
    char cmd[1024], a[4096], b[4096], val[4096];
    double loss[4], acc[4];
    tr_opts o;
    cc_err e;
    snprintf(cmd, sizeof cmd, "%s --epochs 3 --ema 0.8", k_tiny);
    straight_and_resumed(cmd, straight, stopped, 8, NULL, &o);
    same_file(straight, stopped, "checkpoint.safetensors");
    same_file(straight, stopped, "best.safetensors");
    snprintf(a, sizeof a, "%s/best.safetensors", straight);

    int n = read_columns(straight, 10, 11, loss, acc, 4), want = 0;
    assert_int_equal(n, 3);
    for (int i = 1; i < n; i++)
        if (loss[i] < loss[want])
            want = i;
    json_t *tj = training_of(a);
    assert_string_equal(json_string_value(json_object_get(tj, "weights")), "average");
    assert_int_equal(json_integer_value(json_object_get(tj, "epoch")), want + 1);
    assert_float_equal(json_number_value(json_object_get(tj, "val_loss")), loss[want], 1e-5);
    json_decref(tj);
    snprintf(val, sizeof val, "%s/val", g_data);
    tr_test_out t;
    OK(tr_test_model(&o, a, val, NULL, &t, &e));
    assert_float_equal(t.accuracy, acc[want], 1e-6);
    /* the checkpoint's average of the last epoch is what best.safetensors
     * holds when that epoch won; the trained weights are something else */
    snprintf(b, sizeof b, "%s/last.safetensors", straight);
    assert_false(same_tensor(a, b, "conv1.weight"));
    tj = training_of(b);
    assert_string_equal(json_string_value(json_object_get(tj, "weights")), "trained");
    json_decref(tj);
    tt_rmtree(straight);
    tt_rmtree(stopped);
}

/* A float tensor of a model file, copied (n floats). */
static float *tensor_of(const char *path, const char *name, size_t n)
{
    tr_file f;
    cc_err e;
    OK(tr_file_read(path, &f, &e));
    const cc_st_tensor *t = cc_st_find(&f.st, name);
    assert_non_null(t);
    assert_int_equal(t->nbytes, n * sizeof(float));
    float *v = malloc(t->nbytes);
    assert_non_null(v);
    memcpy(v, t->data, t->nbytes);
    tr_file_free(&f);
    return v;
}

/* Per-channel mean over the training images and output positions of
 * conv1 (7 x 7, stride 2, pad 3, no bias) with weights w: what bn1's
 * running mean is after re-estimation over equal batches. Direct loops in
 * double over the loader's own images (no augmentation). */
static void conv1_means(tr_session *s, const float *w, int oc, double *mean)
{
    cc_err e;
    int size = s->net.size, out = (size + 2 * 3 - 7) / 2 + 1, images = 0;
    memset(mean, 0, (size_t)oc * sizeof *mean);
    OK(tr_loader_start(s->train_ld, 0, 0, &e));
    for (int it = 0; it < s->iters_per_epoch; it++) {
        const tr_batch *b = NULL;
        OK(tr_loader_next(s->train_ld, &b, &e));
        for (int n = 0; n < s->net.batch; n++, images++) {
            const float *x = b->x + (size_t)n * size * size;
            for (int o = 0; o < oc; o++)
                for (int oy = 0; oy < out; oy++)
                    for (int ox = 0; ox < out; ox++) {
                        double v = 0;
                        for (int ky = 0; ky < 7; ky++)
                            for (int kx = 0; kx < 7; kx++) {
                                int iy = oy * 2 - 3 + ky, ix = ox * 2 - 3 + kx;
                                if (iy >= 0 && iy < size && ix >= 0 && ix < size)
                                    v += (double)w[o * 49 + ky * 7 + kx] * x[iy * size + ix];
                            }
                        mean[o] += v;
                    }
        }
        tr_loader_release(s->train_ld);
    }
    for (int o = 0; o < oc; o++)
        mean[o] /= (double)images * out * out;
}

/* --average-from 2 of 3 epochs: best.safetensors is the mean of the trained
 * weights after epochs 2 and 3 (last.safetensors of a run stopped after
 * epoch 2, and of the whole run); its bn1 running mean is conv1's output mean
 * over the training split with those averaged weights; a stopped and resumed
 * run ends bit for bit as a straight one; the library classifies val with it
 * as the trainer reported for the average. */
static void test_uniform_average(void **state)
{
    (void)state;
    const char *straight = tt_tempdir(), *stopped = tt_tempdir(), *probe = tt_tempdir();
    char cmd[1024], a[4096], b[4096], w2path[4096], val[4096];
    double loss[4], acc[4];
    tr_opts o;
    tr_session s;
    cc_err e;
    snprintf(cmd, sizeof cmd, "%s --epochs 3 --average-from 2 --average-lr 0.02 --no-augment",
             k_tiny);
    snprintf(w2path, sizeof w2path, "%s/epoch2.safetensors", probe);
    /* 36 images in batches of 6: iteration 12 ends epoch 2 */
    straight_and_resumed(cmd, straight, stopped, 12, w2path, &o);
    same_file(straight, stopped, "best.safetensors");
    snprintf(a, sizeof a, "%s/best.safetensors", straight);

    size_t nw = 8 * 1 * 7 * 7;
    snprintf(b, sizeof b, "%s/last.safetensors", straight);
    float *w2 = tensor_of(w2path, "conv1.weight", nw), *w3 = tensor_of(b, "conv1.weight", nw);
    float *avg = tensor_of(a, "conv1.weight", nw), *rm = tensor_of(a, "bn1.running_mean", 8);
    float *raw_rm = tensor_of(b, "bn1.running_mean", 8);
    for (size_t i = 0; i < nw; i++)
        assert_float_equal(avg[i], 0.5 * ((double)w2[i] + w3[i]), 1e-6);
    opts(&o, probe, cmd);
    OK(tr_session_open(&s, &o, "test", &g_never, &e));
    double want[8];
    conv1_means(&s, avg, 8, want);
    char summary[4096];
    tr_session_summary(&s, summary, sizeof summary); /* the schedule as --average-lr made it */
    assert_non_null(strstr(summary, "lr 0.05 (warm-up 1 epochs, cosine; 0.02 from epoch 2 on)"));
    tr_session_close(&s);
    int differs = 0;
    for (int c = 0; c < 8; c++) {
        assert_float_equal(rm[c], want[c], 1e-4 * (1 + fabs(want[c])));
        differs |= fabs(raw_rm[c] - want[c]) > 1e-3 * (1 + fabs(want[c]));
    }
    assert_true(differs); /* the trained weights' running mean is something else */

    int n = read_columns(straight, 10, 11, loss, acc, 4);
    assert_int_equal(n, 3);
    assert_true(isnan(loss[0]) && !isnan(loss[1]) && !isnan(loss[2]));
    json_t *tj = training_of(a);
    assert_string_equal(json_string_value(json_object_get(tj, "weights")), "average");
    assert_int_equal(json_integer_value(json_object_get(tj, "epoch")), 3);
    assert_float_equal(json_number_value(json_object_get(tj, "val_loss")), loss[2], 1e-5);
    json_decref(tj);
    snprintf(val, sizeof val, "%s/val", g_data);
    tr_test_out t;
    OK(tr_test_model(&o, a, val, NULL, &t, &e));
    assert_float_equal(t.accuracy, acc[2], 1e-6);
    free(w2);
    free(w3);
    free(avg);
    free(rm);
    free(raw_rm);
    tt_rmtree(straight);
    tt_rmtree(stopped);
    tt_rmtree(probe);
}

/* --mixup: a stopped and resumed run ends bit for bit as a straight one (its
 * lambdas are keyed by iteration); the blending changes the training (the
 * same run without it ends elsewhere); alpha is in the model's recorded
 * configuration. */
static void test_mixup(void **state)
{
    (void)state;
    const char *straight = tt_tempdir(), *stopped = tt_tempdir(), *plain = tt_tempdir();
    char cmd[1024], a[4096], b[4096];
    tr_opts o;
    tr_result res;
    snprintf(cmd, sizeof cmd, "%s --epochs 3 --mixup 0.4", k_tiny);
    straight_and_resumed(cmd, straight, stopped, 8, NULL, &o);
    same_file(straight, stopped, "checkpoint.safetensors");
    snprintf(cmd, sizeof cmd, "%s --epochs 3", k_tiny);
    opts(&o, plain, cmd);
    run(&o, &res);
    snprintf(a, sizeof a, "%s/last.safetensors", straight);
    snprintf(b, sizeof b, "%s/last.safetensors", plain);
    assert_false(same_tensor(a, b, "conv1.weight"));
    json_t *tj = training_of(a);
    json_t *cfg = json_object_get(tj, "config");
    assert_non_null(cfg);
    assert_float_equal(json_number_value(json_object_get(cfg, "mixup")), 0.4, 1e-12);
    json_decref(tj);
    tt_rmtree(straight);
    tt_rmtree(stopped);
    tt_rmtree(plain);
}

/* A copy of model file `src` at `dst` with metadata key set to value
 * (tensors written as F32). */
static void copy_with_meta(const char *src, const char *dst, const char *key, const char *value)
{
    tr_file f;
    cc_stw *w = NULL;
    cc_err e;
    OK(tr_file_read(src, &f, &e));
    OK(cc_stw_create(&w, &e));
    /* aligned copies of the file's data, alive until the write */
    size_t total = 0, at = 0;
    for (size_t i = 0; i < f.st.num_tensors; i++)
        total += cc_st_numel(&f.st.tensors[i]);
    float *v = malloc(total * sizeof *v + 1);
    assert_non_null(v);
    for (size_t i = 0; i < f.st.num_tensors; i++) {
        const cc_st_tensor *t = &f.st.tensors[i];
        cc_st_to_f32(t, v + at);
        OK(cc_stw_add_f32(w, t->name, t->ndim, t->shape, v + at, &e));
        at += cc_st_numel(t);
    }
    for (size_t i = 0; i < f.st.num_meta; i++)
        OK(cc_stw_add_meta(w, f.st.meta[i].key, f.st.meta[i].value, &e));
    OK(cc_stw_add_meta(w, key, value, &e));
    OK(cc_stw_write_file(w, dst, &e));
    cc_stw_free(w);
    free(v);
    tr_file_free(&f);
}

/* --test on a calibrated model: the raw logits' loss as without the
 * temperature, and beside it the mean -log of the probabilities the library
 * reports (computed here from covidcam_classify_file's probabilities). */
static void test_test_temperature(void **state)
{
    (void)state;
    const char *out = tt_tempdir();
    char cmd[1024], model[4096], cal[4096], val[4096], dir[4200];
    tr_opts o;
    tr_result res;
    tr_test_out raw, t;
    cc_err e;
    snprintf(cmd, sizeof cmd, "%s --epochs 2 --no-ood", k_tiny);
    opts(&o, out, cmd);
    run(&o, &res);
    snprintf(model, sizeof model, "%s/best.safetensors", out);
    snprintf(cal, sizeof cal, "%s/calibrated.safetensors", out);
    copy_with_meta(model, cal, "temperature", "0.5");
    snprintf(val, sizeof val, "%s/val", g_data);
    OK(tr_test_model(&o, model, val, NULL, &raw, &e));
    OK(tr_test_model(&o, cal, val, NULL, &t, &e));
    assert_float_equal(raw.temperature, 1.0, 0);
    assert_true(raw.cal_loss == raw.loss);
    assert_float_equal(t.temperature, 0.5, 0);
    assert_true(t.loss == raw.loss && t.accuracy == raw.accuracy);

    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE];
    if (covidcam_model_load(cal, &m, err, sizeof err) != COVIDCAM_OK ||
        covidcam_session_create(m, NULL, &s, err, sizeof err) != COVIDCAM_OK)
        fail_msg("%s", err);
    double nll = 0;
    int total = 0;
    for (int c = 0; c < 3; c++) {
        char *files[16];
        snprintf(dir, sizeof dir, "%s/%s", val, covidcam_model_class_name(m, c));
        int n = tu_list_pngs(dir, files, 16);
        for (int i = 0; i < n; i++) {
            float p[3];
            assert_int_equal(covidcam_classify_file(s, files[i], p, NULL, 3, NULL), COVIDCAM_OK);
            nll -= log((double)p[c]);
            total++;
            free(files[i]);
        }
    }
    assert_int_equal(total, 12);
    assert_float_equal(t.cal_loss, nll / total, 1e-5 * (1 + nll / total));
    assert_true(fabs(t.cal_loss - t.loss) > 1e-3); /* the temperature changed it */
    covidcam_session_free(s);
    covidcam_model_free(m);
    tt_rmtree(out);
}

/* --class-weights balanced: N / (K n_c) of the training split; on classes
 * of equal size (every weight 1, no smoothing) it trains bit for bit as none. */
static void test_class_weights(void **state)
{
    (void)state;
    const char *none = tt_tempdir(), *bal = tt_tempdir(), *data = tt_tempdir();
    char cmd[2048], train[512], val[512];
    tr_opts o;
    tr_result res;
    tr_session s;
    cc_err e;
    snprintf(cmd, sizeof cmd, "%s --epochs 2", k_tiny);
    opts(&o, none, cmd);
    run(&o, &res);
    snprintf(cmd, sizeof cmd, "%s --epochs 2 --class-weights balanced", k_tiny);
    opts(&o, bal, cmd);
    run(&o, &res);
    same_file(none, bal, "last.safetensors");
    /* 12, 6 and 3 training images: weights 21/36, 21/18 and 21/9 */
    snprintf(train, sizeof train, "%s/train", data);
    snprintf(val, sizeof val, "%s/val", data);
    static const int counts[3] = {12, 6, 3};
    static const char *cls[3] = {"A", "B", "C"};
    for (int c = 0; c < 3; c++) {
        tt_write_class(train, cls[c], c, counts[c], 28, 300 + (uint64_t)c);
        tt_write_class(val, cls[c], c, 2, 28, 400 + (uint64_t)c);
    }
    snprintf(cmd, sizeof cmd,
             "--train %s --val %s --out %%o --arch resnet --block basic --layers 1 --widths 8 "
             "--stem-width 8 --input-size 32 --input-channels 1 --batch-size 3 --precision fp32 "
             "--class-weights balanced",
             train, val);
    opts(&o, bal, cmd);
    o.force = 1;
    OK(tr_session_open(&s, &o, "test", &g_never, &e));
    assert_non_null(s.class_w);
    for (int c = 0; c < 3; c++)
        assert_float_equal(s.class_w[c], 21.0 / (3.0 * counts[c]), 1e-6);
    tr_session_close(&s);
    tt_rmtree(none);
    tt_rmtree(bal);
    tt_rmtree(data);
}

static void test_library_load(void **state)
{
    (void)state;
    const char *out = tt_tempdir();
    char cmd[1024], model[4096], dir[4096];
    tr_opts o;
    tr_result res;
    snprintf(cmd, sizeof cmd, "%s --epochs 4 --resize center_crop", k_tiny);
    opts(&o, out, cmd);
    run(&o, &res);
    snprintf(model, sizeof model, "%s/best.safetensors", out);
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE];
    if (covidcam_model_load(model, &m, err, sizeof err) != COVIDCAM_OK)
        fail_msg("covidcam_model_load: %s", err);
    assert_int_equal(covidcam_model_num_classes(m), 3);
    assert_string_equal(covidcam_model_class_name(m, 2), "C");
    assert_int_equal(covidcam_model_input_size(m), 32);
    assert_string_equal(covidcam_model_metadata(m, "resize"), "center_crop");
    assert_int_equal(covidcam_session_create(m, NULL, &s, err, sizeof err), COVIDCAM_OK);
    json_t *tj = json_loads(covidcam_model_metadata(m, "training"), 0, NULL);
    assert_non_null(tj);
    double want = json_number_value(json_object_get(tj, "val_accuracy"));
    assert_int_equal(json_integer_value(json_object_get(tj, "epoch")), res.best_epoch);
    json_decref(tj);
    int right = 0, total = 0;
    for (int c = 0; c < 3; c++) {
        char *files[16];
        snprintf(dir, sizeof dir, "%s/val/%s", g_data, covidcam_model_class_name(m, c));
        int n = tu_list_pngs(dir, files, 16);
        assert_int_equal(n, 4);
        for (int i = 0; i < n; i++) {
            float p[3];
            int top = -1;
            assert_int_equal(covidcam_classify_file(s, files[i], p, NULL, 3, &top), COVIDCAM_OK);
            right += top == c;
            total++;
            free(files[i]);
        }
    }
    assert_true(fabs((double)right / total - want) < 1e-9);
    assert_true(fabs(want - res.best_val_acc) < 1e-9);
    covidcam_session_free(s);
    covidcam_model_free(m);
    tt_rmtree(out);
}

/* The OOD statistics tr_ood_fit writes, against the library: the class means
 * are the averages of covidcam_session_features computed here; the threshold
 * is the 99th percentile of 12 validation scores, interpolated between the
 * two largest, so exactly one image (the farthest) is flagged. */
static void test_ood_fit(void **state)
{
    (void)state;
    const char *out = tt_tempdir();
    char cmd[1024], model[4096], roots[4096];
    tr_opts o;
    tr_result res;
    cc_err e = {{0}};
    snprintf(cmd, sizeof cmd, "%s --epochs 2", k_tiny);
    opts(&o, out, cmd);
    run(&o, &res);
    snprintf(model, sizeof model, "%s/best.safetensors", out);
    tr_classes cls;
    tr_split train, val;
    snprintf(roots, sizeof roots, "%s/train", g_data);
    OK(tr_classes_list(roots, &cls, &e));
    OK(tr_split_list(roots, &cls, 0, &train, &e));
    snprintf(roots, sizeof roots, "%s/val", g_data);
    OK(tr_split_list(roots, &cls, 0, &val, &e));
    tr_ood_result r;
    OK(tr_ood_fit(model, &train, &val, 1, &r, &e));
    assert_int_equal(r.fitted, 36);
    assert_int_equal(r.scored, 12);
    covidcam_model *m = NULL;
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE];
    if (covidcam_model_load(model, &m, err, sizeof err) != COVIDCAM_OK)
        fail_msg("reload: %s", err);
    assert_int_equal(covidcam_model_has_ood(m), 1);
    assert_non_null(covidcam_model_metadata(m, "training")); /* kept */
    assert_int_equal(covidcam_session_create(m, NULL, &s, err, sizeof err), COVIDCAM_OK);
    int nf = covidcam_model_num_features(m);
    double mean[3][64] = {{0}};
    float f[64];
    assert_true(nf <= 64);
    for (int i = 0; i < train.n; i++) {
        assert_int_equal(covidcam_classify_file(s, train.items[i].path, NULL, NULL, 0, NULL), 0);
        assert_int_equal(covidcam_session_features(s, f, 64), COVIDCAM_OK);
        for (int j = 0; j < nf; j++)
            mean[train.items[i].label][j] += f[j] / 12.0;
    }
    /* the file's means, read back through its metadata-checked loader */
    uint8_t *buf = NULL;
    size_t len = 0;
    cc_safetensors st = {0};
    OK(cc_read_file(model, 1 << 28, &buf, &len, &e));
    OK(cc_st_parse(buf, len, &st, &e));
    const cc_st_tensor *t = cc_st_find(&st, "ood.class_means");
    assert_non_null(t);
    const float *got = (const float *)(const void *)t->data;
    for (int c = 0; c < 3; c++)
        for (int j = 0; j < nf; j++)
            if (fabs(got[c * nf + j] - mean[c][j]) > 1e-4 * (1 + fabs(mean[c][j])))
                fail_msg("mean[%d][%d] = %g, expected %g", c, j, got[c * nf + j], mean[c][j]);
    cc_st_free(&st);
    free(buf);
    int flagged = 0;
    for (int i = 0; i < val.n; i++) {
        covidcam_assessment a;
        covidcam_assessment_init(&a);
        assert_int_equal(covidcam_classify_file(s, val.items[i].path, NULL, NULL, 0, NULL), 0);
        assert_int_equal(covidcam_session_assessment(s, &a), COVIDCAM_OK);
        flagged += a.ood;
    }
    assert_int_equal(flagged, 1);
    covidcam_session_free(s);
    covidcam_model_free(m);
    tr_split_free(&train);
    tr_split_free(&val);
    tr_classes_free(&cls);
    tt_rmtree(out);
}

/* --init-from: a run started from a model holds its weights (checked after an
 * epoch at a learning rate of 1e-9) and its normalisation; a model of other
 * classes gives everything but the fc layer; another architecture is refused
 * by name. */
static void test_init_from(void **state)
{
    (void)state;
    const char *a = tt_tempdir(), *b = tt_tempdir(), *c = tt_tempdir();
    char cmd[2048], model_a[128], path[256];
    tr_opts o;
    tr_result res;
    cc_err e = {{0}};
    snprintf(cmd, sizeof cmd, "%s --epochs 2", k_tiny);
    opts(&o, a, cmd);
    run(&o, &res);
    snprintf(model_a, sizeof model_a, "%s/best.safetensors", a);
    snprintf(cmd, sizeof cmd, "%s --epochs 1 --lr 1e-9 --warmup-epochs 0 --no-augment --init-from %s",
             k_tiny, model_a);
    opts(&o, b, cmd);
    run(&o, &res);
    tr_file fa = {0}, fb = {0};
    OK(tr_file_read(model_a, &fa, &e));
    snprintf(path, sizeof path, "%s/last.safetensors", b);
    OK(tr_file_read(path, &fb, &e));
    const char *names[] = {"conv1.weight", "layer2.0.conv2.weight", "fc.weight"};
    for (int k = 0; k < 3; k++) {
        const cc_st_tensor *x = cc_st_find(&fa.st, names[k]), *y = cc_st_find(&fb.st, names[k]);
        assert_non_null(x);
        assert_non_null(y);
        const float *u = (const float *)(const void *)x->data, *v = (const float *)(const void *)y->data;
        for (size_t i = 0; i < cc_st_numel(x); i++)
            if (fabsf(u[i] - v[i]) > 1e-6f)
                fail_msg("%s[%zu]: %g after init-from, %g in the source", names[k], i, v[i], u[i]);
    }
    assert_string_equal(cc_st_meta_get(&fb.st, "mean"), cc_st_meta_get(&fa.st, "mean"));
    tr_file_free(&fa);
    tr_file_free(&fb);

    /* two of the three classes: the fc layer cannot be reused, the rest is */
    char tr2[128], va2[128];
    snprintf(tr2, sizeof tr2, "%s/train", c);
    snprintf(va2, sizeof va2, "%s/val", c);
    tt_write_class(tr2, "X", 0, 12, 28, 300);
    tt_write_class(tr2, "Y", 1, 12, 28, 301);
    tt_write_class(va2, "X", 0, 4, 28, 302);
    tt_write_class(va2, "Y", 1, 4, 28, 303);
    snprintf(cmd, sizeof cmd,
             "--train %s --val %s --out %%o --arch resnet --block basic --layers 1,1 --widths 8,16 "
             "--stem-width 8 --input-size 32 --input-channels 1 --batch-size 6 --epochs 1 "
             "--warmup-epochs 0 --workers 2 --seed 3 --precision fp32 --init-from %s",
             tr2, va2, model_a);
    snprintf(path, sizeof path, "%s/out", c);
    opts(&o, path, cmd);
    run(&o, &res);
    /* another architecture */
    snprintf(cmd, sizeof cmd, "%s --epochs 1 --widths 8,8 --init-from %s", k_tiny, model_a);
    snprintf(path, sizeof path, "%s/out2", c);
    opts(&o, path, cmd);
    tr_session s;
    assert_int_equal(tr_session_open(&s, &o, "test", &g_never, &e), COVIDCAM_ERR_INVALID_ARGUMENT);
    tr_session_close(&s); /* a failed open is closed too (tr_session.h) */
    assert_non_null(strstr(e.msg, "architecture"));
    tt_rmtree(a);
    tt_rmtree(b);
    tt_rmtree(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overfit),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_refuse_overwrite),
        cmocka_unit_test(test_library_load),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_average),
        cmocka_unit_test(test_uniform_average),
        cmocka_unit_test(test_mixup),
        cmocka_unit_test(test_test_temperature),
        cmocka_unit_test(test_class_weights),
        cmocka_unit_test(test_ood_fit),
        cmocka_unit_test(test_init_from),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
