/* Flushing subnormal weights to zero at load time. */
#ifndef COVIDCAM_DENORMAL_H
#define COVIDCAM_DENORMAL_H

#include <stddef.h>

/* Replace every subnormal float in x[0..n) by a zero of the same sign; returns
 * how many were replaced. Subnormal operands take a microcode assist on x86
 * (about 100x slower per multiply), so a model whose weights are +-1e-40 would
 * run tens of times slower; their contribution is below float resolution of
 * any normal activation, so zero is the same network for every input. */
size_t cc_flush_denormals(float *x, size_t n);

#endif
