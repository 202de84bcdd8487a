/* The simulator's random streams: the library's xoshiro256** (core/rng.h),
 * seeded by name so that a session's randomness depends only on the world
 * seed and the session's index, plus a fast bounded draw for the hot path. */
#ifndef RMTL_SIM_RNG_H
#define RMTL_SIM_RNG_H

#include <stdint.h>

#include "core/rng.h"

/* A stream named by (seed, a, b): distinct names give unrelated streams. */
static inline void rmtl__sim_rng_seed(rmtl__rng *r, uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t x = seed;
    uint64_t k = rmtl__splitmix64(&x) ^ a;
    k = rmtl__splitmix64(&k) ^ b;
    for (int i = 0; i < 4; i++)
        r->s[i] = rmtl__splitmix64(&k);
}

/* Uniform integer in [0, n), n >= 1: the high 32 bits scaled by n
 * (Lemire), biased by less than n / 2^32 — a multiply instead of the
 * rejection loop of rmtl__rng_below(). */
static inline uint32_t rmtl__sim_below(rmtl__rng *r, uint32_t n)
{
    return (uint32_t)(((rmtl__rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

#endif
