#include "session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcam_mem.h"
#include "options.h"
#include "pixels_copy.h"
#include "image_info.h"
#include "image_io.h"
#include "input_checks.h"
#include "preprocess.h"
#include "qscales.h"

_Static_assert(offsetof(covidcam_session_options, num_threads) ==
                       offsetof(cc_session_options_v0_1, num_threads) &&
                   offsetof(covidcam_session_options, precision) ==
                       offsetof(cc_session_options_v0_1, precision) &&
                   sizeof(covidcam_session_options) >= sizeof(cc_session_options_v0_1),
               "covidcam_session_options may only grow at the end");

/* The ABI entry point of programs built against the 0.1 header: their struct
 * is the 0.1 one, so exactly that much is written (parentheses: the header's
 * macro of the same name is the inline for new code). */
void(covidcam_session_options_init)(covidcam_session_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof(cc_session_options_v0_1));
    o->struct_size = sizeof(cc_session_options_v0_1);
    o->num_threads = 0;
    o->precision = COVIDCAM_PRECISION_FP32;
}

_Static_assert(offsetof(covidcam_session_options, max_batch) >= sizeof(cc_session_options_v0_1),
               "0.5's max_batch starts after the 0.1 struct (abi/README.md)");

/* The caller's options as this library's struct, defaults where it has none. */
static covidcam_status read_options(const covidcam_session_options *user,
                                    covidcam_session_options *o, cc_err *e)
{
    covidcam_session_options_init(o);
    if (!user)
        return COVIDCAM_OK;
    return cc_options_read(user, CC_FIELD_END(cc_session_options_v0_1, precision),
                           CC_FIELD_END(covidcam_session_options, max_batch), sizeof *o, o,
                           "options", e);
}

static covidcam_status check_options(const covidcam_session_options *o, cc_err *e)
{
    if (o->num_threads < 0 || o->num_threads > 1024)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "options.num_threads must be in [0, 1024], not %d", o->num_threads);
    if (o->max_batch < 0 || o->max_batch > COVIDCAM_MAX_BATCH)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "options.max_batch must be in [0, %d], not %d", COVIDCAM_MAX_BATCH,
                       o->max_batch);
    if (!covidcam_precision_name(o->precision))
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "unknown precision %d",
                       (int)o->precision);
    return COVIDCAM_OK;
}

/* The precision a session runs in. The AUTO rule is the documented one
 * (covidcam.h, docs/precision.md), from the measured speeds: int8 when the
 * file carries calibration scales (2x bf16 with VNNI, 2x fp32 on AVX2, within
 * the accuracy bounds on the shipped model), else bf16 wherever it runs
 * natively (faster than fp32 for every model benchmarked); oneDNN's bf16
 * emulation on plain AVX-512 is slower than fp32, so it is never picked (nor
 * accepted for BF16). */
static covidcam_status resolve_precision(const covidcam_model *m, covidcam_precision asked,
                                         covidcam_precision *out, cc_err *e)
{
    switch (asked) {
    case COVIDCAM_PRECISION_AUTO:
        *out = m->qs                ? COVIDCAM_PRECISION_INT8
               : cc_dnn_isa_bf16() ? COVIDCAM_PRECISION_BF16
                                   : COVIDCAM_PRECISION_FP32;
        return COVIDCAM_OK;
    case COVIDCAM_PRECISION_BF16:
        if (!cc_dnn_isa_bf16())
            return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                           "precision bf16 needs a CPU that computes bf16 natively "
                           "(AVX512-BF16 or AMX); oneDNN reports this CPU as %s: use fp32 or "
                           "auto",
                           cc_dnn_isa_name());
        *out = asked;
        return COVIDCAM_OK;
    case COVIDCAM_PRECISION_INT8:
        if (!m->qs)
            return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED,
                           "precision int8 needs a model file with int8 calibration scales "
                           "(metadata " CC_META_INT8_SCALES "), which this one has not: make "
                           "one with covidcam-quantize --model IN --calibrate DIR -o OUT");
        *out = asked;
        return COVIDCAM_OK;
    default:
        *out = COVIDCAM_PRECISION_FP32;
        return COVIDCAM_OK;
    }
}

/* The batch state of a session: per-image records, and for max_batch > 1 a
 * network of its own (checked against the session memory limit first, from
 * the one-image network's size). */
static covidcam_status create_batch(covidcam_session *s, int max_batch, cc_err *e)
{
    s->max_batch = max_batch;
    s->batch_assess = calloc((size_t)max_batch, sizeof *s->batch_assess);
    s->batch_info = calloc((size_t)max_batch, sizeof *s->batch_info);
    s->batch_ok = calloc((size_t)max_batch, sizeof *s->batch_ok);
    s->batch_err = calloc((size_t)max_batch, sizeof *s->batch_err);
    if (!s->batch_assess || !s->batch_info || !s->batch_ok || !s->batch_err)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
    if (max_batch == 1)
        return COVIDCAM_OK;
    uint64_t need = (uint64_t)max_batch * cc_net_forward_bytes(s->net);
    if (need > COVIDCAM_MAX_SESSION_BYTES)
        return cc_fail(e, COVIDCAM_ERR_LIMIT,
                       "options.max_batch %d needs about %llu MiB of activations, more than "
                       "the limit of %llu MiB per session",
                       max_batch, (unsigned long long)(need >> 20),
                       (unsigned long long)COVIDCAM_MAX_SESSION_BYTES >> 20);
    size_t one = (size_t)s->m->in_ch * (size_t)s->m->input_size * (size_t)s->m->input_size;
    if (!(s->batch_input = cc_dnn_alloc((size_t)max_batch * one * sizeof(float))))
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory for %d network inputs",
                       max_batch);
    return cc_net_create(s->m, s->net->dt, max_batch, &s->batch_net, e);
}

static cc_dnn_dtype net_dtype(covidcam_precision p)
{
    switch (p) {
    case COVIDCAM_PRECISION_BF16: return CC_DNN_BF16;
    case COVIDCAM_PRECISION_INT8: return CC_DNN_U8;
    default: return CC_DNN_F32;
    }
}

covidcam_status covidcam_session_create(const covidcam_model *m,
                                        const covidcam_session_options *user,
                                        covidcam_session **out, char *errbuf, size_t errbuf_size)
{
    cc_err e = {{0}};
    covidcam_status rc;
    covidcam_session *s = NULL;
    covidcam_session_options opt, *o = &opt;
    if (!m || !out) {
        rc = cc_fail(&e, COVIDCAM_ERR_INVALID_ARGUMENT, "model and out must not be NULL");
        goto fail;
    }
    covidcam_precision precision = COVIDCAM_PRECISION_FP32;
    if ((rc = read_options(user, &opt, &e)) || (rc = check_options(o, &e)) ||
        (rc = resolve_precision(m, o->precision, &precision, &e)))
        goto fail;
    if (!(s = calloc(1, sizeof *s))) {
        rc = cc_fail(&e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    s->m = m;
    s->precision = precision;
    s->threads = o->num_threads > 0 ? o->num_threads : cc_dnn_max_threads();
    size_t plane = (size_t)m->input_size * (size_t)m->input_size;
    s->input = cc_dnn_alloc(plane * (size_t)m->in_ch * sizeof(float));
    s->tmp = malloc(plane * sizeof(float));
    if (m->ood)
        s->ood_work = malloc((size_t)m->fc.ic * sizeof *s->ood_work);
    if (!s->input || !s->tmp || (m->ood && !s->ood_work)) {
        rc = cc_fail(&e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    /* oneDNN fixes a kernel's parallel decomposition at creation, so create
     * the primitives under the thread count they will run with. */
    int prev = cc_dnn_threads_set(s->threads);
    rc = cc_net_create(m, net_dtype(precision), 1, &s->net, &e);
    if (rc == COVIDCAM_OK)
        rc = create_batch(s, o->max_batch > 1 ? o->max_batch : 1, &e);
    cc_dnn_threads_restore(prev);
    if (rc)
        goto fail;
    *out = s;
    return COVIDCAM_OK;
fail:
    covidcam_session_free(s);
    cc_err_export(&e, errbuf, errbuf_size);
    return rc;
}

void covidcam_session_free(covidcam_session *s)
{
    if (!s)
        return;
    cc_net_free(s->net);
    cc_net_free(s->cam_net);
    cc_net_free(s->batch_net);
    cc_dnn_free(s->batch_input);
    free(s->batch_assess);
    free(s->batch_info);
    free(s->batch_ok);
    free(s->batch_err);
    cc_dnn_free(s->input);
    free(s->tmp);
    free(s->ood_work);
    free(s);
}

const char *covidcam_session_last_error(const covidcam_session *s)
{
    return s ? s->err.msg : "invalid session (NULL)";
}

const covidcam_model *covidcam_session_model(const covidcam_session *s)
{
    return s ? s->m : NULL;
}

int covidcam_session_max_batch(const covidcam_session *s)
{
    return s ? s->max_batch : 0;
}

covidcam_precision covidcam_session_precision(const covidcam_session *s)
{
    return s ? s->precision : COVIDCAM_PRECISION_AUTO;
}

/* The one table of precision names. */
static const char *const precision_names[] = {
    [COVIDCAM_PRECISION_FP32] = "fp32",
    [COVIDCAM_PRECISION_BF16] = "bf16",
    [COVIDCAM_PRECISION_INT8] = "int8",
    [COVIDCAM_PRECISION_AUTO] = "auto",
};

const char *covidcam_precision_name(covidcam_precision p)
{
    unsigned i = (unsigned)p;
    return i < sizeof precision_names / sizeof precision_names[0] ? precision_names[i] : NULL;
}

covidcam_status covidcam_precision_parse(const char *name, covidcam_precision *out)
{
    if (!name || !out)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    for (unsigned i = 0; i < sizeof precision_names / sizeof precision_names[0]; i++)
        if (strcmp(name, precision_names[i]) == 0) {
            *out = (covidcam_precision)i;
            return COVIDCAM_OK;
        }
    return COVIDCAM_ERR_INVALID_ARGUMENT;
}

covidcam_status cc_session_cam_net(covidcam_session *s, cc_net **out)
{
    if (s->net->dt != CC_DNN_U8) {
        *out = s->net;
        return COVIDCAM_OK;
    }
    covidcam_status rc = COVIDCAM_OK;
    if (!s->cam_net) {
        /* bf16 where it runs natively (half the cost, maps as a bf16
         * session's), else fp32 */
        int prev = cc_dnn_threads_set(s->threads);
        rc = cc_net_create(s->m, cc_dnn_isa_bf16() ? CC_DNN_BF16 : CC_DNN_F32, 1, &s->cam_net,
                           &s->err);
        cc_dnn_threads_restore(prev);
    }
    *out = s->cam_net;
    return rc;
}

covidcam_status cc_session_begin(covidcam_session *s)
{
    if (!s)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    /* One atomic exchange per call: concurrent use becomes an error instead of
     * two threads writing the same activation buffers. */
    if (atomic_exchange_explicit(&s->busy, 1, memory_order_acquire))
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    s->err.msg[0] = '\0';
    covidcam_image_info_init(&s->info);
    covidcam_assessment_init(&s->assess);
    s->assessed = 0;
    return COVIDCAM_OK;
}

void cc_session_end(covidcam_session *s)
{
    atomic_store_explicit(&s->busy, 0, memory_order_release);
}

static covidcam_status check_pixels(covidcam_session *s, const cc_input *in)
{
    if (!in->pixels)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "pixels must not be NULL");
    if (in->width <= 0 || in->height <= 0 || in->stride < (size_t)in->width)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "bad image geometry %dx%d with stride %zu (need width, height > 0 and "
                       "stride >= width)",
                       in->width, in->height, in->stride);
    if ((unsigned)in->width > COVIDCAM_MAX_IMAGE_DIM ||
        (unsigned)in->height > COVIDCAM_MAX_IMAGE_DIM ||
        (uint64_t)in->width * (uint64_t)in->height > COVIDCAM_MAX_IMAGE_PIXELS)
        return cc_fail(&s->err, COVIDCAM_ERR_LIMIT,
                       "image %dx%d exceeds the limits (%u per side, %u pixels)", in->width,
                       in->height, COVIDCAM_MAX_IMAGE_DIM, COVIDCAM_MAX_IMAGE_PIXELS);
    if (!cc_pixels_fit(in->width, in->height, in->stride))
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "stride %zu is too large: %d rows of it overflow the address space",
                       in->stride, in->height);
    return COVIDCAM_OK;
}

static covidcam_status set_tensor(covidcam_session *s, const cc_input *in)
{
    const covidcam_model *m = s->m;
    if (!in->tensor)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "tensor must not be NULL");
    if (in->channels != m->in_ch || in->height != m->input_size || in->width != m->input_size)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                       "tensor is %dx%dx%d but the model takes %dx%dx%d (C x H x W)",
                       in->channels, in->height, in->width, m->in_ch, m->input_size,
                       m->input_size);
    size_t n = (size_t)m->in_ch * (size_t)m->input_size * (size_t)m->input_size;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(in->tensor[i]))
            return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT,
                           "tensor element %zu is not finite", i);
    memcpy(s->input, in->tensor, n * sizeof(float));
    return COVIDCAM_OK;
}

static covidcam_status decode(covidcam_session *s, const cc_input *in, cc_image *img)
{
    if (in->kind == CC_IN_FILE) {
        if (!in->path)
            return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "path must not be NULL");
        return cc_image_read_file(in->path, img, &s->info, &s->err);
    }
    if (!in->png)
        return cc_fail(&s->err, COVIDCAM_ERR_INVALID_ARGUMENT, "%s buffer must not be NULL",
                       in->kind == CC_IN_PNG ? "PNG" : "image");
    if (in->kind == CC_IN_PNG)
        return cc_image_decode_png(in->png, in->len, img, &s->info, &s->err);
    return cc_image_decode(in->png, in->len, img, &s->info, &s->err);
}

covidcam_status cc_session_set_input(covidcam_session *s, const cc_input *in, cc_image *image)
{
    const covidcam_model *m = s->m;
    cc_image img = {0};
    covidcam_status rc;
    if (in->kind == CC_IN_TENSOR) {
        if ((rc = set_tensor(s, in)) == COVIDCAM_OK)
            cc_info_tensor(in->channels, in->height, in->width, &s->info);
        return rc;
    }
    if (in->kind == CC_IN_PIXELS) {
        if ((rc = check_pixels(s, in)))
            return rc;
        if (image && (rc = cc_image_copy_pixels(in->pixels, in->width, in->height, in->stride,
                                                image, &s->err)))
            return rc;
        cc_info_pixels(in->width, in->height, &s->info);
        s->assess.warnings = cc_input_checks(in->pixels, in->width, in->height, in->stride,
                                            m->input_size, NULL);
        cc_preprocess_gray_mode(in->pixels, in->width, in->height, in->stride, m->input_size,
                                m->resize, m->in_ch, m->mean, m->std, s->tmp, s->input);
        return COVIDCAM_OK;
    }
    if ((rc = decode(s, in, &img)))
        return rc;
    s->assess.warnings =
        cc_input_checks(img.pixels, img.width, img.height, (size_t)img.width, m->input_size, NULL);
    cc_preprocess_gray_mode(img.pixels, img.width, img.height, (size_t)img.width, m->input_size,
                            m->resize, m->in_ch, m->mean, m->std, s->tmp, s->input);
    if (image)
        *image = img;
    else
        cc_image_free(&img);
    return COVIDCAM_OK;
}

covidcam_status covidcam_session_image_info(const covidcam_session *s, covidcam_image_info *info)
{
    cc_err e;
    if (!s)
        return COVIDCAM_ERR_INVALID_ARGUMENT;
    covidcam_status rc = cc_info_check(info, &e);
    if (rc == COVIDCAM_OK && s->info.format == COVIDCAM_FORMAT_NONE)
        return COVIDCAM_ERR_INVALID_ARGUMENT; /* no decoded input */
    return rc ? rc : cc_info_export(&s->info, info, &e);
}
