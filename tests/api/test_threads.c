/* One model shared by several threads, each with its own session: results are
 * bit-identical to a single-threaded run (and that run matches PyTorch).
 * Worker threads only record outcomes; all assertions run on the main thread
 * because cmocka is not thread-safe. CC_API_ITERS sets the repetitions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "api_util.h"
#include "covidcam.h"
#include "test_util.h"

#define NTHREADS 4
#define NC 3
#define NINPUTS 7

/* The fixture inputs of basic.safetensors and their PyTorch logits. */
typedef struct input {
    const char *what;
    float *tensor;             /* basic.input.k */
    const char *path;          /* a PNG file */
    unsigned char *png;        /* the same bytes in memory */
    size_t png_len;
    float *torch;              /* reference logits */
    float ref[NC], ref_p[NC];  /* single-threaded library result */
    int ref_top;
} input;

typedef struct inputs {
    input in[NINPUTS];
} inputs;

static void load_inputs(inputs *a)
{
    memset(a, 0, sizeof *a);
    char name[64];
    for (int k = 0; k < 3; k++) {
        input *in = &a->in[k];
        in->what = k == 0 ? "basic.input.0" : k == 1 ? "basic.input.1" : "basic.input.2";
        in->tensor = tu_expected(in->what, NULL);
        snprintf(name, sizeof name, "basic.logits.%d", k);
        in->torch = tu_expected(name, NULL);
    }
    const char *pngs[2] = {"sample_64.png", "sample_97x131.png"};
    const char *refs[2] = {"basic.png64.logits", "basic.png97.logits"};
    for (int k = 0; k < 2; k++) {
        /* each PNG twice: from its file and from memory */
        for (int mem = 0; mem < 2; mem++) {
            input *in = &a->in[3 + 2 * k + mem];
            in->what = pngs[k];
            in->path = strdup(tu_fixture(pngs[k]));
            if (mem)
                in->png = tu_read_file(in->path, &in->png_len);
            in->torch = tu_expected(refs[k], NULL);
        }
    }
    for (int i = 0; i < NINPUTS; i++)
        assert_non_null(a->in[i].torch);
}

static void free_inputs(inputs *a)
{
    for (int i = 0; i < NINPUTS; i++) {
        free(a->in[i].tensor);
        free((char *)a->in[i].path);
        free(a->in[i].png);
        free(a->in[i].torch);
    }
}

static covidcam_status run(covidcam_session *s, const input *in, float *p, float *l, int *top)
{
    if (in->tensor)
        return covidcam_classify_tensor(s, in->tensor, 1, 64, 64, p, l, NC, top);
    if (in->png)
        return covidcam_classify_png(s, in->png, in->png_len, p, l, NC, top);
    return covidcam_classify_file(s, in->path, p, l, NC, top);
}

/* The single-threaded reference run, checked against PyTorch. */
static void reference(const covidcam_model *m, inputs *a, int threads)
{
    covidcam_session *s = au_session(m, threads);
    for (int i = 0; i < NINPUTS; i++) {
        input *in = &a->in[i];
        covidcam_status st = run(s, in, in->ref_p, in->ref, &in->ref_top);
        au_assert_status(st, COVIDCAM_OK, covidcam_session_last_error(s));
        double d = tu_max_abs_diff(in->ref, in->torch, NC);
        if (d > 1e-4)
            fail_msg("%s: max |logit - torch| = %g", in->what, d);
    }
    covidcam_session_free(s);
}

static int iterations(void)
{
    const char *v = getenv("CC_API_ITERS");
    int n = v ? atoi(v) : 0;
    return n > 0 ? n : 8;
}

typedef struct worker {
    pthread_t tid;
    int index;
    const covidcam_model *shared; /* NULL: the worker loads model_path itself */
    const char *model_path;
    const inputs *a;
    int threads, iters;
    int runs, mismatches, failures;
    char first_problem[COVIDCAM_ERRBUF_SIZE + 64];
} worker;

static void note(worker *w, const char *what, const char *msg)
{
    if (!w->first_problem[0])
        snprintf(w->first_problem, sizeof w->first_problem, "%s: %s", what, msg);
}

static void *work(void *arg)
{
    worker *w = arg;
    covidcam_model *own = NULL;
    const covidcam_model *m = w->shared;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    if (!m) {
        if (covidcam_model_load(w->model_path, &own, err, sizeof err)) {
            w->failures++;
            note(w, "load", err);
            return NULL;
        }
        m = own;
    }
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = w->threads;
    covidcam_session *s = NULL;
    if (covidcam_session_create(m, &o, &s, err, sizeof err)) {
        w->failures++;
        note(w, "session", err);
        covidcam_model_free(own);
        return NULL;
    }
    for (int it = 0; it < w->iters; it++) {
        /* each thread walks the inputs from a different start */
        for (int j = 0; j < NINPUTS; j++) {
            const input *in = &w->a->in[(j + w->index) % NINPUTS];
            float p[NC], l[NC];
            int top = -1;
            w->runs++;
            if (run(s, in, p, l, &top)) {
                w->failures++;
                note(w, in->what, covidcam_session_last_error(s));
                continue;
            }
            if (memcmp(l, in->ref, sizeof l) || memcmp(p, in->ref_p, sizeof p) ||
                top != in->ref_top) {
                w->mismatches++;
                note(w, in->what, "differs from the single-threaded run");
            }
        }
    }
    covidcam_session_free(s);
    covidcam_model_free(own);
    return NULL;
}

static void run_workers(const covidcam_model *shared, const inputs *a, int threads)
{
    worker w[NTHREADS];
    memset(w, 0, sizeof w);
    /* tu_fixture() is not thread-safe: resolve the path here */
    char *path = strdup(tu_fixture("basic.safetensors"));
    for (int i = 0; i < NTHREADS; i++) {
        w[i].index = i;
        w[i].model_path = path;
        w[i].shared = shared;
        w[i].a = a;
        w[i].threads = threads;
        w[i].iters = iterations();
        assert_int_equal(pthread_create(&w[i].tid, NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(w[i].tid, NULL), 0);
    free(path);
    for (int i = 0; i < NTHREADS; i++) {
        if (w[i].failures || w[i].mismatches)
            fail_msg("thread %d: %d failures, %d mismatches in %d runs; first: %s", i,
                     w[i].failures, w[i].mismatches, w[i].runs, w[i].first_problem);
        assert_int_equal(w[i].runs, w[i].iters * NINPUTS);
    }
}

static void test_shared_model_four_threads(void **state)
{
    (void)state;
    inputs a;
    load_inputs(&a);
    covidcam_model *m = au_load("basic.safetensors");
    reference(m, &a, 1);
    run_workers(m, &a, 1);
    covidcam_model_free(m);
    free_inputs(&a);
}

/* Sessions with two threads each, four at a time (oversubscribed on purpose). */
static void test_shared_model_two_thread_sessions(void **state)
{
    (void)state;
    inputs a;
    load_inputs(&a);
    covidcam_model *m = au_load("basic.safetensors");
    reference(m, &a, 2);
    run_workers(m, &a, 2);
    covidcam_model_free(m);
    free_inputs(&a);
}

/* Loading is thread-safe too: models loaded concurrently compute the same. */
static void test_concurrent_loads(void **state)
{
    (void)state;
    inputs a;
    load_inputs(&a);
    covidcam_model *m = au_load("basic.safetensors");
    reference(m, &a, 1);
    covidcam_model_free(m);
    run_workers(NULL, &a, 1);
    free_inputs(&a);
}

/* The thread count of a session changes only the summation order. */
static void test_one_vs_two_threads(void **state)
{
    (void)state;
    inputs a;
    load_inputs(&a);
    covidcam_model *m = au_load("basic.safetensors");
    covidcam_session *s1 = au_session(m, 1), *s2 = au_session(m, 2);
    for (int i = 0; i < NINPUTS; i++) {
        float l1[NC], l2[NC], p1[NC], p2[NC];
        int t1 = -1, t2 = -2;
        au_assert_status(run(s1, &a.in[i], p1, l1, &t1), COVIDCAM_OK,
                         covidcam_session_last_error(s1));
        au_assert_status(run(s2, &a.in[i], p2, l2, &t2), COVIDCAM_OK,
                         covidcam_session_last_error(s2));
        if (tu_max_abs_diff(l1, l2, NC) > 1e-5 || tu_max_abs_diff(p1, p2, NC) > 1e-5)
            fail_msg("%s: 1 and 2 threads differ by %g", a.in[i].what,
                     tu_max_abs_diff(l1, l2, NC));
        assert_int_equal(t1, t2);
    }
    covidcam_session_free(s1);
    covidcam_session_free(s2);
    covidcam_model_free(m);
    free_inputs(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_model_four_threads),
        cmocka_unit_test(test_shared_model_two_thread_sessions),
        cmocka_unit_test(test_concurrent_loads),
        cmocka_unit_test(test_one_vs_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
