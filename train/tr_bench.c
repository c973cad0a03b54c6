#include "tr_bench.h"

#include <omp.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>

#include "tr_loss.h"
#include "tr_optim.h"
#include "tr_rng.h"
#include "tr_session.h"
#include "tr_util.h"

/* CPU seconds used by the process (all threads). */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static covidcam_status step(tr_net *net, tr_params *p, const int *labels, const tr_opts *o,
                            cc_err *e)
{
    covidcam_status st = cc_tnet_forward(net->tn, 1, e);
    if (st)
        return st;
    tr_softmax_xent(cc_tt_host(net->logits), labels, net->batch, net->classes, 0.0,
                    cc_tt_host_diff(net->logits), NULL);
    if ((st = cc_tnet_backward(net->tn, e)))
        return st;
    tr_sgd sgd = {o->momentum, o->weight_decay, o->decay_all};
    tr_sgd_step(p, &sgd, o->lr);
    cc_tnet_params_changed(net->tn);
    return COVIDCAM_OK;
}

covidcam_status tr_bench(const tr_opts *o, cc_err *e)
{
    cc_arch a;
    tr_params p = {0};
    tr_net net = {0};
    cc_tprec prec;
    int *labels = NULL;
    covidcam_status st;
    if ((st = tr_arch_from_opts(o, &a, e)) || (st = tr_pick_precision(o->precision, &prec, e)) ||
        (st = tr_params_create(&a, o->input_channels, 3, &p, e)))
        return st;
    tr_params_init(&p, (uint64_t)o->seed);
    double t0 = tr_now();
    if ((st = tr_net_build(&net, &p, o->batch, o->input_size, prec, 1, (float)o->bn_eps, e)))
        goto fail;
    double t_build = tr_now() - t0;
    labels = malloc((size_t)o->batch * sizeof *labels);
    if (!labels) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    tr_rng r = tr_rng_make((uint64_t)o->seed, 99, 0, 0);
    float *x = cc_tt_host(net.input);
    for (size_t i = 0; i < (size_t)o->batch * o->input_channels * o->input_size * o->input_size; i++)
        x[i] = (float)tr_rng_normal(&r);
    for (int i = 0; i < o->batch; i++)
        labels[i] = i % 3;
    t0 = tr_now();
    if ((st = step(&net, &p, labels, o, e)))
        goto fail;
    double t_first = tr_now() - t0;
    t0 = tr_now();
    double c0 = cpu_seconds();
    for (int i = 0; i < o->iterations && !st; i++)
        st = step(&net, &p, labels, o, e);
    double dt = tr_now() - t0, dc = cpu_seconds() - c0;
    if (!st)
        printf("benchmark: %s, %s, batch %d, %dx%dx%d, %d threads, oneDNN ISA %s\n"
               "  setup %.2f s, first iteration %.2f s, memory %.2f GB\n"
               "  %d iterations in %.2f s: %.3f s/iteration, %.2f images/s (training: forward, "
               "backward, SGD update)\n"
               "  CPU time %.2f s: %.2f images per CPU-second\n",
               a.name, prec == CC_TPREC_BF16 ? "bf16" : "fp32", o->batch, o->input_channels,
               o->input_size, o->input_size, omp_get_max_threads(), cc_dnn_isa_name(), t_build,
               t_first, (double)cc_tnet_bytes(net.tn) / 1e9, o->iterations, dt,
               dt / o->iterations, o->iterations * o->batch / dt, dc, o->iterations * o->batch / dc);
fail:
    free(labels);
    tr_net_free(&net);
    tr_params_free(&p);
    return st;
}
