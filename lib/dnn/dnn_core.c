#include "dnn_core.h"

const char *cc_dnn_status_str(dnnl_status_t s)
{
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented (no implementation for these shapes/types)";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown error";
    }
}

covidcam_status cc_dnn_fail(cc_err *e, dnnl_status_t st, const char *what)
{
    if (st == dnnl_out_of_memory)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "oneDNN: out of memory in %s", what);
    if (st == dnnl_unimplemented)
        return cc_fail(e, COVIDCAM_ERR_UNSUPPORTED, "oneDNN: %s is not implemented on this CPU",
                       what);
    return cc_fail(e, COVIDCAM_ERR_BACKEND, "oneDNN: %s failed (%s, status %d)", what,
                   cc_dnn_status_str(st), (int)st);
}
