/* The session handle and the input path shared by classification and Grad-CAM. */
#ifndef COVIDCAM_SESSION_H
#define COVIDCAM_SESSION_H

#include <stdatomic.h>

#include "error.h"
#include "model.h"
#include "png_io.h"
#include "resnet.h"

struct covidcam_session {
    const covidcam_model *m;
    int threads;
    covidcam_precision precision; /* resolved: never AUTO */
    cc_net *net;
    cc_net *cam_net; /* int8 sessions: the fp32 net of Grad-CAM, made on first use */
    cc_err err;
    atomic_int busy; /* 1 while a call runs: cc_session_begin/_end */
    float *input; /* plain C x S x S network input */
    float *tmp;   /* S x S resize scratch */
    covidcam_image_info info; /* the last input; format NONE until one is decoded */
    covidcam_assessment assess; /* of the last call (assess.c) */
    int assessed;               /* 1 after a successful call */
    double *ood_work;           /* features doubles when the model has OOD statistics */
    /* Batch calls (classify_batch.c): a network for max_batch images when
     * max_batch > 1 (else the one-image net and input serve), and what the
     * last batch call left for each image. */
    int max_batch;
    cc_net *batch_net;
    float *batch_input;                /* max_batch network inputs */
    covidcam_assessment *batch_assess; /* max_batch entries */
    covidcam_image_info *batch_info;   /* max_batch entries */
    unsigned char *batch_ok;           /* max_batch entries: 1 if the image worked */
    cc_err *batch_err;                 /* max_batch entries: why an image failed */
    int batch_count;                   /* images of the last batch call, 0: none */
};

/* One image handed to the library, in any of the accepted forms. */
typedef enum cc_input_kind {
    CC_IN_FILE,
    CC_IN_PNG,
    CC_IN_PIXELS,
    CC_IN_TENSOR,
    CC_IN_IMAGE /* bytes in any supported format */
} cc_input_kind;

typedef struct cc_input {
    cc_input_kind kind;
    const char *path;         /* FILE */
    const void *png;          /* PNG, IMAGE */
    size_t len;               /* PNG, IMAGE */
    const uint8_t *pixels;    /* PIXELS */
    int width, height;        /* PIXELS; TENSOR: H, W */
    size_t stride;            /* PIXELS */
    const float *tensor;      /* TENSOR */
    int channels;             /* TENSOR */
} cc_input;

/* Decode/validate `in` and write the network input to s->input; s->info
 * describes it. If `image` is not NULL and the input is an image, the decoded
 * gray image is moved there (caller frees with cc_image_free), pixel input is
 * copied there; tensors leave it empty. */
covidcam_status cc_session_set_input(covidcam_session *s, const cc_input *in, cc_image *image);

/* The net Grad-CAM runs on: the session's own, except in int8 sessions,
 * whose Grad-CAM maps come from a bf16 net (fp32 where the CPU has no native
 * bf16) made on the first call and kept (an int8 net has no backward pass;
 * docs/precision.md). *out is NULL on failure (OUT_OF_MEMORY, BACKEND,
 * message in s->err). */
covidcam_status cc_session_cam_net(covidcam_session *s, cc_net **out);

/* Start a call: mark the session busy, clear the message and s->info. Returns
 * INVALID_ARGUMENT for NULL s, and for a session already in a call on another
 * thread (not allowed, covidcam.h): then the message is left alone, since the
 * running call owns it. Every successful begin is paired with cc_session_end. */
covidcam_status cc_session_begin(covidcam_session *s);

/* End a call started by cc_session_begin. */
void cc_session_end(covidcam_session *s);

/* After a successful forward pass: the OOD score of the pooled features into
 * s->assess (whose warnings cc_session_set_input set), and mark it valid. */
void cc_session_assess(covidcam_session *s);

/* The OOD score of one image's pooled features into *a (nothing when the
 * model has no OOD statistics); uses s->ood_work. */
void cc_assess_ood(const covidcam_session *s, const float *features, covidcam_assessment *a);

/* Copy an assessment into a caller's struct, up to its struct_size. */
covidcam_status cc_assess_export(const covidcam_assessment *src, covidcam_assessment *dst);

#endif
