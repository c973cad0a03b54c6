/* Order statistics of timing samples. */
#ifndef COVIDCAM_BENCH_STATS_H
#define COVIDCAM_BENCH_STATS_H

#include <stddef.h>

typedef struct bench_stats {
    double median, p10, p90, min;
    double cpu_median; /* filled by the caller when it measures CPU time */
} bench_stats;

/* Sort `x` (n > 0 values) in place and summarise it. Percentiles interpolate
 * linearly between order statistics, like numpy.percentile's default, so the
 * numbers compare with bench/torch_reference.py. */
bench_stats bench_summarise(double *x, size_t n);

#endif
