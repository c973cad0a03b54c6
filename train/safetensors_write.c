#include "safetensors_write.h"

#include "tr_atomic.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the safetensors writer stores host floats as little-endian"
#endif

typedef struct stw_tensor {
    char *name;
    int ndim;
    int64_t shape[CC_MAX_NDIM];
    const float *data;
    size_t nbytes;
} stw_tensor;

struct cc_stw {
    stw_tensor *t;
    size_t n, cap;
    json_t *meta; /* object of strings, insertion ordered */
};

covidcam_status cc_stw_create(cc_stw **out, cc_err *e)
{
    cc_stw *w = calloc(1, sizeof *w);
    if (!w)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    w->meta = json_object();
    if (!w->meta) {
        free(w);
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *out = w;
    return COVIDCAM_OK;
}

void cc_stw_free(cc_stw *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        free(w->t[i].name);
    free(w->t);
    json_decref(w->meta);
    free(w);
}

static int has_name(const cc_stw *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return 1;
    return 0;
}

covidcam_status cc_stw_add_f32(cc_stw *w, const char *name, int ndim, const int64_t *shape,
                               const float *data, cc_err *e)
{
    if (!w || !name || !*name || ndim < 0 || ndim > CC_MAX_NDIM || (ndim && !shape))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad tensor %s", name ? name : "(null)");
    if (strcmp(name, "__metadata__") == 0 || has_name(w, name))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "duplicate or reserved tensor name %s",
                       name);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "negative dim in %s", name);
        numel *= (size_t)shape[i];
    }
    if (numel && !data)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "no data for %s", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        stw_tensor *t = realloc(w->t, cap * sizeof *t);
        if (!t)
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        w->t = t;
        w->cap = cap;
    }
    stw_tensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = numel * sizeof(float);
    w->n++;
    return COVIDCAM_OK;
}

covidcam_status cc_stw_add_meta(cc_stw *w, const char *key, const char *value, cc_err *e)
{
    if (!w || !key || !value)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad metadata entry");
    json_t *s = json_string(value);
    if (!s)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "metadata %s is not valid UTF-8", key);
    if (json_object_set_new(w->meta, key, s) != 0)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    return COVIDCAM_OK;
}

static json_t *tensor_entry(const stw_tensor *t, size_t begin)
{
    json_t *shape = json_array();
    for (int i = 0; shape && i < t->ndim; i++)
        json_array_append_new(shape, json_integer(t->shape[i]));
    json_t *off = json_pack("[II]", (json_int_t)begin, (json_int_t)(begin + t->nbytes));
    if (!shape || !off || (int)json_array_size(shape) != t->ndim) {
        json_decref(shape);
        json_decref(off);
        return NULL;
    }
    /* "o" steals both references, also when packing fails. */
    return json_pack("{s:s,s:o,s:o}", "dtype", "F32", "shape", shape, "data_offsets", off);
}

/* The padded JSON header (malloc'd) and its length, a multiple of 8. */
static covidcam_status make_header(const cc_stw *w, char **hdr, size_t *hlen, cc_err *e)
{
    covidcam_status st = COVIDCAM_OK;
    char *txt = NULL;
    json_t *root = json_object();
    if (!root)
        goto oom;
    if (json_object_size(w->meta) && json_object_set(root, "__metadata__", w->meta) != 0)
        goto oom;
    size_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        json_t *ent = tensor_entry(&w->t[i], off);
        if (!ent || json_object_set_new(root, w->t[i].name, ent) != 0)
            goto oom;
        off += w->t[i].nbytes;
    }
    txt = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!txt)
        goto oom;
    size_t len = strlen(txt);
    size_t padded = (len + 7) & ~(size_t)7;
    if (padded > COVIDCAM_MAX_HEADER_BYTES) {
        st = cc_fail(e, COVIDCAM_ERR_LIMIT, "safetensors header of %zu bytes is too large", len);
        goto fail;
    }
    char *buf = realloc(txt, padded + 1);
    if (!buf)
        goto oom;
    txt = NULL;
    memset(buf + len, ' ', padded - len);
    buf[padded] = '\0';
    *hdr = buf;
    *hlen = padded;
    json_decref(root);
    return COVIDCAM_OK;
oom:
    st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
fail:
    free(txt);
    json_decref(root);
    return st;
}

static void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

covidcam_status cc_stw_encode(const cc_stw *w, uint8_t **buf, size_t *len, cc_err *e)
{
    if (!w || !buf || !len)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad arguments");
    char *hdr = NULL;
    size_t hlen = 0;
    covidcam_status st = make_header(w, &hdr, &hlen, e);
    if (st)
        return st;
    size_t total = 8 + hlen;
    for (size_t i = 0; i < w->n; i++)
        total += w->t[i].nbytes;
    uint8_t *out = malloc(total);
    if (!out) {
        free(hdr);
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    put_u64le(out, hlen);
    memcpy(out + 8, hdr, hlen);
    size_t off = 8 + hlen;
    for (size_t i = 0; i < w->n; i++) {
        if (w->t[i].nbytes)
            memcpy(out + off, w->t[i].data, w->t[i].nbytes);
        off += w->t[i].nbytes;
    }
    free(hdr);
    *buf = out;
    *len = total;
    return COVIDCAM_OK;
}

/* Stream header and tensors to f; nonzero on a write error. */
static int write_all(FILE *f, const cc_stw *w, const char *hdr, size_t hlen)
{
    uint8_t lenbuf[8];
    put_u64le(lenbuf, hlen);
    if (fwrite(lenbuf, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen)
        return -1;
    for (size_t i = 0; i < w->n; i++)
        if (w->t[i].nbytes && fwrite(w->t[i].data, 1, w->t[i].nbytes, f) != w->t[i].nbytes)
            return -1;
    return 0;
}

typedef struct stw_job {
    const cc_stw *w;
    const char *hdr;
    size_t hlen;
} stw_job;

static int write_job(FILE *f, void *arg)
{
    const stw_job *j = arg;
    return write_all(f, j->w, j->hdr, j->hlen);
}

covidcam_status cc_stw_write_file(const cc_stw *w, const char *path, cc_err *e)
{
    if (!w || !path)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "bad arguments");
    char *hdr = NULL;
    size_t hlen = 0;
    covidcam_status st = make_header(w, &hdr, &hlen, e);
    if (st)
        return st;
    stw_job job = {w, hdr, hlen};
    st = tr_atomic_write(path, write_job, &job, e);
    free(hdr);
    return st;
}
