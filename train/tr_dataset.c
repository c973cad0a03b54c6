#include "tr_dataset.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "model_meta.h"
#include "tr_rng.h"

/* A growable list of malloc'd strings. */
typedef struct strv {
    char **v;
    int n, cap;
} strv;

static void strv_free(strv *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int strv_push(strv *s, const char *str)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n] = strdup(str);
    return s->v[s->n] ? (s->n++, 0) : -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Image files by name: PNG, JPEG and DICOM (decoded by content, so the
 * extension only selects which files of a folder are training images). */
static int is_image_name(const char *name)
{
    static const char *const ext[] = {".png", ".jpg", ".jpeg", ".dcm", ".dicom"};
    size_t l = strlen(name);
    if (name[0] == '.')
        return 0;
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t n = strlen(ext[i]);
        if (l > n && strcasecmp(name + l - n, ext[i]) == 0)
            return 1;
    }
    return 0;
}

/* Sorted entries of dir that are directories (want_dirs) or image files. */
static covidcam_status list_dir(const char *dir, int want_dirs, strv *out, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    DIR *d = opendir(dir);
    if (!d)
        return cc_fail(e, COVIDCAM_ERR_IO, "cannot open folder %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || (!want_dirs && !is_image_name(de->d_name)))
            continue;
        char *full = join(dir, de->d_name);
        struct stat sb;
        int ok = full && stat(full, &sb) == 0 &&
                 (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        free(full);
        if (ok && strv_push(out, de->d_name)) {
            st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
    }
    closedir(d);
    if (st) {
        strv_free(out);
        return st;
    }
    if (out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return COVIDCAM_OK;
}

/* The n-th folder of a TR_SOURCE_SEP-separated list into buf; 0 if none. */
static int source_at(const char *list, int n, char *buf, size_t size)
{
    for (const char *p = list; p; n--) {
        const char *end = strchr(p, TR_SOURCE_SEP);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (n == 0) {
            if (len >= size)
                return 0;
            memcpy(buf, p, len);
            buf[len] = '\0';
            return 1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int tr_sources_count(const char *list)
{
    int n = 1;
    for (const char *p = list; (p = strchr(p, TR_SOURCE_SEP)); p++)
        n++;
    return n;
}

int tr_source_get(const char *list, int i, char *buf, size_t size)
{
    return source_at(list, i, buf, size) ? 0 : -1;
}

static int strv_has(const strv *s, const char *x)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return 1;
    return 0;
}

/* A class folder name must be a class name the library loads (model_meta.h):
 * at most CC_META_MAX_CLASS_NAME_BYTES bytes, no control character. The
 * message shows the name with every byte below 0x20, DEL and above 0x7e as
 * '?', so the name cannot forge terminal output itself. */
static covidcam_status check_class_folder(const char *root, const char *name, cc_err *e)
{
    long c = cc_meta_control_char(name);
    size_t len = strlen(name);
    if (c < 0 && len <= CC_META_MAX_CLASS_NAME_BYTES)
        return COVIDCAM_OK;
    char shown[64];
    size_t n = 0;
    for (; name[n] && n + 1 < sizeof shown; n++) {
        unsigned char b = (unsigned char)name[n];
        shown[n] = b < 0x20 || b > 0x7e ? '?' : (char)b;
    }
    shown[n] = '\0';
    if (c >= 0)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "%s: class folder '%s' has a control character at byte %ld; class names "
                       "come from folder names and must be printable (rename the folder)",
                       root, shown, c);
    return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                   "%s: class folder '%s...' has a %zu-byte name; class names come from folder "
                   "names and may have at most %d bytes (rename the folder)",
                   root, shown, len, CC_META_MAX_CLASS_NAME_BYTES);
}

covidcam_status tr_classes_list(const char *roots, tr_classes *out, cc_err *e)
{
    strv all = {0};
    char root[4096];
    covidcam_status st = COVIDCAM_OK;
    for (int k = 0; st == COVIDCAM_OK && source_at(roots, k, root, sizeof root); k++) {
        strv dirs = {0};
        if ((st = list_dir(root, 1, &dirs, e)))
            break;
        for (int i = 0; st == COVIDCAM_OK && i < dirs.n; i++)
            if (!(st = check_class_folder(root, dirs.v[i], e)) && !strv_has(&all, dirs.v[i]) &&
                strv_push(&all, dirs.v[i]))
                st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        strv_free(&dirs);
    }
    if (st == COVIDCAM_OK && all.n < 2) {
        char first[4096] = "";
        source_at(roots, 0, first, sizeof first);
        st = cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                     "%s%s has %d class folder%s; training needs at least two", first,
                     tr_sources_count(roots) > 1 ? " (and the other --train folders)" : "",
                     all.n, all.n == 1 ? "" : "s");
    }
    if (st) {
        strv_free(&all);
        return st;
    }
    if (all.n > 1)
        qsort(all.v, (size_t)all.n, sizeof *all.v, cmp_str);
    out->names = all.v;
    out->n = all.n;
    return COVIDCAM_OK;
}

void tr_classes_free(tr_classes *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    memset(c, 0, sizeof *c);
}

void tr_split_free(tr_split *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->items[i].path);
    free(s->items);
    memset(s, 0, sizeof *s);
}

static covidcam_status split_push(tr_split *s, int *cap, char *path, int label, cc_err *e)
{
    if (s->n == *cap) {
        int nc = *cap ? 2 * *cap : 256;
        tr_item *v = realloc(s->items, (size_t)nc * sizeof *v);
        if (!v) {
            free(path);
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        }
        s->items = v;
        *cap = nc;
    }
    s->items[s->n].path = path;
    s->items[s->n].label = label;
    s->n++;
    return COVIDCAM_OK;
}

/* The class folders of one source: exactly cls when the split has a single
 * source, a subset of cls when folders are merged by class name. */
static covidcam_status check_classes(const char *root, const tr_classes *cls, int subset,
                                     strv *dirs, cc_err *e)
{
    covidcam_status st = list_dir(root, 1, dirs, e);
    if (st)
        return st;
    int same = subset || dirs->n == cls->n;
    for (int i = 0; same && i < dirs->n; i++) {
        same = 0;
        for (int c = 0; c < cls->n && !same; c++)
            same = strcmp(dirs->v[i], cls->names[c]) == 0;
    }
    if (!same) {
        char got[256] = "", want[256] = "";
        for (int i = 0; i < dirs->n; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "," : "",
                     dirs->v[i]);
        for (int i = 0; i < cls->n; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i ? "," : "",
                     cls->names[i]);
        st = cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                     "%s has class folders [%s] but the model's classes are [%s]", root, got, want);
        strv_free(dirs);
    }
    return st;
}

/* Append the images of root/<class>/ (sorted) to s with label c. */
static covidcam_status push_class(const char *root, const char *name, int c, tr_split *s,
                                  int *cap, cc_err *e)
{
    strv files = {0};
    char *dir = join(root, name);
    if (!dir)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    covidcam_status st = list_dir(dir, 0, &files, e);
    for (int i = 0; st == COVIDCAM_OK && i < files.n; i++) {
        char *p = join(dir, files.v[i]);
        st = p ? split_push(s, cap, p, c, e)
               : cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    strv_free(&files);
    free(dir);
    return st;
}

covidcam_status tr_split_list(const char *roots, const tr_classes *cls, int allow_empty,
                              tr_split *out, cc_err *e)
{
    tr_split s = {0};
    int cap = 0, nsrc = tr_sources_count(roots);
    char root[4096];
    strv *dirs = calloc((size_t)nsrc, sizeof *dirs);
    covidcam_status st = dirs ? COVIDCAM_OK
                              : cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    for (int k = 0; st == COVIDCAM_OK && k < nsrc; k++)
        if (!source_at(roots, k, root, sizeof root))
            st = cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "folder name too long");
        else
            st = check_classes(root, cls, nsrc > 1, &dirs[k], e);
    /* Class-major, then source, then file name: one source keeps the order
     * of a single tree. */
    for (int c = 0; st == COVIDCAM_OK && c < cls->n; c++) {
        int before = s.n;
        for (int k = 0; st == COVIDCAM_OK && k < nsrc; k++)
            if (strv_has(&dirs[k], cls->names[c]) && source_at(roots, k, root, sizeof root))
                st = push_class(root, cls->names[c], c, &s, &cap, e);
        if (st == COVIDCAM_OK && s.n == before && !allow_empty) {
            source_at(roots, 0, root, sizeof root);
            st = nsrc > 1 ? cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                                    "class %s has no images in any of the %d folders (%s...)",
                                    cls->names[c], nsrc, root)
                          : cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                                    "class folder %s/%s has no images", root, cls->names[c]);
        }
    }
    for (int k = 0; dirs && k < nsrc; k++)
        strv_free(&dirs[k]);
    free(dirs);
    if (st) {
        tr_split_free(&s);
        return st;
    }
    *out = s;
    return COVIDCAM_OK;
}

void tr_split_source_counts(const tr_split *s, const char *roots, int num_classes, int *counts)
{
    int nsrc = tr_sources_count(roots);
    char root[4096];
    memset(counts, 0, sizeof *counts * (size_t)nsrc * (size_t)num_classes);
    for (int i = 0; i < s->n; i++)
        for (int k = 0; k < nsrc; k++) {
            if (!source_at(roots, k, root, sizeof root))
                continue;
            size_t n = strlen(root);
            if (strncmp(s->items[i].path, root, n) == 0 && s->items[i].path[n] == '/') {
                counts[k * num_classes + s->items[i].label]++;
                break;
            }
        }
}

static int cmp_item(const void *a, const void *b)
{
    const tr_item *x = a, *y = b;
    if (x->label != y->label)
        return x->label < y->label ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* Per-class counts of a split by fractions: rounded, never more than n. */
static void split_counts(int n, const double f[3], int cnt[3])
{
    cnt[0] = (int)floor(n * f[0] + 0.5);
    cnt[1] = (int)floor(n * f[1] + 0.5);
    if (cnt[0] > n)
        cnt[0] = n;
    if (cnt[0] + cnt[1] > n)
        cnt[1] = n - cnt[0];
    cnt[2] = n - cnt[0] - cnt[1];
}

covidcam_status tr_split_root(const char *root, const double f[3], uint64_t seed,
                              tr_classes *cls, tr_split out[3], cc_err *e)
{
    tr_split all = {0};
    tr_split parts[3] = {{0}};
    int caps[3] = {0};
    int *idx = NULL;
    covidcam_status st = tr_classes_list(root, cls, e);
    if (st)
        return st;
    st = tr_split_list(root, cls, 0, &all, e);
    if (st)
        goto fail;
    idx = malloc((size_t)all.n * sizeof *idx);
    if (!idx) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    for (int c = 0, start = 0; c < cls->n; c++) {
        int n = 0;
        while (start + n < all.n && all.items[start + n].label == c)
            n++;
        for (int i = 0; i < n; i++)
            idx[i] = start + i;
        tr_rng r = tr_rng_make(seed, TR_RNG_SPLIT, (uint64_t)c, 0);
        tr_rng_shuffle(&r, idx, n);
        int cnt[3];
        split_counts(n, f, cnt);
        if (cnt[0] == 0) {
            st = cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                         "class %s has %d images: too few for a %.2g training fraction",
                         cls->names[c], n, f[0]);
            goto fail;
        }
        for (int i = 0, part = 0, used = 0; i < n; i++) {
            while (used == cnt[part]) {
                part++;
                used = 0;
            }
            /* Move the path into the part; `all` keeps a NULL. */
            tr_item *it = &all.items[idx[i]];
            st = split_push(&parts[part], &caps[part], it->path, c, e);
            it->path = NULL;
            if (st)
                goto fail;
            used++;
        }
        start += n;
    }
    /* Each part in file order (class, then name), like a listed tree. */
    for (int p = 0; p < 3; p++) {
        if (parts[p].n > 1)
            qsort(parts[p].items, (size_t)parts[p].n, sizeof *parts[p].items, cmp_item);
        out[p] = parts[p];
    }
    free(idx);
    tr_split_free(&all);
    return COVIDCAM_OK;
fail:
    free(idx);
    tr_split_free(&all);
    for (int p = 0; p < 3; p++)
        tr_split_free(&parts[p]);
    tr_classes_free(cls);
    return st;
}

void tr_split_limit(tr_split *s, int num_classes, int per_class)
{
    if (per_class <= 0)
        return;
    int *seen = calloc((size_t)num_classes, sizeof *seen);
    if (!seen)
        return;
    int k = 0;
    for (int i = 0; i < s->n; i++) {
        int c = s->items[i].label;
        if (seen[c]++ < per_class)
            s->items[k++] = s->items[i];
        else
            free(s->items[i].path);
    }
    s->n = k;
    free(seen);
}

void tr_split_remove(tr_split *s, const unsigned char *drop)
{
    int k = 0;
    for (int i = 0; i < s->n; i++) {
        if (drop[i])
            free(s->items[i].path);
        else
            s->items[k++] = s->items[i];
    }
    s->n = k;
}

void tr_split_counts(const tr_split *s, int num_classes, int *counts)
{
    memset(counts, 0, (size_t)num_classes * sizeof *counts);
    for (int i = 0; i < s->n; i++)
        counts[s->items[i].label]++;
}
