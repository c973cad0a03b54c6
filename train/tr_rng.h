/* Deterministic random numbers for the trainer: every stream is derived from
 * (seed, purpose, a, b), e.g. (seed, AUGMENT, epoch, sample), so results do not
 * depend on thread timing or on where a run was resumed. */
#ifndef TR_RNG_H
#define TR_RNG_H

#include <math.h>
#include <stdint.h>

enum { TR_RNG_INIT = 1, TR_RNG_SHUFFLE = 2, TR_RNG_AUGMENT = 3, TR_RNG_SPLIT = 4, TR_RNG_MIXUP = 5 };

typedef struct tr_rng {
    uint64_t s;
} tr_rng;

static inline uint64_t tr_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline tr_rng tr_rng_make(uint64_t seed, uint64_t purpose, uint64_t a, uint64_t b)
{
    uint64_t s = tr_mix64(seed + 0x9e3779b97f4a7c15ull);
    s = tr_mix64(s ^ (purpose * 0xd1b54a32d192ed03ull));
    s = tr_mix64(s ^ (a * 0x8cb92ba72f3d8dd7ull));
    s = tr_mix64(s ^ (b * 0xaef17502108ef2d9ull));
    tr_rng r = {s};
    return r;
}

/* splitmix64 */
static inline uint64_t tr_rng_u64(tr_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return tr_mix64(r->s);
}

/* Uniform in [0, 1). */
static inline double tr_rng_uniform(tr_rng *r)
{
    return (double)(tr_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [-a, a]. */
static inline double tr_rng_sym(tr_rng *r, double a)
{
    return a * (2.0 * tr_rng_uniform(r) - 1.0);
}

/* Uniform integer in [0, n), 0 < n < 2^31 (53 random bits: bias < 2^-22). */
static inline uint64_t tr_rng_below(tr_rng *r, uint64_t n)
{
    uint64_t v = (uint64_t)(tr_rng_uniform(r) * (double)n);
    return v < n ? v : n - 1;
}

/* Standard normal (Box-Muller). */
static inline double tr_rng_normal(tr_rng *r)
{
    double u = 1.0 - tr_rng_uniform(r), v = tr_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Fisher-Yates shuffle of idx[0..n). */
static inline void tr_rng_shuffle(tr_rng *r, int *idx, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)tr_rng_below(r, (uint64_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

#endif
