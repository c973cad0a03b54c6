/* Queueing responses: bytes, JSON, and the JSON errors of the API. */
#ifndef COVIDCAM_SERVER_RESPOND_H
#define COVIDCAM_SERVER_RESPOND_H

#include <jansson.h>
#include <microhttpd.h>

#include "request.h"

/* Queue `len` bytes at `data` with `type`; MHD frees data when `owned` (it
 * must come from malloc). Records the status in rq. */
enum MHD_Result respond_bytes(request *rq, struct MHD_Connection *c, unsigned status,
                              const char *type, void *data, size_t len, int owned);

/* Queue `obj` (released here) as one compact line of JSON. */
enum MHD_Result respond_json(request *rq, struct MHD_Connection *c, unsigned status, json_t *obj);

/* {"error": message, "status": what} with HTTP `status`. `what` is the
 * library's status string for library failures, else the HTTP reason in lower
 * case. 405 adds Allow: `allow`; 503 adds Retry-After. */
enum MHD_Result respond_error(request *rq, struct MHD_Connection *c, unsigned status,
                              const char *what, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Replace every byte of `s` that is not printable ASCII with '?' (for logs,
 * and for JSON when the bytes are not valid UTF-8). */
void respond_ascii(char *s);

/* The HTTP reason phrase of `status` in lower case ("not found"). */
const char *respond_reason(unsigned status);

/* 405 naming the allowed methods. */
enum MHD_Result respond_method(request *rq, struct MHD_Connection *c, const char *allow);

/* The HTTP status for a failed library call. */
unsigned respond_status_for(covidcam_status rc);

#endif
