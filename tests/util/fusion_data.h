/* Test data for fusion (public API only, so both runners can use it):
 * configs from YAML, random requests, and synthetic logged batches. */
#ifndef RMTL_TESTS_FUSION_DATA_H
#define RMTL_TESTS_FUSION_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "rmtl.h"

/* A small fusion of `gran` ("pair" or "user") that exercises every term:
 * 2 tasks, 2 critic groups of 3, the trust box, the φ discount; one thread.
 * Gradient checks and the distributed tests share it. */
#define FX_SMALL_CFG(gran) FX_SMALL_CFG_WITH(gran, "")
/* The same with more fusion settings, e.g. " objective: pair," */
#define FX_SMALL_CFG_WITH(gran, more)                                                        \
    "model: {tasks: [a, b]}\n"                                                               \
    "fusion: {granularity: " gran "," more " actor_hidden: [6, 5], critic_hidden: [5, 4],"           \
    " critic_groups: 2, critic_ensemble: 3, reward_coef: [1, 5, 2], reward_group: [0, 1, 1],"\
    " gamma: 0.9, box_beta: 3, eta: 0.7, kappa: 0.6, explore_width: 0.1,"                    \
    " state: {user_dim: 2, item_dim: 2, context_dim: 1}}\n"                                   \
    "runtime: {threads: 1, seed: 11}\n"

/* A config with the defaults overridden by `yaml`; aborts the test on error. */
rmtl_config *fx_config(const char *yaml);
/* rmtl_fusion_create on fx_config(yaml). */
rmtl_fusion *fx_fusion(const char *yaml);
rmtl_fusion_info fx_info(const rmtl_fusion *f);

/* One request of n candidates with random features in [-1, 1) and scores
 * in [0, 1); `req` points into the owned arrays. */
typedef struct fx_request {
    rmtl_fusion_request req;
    float *user, *context, *items, *scores;
} fx_request;
void fx_request_make(fx_request *r, const rmtl_fusion *f, size_t n, unsigned long long seed);
void fx_request_free(fx_request *r);
/* The pair features [user; item; context] of candidate i. */
void fx_state_row(const fx_request *r, size_t i, float *out);

/* A logged batch: `sessions` sessions of `len` requests of `shown` pairs;
 * request r is followed by r + 1 within its session, the last request of a
 * session is terminal. Random features, scores, actions within the bounds,
 * boxes = action ∓ rho, rewards (behaviours) 0/1 at random. */
typedef struct fx_batch {
    rmtl_fusion_batch b;
    size_t *rows, *next_rows;
    float *state, *scores, *action, *box_lo, *box_hi, *reward;
} fx_batch;
void fx_batch_make(fx_batch *x, const rmtl_fusion *f, size_t sessions, size_t len,
                   size_t shown, unsigned long long seed);
void fx_batch_free(fx_batch *x);

/* Uniform in [lo, hi) from a 64-bit LCG state. */
float fx_uniform(unsigned long long *s, float lo, float hi);

#endif
