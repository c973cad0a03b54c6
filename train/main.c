/* covidcam-train: train a ResNet chest X-ray classifier on oneDNN. */
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tr_bench.h"
#include "tr_eval.h"
#include "tr_ood.h"
#include "tr_session.h"
#include "tr_util.h"

/* Set by SIGINT/SIGTERM; the training loop checkpoints and returns. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    g_stop = 1;
    /* A second Ctrl-C kills at once. */
    signal(sig, SIG_DFL);
}

/* The command line as one string, for the model's training metadata. */
static char *command_line(int argc, char **argv)
{
    size_t n = 1;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) + 3;
    char *s = malloc(n), *p = s;
    for (int i = 0; s && i < argc; i++) {
        int quote = strchr(argv[i], ' ') != NULL;
        p += sprintf(p, "%s%s%s%s", i ? " " : "", quote ? "'" : "", argv[i], quote ? "'" : "");
    }
    return s;
}

/* Move a split out of the session, which frees what it still holds. */
static void take_split(tr_split *from, tr_split *to)
{
    *to = *from;
    memset(from, 0, sizeof *from);
}

/* A failure on one of several processes ends them all (the others may be
 * waiting for it in a collective), after saying which one failed. */
static int failed(tr_dist *d, const cc_err *e)
{
    if (d->size <= 1) {
        fprintf(stderr, "covidcam-train: %s\n", e->msg);
        return 1;
    }
    fprintf(stderr, "covidcam-train (process %d of %d): %s\n", d->rank, d->size, e->msg);
    fflush(stderr);
    tr_dist_abort(d, 1);
}

/* After training: the out-of-distribution fit and the test split, on rank 0
 * alone (they read files through the library, with no collectives). */
static covidcam_status finish(tr_opts *o, const char *model, tr_split *fit_train,
                              tr_split *fit_val, tr_split *test, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    if (fit_train->n > 0) {
        tr_ood_result r;
        st = tr_ood_fit(model, fit_train, fit_val, o->threads, &r, e);
        if (!st)
            printf("\nout-of-distribution statistics: fitted on %ld training images, threshold "
                   "%.4g (99th percentile of %ld validation scores)%s\n",
                   r.fitted, r.threshold, r.scored, r.skipped ? "; unreadable images skipped" : "");
        else
            cc_err_prefix(e, "%s", "out-of-distribution fit");
    }
    if (!st && test->n > 0) {
        tr_test_out t;
        printf("\nbest model on the test split:\n");
        st = tr_test_model(o, model, NULL, test, &t, e);
    }
    return st;
}

static int train(tr_opts *o, const char *cmd, tr_dist *d)
{
    tr_session s;
    tr_result res;
    cc_err e = {{0}};
    covidcam_status st = tr_session_open_dist(&s, o, cmd, &g_stop, d, &e);
    if (!st) {
        char summary[4096];
        tr_session_summary(&s, summary, sizeof summary);
        if (tr_dist_root(d))
            printf("%s", summary);
        fflush(stdout);
        st = tr_train_run(&s, &res, &e);
    }
    if (st) {
        tr_session_close(&s);
        return failed(d, &e);
    }
    int done = !res.interrupted && s.have_best && tr_dist_root(d);
    char model[4096];
    snprintf(model, sizeof model, "%s", s.out_model);
    /* The session's networks go before the library's sessions come. */
    tr_split test = {0}, fit_train = {0}, fit_val = {0};
    if (done)
        take_split(&s.split[TR_TEST], &test);
    if (done && !o->no_ood) {
        take_split(&s.split[TR_TRAIN], &fit_train);
        take_split(&s.split[TR_VAL], &fit_val);
    }
    tr_session_close(&s);
    /* The other processes are done: let them go rather than wait (and spin)
     * in MPI_Finalize while rank 0 works alone. */
    tr_dist_finalize(d);
    st = finish(o, model, &fit_train, &fit_val, &test, &e);
    tr_split_free(&fit_train);
    tr_split_free(&fit_val);
    tr_split_free(&test);
    if (st)
        return failed(d, &e);
    return res.interrupted ? 130 : 0;
}

/* OpenMP threads that finish a parallel region spin, waiting for the next
 * one; on a machine shared with other jobs the spinning steals the cores the
 * other threads need, and training runs several times slower (measured on
 * the 2-core build machine: 5.1 s vs 3.8 s per ResNet-18 iteration). The
 * runtime reads OMP_WAIT_POLICY when it loads, before main(), so the only way
 * to change the default is to run again with it set. An explicit
 * OMP_WAIT_POLICY is respected. */
static void prefer_passive_wait(char **argv)
{
    if (getenv("OMP_WAIT_POLICY"))
        return;
    /* The executable's real path rather than /proc/self/exe, so that the
     * process keeps its name (ps, pgrep, mpirun's messages). */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return;
    self[n] = 0;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv(self, argv);
    /* If that failed, train with the default policy. */
}

int main(int argc, char **argv)
{
    tr_opts o;
    cc_err e = {{0}};
    /* First, so that the options (and their notes) are read once. */
    prefer_passive_wait(argv);
    if (tr_opts_parse(&o, argc, argv, &e) != COVIDCAM_OK) {
        fprintf(stderr, "covidcam-train: %s\n", e.msg);
        return 2;
    }
    if (o.mode == TR_MODE_HELP) {
        tr_opts_help(stdout, "covidcam-train");
        return 0;
    }
    if (o.mode == TR_MODE_VERSION) {
        /* the trainer is built with the library, so one version names both */
        printf("covidcam-train (libcovidcam %s)\n", covidcam_version());
        return 0;
    }
    if (o.threads > 0)
        omp_set_num_threads(o.threads);
    if (o.mode == TR_MODE_BENCH) {
        tr_dist d;
        if (tr_dist_init(&d, &argc, &argv, &e) || tr_bench(&o, &d, &e))
            return failed(&d, &e);
        tr_dist_finalize(&d);
        return 0;
    }
    if (o.mode == TR_MODE_TEST) {
        char path[4096];
        tr_test_out t;
        if (!o.model_path)
            tr_path(path, sizeof path, o.out_dir, "best.safetensors");
        if (tr_test_model(&o, o.model_path ? o.model_path : path, o.test_dir, NULL, &t, &e) ==
            COVIDCAM_OK)
            return 0;
        fprintf(stderr, "covidcam-train: %s\n", e.msg);
        return 1;
    }
    tr_dist d;
    if (tr_dist_init(&d, &argc, &argv, &e) != COVIDCAM_OK) {
        fprintf(stderr, "covidcam-train: %s\n", e.msg);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    char *cmd = command_line(argc, argv);
    int rc = train(&o, cmd ? cmd : "covidcam-train", &d);
    free(cmd);
    tr_dist_finalize(&d);
    return rc;
}
