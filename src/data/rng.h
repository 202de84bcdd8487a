/* The data layer's seeded randomness (shuffles, session splits): SplitMix64,
 * a tiny generator with full 64-bit output that passes BigCrush, and an
 * unbiased bounded draw. Private to src/data so that the neural core's own
 * streams never depend on how data was shuffled. */
#ifndef RMTL_DATA_RNG_H
#define RMTL_DATA_RNG_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t rmtl__ds_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1 (rejection: no modulo bias). */
static inline uint64_t rmtl__ds_rng_below(uint64_t *state, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = rmtl__ds_rng_next(state);
    while (x >= limit);
    return x % n;
}

/* Fisher-Yates over idx[0..n). */
static inline void rmtl__ds_shuffle_idx(size_t *idx, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rmtl__ds_rng_below(&s, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

#endif
