/* The answers of each API route. Each queues one response (or returns MHD_NO
 * when MHD cannot take one, which closes the connection). */
#ifndef COVIDCAM_SERVER_API_H
#define COVIDCAM_SERVER_API_H

#include <microhttpd.h>
#include <stddef.h>

#include "request.h"

/* GET /v1/model, /healthz, /metrics (api_info.c). */
enum MHD_Result api_model(request *rq, struct MHD_Connection *c);
enum MHD_Result api_healthz(request *rq, struct MHD_Connection *c);
enum MHD_Result api_metrics(request *rq, struct MHD_Connection *c);

/* Reject bad query parameters of POST /v1/classify or /v1/gradcam before the
 * body is read: 0 if they are fine, else -1 with a 400 queued (*ret). */
int api_check_params(request *rq, struct MHD_Connection *c, enum MHD_Result *ret);

/* POST /v1/classify and /v1/gradcam once the image (`n` bytes) has arrived;
 * `file` is the upload's file name or "-" (api_infer.c). */
enum MHD_Result api_classify(request *rq, struct MHD_Connection *c, const unsigned char *img,
                             size_t n, const char *file);
enum MHD_Result api_gradcam(request *rq, struct MHD_Connection *c, const unsigned char *img,
                            size_t n, const char *file);

#endif
