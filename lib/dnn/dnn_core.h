/* The oneDNN core: what every layer built on oneDNN shares, so that there is
 * one status map and one allocator. Only the inference layer (dnn.c) and the
 * training engine (train/engine/) include this header, and with it
 * <oneapi/dnnl/dnnl.h>; the rest of the code sees the opaque dnn.h. */
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

#endif
