#include "stats.h"

#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= n)
        return sorted[n - 1];
    double frac = pos - (double)lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

bench_stats bench_summarise(double *x, size_t n)
{
    qsort(x, n, sizeof *x, cmp_double);
    bench_stats s = {.median = percentile(x, n, 0.5),
                     .p10 = percentile(x, n, 0.1),
                     .p90 = percentile(x, n, 0.9),
                     .min = x[0]};
    return s;
}
