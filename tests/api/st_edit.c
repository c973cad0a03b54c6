#include "st_edit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "st_edit: out of memory\n");
        abort();
    }
    return p;
}

static ste_tensor *grow(ste_file *f)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        ste_tensor *t = realloc(f->t, f->cap * sizeof *t);
        if (!t)
            abort();
        f->t = t;
    }
    ste_tensor *t = &f->t[f->n++];
    memset(t, 0, sizeof *t);
    return t;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int add_entry(ste_file *f, const char *name, json_t *v, const uint8_t *data, size_t dlen,
                     int64_t *begin)
{
    json_t *shape = json_object_get(v, "shape");
    json_t *offs = json_object_get(v, "data_offsets");
    const char *dt = json_string_value(json_object_get(v, "dtype"));
    if (!dt || !json_is_array(shape) || json_array_size(shape) > 8 || !json_is_array(offs))
        return -1;
    int64_t b = json_integer_value(json_array_get(offs, 0));
    int64_t e = json_integer_value(json_array_get(offs, 1));
    if (b < 0 || e < b || (uint64_t)e > dlen)
        return -1;
    ste_tensor *t = grow(f);
    t->name = strdup(name);
    snprintf(t->dtype, sizeof t->dtype, "%s", dt);
    t->ndim = (int)json_array_size(shape);
    for (int d = 0; d < t->ndim; d++)
        t->shape[d] = json_integer_value(json_array_get(shape, (size_t)d));
    t->nbytes = (size_t)(e - b);
    t->data = xmalloc(t->nbytes);
    memcpy(t->data, data + b, t->nbytes);
    *begin = b;
    return 0;
}

/* Keep the file's data order, which is the order writers use. */
static void sort_by_offset(ste_file *f, int64_t *begin)
{
    for (size_t i = 1; i < f->n; i++)
        for (size_t j = i; j > 0 && begin[j - 1] > begin[j]; j--) {
            ste_tensor t = f->t[j];
            f->t[j] = f->t[j - 1];
            f->t[j - 1] = t;
            int64_t b = begin[j];
            begin[j] = begin[j - 1];
            begin[j - 1] = b;
        }
}

ste_file *ste_load(const char *path)
{
    size_t len = 0;
    uint8_t *buf = tu_read_file(path, &len);
    ste_file *f = NULL;
    json_t *root = NULL;
    int64_t *begin = NULL;
    if (!buf || len < 8 || le64(buf) > len - 8)
        goto fail;
    uint64_t hlen = le64(buf);
    if (!(root = json_loadb((const char *)buf + 8, (size_t)hlen, 0, NULL)))
        goto fail;
    f = calloc(1, sizeof *f);
    begin = xmalloc(json_object_size(root) * sizeof *begin);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            f->meta = json_deep_copy(v);
            continue;
        }
        if (add_entry(f, key, v, buf + 8 + hlen, len - 8 - (size_t)hlen, &begin[f->n]))
            goto fail;
    }
    sort_by_offset(f, begin);
    free(begin);
    json_decref(root);
    free(buf);
    return f;
fail:
    free(begin);
    ste_free(f);
    json_decref(root);
    free(buf);
    return NULL;
}

void ste_free(ste_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->t[i].name);
        free(f->t[i].data);
    }
    free(f->t);
    json_decref(f->meta);
    free(f);
}

ste_tensor *ste_find(ste_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0)
            return &f->t[i];
    return NULL;
}

int ste_remove(ste_file *f, const char *name)
{
    ste_tensor *t = ste_find(f, name);
    if (!t)
        return -1;
    free(t->name);
    free(t->data);
    size_t i = (size_t)(t - f->t);
    memmove(&f->t[i], &f->t[i + 1], (f->n - i - 1) * sizeof *t);
    f->n--;
    return 0;
}

void ste_put(ste_file *f, const char *name, const char *dtype, int ndim, const int64_t *shape,
             const void *data, size_t nbytes)
{
    ste_tensor *t = ste_find(f, name);
    if (t) {
        free(t->data);
    } else {
        t = grow(f);
        t->name = strdup(name);
    }
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        t->shape[d] = shape[d];
    t->nbytes = nbytes;
    t->data = xmalloc(nbytes);
    memcpy(t->data, data, nbytes);
}

void ste_meta(ste_file *f, const char *key, const char *value)
{
    if (!f->meta)
        f->meta = json_object();
    if (value)
        json_object_set_new(f->meta, key, json_string(value));
    else
        json_object_del(f->meta, key);
}

json_t *ste_header(const ste_file *f)
{
    json_t *root = json_object();
    if (f->meta)
        json_object_set(root, "__metadata__", f->meta);
    size_t off = 0;
    for (size_t i = 0; i < f->n; i++) {
        const ste_tensor *t = &f->t[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *e = json_object();
        json_object_set_new(e, "dtype", json_string(t->dtype));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets",
                            json_pack("[II]", (json_int_t)off, (json_int_t)(off + t->nbytes)));
        json_object_set_new(root, t->name, e);
        off += t->nbytes;
    }
    return root;
}

uint8_t *ste_data(const ste_file *f, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += f->t[i].nbytes;
    uint8_t *d = xmalloc(n);
    size_t o = 0;
    for (size_t i = 0; i < f->n; i++) {
        memcpy(d + o, f->t[i].data, f->t[i].nbytes);
        o += f->t[i].nbytes;
    }
    *len = n;
    return d;
}

uint8_t *ste_pack(const char *json, const uint8_t *data, size_t dlen, size_t *len)
{
    size_t jl = strlen(json), hl = (jl + 7) / 8 * 8;
    uint8_t *b = xmalloc(8 + hl + dlen);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, json, jl);
    memset(b + 8 + jl, ' ', hl - jl);
    if (dlen)
        memcpy(b + 8 + hl, data, dlen);
    *len = 8 + hl + dlen;
    return b;
}

uint8_t *ste_serialize_header(const ste_file *f, json_t *header, size_t *len)
{
    char *json = json_dumps(header, JSON_COMPACT);
    size_t dlen = 0;
    uint8_t *data = ste_data(f, &dlen);
    uint8_t *b = ste_pack(json, data, dlen, len);
    free(data);
    free(json);
    return b;
}

uint8_t *ste_serialize(const ste_file *f, size_t *len)
{
    json_t *h = ste_header(f);
    uint8_t *b = ste_serialize_header(f, h, len);
    json_decref(h);
    return b;
}
