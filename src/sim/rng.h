/* The simulator's random streams: xoshiro256** seeded through splitmix64.
 * Header-only because the hot path draws a few numbers per candidate. The
 * integer and float conversions are exact, so a stream's values are the
 * same on every platform and build. */
#ifndef RMTL_SIM_RNG_H
#define RMTL_SIM_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct rmtl__rng {
    uint64_t s[4];
} rmtl__rng;

static inline uint64_t rmtl__splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* A stream named by (seed, a, b): distinct names give unrelated streams,
 * so a session's randomness depends only on its seed and index. */
static inline void rmtl__rng_seed(rmtl__rng *r, uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t x = seed;
    uint64_t k = rmtl__splitmix64(&x) ^ a;
    k = rmtl__splitmix64(&k) ^ b;
    for (int i = 0; i < 4; i++)
        r->s[i] = rmtl__splitmix64(&k);
}

static inline uint64_t rmtl__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rmtl__rng_next(rmtl__rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rmtl__rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rmtl__rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1) with 24 (float) or 53 (double) random bits. */
static inline float rmtl__rng_float(rmtl__rng *r)
{
    return (float)(rmtl__rng_next(r) >> 40) * 0x1.0p-24f;
}
static inline double rmtl__rng_double(rmtl__rng *r)
{
    return (double)(rmtl__rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n), n >= 1: the high 32 bits scaled by n
 * (Lemire), biased by less than n / 2^32. */
static inline uint32_t rmtl__rng_below(rmtl__rng *r, uint32_t n)
{
    return (uint32_t)(((rmtl__rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Standard normal (Box-Muller, one value per call; only used while the
 * world is generated, where speed does not matter). */
static inline double rmtl__rng_normal(rmtl__rng *r)
{
    double u = 1.0 - rmtl__rng_double(r); /* (0, 1] */
    double v = rmtl__rng_double(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

#endif
