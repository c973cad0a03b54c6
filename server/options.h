/* Command-line options of covidcam-server. */
#ifndef COVIDCAM_SERVER_OPTIONS_H
#define COVIDCAM_SERVER_OPTIONS_H

#include <stddef.h>

#include "covidcam.h"

typedef struct server_options {
    const char *model;
    const char *host;             /* numeric IPv4 or IPv6 address to bind */
    int port;                     /* 0 = any free port (printed at startup) */
    int workers;                  /* sessions, one per worker thread */
    int threads_per_worker;       /* oneDNN threads of each session */
    covidcam_precision precision;
    const char *precision_name;   /* as given, for the startup line */
    size_t max_body;              /* bytes */
    int queue;                    /* requests that may wait for a worker */
    int timeout_s;                /* idle connection timeout */
    int quiet;                    /* no per-request log lines */
} server_options;

/* Parse argv into `o`. 0 to run, 1 to exit successfully (--help, --version),
 * 2 on a usage error (already reported on stderr). */
int options_parse(int argc, char **argv, server_options *o);

#endif
