/* Checks on a decoded gray image before the network: findings that make a
 * classification untrustworthy (docs/trust.md). Each is a warning bit
 * (COVIDCAM_WARN_*), never a failure. */
#ifndef COVIDCAM_INPUT_CHECKS_H
#define COVIDCAM_INPUT_CHECKS_H

#include <stddef.h>
#include <stdint.h>

/* The thresholds, in 0-255 gray units; docs/trust.md gives the measurements
 * behind them. */
#define CC_CHECK_MIN_STD 4.0         /* below: nearly constant */
#define CC_CHECK_MIN_SPAN 48         /* 99th minus 1st percentile below: low range */
#define CC_CHECK_MAX_ASPECT 1.6      /* longer over shorter side above: extreme */
/* Fine-over-coarse detail ratio below: low detail. Between the 0.25 of an
 * image enlarged 4x or more and the lowest of the 7560 training films, 0.285. */
#define CC_CHECK_MIN_DETAIL 0.27

/* The statistics behind the warnings. */
typedef struct cc_input_stats {
    double mean, std;
    int p1, p99;     /* 1st and 99th percentiles of the gray values */
    double polarity; /* (mean of the central band - mean of the lung bands) / std */
    double aspect;   /* longer side / shorter side */
    double detail;   /* fine over coarse neighbour differences at the input grid's spacing */
} cc_input_stats;

/* The warning bits of a width x height gray image (rows `stride` bytes apart;
 * geometry already validated) for a model of `input_size` x `input_size`
 * input, and its statistics in *st (may be NULL). Allocation-free: one pass
 * over the pixels, the two bands, and two over every k-th row (k the input
 * grid's spacing) for the detail ratio. */
unsigned cc_input_checks(const uint8_t *px, int width, int height, size_t stride, int input_size,
                         cc_input_stats *st);

#endif
