/* Perturbations and random baselines of the faithfulness measurement. */
#include <math.h>
#include <stdlib.h>

#include "faith_metrics.h"

void faith_rng_seed(faith_rng *r, uint64_t seed, uint64_t stream)
{
    r->state = seed * 0x9E3779B97F4A7C15ull ^ (stream + 0x632BE59BD9B4E019ull);
}

double faith_rng_uniform(faith_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0; /* 53 bits */
}

/* Source coordinate and weight of output index i (cv2.resize INTER_LINEAR). */
static void axis(int i, int n_in, int n_out, int *i0, int *i1, float *f)
{
    double src = (i + 0.5) * ((double)n_in / n_out) - 0.5;
    if (src < 0)
        src = 0;
    int lo = (int)src;
    lo = lo > n_in - 1 ? n_in - 1 : lo;
    *i0 = lo;
    *i1 = lo + 1 < n_in ? lo + 1 : lo;
    *f = (float)(src - lo);
}

void faith_random_map(faith_rng *r, int rw, int rh, int size, float *tmp, float *map)
{
    size_t s2 = (size_t)size * (size_t)size;
    for (int i = 0; i < rw * rh; i++)
        tmp[i] = (float)faith_rng_uniform(r);
    for (int y = 0; y < size; y++) {
        int y0, y1;
        float fy;
        axis(y, rh, size, &y0, &y1, &fy);
        for (int x = 0; x < size; x++) {
            int x0, x1;
            float fx;
            axis(x, rw, size, &x0, &x1, &fx);
            float top = tmp[y0 * rw + x0] * (1 - fx) + tmp[y0 * rw + x1] * fx;
            float bot = tmp[y1 * rw + x0] * (1 - fx) + tmp[y1 * rw + x1] * fx;
            map[(size_t)y * (size_t)size + (size_t)x] = top * (1 - fy) + bot * fy;
        }
    }
    float lo = map[0], hi = map[0];
    for (size_t i = 1; i < s2; i++) {
        lo = map[i] < lo ? map[i] : lo;
        hi = map[i] > hi ? map[i] : hi;
    }
    for (size_t i = 0; i < s2; i++)
        map[i] = hi > lo ? (map[i] - lo) / (hi - lo) : 0;
}

void faith_multiply(const float *input, const float *map, int channels, int size, float *out)
{
    size_t s2 = (size_t)size * (size_t)size;
    for (int c = 0; c < channels; c++)
        for (size_t i = 0; i < s2; i++)
            out[(size_t)c * s2 + i] = input[(size_t)c * s2 + i] * map[i];
}

/* Descending map value, then ascending position: a total order, so the
 * removed area is exact and the same on every platform. */
static int by_salience(const void *a, const void *b)
{
    const faith_rank *x = a, *y = b;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

void faith_remove_top(const float *input, const float *map, int channels, int size,
                      double fraction, faith_rank *ranks, float *out)
{
    size_t s2 = (size_t)size * (size_t)size, k = (size_t)llround(fraction * (double)s2);
    for (size_t i = 0; i < s2; i++)
        ranks[i] = (faith_rank){map[i], (int)i};
    qsort(ranks, s2, sizeof *ranks, by_salience);
    for (int c = 0; c < channels; c++) {
        const float *in = input + (size_t)c * s2;
        float *o = out + (size_t)c * s2;
        double mean = 0;
        for (size_t i = 0; i < s2; i++) {
            mean += in[i];
            o[i] = in[i];
        }
        mean /= (double)s2;
        for (size_t i = 0; i < k; i++)
            o[ranks[i].index] = (float)mean;
    }
}
