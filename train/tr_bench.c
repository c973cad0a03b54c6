#include "tr_bench.h"

#include <omp.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>

#include "tr_loss.h"
#include "tr_optim.h"
#include "tr_rng.h"
#include "tr_dist.h"
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

/* One training iteration as covidcam-train makes it, with the gradient sum
 * across the processes of a distributed run. */
static covidcam_status step(tr_net *net, tr_params *p, const int *labels, const tr_opts *o,
                            tr_dist *d, cc_err *e)
{
    covidcam_status st = cc_tnet_forward(net->tn, 1, e);
    if (st)
        return st;
    tr_softmax_xent_norm(cc_tt_host(net->logits), labels, net->batch, net->classes, 0.0,
                         o->batch, cc_tt_host_diff(net->logits), NULL);
    if ((st = cc_tnet_backward(net->tn, e)))
        return st;
    if ((st = tr_dist_sum_f32(d, p->g, p->total, "gradients", e)))
        return st;
    tr_sgd sgd = {o->momentum, o->weight_decay, o->decay_all};
    tr_sgd_step(p, &sgd, o->lr);
    cc_tnet_params_changed(net->tn);
    return COVIDCAM_OK;
}

/* The figures, from rank 0. */
static void report(const tr_opts *o, const cc_arch *a, cc_tprec prec, const tr_net *net,
                   const tr_params *p, const tr_dist *d, double t_build, double t_first,
                   double dt, double dc)
{
    int world = d->size;
    printf("benchmark: %s, %s, batch %d, %dx%dx%d, %d threads, oneDNN ISA %s\n"
           "  setup %.2f s, first iteration %.2f s, memory %.2f GB\n"
           "  %d iterations in %.2f s: %.3f s/iteration, %.2f images/s (training: forward, "
           "backward, SGD update)\n"
           "  CPU time %.2f s: %.2f images per CPU-second\n",
           a->name, prec == CC_TPREC_BF16 ? "bf16" : "fp32", o->batch, o->input_channels,
           o->input_size, o->input_size, omp_get_max_threads(), cc_dnn_isa_name(), t_build,
           t_first, (double)cc_tnet_bytes(net->tn) / 1e9, o->iterations, dt, dt / o->iterations,
           o->iterations * o->batch / dt, dc, o->iterations * o->batch / dc);
    if (world > 1)
        printf("  processes: %d x %d images; gradient allreduce %.1f ms/iteration (%.1f MB fp32, "
               "%.0f%% of the iteration); the figures above are rank 0's (CPU time: its own)\n",
               world, o->batch / world, 1e3 * d->comm_seconds / o->iterations,
               (double)p->total * sizeof(float) / 1e6, 100 * d->comm_seconds / dt);
}

covidcam_status tr_bench(const tr_opts *o, tr_dist *d, cc_err *e)
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
    if (o->batch % d->size) {
        st = cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT,
                     "--batch-size %d is not divisible by the %d processes", o->batch, d->size);
        goto fail;
    }
    int share = o->batch / d->size;
    cc_tnet_sync sync = {tr_dist_sum_cb, d, d->size};
    if ((st = tr_net_build_synced(&net, &p, share, o->input_size, prec, 1, (float)o->bn_eps,
                                  &sync, e)))
        goto fail;
    double t_build = tr_now() - t0;
    labels = malloc((size_t)share * sizeof *labels);
    if (!labels) {
        st = cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    /* Each rank its own images (seeded by rank) of the same sizes. */
    tr_rng r = tr_rng_make((uint64_t)o->seed, 99, (uint64_t)d->rank, 0);
    float *x = cc_tt_host(net.input);
    for (size_t i = 0; i < (size_t)share * o->input_channels * o->input_size * o->input_size; i++)
        x[i] = (float)tr_rng_normal(&r);
    for (int i = 0; i < share; i++)
        labels[i] = (d->rank * share + i) % 3;
    t0 = tr_now();
    if ((st = step(&net, &p, labels, o, d, e)))
        goto fail;
    double t_first = tr_now() - t0;
    d->comm_seconds = 0;
    t0 = tr_now();
    double c0 = cpu_seconds();
    for (int i = 0; i < o->iterations && !st; i++)
        st = step(&net, &p, labels, o, d, e);
    double dt = tr_now() - t0, dc = cpu_seconds() - c0;
    if (!st && tr_dist_root(d))
        report(o, &a, prec, &net, &p, d, t_build, t_first, dt, dc);
fail:
    free(labels);
    tr_net_free(&net);
    tr_params_free(&p);
    return st;
}
