/* Inverted dropout masks from the dropout stream. */
#include "nn/dropout.h"

#include <math.h>

/* Runs STMT for each of n values with its index k and its decision keep,
 * two decisions per 64-bit draw (the callers handle p == 0: no draws). */
#define RMTL__DROPOUT_WALK(rng, p, n, STMT)                                        \
    do {                                                                           \
        uint64_t thr_ = (uint64_t)ldexp((double)(p), 32);                          \
        for (size_t i = 0; i < (n); i += 2) {                                      \
            uint64_t r_ = rmtl__rng_u64(rng);                                      \
            for (size_t h_ = 0; h_ < 2 && i + h_ < (n); h_++) {                    \
                size_t k = i + h_;                                                 \
                int keep = ((h_ ? r_ >> 32 : r_) & 0xffffffffu) >= thr_;           \
                STMT;                                                              \
            }                                                                      \
        }                                                                          \
    } while (0)

void rmtl__dropout_mask(rmtl__rng *rng, float p, size_t n, float *mask)
{
    if (p <= 0.0f) {
        for (size_t i = 0; i < n; i++)
            mask[i] = 1.0f;
        return;
    }
    float scale = 1.0f / (1.0f - p);
    RMTL__DROPOUT_WALK(rng, p, n, mask[k] = keep ? scale : 0.0f);
}

void rmtl__dropout_inplace(rmtl__rng *rng, float p, size_t n, float *x)
{
    if (p <= 0.0f)
        return;
    float scale = 1.0f / (1.0f - p);
    RMTL__DROPOUT_WALK(rng, p, n, x[k] = keep ? x[k] * scale : 0.0f);
}

void rmtl__dropout_apply(size_t n, const float *mask, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * mask[i];
}
