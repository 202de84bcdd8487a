/*
 * Inverted dropout: in training each value is kept with probability 1 − p
 * and scaled by 1/(1 − p), so evaluation is the identity. The keep
 * decisions come from the caller's generator (RMTL__STREAM_DROPOUT), one
 * 32-bit half of a draw per value, in index order: the same seed gives the
 * same masks whatever the thread count.
 */
#ifndef RMTL_NN_DROPOUT_H
#define RMTL_NN_DROPOUT_H

#include "core/rng.h"

#include <stddef.h>

/* mask[i] = 0 or 1/(1 − p); p in [0, 1). */
void rmtl__dropout_mask(rmtl__rng *rng, float p, size_t n, float *mask);
/* y = x ⊙ mask: the forward pass, and (with dy, dx) the backward pass. */
void rmtl__dropout_apply(size_t n, const float *mask, const float *x, float *y);
/* x ⊙= a fresh mask, the same mask rmtl__dropout_mask would draw; for
 * fused paths that recover the mask later from the output (see mlp.c). */
void rmtl__dropout_inplace(rmtl__rng *rng, float p, size_t n, float *x);

#endif
