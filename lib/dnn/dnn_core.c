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

dnnl_status_t cc_dnn_relu_bwd_pd(dnnl_engine_t eng, const dnnl_memory_desc_t *md,
                                 const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *out)
{
    dnnl_eltwise_desc_t fd, bd;
    dnnl_primitive_desc_t hint = NULL;
    *out = NULL;
    dnnl_status_t st = dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training,
                                                      dnnl_eltwise_relu_use_dst_for_bwd, md, 0.f,
                                                      0.f);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&hint, &fd, NULL, eng, NULL);
    if (st == dnnl_success)
        st = dnnl_eltwise_backward_desc_init(&bd, dnnl_eltwise_relu_use_dst_for_bwd, md, md, 0.f,
                                             0.f);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(out, &bd, attr, eng, hint);
    if (st != dnnl_success)
        *out = NULL;
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    return st;
}
