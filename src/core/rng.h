/*
 * Seeded pseudo-random numbers for everything stochastic in librmtl:
 * xoshiro256** (Blackman & Vigna, 2018), seeded through splitmix64.
 * Independent streams are the same seed advanced by `stream` jumps of
 * 2^128 draws each, so streams never overlap. The state is four words,
 * exposed so that checkpoints resume the exact sequence. Not for
 * cryptography.
 */
#ifndef RMTL_NN_RNG_H
#define RMTL_NN_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rmtl__rng {
    uint64_t s[4]; /* never all zero */
} rmtl__rng;

/* One stream per purpose, so that drawing more for one purpose (say,
 * dropout on a wider layer) never shifts the numbers of another. */
enum {
    RMTL__STREAM_INIT = 0,    /* weight initialisation */
    RMTL__STREAM_DROPOUT = 1, /* dropout masks */
    RMTL__STREAM_SAMPLE = 2,  /* replay sampling, shuffling */
    RMTL__STREAM_NOISE = 3,   /* exploration noise */
    /* The RL handles' streams, clear of the model's own, so an env, an
     * actor and a model built from one config never share numbers.
     * Critic k uses RMTL__STREAM_CRITIC + 4k + {0 init, 1 dropout, 2 target
     * noise}. */
    RMTL__STREAM_ENV = 8,         /* dataset env: session draws */
    RMTL__STREAM_ACTOR_NOISE = 9, /* actor: exploration noise */
    RMTL__STREAM_CRITIC = 16
};

/* Advances a splitmix64 state and returns its next output. */
uint64_t rmtl__splitmix64(uint64_t *state);

/* State from `seed`, then `stream` jumps (stream 0: no jump). */
void rmtl__rng_seed(rmtl__rng *r, uint64_t seed, uint64_t stream);
/* Advances by 2^128 draws. */
void rmtl__rng_jump(rmtl__rng *r);

/* Inline: the simulator draws a few numbers per candidate. */
static inline uint64_t rmtl__rng_u64(rmtl__rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5, out = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return out;
}
/* Uniform in [0, 1) with 53 (double) or 24 (float) random bits: exact
 * conversions, so a stream's values are the same on every platform. */
static inline double rmtl__rng_double(rmtl__rng *r)
{
    return (double)(rmtl__rng_u64(r) >> 11) * 0x1.0p-53;
}
static inline float rmtl__rng_float(rmtl__rng *r)
{
    return (float)(rmtl__rng_u64(r) >> 40) * 0x1.0p-24f;
}
/* Standard normal, Box-Muller; one value per call (no cached second value,
 * so the state stays the four words). */
double rmtl__rng_normal(rmtl__rng *r);
/* Uniform integer in [0, n), n >= 1, without modulo bias (rejection). */
uint64_t rmtl__rng_below(rmtl__rng *r, uint64_t n);

/* The one shuffle: Fisher-Yates over idx[0..n), from the last position
 * down, each draw uniform in [0, i] by rejection of the lowest 2^64 mod
 * (i+1) values (as rmtl__rng_below). rmtl__rng_shuffle draws from r (a
 * model's epochs); rmtl__shuffle_seeded from splitmix64 seeded with `seed`
 * (the data layer's shuffles and splits, which depend on their seed
 * alone). */
void rmtl__rng_shuffle(rmtl__rng *r, size_t *idx, size_t n);
void rmtl__shuffle_seeded(size_t *idx, size_t n, uint64_t seed);

/* Serialisable state. set refuses the all-zero state (RMTL_EINVAL). */
void rmtl__rng_get_state(const rmtl__rng *r, uint64_t s[4]);
int rmtl__rng_set_state(rmtl__rng *r, const uint64_t s[4]);

#endif
