/* The routes that need no worker: model description, health, metrics. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "infer.h"
#include "respond.h"

/* The metadata keys of docs/model-format.md; the API has no way to list the
 * others a file may carry. Values stay the raw strings the file holds. */
static json_t *metadata(const covidcam_model *m)
{
    static const char *const keys[] = {
        "format", "format_version", "arch", "block", "layers", "widths", "stem_width",
        "input_size", "input_channels", "mean", "std", "bn_eps", "classes", "temperature",
        "resize", "ood_method", "ood_threshold", "description", "training", NULL};
    json_t *o = json_object();
    for (int i = 0; o && keys[i]; i++) {
        const char *v = covidcam_model_metadata(m, keys[i]);
        if (v)
            json_object_set_new(o, keys[i], json_string(v));
    }
    return o;
}

static json_t *name_list(const covidcam_model *m, int n, const char *(*name)(const covidcam_model *, int))
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(name(m, i)));
    return a;
}

static json_t *media_types(void)
{
    json_t *a = json_array();
    for (int i = 0; a && infer_media_types[i]; i++)
        json_array_append_new(a, json_string(infer_media_types[i]));
    json_array_append_new(a, json_string("application/octet-stream"));
    json_array_append_new(a, json_string("multipart/form-data"));
    return a;
}

enum MHD_Result api_model(request *rq, struct MHD_Connection *c)
{
    const covidcam_model *m = rq->srv->model;
    const server_options *o = rq->srv->opt;
    json_t *j = json_pack(
        "{s:o, s:i, s:i, s:s, s:o, s:o, s:s, s:o, s:i, s:i, s:s}", "classes",
        name_list(m, covidcam_model_num_classes(m), covidcam_model_class_name), "input_size",
        covidcam_model_input_size(m), "input_channels", covidcam_model_input_channels(m), "arch",
        covidcam_model_arch(m), "layers",
        name_list(m, covidcam_model_num_layers(m), covidcam_model_layer_name), "metadata",
        metadata(m), "precision",
        covidcam_precision_name(pool_precision(rq->srv->pool)), "media_types", media_types(),
        "workers", o->workers, "threads_per_worker", o->threads_per_worker, "library",
        covidcam_version());
    return respond_json(rq, c, MHD_HTTP_OK, j);
}

enum MHD_Result api_healthz(request *rq, struct MHD_Connection *c)
{
    return respond_json(rq, c, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

enum MHD_Result api_metrics(request *rq, struct MHD_Connection *c)
{
    int queued, busy;
    pool_stats(rq->srv->pool, &queued, &busy);
    char *text = metrics_render(rq->srv->metrics, queued, busy, rq->srv->opt->workers,
                                rq->srv->opt->queue);
    if (!text)
        return respond_error(rq, c, 500, "out of memory", "cannot render the metrics");
    return respond_bytes(rq, c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text,
                         strlen(text), 1);
}
