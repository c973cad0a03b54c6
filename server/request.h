/* The state of one HTTP request, from its first byte to its completion. */
#ifndef COVIDCAM_SERVER_REQUEST_H
#define COVIDCAM_SERVER_REQUEST_H

#include <microhttpd.h>

#include "bytes.h"
#include "multipart.h"
#include "server.h"

typedef enum body_kind { BODY_NONE, BODY_RAW, BODY_MULTIPART } body_kind;

typedef struct request {
    server *srv;
    route route;
    double t0;           /* ms, when the request line arrived */
    char method[16];     /* truncated copies, for the log */
    char path[256];
    unsigned status;     /* of the response queued; 0 until then */
    body_kind kind;
    bytes raw;           /* BODY_RAW */
    multipart mp;        /* BODY_MULTIPART */
    /* An error found mid-upload: MHD takes a response only before the body or
     * after all of it, so the rest is read and dropped, then this is sent. */
    unsigned pending;
    char pending_msg[160];
    char timing[128];    /* Server-Timing header of the answer, "" for none */
} request;

#endif
