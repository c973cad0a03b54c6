#include "tr_mixup.h"

#include <math.h>

/* Gamma(a, 1) for a >= 1: Marsaglia and Tsang, ACM TOMS 26 (2000) 363-372. */
static double gamma_ge1(tr_rng *r, double a)
{
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = tr_rng_normal(r), v = 1.0 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = 1.0 - tr_rng_uniform(r); /* (0, 1]: log(u) finite */
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return d * v;
    }
}

/* Gamma(a, 1) for any a > 0; below 1 by the boost Gamma(a) = Gamma(a + 1) * U^(1/a).
 * Returned as its logarithm: for small a, U^(1/a) underflows to 0 in doubles. */
static double log_gamma_draw(tr_rng *r, double a)
{
    if (a >= 1)
        return log(gamma_ge1(r, a));
    double g = gamma_ge1(r, a + 1.0), u = 1.0 - tr_rng_uniform(r);
    return log(g) + log(u) / a;
}

double tr_beta_sym(tr_rng *r, double alpha)
{
    double lx = log_gamma_draw(r, alpha), ly = log_gamma_draw(r, alpha);
    /* x / (x + y) = 1 / (1 + exp(ly - lx)), safe when both are tiny */
    return 1.0 / (1.0 + exp(ly - lx));
}

void tr_mixup(float *x, const int *labels, int n, size_t stride, double alpha, uint64_t seed,
              long iter, int row0, int *y2, float *lam)
{
    for (int i = 0; i < n; i++) {
        y2[i] = labels[i];
        lam[i] = 1.0f;
    }
    for (int i = 0; i + 1 < n; i += 2) {
        if (labels[i] < 0 || labels[i + 1] < 0)
            continue;
        tr_rng r = tr_rng_make(seed, TR_RNG_MIXUP, (uint64_t)iter, (uint64_t)(row0 + i));
        float l = (float)tr_beta_sym(&r, alpha);
        float *a = x + (size_t)i * stride, *b = a + stride;
        for (size_t k = 0; k < stride; k++) {
            float va = a[k], vb = b[k];
            a[k] = l * va + (1.0f - l) * vb;
            b[k] = l * vb + (1.0f - l) * va;
        }
        y2[i] = labels[i + 1];
        y2[i + 1] = labels[i];
        lam[i] = lam[i + 1] = l;
    }
}
