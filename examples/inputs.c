#include "inputs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "covidcam.h"

/* The signatures covidcam.h documents: PNG, JPEG SOI, DICOM "DICM" at 128 or
 * a preamble-less file starting with a group 0002/0008 element (explicit VR,
 * or an implicit-VR length that fits the bytes seen), as the library sniffs. */
static int is_vr(unsigned char a, unsigned char b)
{
    static const char vrs[] = "AEASATCSDADSDTFLFDISLOLTOBODOFOLOVOWPNSHSLSQSSSTSVTMUCUIULUNURUSUTUV";
    for (size_t i = 0; i + 1 < sizeof vrs; i += 2)
        if (vrs[i] == (char)a && vrs[i + 1] == (char)b)
            return 1;
    return 0;
}

int cli_looks_like_image(const unsigned char *p, size_t len)
{
    if (len >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8))
        return 1;
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return 1;
    if (len < 8)
        return 0;
    if (len >= 132 && !memcmp(p + 128, "DICM", 4))
        return 1;
    unsigned group = p[0] | (unsigned)p[1] << 8, elem = p[2] | (unsigned)p[3] << 8;
    if ((group != 0x0002 && group != 0x0008) || elem > 0x0020)
        return 0;
    if (is_vr(p[4], p[5]))
        return 1;
    unsigned long vlen = p[4] | (unsigned long)p[5] << 8 | (unsigned long)p[6] << 16 |
                         (unsigned long)p[7] << 24;
    return vlen <= len - 8;
}

/* Bytes enough for every signature (the library looks at 256). */
#define SNIFF_BYTES 256

/* 1 image, 0 not an image, -1 unreadable (errno set). */
static int sniff_file(const char *path)
{
    unsigned char buf[SNIFF_BYTES];
    int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return cli_looks_like_image(buf, got);
}

static int push(cli_inputs *in, char *path, char *rel, int status, const char *error)
{
    if (in->count == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 64;
        cli_input *item = realloc(in->item, cap * sizeof *item);
        if (!item)
            goto fail;
        in->item = item;
        in->cap = cap;
    }
    char *err = error ? strdup(error) : NULL;
    if (!path || !rel || (error && !err)) {
        free(err);
        goto fail;
    }
    in->item[in->count++] = (cli_input){path, rel, status, err};
    return 0;
fail:
    free(path);
    free(rel);
    return -1;
}

static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    int slash = na > 0 && a[na - 1] != '/' && nb > 0;
    char *s = malloc(na + slash + nb + 1);
    if (!s)
        return NULL;
    memcpy(s, a, na);
    if (slash)
        s[na] = '/';
    memcpy(s + na + slash, b, nb + 1);
    return s;
}

static int add_error(cli_inputs *in, const char *path, const char *rel, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
    return push(in, strdup(path), strdup(rel), COVIDCAM_ERR_IO, msg);
}

/* One entry `name` of the folder being walked, at `path` (rel under the root). */
static int visit(cli_inputs *in, const char *path, const char *rel, const char *name,
                 const char *pattern);

static int walk(cli_inputs *in, const char *dir, const char *reldir, const char *pattern)
{
    DIR *d = opendir(dir);
    if (!d)
        return add_error(in, dir, reldir, "cannot read folder");
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *path = join(dir, e->d_name), *rel = join(reldir, e->d_name);
        rc = path && rel ? visit(in, path, rel, e->d_name, pattern) : -1;
        free(path);
        free(rel);
    }
    if (rc == 0 && errno)
        rc = add_error(in, dir, reldir, "cannot read folder");
    closedir(d);
    return rc;
}

static int visit(cli_inputs *in, const char *path, const char *rel, const char *name,
                 const char *pattern)
{
    struct stat st;
    if (lstat(path, &st))
        return add_error(in, path, rel, "cannot stat");
    if (S_ISDIR(st.st_mode))
        return walk(in, path, rel, pattern);
    if (pattern && fnmatch(pattern, name, 0))
        return 0;
    /* A link to a file counts as the file; links to folders are not followed
     * (no loops) and a dangling link is an unreadable file. */
    if (S_ISLNK(st.st_mode) && stat(path, &st))
        return add_error(in, path, rel, "cannot stat");
    if (!S_ISREG(st.st_mode)) {
        in->not_files++;
        return 0;
    }
    int kind = sniff_file(path);
    if (kind < 0)
        return add_error(in, path, rel, "cannot read");
    if (kind == 0) {
        in->not_images++;
        return 0;
    }
    return push(in, strdup(path), strdup(rel), 0, NULL);
}

static int by_rel(const void *a, const void *b)
{
    return strcmp(((const cli_input *)a)->rel, ((const cli_input *)b)->rel);
}

static int add_folder(cli_inputs *in, const char *dir, const char *pattern)
{
    size_t first = in->count;
    if (walk(in, dir, "", pattern))
        return -1;
    if (in->count > first) /* an empty folder may leave item NULL: no qsort(NULL) */
        qsort(in->item + first, in->count - first, sizeof *in->item, by_rel);
    return 0;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b && b[1] ? b + 1 : path;
}

static int add_one(cli_inputs *in, const char *arg, const char *pattern)
{
    struct stat st;
    if (!stat(arg, &st) && S_ISDIR(st.st_mode)) {
        in->any_folder = 1;
        return add_folder(in, arg, pattern);
    }
    return push(in, strdup(arg), strdup(base_name(arg)), 0, NULL);
}

static int add_list(cli_inputs *in, const char *pattern, FILE *list)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    in->any_folder = 1;
    while (rc == 0 && (n = getline(&line, &cap, list)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n > 0)
            rc = add_one(in, line, pattern);
    }
    free(line);
    return rc;
}

int cli_inputs_add(cli_inputs *in, const char *prog, const char *arg, const char *pattern,
                   FILE *list)
{
    int rc = strcmp(arg, "-") ? add_one(in, arg, pattern) : add_list(in, pattern, list);
    if (rc)
        fprintf(stderr, "%s: out of memory listing %s\n", prog, arg);
    return rc;
}

void cli_inputs_free(cli_inputs *in)
{
    for (size_t i = 0; i < in->count; i++) {
        free(in->item[i].path);
        free(in->item[i].rel);
        free(in->item[i].error);
    }
    free(in->item);
    memset(in, 0, sizeof *in);
}
