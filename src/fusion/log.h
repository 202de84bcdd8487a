/*
 * The offline log of progressive training: every request the behaviour
 * policy served in the simulator, with its shown pairs (features, scores,
 * the action served, its trust box, the behaviours), the logged unshown
 * candidates (same columns, zero behaviours) with their weight ω, and the
 * request that followed it in its session. Rounds append; training samples minibatches
 * of requests and lays them out as an rmtl_fusion_batch.
 */
#ifndef RMTL_FUSION_LOG_H
#define RMTL_FUSION_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "rmtl.h"

typedef struct rmtl__flog {
    size_t S, T, A, R;  /* state, tasks, action and reward widths */
    /* rows (shown pairs) */
    size_t rows, rows_cap, shown; /* shown: rows that were shown */
    float *state, *scores, *action, *lo, *hi, *reward;
    int64_t *user;
    /* requests */
    size_t reqs, reqs_cap;
    size_t *begin, *mid, *end; /* shown rows [begin, mid), unshown [mid, end) */
    float *weight;             /* ω of the unshown rows */
    int64_t *next; /* the next request of the session, or -1 */
    size_t widest; /* rows of the longest request */
    /* a sampled minibatch, laid out for rmtl_fusion_train_step */
    size_t b_cap;  /* rows the scratch arrays hold */
    float *b_state, *b_scores, *b_action, *b_lo, *b_hi, *b_reward;
    size_t *b_rows, *b_next, *b_cand, *b_next_cand, b_req_cap;
    float *b_weight;
} rmtl__flog;

void rmtl__flog_init(rmtl__flog *l, size_t S, size_t T, size_t A, size_t R);
void rmtl__flog_free(rmtl__flog *l);
/* Appends one request of `n` rows (arrays n × width, user per request),
 * the first `shown` of them shown, the rest unshown candidates of weight
 * `weight`, and returns its index in *req; `prev` (or -1) is the request
 * that preceded it in its session, whose `next` becomes this one. */
int rmtl__flog_add(rmtl__flog *l, size_t *req, int64_t prev, int64_t user, size_t n,
                   size_t shown, float weight,
                   const float *state, const float *scores, const float *action,
                   const float *lo, const float *hi, const float *reward);
/* Samples `count` requests uniformly (with replacement) and lays them and
 * their next requests out in *b (borrowing the log's scratch arrays). */
int rmtl__flog_sample(rmtl__flog *l, rmtl__rng *rng, size_t count, rmtl_fusion_batch *b);

#endif
