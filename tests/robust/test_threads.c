/* One model shared by 8 threads, each with its own session, classifying and
 * running Grad-CAM on different images (different layers, classes and
 * methods) for several rounds. Every result must be bit-identical to the one a
 * single thread computed first with the same session options. Where the CPU
 * computes bf16, the odd threads run bf16 sessions, created all at once on a
 * model no bf16 session has used yet, so they race to prepare its shared bf16
 * weights (the references come from another copy of the model); a third
 * test does the same with int8 sessions of a calibrated fixture. Built with
 * -Db_sanitize=thread this is also the ThreadSanitizer check (see
 * docs/security.md). Workers only record mismatches; cmocka assertions run on
 * the main thread. CC_ROBUST_ITERS sets the rounds (default 2) and
 * CC_ROBUST_SESSION_THREADS the OpenMP threads of each session (default 1; the
 * reference run uses the same, so results stay comparable bit for bit). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "covidcam.h"
#include "rb_png.h"
#include "test_util.h"

#define NTHREADS 8
#define NSYNTH 12
#define NREAL 6
#define MAXC 8

typedef struct result {
    covidcam_status st;
    float probs[MAXC], logits[MAXC];
    int top;
    covidcam_heatmap *heat;
} result;

typedef struct job {
    uint8_t *png;
    size_t len;
    covidcam_gradcam_options opt;
    char layer[32];
    result ref[2]; /* even threads' precision (fp32), odd threads' */
} job;

typedef struct shared {
    const covidcam_model *m;
    covidcam_precision precision[2]; /* of even and odd threads */
    job *jobs;
    int njobs;
    int rounds;
} shared;

typedef struct worker {
    pthread_t tid;
    shared *sh;
    int index;
    long calls, mismatches;
    char first[256];
} worker;

static covidcam_session *session1(const covidcam_model *m, covidcam_precision p)
{
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.precision = p;
    const char *t = getenv("CC_ROBUST_SESSION_THREADS");
    o.num_threads = t && atoi(t) > 0 ? atoi(t) : 1;
    covidcam_session *s = NULL;
    return covidcam_session_create(m, &o, &s, NULL, 0) == COVIDCAM_OK ? s : NULL;
}

static void run_job(covidcam_session *s, job *j, result *r)
{
    int nc = covidcam_model_num_classes(covidcam_session_model(s));
    memset(r, 0, sizeof *r);
    r->st = covidcam_classify_png(s, j->png, j->len, r->probs, r->logits, MAXC, &r->top);
    if (r->st == COVIDCAM_OK)
        r->st = covidcam_gradcam_png(s, j->png, j->len, &j->opt, &r->heat);
    (void)nc;
}

/* 0 if equal; otherwise writes what differs into why. */
static int compare(const result *a, const result *b, int nc, char *why, size_t n)
{
    if (a->st != b->st) {
        snprintf(why, n, "status %d vs %d", a->st, b->st);
        return 1;
    }
    if (memcmp(a->probs, b->probs, (size_t)nc * 4) || memcmp(a->logits, b->logits, (size_t)nc * 4) ||
        a->top != b->top) {
        snprintf(why, n, "classification differs");
        return 1;
    }
    const covidcam_heatmap *x = a->heat, *y = b->heat;
    size_t raw = (size_t)covidcam_heatmap_raw_width(x) * covidcam_heatmap_raw_height(x);
    size_t map = (size_t)covidcam_heatmap_size(x) * covidcam_heatmap_size(x);
    if (covidcam_heatmap_raw_width(x) != covidcam_heatmap_raw_width(y) ||
        covidcam_heatmap_raw_height(x) != covidcam_heatmap_raw_height(y) ||
        memcmp(covidcam_heatmap_raw(x), covidcam_heatmap_raw(y), raw * 4) ||
        memcmp(covidcam_heatmap_data(x), covidcam_heatmap_data(y), map * 4) ||
        memcmp(covidcam_heatmap_logits(x), covidcam_heatmap_logits(y), (size_t)nc * 4) ||
        covidcam_heatmap_class(x) != covidcam_heatmap_class(y) ||
        strcmp(covidcam_heatmap_layer(x), covidcam_heatmap_layer(y)) != 0) {
        snprintf(why, n, "Grad-CAM (%s) differs", covidcam_heatmap_layer(x));
        return 1;
    }
    return 0;
}

static void *work(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    int nc = covidcam_model_num_classes(sh->m);
    covidcam_session *s = session1(sh->m, sh->precision[w->index % 2]);
    if (!s) {
        w->mismatches = -1;
        return NULL;
    }
    for (int r = 0; r < sh->rounds; r++) {
        for (int k = 0; k < sh->njobs; k++) {
            /* threads walk the jobs from different starting points */
            job *j = &sh->jobs[(k + w->index * 5) % sh->njobs];
            result got;
            char why[160];
            run_job(s, j, &got);
            w->calls++;
            if (compare(&got, &j->ref[w->index % 2], nc, why, sizeof why)) {
                if (!w->mismatches++)
                    snprintf(w->first, sizeof w->first, "thread %d job %d round %d: %s",
                             w->index, (int)(j - sh->jobs), r, why);
            }
            covidcam_heatmap_free(got.heat);
        }
    }
    covidcam_session_free(s);
    return NULL;
}

/* Synthetic images of varied sizes, then real radiographs when available. */
static int make_jobs(const covidcam_model *m, job *jobs)
{
    int n = 0;
    for (int i = 0; i < NSYNTH; i++) {
        job *j = &jobs[n];
        j->png = rb_png_gray(24 + 13 * i, 90 - 5 * i, (unsigned)i + 11, NULL, &j->len);
        if (j->png)
            n++;
    }
    const char *cls[] = {"val/COVID", "val/Normal", "val/ViralPneumonia"};
    for (int c = 0; c < 3 && tu_have_shared(); c++) {
        char *names[NREAL / 3];
        int got = tu_list_pngs(tu_shared(cls[c]), names, NREAL / 3);
        for (int i = 0; i < got; i++) {
            jobs[n].png = tu_read_file(names[i], &jobs[n].len);
            if (jobs[n].png)
                n++;
            free(names[i]);
        }
    }
    int nl = covidcam_model_num_layers(m), nc = covidcam_model_num_classes(m);
    for (int i = 0; i < n; i++) {
        job *j = &jobs[i];
        covidcam_gradcam_options_init(&j->opt);
        j->opt.method = (covidcam_cam_method)(i % 3);
        snprintf(j->layer, sizeof j->layer, "%s", covidcam_model_layer_name(m, (i * 7) % nl));
        j->opt.layer = j->layer;
        j->opt.target_class = i % 4 == 0 ? -1 : i % nc;
    }
    return n;
}

/* Even threads fp32, odd threads `second` (bf16 falls back to fp32 where
 * the CPU has no native bf16). */
static void run_model(const char *fixture, covidcam_precision second)
{
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    if (covidcam_model_load(tu_fixture(fixture), &m, err, sizeof err) != COVIDCAM_OK)
        fail_msg("%s: %s", fixture, err);
    assert_true(covidcam_model_num_classes(m) <= MAXC);
    job jobs[NSYNTH + NREAL];
    memset(jobs, 0, sizeof jobs);
    shared sh = {NULL, {COVIDCAM_PRECISION_FP32, second}, jobs,
                 make_jobs(m, jobs), 2};
    const char *it = getenv("CC_ROBUST_ITERS");
    if (it && atoi(it) > 0)
        sh.rounds = atoi(it);
    /* the single-threaded references, on this copy of the model */
    for (int p = 0; p < 2; p++) {
        covidcam_session *s = session1(m, sh.precision[p]);
        if (!s && p == 1 && second == COVIDCAM_PRECISION_BF16) {
            print_message("no bf16 sessions on this CPU: every thread runs fp32\n");
            sh.precision[1] = COVIDCAM_PRECISION_FP32;
            s = session1(m, sh.precision[1]);
        }
        assert_non_null(s);
        for (int k = 0; k < sh.njobs; k++) {
            run_job(s, &jobs[k], &jobs[k].ref[p]);
            if (jobs[k].ref[p].st != COVIDCAM_OK)
                fail_msg("%s job %d: %s", fixture, k, covidcam_session_last_error(s));
        }
        covidcam_session_free(s);
    }
    covidcam_model *fresh = NULL;
    if (covidcam_model_load(tu_fixture(fixture), &fresh, err, sizeof err) != COVIDCAM_OK)
        fail_msg("%s: %s", fixture, err);
    sh.m = fresh;
    worker w[NTHREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].sh = &sh;
        w[i].index = i;
        assert_int_equal(pthread_create(&w[i].tid, NULL, work, &w[i]), 0);
    }
    long calls = 0;
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(w[i].tid, NULL), 0);
    for (int i = 0; i < NTHREADS; i++) {
        if (w[i].mismatches < 0)
            fail_msg("thread %d could not create its session", i);
        if (w[i].mismatches)
            fail_msg("%s: %ld of %ld results differ from the single-threaded run; first: %s",
                     fixture, w[i].mismatches, w[i].calls, w[i].first);
        calls += w[i].calls;
    }
    print_message("%s: %d threads (%s, %s) x %d rounds x %d images, %ld classify+Grad-CAM "
                  "pairs identical\n",
                  fixture, NTHREADS, covidcam_precision_name(sh.precision[0]),
                  covidcam_precision_name(sh.precision[1]), sh.rounds, sh.njobs, calls);
    assert_int_equal(calls, (long)NTHREADS * sh.rounds * sh.njobs);
    for (int k = 0; k < sh.njobs; k++) {
        covidcam_heatmap_free(jobs[k].ref[0].heat);
        covidcam_heatmap_free(jobs[k].ref[1].heat);
        free(jobs[k].png);
    }
    covidcam_model_free(fresh);
    covidcam_model_free(m);
}

static void test_basic_shared(void **state)
{
    (void)state;
    run_model("basic.safetensors", COVIDCAM_PRECISION_BF16);
}

static void test_bottleneck_shared(void **state)
{
    (void)state;
    run_model("bottleneck.safetensors", COVIDCAM_PRECISION_BF16);
}

/* int8 on every CPU: the odd threads race to quantize the calibrated
 * fixture's weights, and their Grad-CAM calls each make a Grad-CAM net. */
static void test_int8_shared(void **state)
{
    (void)state;
    run_model("bottleneck_int8.safetensors", COVIDCAM_PRECISION_INT8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_shared),
        cmocka_unit_test(test_bottleneck_shared),
        cmocka_unit_test(test_int8_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
