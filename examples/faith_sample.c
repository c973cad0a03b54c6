/* Listing and seeded per-class sampling of a dataset root. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "faith_metrics.h"
#include "faith_sample.h"

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static void names_free(names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int names_push(names *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The non-hidden entries of dir whose type (following links) is `mode`
 * (S_IFDIR or S_IFREG), sorted. */
static int list(const char *dir, mode_t mode, names *out, char *msg, size_t size)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(msg, size, "cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char *p = join(dir, e->d_name);
        struct stat st;
        if (!p)
            rc = -1;
        else if (stat(p, &st) == 0 && (st.st_mode & S_IFMT) == mode)
            rc = names_push(out, e->d_name);
        free(p);
    }
    closedir(d);
    if (rc)
        snprintf(msg, size, "out of memory listing %s", dir);
    else
        qsort(out->v, out->n, sizeof *out->v, by_name);
    return rc;
}

static int push_item(faith_sample *s, const char *dir, const char *file, const char *truth)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        faith_item *v = realloc(s->items, cap * sizeof *v);
        if (!v)
            return -1;
        s->items = v;
        s->cap = cap;
    }
    faith_item *it = &s->items[s->n];
    it->path = join(dir, file);
    it->truth = strdup(truth);
    if (!it->path || !it->truth) {
        free(it->path);
        free(it->truth);
        return -1;
    }
    s->n++;
    return 0;
}

/* Keep per_class of the sorted files: a seeded Fisher-Yates shuffle picks
 * them, then the pick is sorted again so the order does not depend on it. */
static void pick(names *files, int per_class, uint64_t seed, uint64_t stream)
{
    if (per_class <= 0 || (size_t)per_class >= files->n)
        return;
    faith_rng r;
    faith_rng_seed(&r, seed, stream);
    for (size_t i = files->n - 1; i > 0; i--) {
        size_t j = (size_t)(faith_rng_uniform(&r) * (double)(i + 1));
        char *t = files->v[i];
        files->v[i] = files->v[j];
        files->v[j] = t;
    }
    for (size_t i = (size_t)per_class; i < files->n; i++)
        free(files->v[i]);
    files->n = (size_t)per_class;
    qsort(files->v, files->n, sizeof *files->v, by_name);
}

int faith_sample_add(faith_sample *s, const char *root, int per_class, uint64_t seed, char *msg,
                     size_t msg_size)
{
    names classes = {0};
    int rc = list(root, S_IFDIR, &classes, msg, msg_size);
    if (rc == 0 && classes.n == 0) {
        snprintf(msg, msg_size, "%s has no class folders (ROOT/<class>/<image>)", root);
        rc = -1;
    }
    for (size_t c = 0; rc == 0 && c < classes.n; c++) {
        names files = {0};
        char *dir = join(root, classes.v[c]);
        if (!dir)
            snprintf(msg, msg_size, "out of memory listing %s", root);
        rc = dir ? list(dir, S_IFREG, &files, msg, msg_size) : -1;
        if (rc == 0)
            pick(&files, per_class, seed, c);
        for (size_t i = 0; rc == 0 && i < files.n; i++)
            if (push_item(s, dir, files.v[i], classes.v[c])) {
                snprintf(msg, msg_size, "out of memory listing %s", dir);
                rc = -1;
            }
        free(dir);
        names_free(&files);
    }
    names_free(&classes);
    return rc;
}

void faith_sample_free(faith_sample *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].path);
        free(s->items[i].truth);
    }
    free(s->items);
    memset(s, 0, sizeof *s);
}
