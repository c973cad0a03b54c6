/* --benchmark: training throughput on synthetic data. */
#ifndef TR_BENCH_H
#define TR_BENCH_H

#include "tr_dist.h"
#include "tr_options.h"

/* Build the network for o (3 classes), run one untimed iteration, then
 * o->iterations timed ones (forward, backward, SGD update) and print images/s.
 * Under mpirun (d->size > 1) every rank trains its share of the batch with
 * synchronised batch norm and summed gradients, and rank 0 also prints the
 * time spent summing the gradients. */
covidcam_status tr_bench(const tr_opts *o, tr_dist *d, cc_err *e);

#endif
