#include "safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t read_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int dtype_size(const char *name)
{
    static const struct {
        const char *name;
        int size;
    } sizes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
                 {"I16", 2}, {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2},  {"U8", 1},
                 {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(name, sizes[i].name) == 0)
            return sizes[i].size;
    return 0;
}

static cc_dtype dtype_of(const char *name)
{
    if (strcmp(name, "F32") == 0)
        return CC_DT_F32;
    if (strcmp(name, "BF16") == 0)
        return CC_DT_BF16;
    if (strcmp(name, "F16") == 0)
        return CC_DT_F16;
    return CC_DT_OTHER;
}

void cc_st_free(cc_safetensors *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->num_tensors; i++)
        free(st->tensors[i].name);
    for (size_t i = 0; i < st->num_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->tensors);
    free(st->meta);
    memset(st, 0, sizeof *st);
}

static covidcam_status parse_meta(json_t *obj, cc_safetensors *st, cc_err *e)
{
    if (!json_is_object(obj))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "safetensors: __metadata__ is not an object");
    size_t n = json_object_size(obj);
    st->meta = calloc(n ? n : 1, sizeof *st->meta);
    if (!st->meta)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "safetensors: out of memory for metadata");
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        if (!json_is_string(val))
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "safetensors: metadata value of '%s' is not a string", key);
        cc_st_meta *m = &st->meta[st->num_meta];
        m->key = strdup(key);
        m->value = strdup(json_string_value(val));
        st->num_meta++;
        if (!m->key || !m->value)
            return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
    }
    return COVIDCAM_OK;
}

static covidcam_status parse_shape(json_t *shape, cc_st_tensor *t, uint64_t *numel, cc_err *e)
{
    if (!json_is_array(shape))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "tensor '%s': shape is not a list", t->name);
    size_t nd = json_array_size(shape);
    uint64_t count = 1;
    for (size_t d = 0; d < nd; d++) {
        json_t *v = json_array_get(shape, d);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > (json_int_t)1 << 40)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                           "tensor '%s': shape[%zu] is not a non-negative integer", t->name, d);
        uint64_t dim = (uint64_t)json_integer_value(v);
        if (dim && count > UINT64_MAX / 16 / dim)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "tensor '%s': shape too large", t->name);
        count *= dim;
        if (d < CC_MAX_NDIM)
            t->shape[d] = (int64_t)dim;
    }
    t->ndim = (int)nd;
    if (nd > CC_MAX_NDIM)
        t->dtype = CC_DT_OTHER; /* kept so the caller can name it */
    *numel = count;
    return COVIDCAM_OK;
}

/* data: the data section in memory, or NULL when it stays in the file;
 * base: its offset in the file. */
static covidcam_status parse_tensor(const char *name, json_t *obj, const uint8_t *data,
                                    uint64_t data_len, uint64_t base, cc_st_tensor *t,
                                    uint64_t *begin_out, cc_err *e)
{
    t->name = strdup(name);
    if (!t->name)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
    if (!json_is_object(obj))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "tensor '%s': entry is not an object", name);
    json_t *dt = json_object_get(obj, "dtype");
    json_t *shape = json_object_get(obj, "shape");
    json_t *offs = json_object_get(obj, "data_offsets");
    if (!json_is_string(dt))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "tensor '%s': missing dtype", name);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", json_string_value(dt));
    t->dtype = dtype_of(t->dtype_name);
    uint64_t numel = 0;
    covidcam_status st = parse_shape(shape, t, &numel, e);
    if (st)
        return st;
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "tensor '%s': data_offsets must be a list of two integers", name);
    json_int_t b = json_integer_value(json_array_get(offs, 0));
    json_int_t en = json_integer_value(json_array_get(offs, 1));
    if (b < 0 || en < b || (uint64_t)en > data_len)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "tensor '%s': data_offsets [%lld, %lld] outside the %llu data bytes", name,
                       (long long)b, (long long)en, (unsigned long long)data_len);
    int esize = dtype_size(t->dtype_name);
    if (esize && numel * (uint64_t)esize != (uint64_t)(en - b))
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "tensor '%s': %lld data bytes for %llu elements of %s", name,
                       (long long)(en - b), (unsigned long long)numel, t->dtype_name);
    t->data = data ? data + b : NULL;
    t->offset = base + (uint64_t)b;
    t->nbytes = (size_t)(en - b);
    *begin_out = (uint64_t)b;
    return COVIDCAM_OK;
}

typedef struct span {
    uint64_t begin, end;
    size_t index;
} span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Empty tensors hold no bytes, so they overlap nothing, wherever they point. */
static covidcam_status check_overlaps(const cc_safetensors *st, span *spans, cc_err *e)
{
    qsort(spans, st->num_tensors, sizeof *spans, cmp_span);
    const span *prev = NULL;
    for (size_t i = 0; i < st->num_tensors; i++) {
        if (spans[i].begin == spans[i].end)
            continue;
        if (prev && spans[i].begin < prev->end)
            return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "tensors '%s' and '%s' overlap",
                           st->tensors[prev->index].name, st->tensors[spans[i].index].name);
        prev = &spans[i];
    }
    return COVIDCAM_OK;
}

static covidcam_status parse_header(json_t *root, const uint8_t *data, uint64_t data_len,
                                    uint64_t base, cc_safetensors *st, cc_err *e)
{
    size_t n = json_object_size(root);
    size_t tensors = n - (json_object_get(root, "__metadata__") ? 1 : 0);
    if (tensors > COVIDCAM_MAX_TENSORS)
        return cc_fail(e, COVIDCAM_ERR_LIMIT, "safetensors: %zu tensors (limit %u)", tensors,
                       COVIDCAM_MAX_TENSORS);
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    span *spans = calloc(n ? n : 1, sizeof *spans);
    covidcam_status rc = COVIDCAM_OK;
    if (!st->tensors || !spans) {
        rc = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((rc = parse_meta(val, st, e)))
                goto done;
            continue;
        }
        size_t i = st->num_tensors++;
        spans[i].index = i;
        if ((rc = parse_tensor(key, val, data, data_len, base, &st->tensors[i], &spans[i].begin, e)))
            goto done;
        spans[i].end = spans[i].begin + st->tensors[i].nbytes;
    }
    rc = check_overlaps(st, spans, e);
done:
    free(spans);
    return rc;
}

covidcam_status cc_st_check_prefix(const uint8_t *head, size_t have, uint64_t file_size,
                                   size_t *want, void *ctx, cc_err *e)
{
    (void)ctx;
    if (have < 8)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "safetensors: file too short (%zu bytes) for the 8-byte header length", have);
    uint64_t hlen = read_le64(head);
    if (hlen > COVIDCAM_MAX_HEADER_BYTES)
        return cc_fail(e, COVIDCAM_ERR_LIMIT, "safetensors: header length %llu exceeds %u bytes",
                       (unsigned long long)hlen, COVIDCAM_MAX_HEADER_BYTES);
    if (hlen < 2 || hlen > file_size - 8)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "safetensors: header length %llu does not fit in the %llu-byte file",
                       (unsigned long long)hlen, (unsigned long long)file_size);
    if (have < 8 + hlen) {
        *want = (size_t)(8 + hlen);
        return COVIDCAM_OK;
    }
    json_error_t jerr;
    json_t *root = json_loadb((const char *)head + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "safetensors: bad JSON header at byte %d: %s",
                       jerr.position, jerr.text);
    int object = json_is_object(root);
    json_decref(root);
    return object ? COVIDCAM_OK
                  : cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "safetensors: JSON header is not an object");
}

/* The header of a file of file_size bytes whose first `have` bytes are at buf
 * (have == file_size: the whole file, data in memory). */
static covidcam_status parse(const uint8_t *buf, size_t have, uint64_t file_size, int in_memory,
                             cc_safetensors *out, cc_err *e)
{
    if (have < 8)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "safetensors: file too short (%zu bytes) for the 8-byte header length",
                       have);
    uint64_t hlen = read_le64(buf);
    if (hlen > COVIDCAM_MAX_HEADER_BYTES)
        return cc_fail(e, COVIDCAM_ERR_LIMIT, "safetensors: header length %llu exceeds %u bytes",
                       (unsigned long long)hlen, COVIDCAM_MAX_HEADER_BYTES);
    if (hlen < 2 || hlen > file_size - 8)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "safetensors: header length %llu does not fit in the %llu-byte file",
                       (unsigned long long)hlen, (unsigned long long)file_size);
    if (hlen > have - 8)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT,
                       "safetensors: only %zu of the %llu header bytes were read", have - 8,
                       (unsigned long long)hlen);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "safetensors: bad JSON header at byte %d: %s",
                       jerr.position, jerr.text);
    cc_safetensors st = {0};
    covidcam_status rc;
    if (!json_is_object(root)) {
        rc = cc_fail(e, COVIDCAM_ERR_BAD_FORMAT, "safetensors: JSON header is not an object");
        goto fail;
    }
    if ((rc = parse_header(root, in_memory ? buf + 8 + hlen : NULL, file_size - 8 - hlen,
                           8 + hlen, &st, e)))
        goto fail;
    json_decref(root);
    st.fd = -1;
    *out = st;
    return COVIDCAM_OK;
fail:
    json_decref(root);
    cc_st_free(&st);
    return rc;
}

covidcam_status cc_st_parse(const uint8_t *buf, size_t len, cc_safetensors *out, cc_err *e)
{
    return parse(buf, len, len, 1, out, e);
}

covidcam_status cc_st_parse_header(const uint8_t *head, size_t have, uint64_t file_size,
                                   cc_safetensors *out, cc_err *e)
{
    return parse(head, have, file_size, 0, out, e);
}

const cc_st_tensor *cc_st_find(const cc_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->num_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

const char *cc_st_meta_get(const cc_safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->num_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0)
            return st->meta[i].value;
    return NULL;
}

size_t cc_st_numel(const cc_st_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim && d < CC_MAX_NDIM; d++)
        n *= (size_t)t->shape[d];
    return n;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    int exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    float v;
    if (exp == 0)
        v = ldexpf((float)mant, -24); /* subnormal or zero */
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 0x400), exp - 25);
    return sign ? -v : v;
}

/* n little-endian values of type dt at p into floats at out. The last is
 * done first, so p may be out itself (a tensor read into its own float
 * array): value i is read before anything at or after byte 4 * i is written,
 * and its bytes (at 4 * i or 2 * i) are never written before it is read. */
static void convert(cc_dtype dt, const uint8_t *p, float *out, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        uint32_t u;
        float v;
        if (dt == CC_DT_F32) {
            u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                (uint32_t)p[4 * i + 3] << 24;
            memcpy(&v, &u, 4);
        } else {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            u = (uint32_t)h << 16;
            if (dt == CC_DT_BF16)
                memcpy(&v, &u, 4);
            else
                v = half_to_float(h);
        }
        out[i] = v;
    }
}

void cc_st_to_f32(const cc_st_tensor *t, float *out)
{
    convert(t->dtype, t->data, out, cc_st_numel(t));
}

covidcam_status cc_st_read_f32(const cc_safetensors *st, const cc_st_tensor *t, float *out,
                               cc_err *e)
{
    if (t->data || !st->path) {
        cc_st_to_f32(t, out);
        return COVIDCAM_OK;
    }
    uint8_t *p = (uint8_t *)out;
    size_t done = 0;
    while (done < t->nbytes) {
        size_t chunk = t->nbytes - done > ((size_t)1 << 30) ? (size_t)1 << 30 : t->nbytes - done;
        ssize_t got = pread(st->fd, p + done, chunk, (off_t)(t->offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return cc_fail(e, COVIDCAM_ERR_IO, "cannot read %s: %s (tensor '%s')", st->path,
                           strerror(errno), t->name);
        if (got == 0)
            return cc_fail(e, COVIDCAM_ERR_IO,
                           "cannot read %s: the file shrank while tensor '%s' was read",
                           st->path, t->name);
        done += (size_t)got;
    }
    convert(t->dtype, p, out, cc_st_numel(t)); /* in place */
    return COVIDCAM_OK;
}
