#include "router.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "infer.h"
#include "request.h"
#include "respond.h"
#include "web.h"

/* Which route a path belongs to and the methods it takes. */
typedef struct route_def {
    const char *path;
    route route;
    const char *allow;
} route_def;

static const route_def routes[] = {
    {"/v1/model", ROUTE_MODEL, "GET, HEAD"},   {"/v1/classify", ROUTE_CLASSIFY, "POST"},
    {"/v1/gradcam", ROUTE_GRADCAM, "POST"},    {"/healthz", ROUTE_HEALTHZ, "GET, HEAD"},
    {"/metrics", ROUTE_METRICS, "GET, HEAD"},
};

static const route_def *find_route(const char *path)
{
    static const route_def page = {NULL, ROUTE_PAGE, "GET, HEAD"};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(path, routes[i].path))
            return &routes[i];
    return web_find(path) ? &page : NULL;
}

static int method_allowed(const char *method, const char *allow)
{
    size_t n = strlen(method);
    for (const char *p = allow; (p = strstr(p, method)); p += n)
        if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

static request *request_new(server *srv, const char *url, const char *method)
{
    request *rq = calloc(1, sizeof *rq);
    if (!rq)
        return NULL;
    rq->srv = srv;
    rq->route = ROUTE_OTHER;
    rq->t0 = server_now_ms();
    snprintf(rq->method, sizeof rq->method, "%s", method);
    snprintf(rq->path, sizeof rq->path, "%s", url);
    /* The path arrives unescaped; keep control bytes out of the log. No route
     * has other bytes, so matching is unaffected. */
    respond_ascii(rq->method);
    respond_ascii(rq->path);
    pthread_mutex_lock(&srv->lock);
    srv->in_flight++;
    pthread_mutex_unlock(&srv->lock);
    return rq;
}

static enum MHD_Result serve_page(request *rq, struct MHD_Connection *c)
{
    const web_asset *a = web_find(rq->path);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* The page loads nothing from elsewhere; the overlay comes as a data: URL. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data: blob:; "
                            "frame-ancestors 'none'");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    if (ok == MHD_YES)
        rq->status = MHD_HTTP_OK;
    return ok;
}

static enum MHD_Result answer_get(request *rq, struct MHD_Connection *c)
{
    switch (rq->route) {
    case ROUTE_PAGE: return serve_page(rq, c);
    case ROUTE_MODEL: return api_model(rq, c);
    case ROUTE_HEALTHZ: return api_healthz(rq, c);
    case ROUTE_METRICS: return api_metrics(rq, c);
    default: return MHD_NO;
    }
}

/* The media type of the request, lower case, without parameters, in `out`. */
static void media_type(struct MHD_Connection *c, char *out, size_t size)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = 0;
    if (!ct)
        ct = "application/octet-stream";
    while (*ct == ' ')
        ct++;
    for (; ct[n] && ct[n] != ';' && ct[n] != ' ' && n + 1 < size; n++)
        out[n] = (char)tolower((unsigned char)ct[n]);
    out[n] = '\0';
}

/* First call of a POST with an image: refuse what can be refused before the
 * body is read (size, type, parameters), else get ready to read it. */
static enum MHD_Result begin_upload(request *rq, struct MHD_Connection *c)
{
    size_t max = rq->srv->opt->max_body;
    enum MHD_Result ret;
    const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (len && strtoumax(len, NULL, 10) > max)
        return respond_error(rq, c, MHD_HTTP_CONTENT_TOO_LARGE, respond_reason(413),
                             "the body is %s bytes; the limit is %zu (--max-body-mb %zu)", len,
                             max, max >> 20);
    if (api_check_params(rq, c, &ret))
        return ret;
    char type[128];
    media_type(c, type, sizeof type);
    if (!strcmp(type, "multipart/form-data")) {
        if (multipart_init(&rq->mp, c, max))
            return respond_error(rq, c, MHD_HTTP_BAD_REQUEST, "bad request",
                                 "malformed multipart/form-data: no boundary in Content-Type");
        rq->kind = BODY_MULTIPART;
        return MHD_YES;
    }
    if (!infer_accepts(type)) {
        char list[256];
        infer_media_list(list, sizeof list);
        return respond_error(rq, c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, respond_reason(415),
                             "Content-Type '%s' is not an image type this server decodes; "
                             "send one of: %s",
                             type, list);
    }
    rq->kind = BODY_RAW;
    rq->raw.max = max;
    return MHD_YES;
}

static enum MHD_Result begin(request *rq, struct MHD_Connection *c, const char *method)
{
    const route_def *r = find_route(rq->path);
    if (!r)
        return respond_error(rq, c, MHD_HTTP_NOT_FOUND, respond_reason(404),
                             "no such resource: %s (see GET /v1/model, POST /v1/classify, "
                             "POST /v1/gradcam, /healthz, /metrics, /)",
                             rq->path);
    rq->route = r->route;
    if (!method_allowed(method, r->allow))
        return respond_method(rq, c, r->allow);
    if (rq->route == ROUTE_CLASSIFY || rq->route == ROUTE_GRADCAM)
        return begin_upload(rq, c);
    return answer_get(rq, c);
}

/* Remember an error found mid-upload and stop keeping the body. */
static enum MHD_Result defer(request *rq, unsigned status, const char *msg)
{
    rq->pending = status;
    snprintf(rq->pending_msg, sizeof rq->pending_msg, "%s", msg);
    multipart_free(&rq->mp);
    bytes_free(&rq->raw);
    return MHD_YES;
}

static enum MHD_Result feed(request *rq, const char *data, size_t n)
{
    int rc;
    if (rq->kind == BODY_RAW)
        rc = bytes_append(&rq->raw, data, n);
    else if (multipart_feed(&rq->mp, data, n))
        rc = rq->mp.error ? rq->mp.error : -3; /* -3: malformed */
    else
        rc = 0;
    char msg[160];
    switch (rc) {
    case 0: return MHD_YES;
    case -2:
        snprintf(msg, sizeof msg, "the body exceeds the limit of %zu bytes (--max-body-mb %zu)",
                 rq->srv->opt->max_body, rq->srv->opt->max_body >> 20);
        return defer(rq, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    case -3: return defer(rq, MHD_HTTP_BAD_REQUEST, "malformed multipart/form-data body");
    default: return defer(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "no memory for the body");
    }
}

/* The whole body has arrived. */
static enum MHD_Result finish(request *rq, struct MHD_Connection *c)
{
    const bytes *img = &rq->raw;
    const char *file = "-";
    if (rq->kind == BODY_MULTIPART) {
        if (multipart_finish(&rq->mp))
            return respond_error(rq, c, MHD_HTTP_BAD_REQUEST, "bad request",
                                 "malformed multipart/form-data body (truncated or stray bytes)");
        if (!rq->mp.seen)
            return respond_error(rq, c, MHD_HTTP_BAD_REQUEST, "bad request",
                                 "the multipart/form-data body has no 'file' field");
        img = &rq->mp.file;
        json_t *name = json_string(rq->mp.filename);
        if (!name) /* not UTF-8: the JSON gets the name with '?' for those bytes */
            respond_ascii(rq->mp.filename);
        json_decref(name);
        if (rq->mp.filename[0])
            file = rq->mp.filename;
    }
    if (!img->len) {
        char list[256];
        infer_media_list(list, sizeof list);
        return respond_error(rq, c, MHD_HTTP_BAD_REQUEST, "bad request",
                             "empty body: send an image (%s)", list);
    }
    if (rq->route == ROUTE_CLASSIFY)
        return api_classify(rq, c, img->data, img->len, file);
    return api_gradcam(rq, c, img->data, img->len, file);
}

enum MHD_Result router_access(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    request *rq = *con_cls;
    (void)version;
    if (!rq) {
        if (!(rq = request_new(cls, url, method)))
            return MHD_NO;
        *con_cls = rq;
        return begin(rq, c, method);
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        return rq->status || rq->pending ? MHD_YES : feed(rq, upload, n);
    }
    if (rq->status)
        return MHD_YES;
    if (rq->pending)
        return respond_error(rq, c, rq->pending, respond_reason(rq->pending), "%s",
                             rq->pending_msg);
    return finish(rq, c);
}

void router_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    server *srv = cls;
    request *rq = *con_cls;
    (void)c;
    if (!rq)
        return;
    *con_cls = NULL;
    double ms = server_now_ms() - rq->t0;
    if (rq->status)
        metrics_record(srv->metrics, rq->route, rq->status, ms / 1e3);
    if (!srv->opt->quiet) {
        static const char *why[] = {"ok", "error", "timeout", "shutdown", "read error",
                                    "client abort"};
        const char *end = (unsigned)toe < sizeof why / sizeof why[0] ? why[toe] : "?";
        fprintf(stderr, "%s %s %u %.1f ms%s%s\n", rq->method, rq->path, rq->status, ms,
                toe ? " " : "", toe ? end : "");
    }
    multipart_free(&rq->mp);
    bytes_free(&rq->raw);
    free(rq);
    pthread_mutex_lock(&srv->lock);
    if (--srv->in_flight == 0)
        pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->lock);
}
