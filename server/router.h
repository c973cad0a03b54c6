/* The libmicrohttpd callbacks: find the route of each request, read its body
 * within the limits, answer, then log and count it. */
#ifndef COVIDCAM_SERVER_ROUTER_H
#define COVIDCAM_SERVER_ROUTER_H

#include <microhttpd.h>

#include "server.h"

/* MHD_AccessHandlerCallback; cls is the server. */
enum MHD_Result router_access(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls);

/* MHD_RequestCompletedCallback; cls is the server. */
void router_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe);

#endif
