/* A multipart/form-data body read with MHD_PostProcessor, keeping only the
 * image in the form field `file`. */
#ifndef COVIDCAM_SERVER_MULTIPART_H
#define COVIDCAM_SERVER_MULTIPART_H

#include <microhttpd.h>

#include "bytes.h"

typedef struct multipart {
    struct MHD_PostProcessor *pp;
    bytes file;        /* the field's content */
    char filename[256]; /* its file name, "" when none was sent */
    int seen;          /* the field occurred */
    int error;         /* 0, -1 out of memory, -2 over the body limit */
} multipart;

/* Start parsing the body of `conn` (Content-Type multipart/form-data; boundary=...),
 * keeping at most `max` bytes of the file. -1 when MHD refuses (no boundary). */
int multipart_init(multipart *mp, struct MHD_Connection *conn, size_t max);

/* Feed `n` bytes of the body. -1 when the body is malformed or mp->error is set. */
int multipart_feed(multipart *mp, const char *data, size_t n);

/* The body is complete; release the parser (not the file). -1 if the body
 * ended in the middle of a part or had stray bytes. */
int multipart_finish(multipart *mp);

void multipart_free(multipart *mp);

#endif
