#include "multipart.h"

#include <stdio.h>
#include <string.h>

static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *filename, const char *content_type,
                                const char *transfer_encoding, const char *data, uint64_t off,
                                size_t size)
{
    multipart *mp = cls;
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    (void)off;
    if (!key || strcmp(key, "file"))
        return MHD_YES;
    if (!mp->seen && filename)
        snprintf(mp->filename, sizeof mp->filename, "%s", filename);
    mp->seen = 1;
    if (size && (mp->error = bytes_append(&mp->file, data, size)))
        return MHD_NO;
    return MHD_YES;
}

int multipart_init(multipart *mp, struct MHD_Connection *conn, size_t max)
{
    memset(mp, 0, sizeof *mp);
    mp->file.max = max;
    mp->pp = MHD_create_post_processor(conn, 64 << 10, on_field, mp);
    return mp->pp ? 0 : -1;
}

int multipart_feed(multipart *mp, const char *data, size_t n)
{
    if (MHD_post_process(mp->pp, data, n) != MHD_YES)
        return -1;
    return mp->error ? -1 : 0;
}

int multipart_finish(multipart *mp)
{
    int rc = 0;
    if (mp->pp && MHD_destroy_post_processor(mp->pp) != MHD_YES)
        rc = -1;
    mp->pp = NULL;
    return rc;
}

void multipart_free(multipart *mp)
{
    multipart_finish(mp);
    bytes_free(&mp->file);
}
