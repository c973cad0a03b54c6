/* POST /v1/classify and /v1/gradcam: hand the image to a worker, wait, answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "base64.h"
#include "cli_util.h"
#include "infer.h"
#include "overlay.h"
#include "params.h"
#include "respond.h"
#include "result_json.h"

/* What both kinds of job carry back from the worker. */
typedef struct outcome {
    covidcam_status rc;
    char msg[COVIDCAM_ERRBUF_SIZE];
    double submitted, started; /* ms: handed to the pool, taken by a worker */
    double ms;        /* wall time of the library call, as the CLI programs report it */
    double render_ms; /* the overlay PNG */
} outcome;

typedef struct classify_job {
    pool_job job;
    const unsigned char *img;
    size_t n;
    float *probs, *logits;
    size_t capacity;
    int top;
    covidcam_image_info info;
    covidcam_assessment assessment;
    outcome out;
} classify_job;

typedef struct gradcam_job {
    pool_job job;
    const unsigned char *img;
    size_t n;
    const gradcam_params *params;
    covidcam_heatmap *heatmap;
    unsigned char *png;
    size_t png_len;
    outcome out;
} gradcam_job;

static void fail(outcome *o, covidcam_status rc, const char *msg)
{
    o->rc = rc;
    snprintf(o->msg, sizeof o->msg, "%s", msg);
}

static void run_classify(covidcam_session *s, void *arg)
{
    classify_job *j = arg;
    double t0 = j->out.started = server_now_ms();
    covidcam_status rc = infer_classify(s, j->img, j->n, j->probs, j->logits, j->capacity, &j->top,
                                       &j->info, &j->assessment);
    j->out.ms = server_now_ms() - t0;
    if (rc)
        fail(&j->out, rc, covidcam_session_last_error(s));
}

static void run_gradcam(covidcam_session *s, void *arg)
{
    gradcam_job *j = arg;
    double t0 = j->out.started = server_now_ms();
    covidcam_status rc = infer_gradcam(s, j->img, j->n, &j->params->opt, &j->heatmap);
    j->out.ms = server_now_ms() - t0;
    if (rc) {
        fail(&j->out, rc, covidcam_session_last_error(s));
        return;
    }
    /* The overlay is rendered here too, so the pool bounds all heavy work. */
    t0 = server_now_ms();
    char label[256];
    int labelled = j->params->label && covidcam_heatmap_label(j->heatmap, covidcam_session_model(s),
                                                              label, sizeof label) == COVIDCAM_OK;
    j->out.rc = overlay_png(j->heatmap, (float)(1.0 - j->params->alpha), labelled ? label : NULL,
                            &j->png, &j->png_len, j->out.msg, sizeof j->out.msg);
    j->out.render_ms = server_now_ms() - t0;
}

/* Run a job on the pool; on saturation or failure queue the error and return 1. */
/* Server-Timing: where the time went (waiting for a worker, the library call,
 * the overlay PNG), so clients and benchmarks can tell them from HTTP costs. */
static void set_timing(request *rq, const outcome *o)
{
    int n = snprintf(rq->timing, sizeof rq->timing, "queue;dur=%.3f, model;dur=%.3f",
                     o->started - o->submitted, o->ms);
    if (o->render_ms > 0 && n > 0 && (size_t)n < sizeof rq->timing)
        snprintf(rq->timing + n, sizeof rq->timing - (size_t)n, ", overlay;dur=%.3f",
                 o->render_ms);
}

static int dispatch(request *rq, struct MHD_Connection *c, pool_job *job, outcome *o,
                    enum MHD_Result *ret)
{
    o->submitted = server_now_ms();
    if (pool_run(rq->srv->pool, job)) {
        *ret = respond_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
                             "all %d workers are busy and %d requests are queued; retry later",
                             rq->srv->opt->workers, rq->srv->opt->queue);
        return 1;
    }
    set_timing(rq, o);
    if (o->rc) {
        *ret = respond_error(rq, c, respond_status_for(o->rc), covidcam_status_string(o->rc),
                             "%s%s",
                             o->rc == COVIDCAM_ERR_BAD_FORMAT ? "the body is not a supported image: "
                                                              : "",
                             o->msg);
        return 1;
    }
    return 0;
}

enum MHD_Result api_classify(request *rq, struct MHD_Connection *c, const unsigned char *img,
                             size_t n, const char *file)
{
    const covidcam_model *m = rq->srv->model;
    size_t k = (size_t)covidcam_model_num_classes(m);
    float *buf = malloc(2 * k * sizeof *buf);
    enum MHD_Result ret;
    if (!buf)
        return respond_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory",
                             "no memory for %zu classes", k);
    classify_job j = {.img = img, .n = n, .probs = buf, .logits = buf + k, .capacity = k};
    covidcam_image_info_init(&j.info);
    covidcam_assessment_init(&j.assessment);
    j.job.run = run_classify;
    j.job.arg = &j;
    if (!dispatch(rq, c, &j.job, &j.out, &ret))
        ret = respond_json(rq, c, MHD_HTTP_OK,
                           result_json_classify(m, file, j.probs, j.logits, j.top,
                                                cli_round3(j.out.ms), &j.info, &j.assessment));
    free(buf);
    return ret;
}

/* 1 if the client asked for the overlay PNG itself rather than JSON. */
static int wants_png(struct MHD_Connection *c)
{
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    return accept && strstr(accept, "image/png") && !strstr(accept, "application/json");
}

static enum MHD_Result gradcam_json(request *rq, struct MHD_Connection *c, gradcam_job *j,
                                    const char *file)
{
    json_t *o = result_json_gradcam(rq->srv->model, file, j->heatmap, cli_round3(j->out.ms));
    char *b64 = base64_encode(j->png, j->png_len);
    if (!o || !b64 || json_object_set_new(o, "alpha", json_real(j->params->alpha)) ||
        json_object_set_new(o, "overlay_png", json_string(b64))) {
        free(b64);
        json_decref(o);
        return respond_error(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory",
                             "cannot format the answer");
    }
    free(b64);
    return respond_json(rq, c, MHD_HTTP_OK, o);
}

enum MHD_Result api_gradcam(request *rq, struct MHD_Connection *c, const unsigned char *img,
                            size_t n, const char *file)
{
    gradcam_params p;
    char msg[1024];
    enum MHD_Result ret;
    if (params_gradcam(c, rq->srv->model, &p, msg, sizeof msg))
        return respond_error(rq, c, MHD_HTTP_BAD_REQUEST, "bad request", "%s", msg);
    gradcam_job j = {.img = img, .n = n, .params = &p};
    j.job.run = run_gradcam;
    j.job.arg = &j;
    if (dispatch(rq, c, &j.job, &j.out, &ret)) {
        /* The map may exist when only the overlay failed. */
        covidcam_heatmap_free(j.heatmap);
        free(j.png);
        return ret;
    }
    if (wants_png(c)) {
        ret = respond_bytes(rq, c, MHD_HTTP_OK, "image/png", j.png, j.png_len, 1);
        j.png = NULL;
    } else {
        ret = gradcam_json(rq, c, &j, file);
    }
    covidcam_heatmap_free(j.heatmap);
    free(j.png);
    return ret;
}

int api_check_params(request *rq, struct MHD_Connection *c, enum MHD_Result *ret)
{
    static const char *const none[] = {NULL};
    gradcam_params p;
    char msg[1024];
    int bad = rq->route == ROUTE_GRADCAM ? params_gradcam(c, rq->srv->model, &p, msg, sizeof msg)
                                         : params_only(c, none, msg, sizeof msg);
    if (!bad)
        return 0;
    *ret = respond_error(rq, c, MHD_HTTP_BAD_REQUEST, "bad request", "%s", msg);
    return -1;
}
