/* The oneDNN core: what every layer built on oneDNN shares, so that there is
 * one status map, one allocator and one builder for each primitive both layers
 * need. Only the inference layer (dnn.c) and the training engine
 * (dnn_train*.c), both in lib/dnn/, include this header, and with it
 * <oneapi/dnnl/dnnl.h>; the rest of the code sees the opaque dnn.h and
 * dnn_train.h. */
#ifndef COVIDCAM_DNN_CORE_H
#define COVIDCAM_DNN_CORE_H

#include <oneapi/dnnl/dnnl.h>

#include "dnn.h"

/* A short English name of a oneDNN status. Static string. */
const char *cc_dnn_status_str(dnnl_status_t st);

/* The one map from a failed oneDNN call to a covidcam status: out of memory is
 * OUT_OF_MEMORY, unimplemented is UNSUPPORTED, anything else BACKEND. The
 * message names `what` (e.g. "convolution forward"). Returns the status. */
covidcam_status cc_dnn_fail(cc_err *e, dnnl_status_t st, const char *what);

/* The primitive descriptor of a ReLU backward computed from the ReLU's output
 * (diff_src = diff_dst * (dst > 0)) on md, with the forward-training hint oneDNN
 * requires built internally. attr: the caller's (user scratchpad), or NULL.
 * The one ReLU-backward builder of Grad-CAM (cc_dnn_relu_bwd) and the trainer.
 * On failure *out is NULL; the caller destroys a returned pd. */
dnnl_status_t cc_dnn_relu_bwd_pd(dnnl_engine_t eng, const dnnl_memory_desc_t *md,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out);

#endif
