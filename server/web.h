/* The files of the try-it page (server/web/), compiled into the binary by
 * web/embed.py. */
#ifndef COVIDCAM_SERVER_WEB_H
#define COVIDCAM_SERVER_WEB_H

#include <stddef.h>

typedef struct web_asset {
    const char *path; /* URL path, "/index.html" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} web_asset;

/* The asset served at `path` ("/" is "/index.html"), or NULL. */
const web_asset *web_find(const char *path);

#endif
