/*
 * The arithmetic of RMTL's reinforcement learning (docs/rmtl.md), as pure
 * functions on caller buffers so each can be checked against hand-computed
 * numbers (the reward is the env's: rmtl__reward, src/env/denv.h):
 *   TD target   y = r + γ·(1 − done)·min(Q'(s', a'), Q(s', a'))
 *   smoothing   a' = π'(s') + clip(N(0, σ), −c, c)
 *   IPS weights w = y·(B+1)/(n_pos+1) + (B+1)/(B − n_pos)
 *   RMTL weight w = 1 − λ·Q(s, ŷ)
 */
#ifndef RMTL_RL_TD_H
#define RMTL_RL_TD_H

#include "core/rng.h"

#include <stddef.h>
#include <stdint.h>

/* y_i = r_i + γ·(1 − done_i)·min(q_tgt_i, q_cur_i) for n rows; r is read
 * with row stride ldr (one task's column of an n × T reward matrix). */
void rmtl__td_target(size_t n, const float *r, size_t ldr, const uint8_t *done,
                     const float *q_tgt, const float *q_cur, double gamma, float *y);

/* Target-policy smoothing: a'_i = a_i + clip(ε_i, −clip, clip), ε_i ~
 * N(0, sigma²), one draw per row in row order; a and out read/written with
 * strides lda and ldo (may alias with equal strides). */
void rmtl__smooth_actions(rmtl__rng *rng, size_t n, const float *a, size_t lda, double sigma,
                          double clip, float *out, size_t ldo);

/* Inverse-propensity weights of one task over a batch of n labels y
 * (stride ld), n_pos = Σ y: w_i = y_i·(n+1)/(n_pos+1) + (n+1)/(n − n_pos),
 * so positives get both terms and negatives the second. A batch of
 * positives only (n − n_pos = 0) uses 1 for n − n_pos, so the weights stay
 * finite. */
void rmtl__ips_weights(size_t n, const float *labels, size_t ld, float *w);

#endif
