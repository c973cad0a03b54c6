#include "respond.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "result_json.h"

/* Queue a buffer with the headers every answer carries. */
static enum MHD_Result queue(request *rq, struct MHD_Connection *c, unsigned status,
                             const char *type, void *data, size_t len, int owned,
                             const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, data, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned)
            free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (rq->timing[0])
        MHD_add_response_header(r, "Server-Timing", rq->timing);
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    if (ok == MHD_YES)
        rq->status = status;
    return ok;
}

enum MHD_Result respond_bytes(request *rq, struct MHD_Connection *c, unsigned status,
                              const char *type, void *data, size_t len, int owned)
{
    return queue(rq, c, status, type, data, len, owned, NULL);
}

enum MHD_Result respond_json(request *rq, struct MHD_Connection *c, unsigned status, json_t *obj)
{
    char *s = result_json_dump(obj);
    size_t n = s ? strlen(s) : 0;
    char *line = s ? realloc(s, n + 2) : NULL;
    if (!line) {
        free(s);
        return respond_error(rq, c, 500, "out of memory", "cannot format the JSON answer");
    }
    memcpy(line + n, "\n", 2);
    return respond_bytes(rq, c, status, "application/json", line, n + 1, 1);
}

static enum MHD_Result error_v(request *rq, struct MHD_Connection *c, unsigned status,
                               const char *what, const char *allow, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *o = json_pack("{s:s, s:s}", "error", msg, "status", what);
    if (!o) {
        /* Only invalid UTF-8 from the request (a parameter, a type) makes
         * this fail: answer with those bytes replaced. */
        respond_ascii(msg);
        o = json_pack("{s:s, s:s}", "error", msg, "status", what);
    }
    char *s = result_json_dump(o);
    size_t n = s ? strlen(s) : 0;
    char *line = s ? realloc(s, n + 2) : NULL;
    if (!line) {
        free(s);
        return MHD_NO;
    }
    memcpy(line + n, "\n", 2);
    return queue(rq, c, status, "application/json", line, n + 1, 1, allow);
}

enum MHD_Result respond_error(request *rq, struct MHD_Connection *c, unsigned status,
                              const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ok = error_v(rq, c, status, what, NULL, fmt, ap);
    va_end(ap);
    return ok;
}

static enum MHD_Result method_error(request *rq, struct MHD_Connection *c, const char *allow,
                                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum MHD_Result ok = error_v(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", allow,
                                 fmt, ap);
    va_end(ap);
    return ok;
}

enum MHD_Result respond_method(request *rq, struct MHD_Connection *c, const char *allow)
{
    return method_error(rq, c, allow, "%s is not allowed on %s (allowed: %s)", rq->method,
                        rq->path, allow);
}

void respond_ascii(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80 || (unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

const char *respond_reason(unsigned status)
{
    switch (status) {
    case 400: return "bad request";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 406: return "not acceptable";
    case 413: return "content too large";
    case 415: return "unsupported media type";
    case 500: return "internal server error";
    case 503: return "service unavailable";
    default: return "error";
    }
}

unsigned respond_status_for(covidcam_status rc)
{
    switch (rc) {
    case COVIDCAM_ERR_INVALID_ARGUMENT:
    case COVIDCAM_ERR_BAD_FORMAT:
    case COVIDCAM_ERR_UNSUPPORTED: return MHD_HTTP_BAD_REQUEST;
    case COVIDCAM_ERR_LIMIT: return MHD_HTTP_CONTENT_TOO_LARGE;
    case COVIDCAM_ERR_OUT_OF_MEMORY: return MHD_HTTP_SERVICE_UNAVAILABLE;
    default: return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}
