#include "st_rewrite.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t size, const char *fmt, const char *path)
{
    snprintf(err, size, fmt, path, strerror(errno));
    return -1;
}

/* The whole file at path into *buf (*len bytes); caller frees. */
static int slurp(const char *path, unsigned char **buf, size_t *len, char *err, size_t size)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    *buf = NULL;
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        if (f)
            fclose(f);
        return fail(err, size, "%s: cannot read: %s", path);
    }
    *buf = malloc(n ? (size_t)n : 1);
    if (!*buf || fread(*buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(*buf);
        *buf = NULL;
        return fail(err, size, "%s: cannot read: %s", path);
    }
    fclose(f);
    *len = (size_t)n;
    return 0;
}

/* The new header text for the file in buf: its JSON with meta merged. */
static char *new_header(const unsigned char *buf, size_t len, json_t *meta, size_t *data_at,
                        char *err, size_t size, const char *in)
{
    uint64_t n = 0;
    for (int i = 7; len >= 8 && i >= 0; i--)
        n = n << 8 | buf[i];
    if (len < 8 || n > len - 8) {
        snprintf(err, size, "%s: not a safetensors file (header length)", in);
        return NULL;
    }
    json_error_t jerr;
    json_t *h = json_loadb((const char *)buf + 8, (size_t)n, 0, &jerr);
    json_t *md = h ? json_object_get(h, "__metadata__") : NULL;
    if (!md || !json_is_object(md) || json_object_update(md, meta)) {
        snprintf(err, size, "%s: not a safetensors file with metadata (%s)", in,
                 h ? "no __metadata__ object" : jerr.text);
        json_decref(h);
        return NULL;
    }
    char *text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    if (!text)
        snprintf(err, size, "out of memory");
    *data_at = 8 + (size_t)n;
    return text;
}

static int write_all(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

/* Header length, header padded with spaces to 8 bytes, then the data. */
static int write_file(FILE *f, const char *header, const unsigned char *data, size_t n)
{
    size_t hl = strlen(header), padded = (hl + 7) & ~(size_t)7;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    static const char spaces[8] = "        ";
    if (write_all(f, len8, 8) || write_all(f, header, hl) ||
        write_all(f, spaces, padded - hl) || write_all(f, data, n) || fflush(f) ||
        fsync(fileno(f)))
        return -1;
    return 0;
}

int st_rewrite(const char *in, const char *out, json_t *meta, char *err, size_t errsize)
{
    unsigned char *buf = NULL;
    size_t len = 0, data_at = 0;
    char *header = NULL, *tmp = NULL;
    int rc = -1, fd = -1;
    FILE *f = NULL;
    if (slurp(in, &buf, &len, err, errsize) ||
        !(header = new_header(buf, len, meta, &data_at, err, errsize, in)))
        goto done;
    if (!(tmp = malloc(strlen(out) + 16))) {
        snprintf(err, errsize, "out of memory");
        goto done;
    }
    sprintf(tmp, "%s.tmp-XXXXXX", out);
    /* mkstemp makes the file 0600; a model file is for every reader */
    if ((fd = mkstemp(tmp)) < 0 || fchmod(fd, 0644) || !(f = fdopen(fd, "wb"))) {
        fail(err, errsize, "%s: cannot create: %s", tmp);
        goto done;
    }
    fd = -1;
    if (write_file(f, header, buf + data_at, len - data_at)) {
        fail(err, errsize, "%s: cannot write: %s", tmp);
        goto done;
    }
    if (fclose(f)) {
        f = NULL;
        fail(err, errsize, "%s: cannot write: %s", tmp);
        goto done;
    }
    f = NULL;
    if (rename(tmp, out)) {
        fail(err, errsize, "%s: cannot rename the new file over it: %s", out);
        goto done;
    }
    rc = 0;
done:
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (rc && tmp)
        unlink(tmp);
    free(tmp);
    free(header);
    free(buf);
    return rc;
}
