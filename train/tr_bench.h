/* --benchmark: training throughput on synthetic data. */
#ifndef TR_BENCH_H
#define TR_BENCH_H

#include "tr_options.h"

/* Build the network for o (3 classes), run one untimed iteration, then
 * o->iterations timed ones (forward, backward, SGD update) and print images/s. */
covidcam_status tr_bench(const tr_opts *o, cc_err *e);

#endif
