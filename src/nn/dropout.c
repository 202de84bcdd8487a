/* Inverted dropout masks from the dropout stream. */
#include "nn/dropout.h"

#include <math.h>
#include <string.h>

/* The plain walk, kept as the reference of the in-place form below (the
 * tests compare the two): two decisions per 64-bit draw, the low half
 * first. */
void rmtl__dropout_mask(rmtl__rng *rng, float p, size_t n, float *mask)
{
    if (p <= 0.0f) {
        for (size_t i = 0; i < n; i++)
            mask[i] = 1.0f;
        return;
    }
    float scale = 1.0f / (1.0f - p);
    uint64_t thr = (uint64_t)ldexp((double)p, 32);
    for (size_t i = 0; i < n; i += 2) {
        uint64_t r = rmtl__rng_u64(rng);
        for (size_t h = 0; h < 2 && i + h < n; h++)
            mask[i + h] = ((h ? r >> 32 : r) & 0xffffffffu) >= thr ? scale : 0.0f;
    }
}

/* The hot one (every hidden layer of every training step). The draws of a
 * block go to a buffer first, so that the loop applying them neither
 * depends on the generator nor branches on random decisions (which the
 * CPU would mispredict half the time): the decision becomes a bit mask
 * over the scaled value, so a dropped value is +0 whatever it was, as in
 * the walk above, and the 16-wide blocks vectorise at gcc -O2. The
 * comparison u >= thr of unsigned halves is done on sign-flipped signed
 * values, which SSE2 compares directly. The decisions are the walk's:
 * value k takes the low half of draw k/2 when k is even, the high half
 * when odd. */
static inline void rmtl__dropout_one(float *restrict y, const int32_t *restrict u, size_t k,
                                     int32_t thr, float scale)
{
    float s = y[k] * scale;
    uint32_t bits;
    memcpy(&bits, &s, sizeof bits);
    bits &= 0u - (uint32_t)(u[k] >= thr);
    memcpy(&y[k], &bits, sizeof bits);
}

static inline int32_t rmtl__flip(uint32_t x) { return (int32_t)(x ^ 0x80000000u); }

void rmtl__dropout_inplace(rmtl__rng *rng, float p, size_t n, float *x)
{
    enum { BLK = 512, VEC = 16 };
    if (p <= 0.0f)
        return;
    float scale = 1.0f / (1.0f - p);
    int32_t thr = rmtl__flip((uint32_t)ldexp((double)p, 32)); /* p < 1: below 2^32 */
    int32_t u[BLK];
    for (size_t i = 0; i < n; i += BLK) {
        size_t cnt = n - i < BLK ? n - i : BLK;
        for (size_t k = 0; k < cnt; k += 2) {
            uint64_t r = rmtl__rng_u64(rng);
            u[k] = rmtl__flip((uint32_t)r);
            u[k + 1] = rmtl__flip((uint32_t)(r >> 32)); /* cnt < BLK when odd: in bounds */
        }
        float *y = x + i;
        size_t k = 0;
        for (; k + VEC <= cnt; k += VEC)
            for (size_t j = k; j < k + VEC; j++)
                rmtl__dropout_one(y, u, j, thr, scale);
        for (; k < cnt; k++)
            rmtl__dropout_one(y, u, k, thr, scale);
    }
}

void rmtl__dropout_apply(size_t n, const float *mask, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * mask[i];
}
