/* Allocation-failure injection: every allocation the library makes on the
 * way through a public call is failed in turn (N = 1, 2, ... until the call no
 * longer reaches an Nth allocation). Each failing run must return
 * COVIDCAM_ERR_OUT_OF_MEMORY, leave its out-parameter untouched, free every
 * block and every oneDNN memory descriptor (cc_dnn_desc_live) it allocated,
 * close every file descriptor it opened and leave the session
 * usable: every primitive it keeps must fit its scratchpad, and the same call
 * made right after, without injection, must give the bit-identical result of
 * a clean run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc_wrap.h"
#include "covidcam.h"
#include "dnn_core.h"
#include "rb_files.h"
#include "rb_invariants.h"
#include "rb_model.h"
#include "rb_png.h"
#include "test_util.h"

typedef struct ctx {
    uint8_t *model_bytes;
    size_t model_len;
    char *model_path;
    uint8_t *png;
    size_t png_len;
    char *png_path;
    char *out_path;
    covidcam_model *model;     /* clean, shared by the per-call scenarios */
    covidcam_model *fresh;     /* a model of one run's own (bf16 preparation) */
    covidcam_precision precision; /* of the sessions the scenarios make */
    int max_batch;                /* of the sessions the scenarios make */
    covidcam_session *session; /* per scenario */
    const char *layer;
    /* the CAM toolbox variant of call_gradcam (0.4); zero = Grad-CAM++ */
    covidcam_cam_method method;
    int eigen_smooth;
    covidcam_aug_smooth aug_smooth;
    /* outputs of the call under test */
    covidcam_model *m_out;
    covidcam_session *s_out;
    covidcam_heatmap *h_out;
    float logits[8];
    float batch_logits[3 * 8];
    float *tensor;
    /* clean references */
    float ref_logits[8];
    covidcam_heatmap *ref_heat;
} ctx;

typedef covidcam_status (*call_fn)(ctx *c);
typedef void (*hook_fn)(ctx *c);

typedef struct scenario {
    const char *name;
    hook_fn prepare; /* before arming (may be NULL) */
    call_fn call;    /* the call under test */
    hook_fn retry;   /* after a failed call, unarmed: the call must now work */
    hook_fn release; /* after every run (may be NULL) */
} scenario;

/* Run sc with allocation N failing for N = 1, 2, ...; returns how many
 * allocation sites were failed. */
static long sweep(ctx *c, const scenario *sc)
{
    for (long n = 1;; n++) {
        long descs = cc_dnn_desc_live();
        if (sc->prepare)
            sc->prepare(c);
        int fds = rb_count_fds();
        const void *outs[3] = {c->m_out, c->s_out, c->h_out};
        aw_arm(n);
        covidcam_status st = sc->call(c);
        int failed = aw_failed();
        aw_disarm(); /* frees stay tracked: blocks from the armed call are counted */
        if (!failed) {
            if (st != COVIDCAM_OK)
                fail_msg("%s: clean run returned %s", sc->name, covidcam_status_string(st));
            if (sc->release)
                sc->release(c);
            if (aw_live() != 0)
                fail_msg("%s: clean run: %ld block(s) were never freed", sc->name, aw_live());
            if (cc_dnn_desc_live() != descs)
                fail_msg("%s: clean run: %ld memory descriptor(s) were never freed", sc->name,
                         cc_dnn_desc_live() - descs);
            return n - 1;
        }
        if (st != COVIDCAM_ERR_OUT_OF_MEMORY)
            fail_msg("%s: allocation #%ld failed but the call returned '%s'", sc->name, n,
                     covidcam_status_string(st));
        if (rb_count_fds() != fds)
            fail_msg("%s: allocation #%ld failed and %d descriptor(s) stayed open", sc->name, n,
                     rb_count_fds() - fds);
        if (outs[0] != c->m_out || outs[1] != c->s_out || outs[2] != c->h_out)
            fail_msg("%s: allocation #%ld failed but an out-parameter was set", sc->name, n);
        const char *bad = c->session ? rb_scratchpad_violation(c->session) : NULL;
        if (bad)
            fail_msg("%s: allocation #%ld failed and the session kept a primitive that no "
                     "longer fits its scratchpad: %s",
                     sc->name, n, bad);
        if (sc->retry)
            sc->retry(c);
        /* What the failed call allocated is either freed already or owned by
         * the session (lazily built Grad-CAM state) and freed with it. */
        if (sc->release)
            sc->release(c);
        if (aw_live() != 0)
            fail_msg("%s: allocation #%ld failed and %ld block(s) were never freed", sc->name,
                     n, aw_live());
        /* Counted apart from the blocks: oneDNN 3.x allocates mds itself. */
        if (cc_dnn_desc_live() != descs)
            fail_msg("%s: allocation #%ld failed and %ld memory descriptor(s) were never freed",
                     sc->name, n, cc_dnn_desc_live() - descs);
    }
}

/* ------------------------------------------------------------ scenarios */

static covidcam_status call_load_memory(ctx *c)
{
    return covidcam_model_load_from_memory(c->model_bytes, c->model_len, &c->m_out, NULL, 0);
}

static covidcam_status call_load_file(ctx *c)
{
    return covidcam_model_load(c->model_path, &c->m_out, NULL, 0);
}

static void release_model(ctx *c)
{
    covidcam_model_free(c->m_out);
    c->m_out = NULL;
}

static covidcam_status call_session(ctx *c)
{
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = 1;
    o.precision = c->precision;
    o.max_batch = c->max_batch;
    return covidcam_session_create(c->fresh ? c->fresh : c->model, &o, &c->s_out, NULL, 0);
}

static void release_session_out(ctx *c)
{
    covidcam_session_free(c->s_out);
    c->s_out = NULL;
}

/* The first bf16 session of a model prepares the model's shared bf16
 * weights: a run of its own model makes every run do it. */
static void prepare_fresh_model(ctx *c)
{
    assert_int_equal(covidcam_model_load(c->model_path, &c->fresh, NULL, 0), COVIDCAM_OK);
}

static void release_fresh_model(ctx *c)
{
    release_session_out(c);
    covidcam_model_free(c->fresh);
    c->fresh = NULL;
}

static covidcam_session *new_session_of(const covidcam_model *m, covidcam_precision p)
{
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = 1;
    o.precision = p;
    covidcam_session *s = NULL;
    assert_int_equal(covidcam_session_create(m, &o, &s, NULL, 0), COVIDCAM_OK);
    return s;
}

static covidcam_session *new_session(const covidcam_model *m)
{
    return new_session_of(m, COVIDCAM_PRECISION_FP32);
}

static void prepare_session(ctx *c)
{
    c->session = new_session_of(c->model, c->precision);
}

/* A batch session of max_batch 3 and the batch of three files it classifies
 * (the PNG twice around a missing file), with its clean results. */
static float batch_ref[3 * 8];

static void prepare_batch_session(ctx *c)
{
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = 1;
    o.max_batch = 3;
    assert_int_equal(covidcam_session_create(c->model, &o, &c->session, NULL, 0), COVIDCAM_OK);
}

static covidcam_status call_classify_files(ctx *c)
{
    const char *paths[3] = {c->png_path, "/nonexistent/x.png", c->png_path};
    covidcam_status st[3];
    memset(c->batch_logits, 0, sizeof c->batch_logits);
    covidcam_status rc =
        covidcam_classify_files(c->session, paths, 3, NULL, c->batch_logits, 8, NULL, st);
    /* an injected failure shows in its image's status (the call returns the
     * first failure, maybe the missing file's); the missing file's own
     * failure is the clean result */
    for (int i = 0; i < 3; i++)
        if (st[i] == COVIDCAM_ERR_OUT_OF_MEMORY)
            return st[i];
    return rc == COVIDCAM_ERR_IO && st[0] == COVIDCAM_OK && st[1] == COVIDCAM_ERR_IO &&
                   st[2] == COVIDCAM_OK
               ? COVIDCAM_OK
               : rc;
}

static void retry_classify_files(ctx *c)
{
    assert_int_equal(call_classify_files(c), COVIDCAM_OK);
    assert_memory_equal(c->batch_logits, batch_ref, 3 * sizeof(float));
    assert_memory_equal(c->batch_logits + 16, batch_ref + 16, 3 * sizeof(float));
}

static void release_session(ctx *c)
{
    covidcam_session_free(c->session);
    c->session = NULL;
    covidcam_heatmap_free(c->h_out);
    c->h_out = NULL;
}

static covidcam_status call_classify_png(ctx *c)
{
    return covidcam_classify_png(c->session, c->png, c->png_len, NULL, c->logits, 8, NULL);
}

static covidcam_status call_classify_file(ctx *c)
{
    return covidcam_classify_file(c->session, c->png_path, NULL, c->logits, 8, NULL);
}

static void retry_classify(ctx *c)
{
    memset(c->logits, 0, sizeof c->logits);
    assert_int_equal(call_classify_png(c), COVIDCAM_OK);
    assert_memory_equal(c->logits, c->ref_logits, 3 * sizeof(float));
}

static covidcam_status call_gradcam(ctx *c)
{
    covidcam_gradcam_options o;
    covidcam_gradcam_options_init(&o);
    o.layer = c->layer;
    o.method = c->method ? c->method : COVIDCAM_CAM_GRADCAMPP;
    o.eigen_smooth = c->eigen_smooth;
    o.aug_smooth = c->aug_smooth;
    o.target_class = 1;
    return covidcam_gradcam_png(c->session, c->png, c->png_len, &o, &c->h_out);
}

static void same_heatmap(const covidcam_heatmap *a, const covidcam_heatmap *b)
{
    int rw = covidcam_heatmap_raw_width(a), rh = covidcam_heatmap_raw_height(a);
    int s = covidcam_heatmap_size(a);
    assert_int_equal(rw, covidcam_heatmap_raw_width(b));
    assert_int_equal(rh, covidcam_heatmap_raw_height(b));
    assert_int_equal(s, covidcam_heatmap_size(b));
    assert_memory_equal(covidcam_heatmap_raw(a), covidcam_heatmap_raw(b),
                        (size_t)rw * rh * sizeof(float));
    assert_memory_equal(covidcam_heatmap_data(a), covidcam_heatmap_data(b),
                        (size_t)s * s * sizeof(float));
    assert_memory_equal(covidcam_heatmap_logits(a), covidcam_heatmap_logits(b),
                        (size_t)covidcam_heatmap_num_classes(a) * sizeof(float));
}

static void retry_gradcam(ctx *c)
{
    assert_int_equal(call_gradcam(c), COVIDCAM_OK);
    same_heatmap(c->h_out, c->ref_heat);
}

static void prepare_heatmap(ctx *c)
{
    prepare_session(c);
    assert_int_equal(call_gradcam(c), COVIDCAM_OK);
}

static covidcam_status call_write_overlay(ctx *c)
{
    return covidcam_heatmap_write_overlay(c->h_out, c->out_path, 0.5f, NULL, 0);
}

static covidcam_status call_write_colormap(ctx *c)
{
    return covidcam_heatmap_write_colormap(c->h_out, c->out_path, NULL, 0);
}

static covidcam_status call_preprocess(ctx *c)
{
    static uint8_t px[40 * 30];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 7);
    return covidcam_model_preprocess(c->model, px, 40, 30, 40, c->tensor, 32 * 32);
}

/* ------------------------------------------------------------ fixtures */

static int setup(void **state)
{
    ctx *c = calloc(1, sizeof *c);
    rb_model_spec spec = rb_model_default();
    spec.ood_threshold = 1.0; /* every scenario also loads and scores OOD statistics */
    c->model_bytes = rb_model_build(&spec, &c->model_len);
    c->png = rb_png_gray(45, 37, 3, NULL, &c->png_len);
    if (!c->model_bytes || !c->png)
        return -1;
    c->model_path = rb_temp_file("model", c->model_bytes, c->model_len);
    c->png_path = rb_temp_file("png", c->png, c->png_len);
    c->out_path = rb_temp_file("out", "", 0);
    c->tensor = malloc(32 * 32 * sizeof(float));
    if (!c->model_path || !c->png_path || !c->out_path || !c->tensor)
        return -1;
    if (covidcam_model_load(c->model_path, &c->model, NULL, 0) != COVIDCAM_OK)
        return -1;
    covidcam_session *s = new_session(c->model);
    int rc = covidcam_classify_png(s, c->png, c->png_len, NULL, c->ref_logits, 8, NULL);
    covidcam_session_free(s);
    *state = c;
    return rc;
}

static int teardown(void **state)
{
    ctx *c = *state;
    covidcam_model_free(c->model);
    unlink(c->model_path);
    unlink(c->png_path);
    unlink(c->out_path);
    free(c->model_path);
    free(c->png_path);
    free(c->out_path);
    free(c->model_bytes);
    free(c->png);
    free(c->tensor);
    free(c);
    return 0;
}

static void report(const char *what, long sites)
{
    print_message("%s: %ld allocation sites failed one by one\n", what, sites);
    /* a sweep that never failed anything would prove nothing */
    assert_true(sites > 0);
}

static void test_model_load(void **state)
{
    ctx *c = *state;
    scenario mem = {"load_from_memory", NULL, call_load_memory, NULL, release_model};
    scenario file = {"load", NULL, call_load_file, NULL, release_model};
    report(mem.name, sweep(c, &mem));
    report(file.name, sweep(c, &file));
}

static void test_session_create(void **state)
{
    scenario sc = {"session_create", NULL, call_session, NULL, release_session_out};
    report(sc.name, sweep(*state, &sc));
}

static void test_classify(void **state)
{
    scenario png = {"classify_png", prepare_session, call_classify_png, retry_classify,
                    release_session};
    scenario file = {"classify_file", prepare_session, call_classify_file, retry_classify,
                     release_session};
    report(png.name, sweep(*state, &png));
    report(file.name, sweep(*state, &file));
}

/* One layer through the backward primitives, one through the closed form. */
static void gradcam_layer(ctx *c, const char *layer)
{
    c->layer = layer;
    covidcam_session *s = new_session_of(c->model, c->precision);
    c->session = s;
    assert_int_equal(call_gradcam(c), COVIDCAM_OK);
    c->ref_heat = c->h_out;
    c->h_out = NULL;
    c->session = NULL;
    covidcam_session_free(s);
    char name[64];
    snprintf(name, sizeof name, "gradcam_png(%s)", layer);
    scenario sc = {name, prepare_session, call_gradcam, retry_gradcam, release_session};
    report(name, sweep(c, &sc));
    covidcam_heatmap_free(c->ref_heat);
    c->ref_heat = NULL;
}

static void test_gradcam(void **state)
{
    gradcam_layer(*state, "layer1.0");
    gradcam_layer(*state, "layer2");
}

/* The basic fixture's backward pass needs more scratchpad than its forward
 * pass (the layer2.0 downsample's backward-data primitive, on AVX-512 at
 * least), so growing the scratchpad is one of the allocations failed here: a
 * primitive kept after that failure must not run with the old, smaller one. */
static void test_gradcam_fixture(void **state)
{
    ctx c = *(ctx *)*state; /* a copy: the shared context keeps the tiny model */
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    c.model = NULL;
    if (covidcam_model_load(tu_fixture("basic.safetensors"), &c.model, err, sizeof err))
        fail_msg("basic.safetensors: %s", err);
    gradcam_layer(&c, "layer1.0");
    covidcam_model_free(c.model);
}

/* The 0.4 methods: ScoreCAM's masked passes over two layers with eigen
 * smoothing (the principal component's buffers) and intensity views, and
 * EigenGradCAM with the six flipped views at an early block. */
static void test_cam_toolbox(void **state)
{
    ctx *c = *state;
    c->method = COVIDCAM_CAM_SCORECAM;
    c->eigen_smooth = 1;
    c->aug_smooth = COVIDCAM_AUG_INTENSITY;
    gradcam_layer(c, "layer1,layer2");
    c->method = COVIDCAM_CAM_EIGENGRADCAM;
    c->eigen_smooth = 0;
    c->aug_smooth = COVIDCAM_AUG_FLIP;
    gradcam_layer(c, "layer1.0");
    c->method = 0;
    c->aug_smooth = COVIDCAM_AUG_NONE;
}

static covidcam_status call_write_labelled(ctx *c)
{
    return covidcam_heatmap_write_labelled_overlay(c->h_out, c->out_path, 0.5f,
                                                   "COVID 97.1% | gradcam layer4.1", NULL, 0);
}

static void test_heatmap_writers(void **state)
{
    ctx *c = *state;
    c->layer = NULL;
    scenario ov = {"write_overlay", prepare_heatmap, call_write_overlay, NULL, release_session};
    scenario cm = {"write_colormap", prepare_heatmap, call_write_colormap, NULL,
                   release_session};
    report(ov.name, sweep(c, &ov));
    report(cm.name, sweep(c, &cm));
    scenario lb = {"write_labelled_overlay", prepare_heatmap, call_write_labelled, NULL,
                   release_session};
    report(lb.name, sweep(c, &lb));
}

/* bf16 sessions, where the CPU computes bf16 natively: creation (with the
 * preparation of the model's bf16 weights) and Grad-CAM through the bf16
 * backward pass and the fp32 head's conversions. */
static void test_bf16(void **state)
{
    ctx *c = *state;
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.precision = COVIDCAM_PRECISION_BF16;
    covidcam_session *probe = NULL;
    if (covidcam_session_create(c->model, &o, &probe, NULL, 0) != COVIDCAM_OK) {
        print_message("skipped: no bf16 sessions on this CPU (no AVX512-BF16 or AMX)\n");
        skip();
    }
    covidcam_session_free(probe);
    c->precision = COVIDCAM_PRECISION_BF16;
    scenario sc = {"session_create(bf16, first of its model)", prepare_fresh_model,
                   call_session, NULL, release_fresh_model};
    report(sc.name, sweep(c, &sc));
    gradcam_layer(c, "layer1.0");
    c->precision = COVIDCAM_PRECISION_FP32;
}

/* int8 sessions of a calibrated fixture, on every CPU: creation with the
 * preparation of the model's int8 weights (quantization, layout planning,
 * reorders), and a Grad-CAM with the Grad-CAM net an int8 session makes on
 * its first call. */
static void test_int8(void **state)
{
    ctx c = *(ctx *)*state; /* a copy: the shared context keeps the tiny model */
    char err[COVIDCAM_ERRBUF_SIZE] = "", *path = strdup(tu_fixture("basic_int8.safetensors"));
    assert_non_null(path);
    c.model_path = path;
    c.model = NULL;
    if (covidcam_model_load(path, &c.model, err, sizeof err))
        fail_msg("basic_int8.safetensors: %s", err);
    c.precision = COVIDCAM_PRECISION_INT8;
    /* one clean session first: oneDNN's primitive cache keeps what new
     * shapes create, which a sweep would otherwise count as a leak */
    covidcam_session_free(new_session_of(c.model, c.precision));
    scenario sc = {"session_create(int8, first of its model)", prepare_fresh_model,
                   call_session, NULL, release_fresh_model};
    report(sc.name, sweep(&c, &sc));
    gradcam_layer(&c, "layer2");
    covidcam_model_free(c.model);
    free(path);
}

/* Batches: a session with a batch network, and a batch call whose middle
 * file is missing (that failure is the call's normal result). */
static void test_batch(void **state)
{
    ctx *c = *state;
    /* one clean batch session first: oneDNN's primitive cache keeps what a
     * new shape creates, which a sweep would otherwise count as a leak */
    prepare_batch_session(c);
    covidcam_session_free(c->session);
    c->session = NULL;
    c->max_batch = 3;
    scenario sc = {"session_create(max_batch 3)", NULL, call_session, NULL, release_session_out};
    report(sc.name, sweep(c, &sc));
    c->max_batch = 0;
    prepare_batch_session(c);
    assert_int_equal(call_classify_files(c), COVIDCAM_OK);
    memcpy(batch_ref, c->batch_logits, sizeof batch_ref);
    covidcam_session_free(c->session);
    c->session = NULL;
    scenario files = {"classify_files", prepare_batch_session, call_classify_files,
                      retry_classify_files, release_session};
    report(files.name, sweep(c, &files));
}

static void test_preprocess(void **state)
{
    scenario sc = {"model_preprocess", NULL, call_preprocess, NULL, NULL};
    report(sc.name, sweep(*state, &sc));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_load),   cmocka_unit_test(test_session_create),
        cmocka_unit_test(test_classify),     cmocka_unit_test(test_gradcam),
        cmocka_unit_test(test_gradcam_fixture), cmocka_unit_test(test_cam_toolbox),
        cmocka_unit_test(test_heatmap_writers), cmocka_unit_test(test_preprocess),
        cmocka_unit_test(test_bf16),            cmocka_unit_test(test_int8),
        cmocka_unit_test(test_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
