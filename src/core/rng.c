/* xoshiro256** and splitmix64, after the public-domain reference code by
 * Blackman and Vigna (prng.di.unimi.it). */
#include "core/rng.h"

#include "core/internal.h"

#include <math.h>

uint64_t rmtl__splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void rmtl__rng_jump(rmtl__rng *r)
{
    static const uint64_t jump[4] = {0x180ec6d33cfd0abau, 0xd5a61266f0c9392cu,
                                     0xa9582618e03fc9aau, 0x39abdc4529b1661cu};
    uint64_t acc[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 64; b++) {
            if (jump[i] & ((uint64_t)1 << b))
                for (int k = 0; k < 4; k++)
                    acc[k] ^= r->s[k];
            rmtl__rng_u64(r);
        }
    for (int k = 0; k < 4; k++)
        r->s[k] = acc[k];
}

void rmtl__rng_seed(rmtl__rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t sm = seed;
    for (int k = 0; k < 4; k++)
        r->s[k] = rmtl__splitmix64(&sm);
    /* splitmix64 is a bijection of a counter, so four consecutive outputs
     * are never all zero. */
    for (uint64_t i = 0; i < stream; i++)
        rmtl__rng_jump(r);
}

double rmtl__rng_normal(rmtl__rng *r)
{
    double u1 = 1.0 - rmtl__rng_double(r); /* (0, 1]: log never sees 0 */
    double u2 = rmtl__rng_double(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t rmtl__rng_below(rmtl__rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* Reject the lowest 2^64 mod n values so every residue is equally
     * likely (the OpenBSD arc4random_uniform method). */
    uint64_t min = (0 - n) % n;
    for (;;) {
        uint64_t x = rmtl__rng_u64(r);
        if (x >= min)
            return x % n;
    }
}

static uint64_t rmtl__next_xoshiro(void *g) { return rmtl__rng_u64(g); }

static uint64_t rmtl__next_splitmix(void *g) { return rmtl__splitmix64(g); }

static void rmtl__shuffle(size_t *idx, size_t n, uint64_t (*next)(void *), void *g)
{
    for (size_t i = n; i > 1; i--) {
        uint64_t m = i, min = (0 - m) % m, x;
        do
            x = next(g);
        while (x < min);
        size_t j = (size_t)(x % m), t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

void rmtl__rng_shuffle(rmtl__rng *r, size_t *idx, size_t n)
{
    rmtl__shuffle(idx, n, rmtl__next_xoshiro, r);
}

void rmtl__shuffle_seeded(size_t *idx, size_t n, uint64_t seed)
{
    uint64_t state = seed;
    rmtl__shuffle(idx, n, rmtl__next_splitmix, &state);
}

void rmtl__rng_get_state(const rmtl__rng *r, uint64_t s[4])
{
    for (int k = 0; k < 4; k++)
        s[k] = r->s[k];
}

int rmtl__rng_set_state(rmtl__rng *r, const uint64_t s[4])
{
    if (!(s[0] | s[1] | s[2] | s[3]))
        return rmtl__error(RMTL_EINVAL, "random state: all four words are zero");
    for (int k = 0; k < 4; k++)
        r->s[k] = s[k];
    return 0;
}
