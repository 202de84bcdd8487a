/* The offline log of progressive training (see log.h). */
#include "fusion/log.h"

#include "core/internal.h"

#include <string.h>

void rmtl__flog_init(rmtl__flog *l, size_t S, size_t T, size_t A, size_t R)
{
    memset(l, 0, sizeof *l);
    l->S = S;
    l->T = T;
    l->A = A;
    l->R = R;
}

void rmtl__flog_free(rmtl__flog *l)
{
    void *p[] = {l->state,    l->scores, l->action, l->lo,       l->hi,      l->reward,
                 l->user,     l->begin,  l->mid,    l->end,      l->weight,  l->next,
                 l->b_state,  l->b_scores, l->b_action, l->b_lo, l->b_hi,    l->b_reward,
                 l->b_rows,   l->b_next, l->b_cand, l->b_next_cand, l->b_weight};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        rmtl__free(p[i]);
    rmtl__flog_init(l, l->S, l->T, l->A, l->R);
}

/* Grows *p (elements of `size` bytes) to hold `need`, doubling. */
static int rmtl__grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / size)
        return rmtl__error(RMTL_ENOMEM, "fusion log: too large");
    void *q = rmtl__realloc(*p, n * size);
    if (!q)
        return rmtl__error(RMTL_ENOMEM, "fusion log: out of memory (%zu entries)", n);
    *p = q;
    return 0;
}

/* Every row array grows together; `cap` is only advanced once all did. */
static int rmtl__flog_reserve_rows(rmtl__flog *l, size_t need)
{
    if (need <= l->rows_cap)
        return 0;
    size_t n = l->rows_cap ? l->rows_cap : 64;
    while (n < need)
        n *= 2;
    struct {
        void **p;
        size_t w;
    } a[] = {{(void **)&l->state, l->S * sizeof(float)},  {(void **)&l->scores, l->T * sizeof(float)},
             {(void **)&l->action, l->A * sizeof(float)}, {(void **)&l->lo, l->A * sizeof(float)},
             {(void **)&l->hi, l->A * sizeof(float)},     {(void **)&l->reward, l->R * sizeof(float)},
             {(void **)&l->user, sizeof(int64_t)}};
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        size_t cap = l->rows_cap;
        int rc = rmtl__grow(a[i].p, &cap, n, a[i].w ? a[i].w : 1);
        if (rc)
            return rc;
    }
    l->rows_cap = n;
    return 0;
}

static int rmtl__flog_reserve_reqs(rmtl__flog *l, size_t need)
{
    if (need <= l->reqs_cap)
        return 0;
    size_t n = l->reqs_cap ? l->reqs_cap * 2 : 64;
    while (n < need)
        n *= 2;
    size_t c1 = l->reqs_cap, c2 = l->reqs_cap, c3 = l->reqs_cap, c4 = l->reqs_cap;
    size_t c5 = l->reqs_cap;
    int rc = rmtl__grow((void **)&l->begin, &c1, n, sizeof(size_t));
    if (!rc)
        rc = rmtl__grow((void **)&l->end, &c2, n, sizeof(size_t));
    if (!rc)
        rc = rmtl__grow((void **)&l->next, &c3, n, sizeof(int64_t));
    if (!rc)
        rc = rmtl__grow((void **)&l->mid, &c4, n, sizeof(size_t));
    if (!rc)
        rc = rmtl__grow((void **)&l->weight, &c5, n, sizeof(float));
    if (!rc)
        l->reqs_cap = n;
    return rc;
}

int rmtl__flog_add(rmtl__flog *l, size_t *req, int64_t prev, int64_t user, size_t n,
                   size_t shown, float weight, const float *state, const float *scores, const float *action,
                   const float *lo, const float *hi, const float *reward)
{
    int rc = rmtl__flog_reserve_rows(l, l->rows + n);
    if (!rc)
        rc = rmtl__flog_reserve_reqs(l, l->reqs + 1);
    if (rc)
        return rc;
    size_t r0 = l->rows;
    memcpy(l->state + r0 * l->S, state, n * l->S * sizeof(float));
    memcpy(l->scores + r0 * l->T, scores, n * l->T * sizeof(float));
    memcpy(l->action + r0 * l->A, action, n * l->A * sizeof(float));
    memcpy(l->lo + r0 * l->A, lo, n * l->A * sizeof(float));
    memcpy(l->hi + r0 * l->A, hi, n * l->A * sizeof(float));
    memcpy(l->reward + r0 * l->R, reward, n * l->R * sizeof(float));
    for (size_t i = 0; i < n; i++)
        l->user[r0 + i] = user;
    l->rows += n;
    l->shown += shown;
    l->widest = n > l->widest ? n : l->widest;
    size_t k = l->reqs++;
    l->begin[k] = r0;
    l->mid[k] = r0 + shown;
    l->end[k] = l->rows;
    l->weight[k] = weight;
    l->next[k] = -1;
    if (prev >= 0)
        l->next[prev] = (int64_t)k;
    *req = k;
    return 0;
}

/* Copies request k's rows to the minibatch at row `at`; returns the rows. */
static size_t rmtl__flog_copy(rmtl__flog *l, size_t k, size_t at)
{
    size_t r0 = l->begin[k], n = l->end[k] - r0;
    memcpy(l->b_state + at * l->S, l->state + r0 * l->S, n * l->S * sizeof(float));
    memcpy(l->b_scores + at * l->T, l->scores + r0 * l->T, n * l->T * sizeof(float));
    memcpy(l->b_action + at * l->A, l->action + r0 * l->A, n * l->A * sizeof(float));
    memcpy(l->b_lo + at * l->A, l->lo + r0 * l->A, n * l->A * sizeof(float));
    memcpy(l->b_hi + at * l->A, l->hi + r0 * l->A, n * l->A * sizeof(float));
    memcpy(l->b_reward + at * l->R, l->reward + r0 * l->R, n * l->R * sizeof(float));
    return n;
}

int rmtl__flog_sample(rmtl__flog *l, rmtl__rng *rng, size_t count, rmtl_fusion_batch *b)
{
    if (l->reqs == 0)
        return rmtl__error(RMTL_ESTATE, "fusion log: no requests to train on");
    size_t need = 2 * count * l->widest; /* each request and its next */
    if (need > l->b_cap) {
        size_t c[6] = {l->b_cap, l->b_cap, l->b_cap, l->b_cap, l->b_cap, l->b_cap};
        int rc = rmtl__grow((void **)&l->b_state, &c[0], need, (l->S ? l->S : 1) * sizeof(float));
        if (!rc)
            rc = rmtl__grow((void **)&l->b_scores, &c[1], need, l->T * sizeof(float));
        if (!rc)
            rc = rmtl__grow((void **)&l->b_action, &c[2], need, l->A * sizeof(float));
        if (!rc)
            rc = rmtl__grow((void **)&l->b_lo, &c[3], need, l->A * sizeof(float));
        if (!rc)
            rc = rmtl__grow((void **)&l->b_hi, &c[4], need, l->A * sizeof(float));
        if (!rc)
            rc = rmtl__grow((void **)&l->b_reward, &c[5], need, l->R * sizeof(float));
        if (rc)
            return rc;
        l->b_cap = need;
    }
    if (count > l->b_req_cap) {
        size_t c1 = 2 * l->b_req_cap, c2 = c1, c3 = c1, c4 = c1, c5 = c1;
        int rc = rmtl__grow((void **)&l->b_rows, &c1, 2 * count, sizeof(size_t));
        if (!rc)
            rc = rmtl__grow((void **)&l->b_next, &c2, 2 * count, sizeof(size_t));
        if (!rc)
            rc = rmtl__grow((void **)&l->b_cand, &c3, 2 * count, sizeof(size_t));
        if (!rc)
            rc = rmtl__grow((void **)&l->b_next_cand, &c4, 2 * count, sizeof(size_t));
        if (!rc)
            rc = rmtl__grow((void **)&l->b_weight, &c5, 2 * count, sizeof(float));
        if (rc)
            return rc;
        l->b_req_cap = count;
    }
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        size_t k = (size_t)rmtl__rng_below(rng, l->reqs);
        /* shown rows, then the unshown candidates, of k and of its next */
        l->b_rows[2 * i] = at;
        l->b_rows[2 * i + 1] = at + (l->mid[k] - l->begin[k]);
        l->b_cand[2 * i] = l->b_rows[2 * i + 1];
        at += rmtl__flog_copy(l, k, at);
        l->b_cand[2 * i + 1] = at;
        l->b_weight[2 * i] = l->weight[k];
        l->b_weight[2 * i + 1] = 1.0f;
        l->b_next[2 * i] = l->b_next[2 * i + 1] = at;
        l->b_next_cand[2 * i] = l->b_next_cand[2 * i + 1] = at;
        if (l->next[k] >= 0) {
            size_t nk = (size_t)l->next[k];
            l->b_next[2 * i + 1] = at + (l->mid[nk] - l->begin[nk]);
            l->b_next_cand[2 * i] = l->b_next[2 * i + 1];
            at += rmtl__flog_copy(l, nk, at);
            l->b_next_cand[2 * i + 1] = at;
            l->b_weight[2 * i + 1] = l->weight[nk];
        }
    }
    rmtl_fusion_batch v = RMTL_FUSION_BATCH_INIT;
    v.requests = count;
    v.rows = l->b_rows;
    v.next_rows = l->b_next;
    v.n_rows = at;
    v.state_dim = l->S;
    v.state = l->b_state;
    v.tasks = l->T;
    v.scores = l->b_scores;
    v.action_dim = l->A;
    v.action = l->b_action;
    v.box_lo = l->b_lo;
    v.box_hi = l->b_hi;
    v.reward_dim = l->R;
    v.reward = l->b_reward;
    v.cand_rows = l->b_cand;
    v.next_cand_rows = l->b_next_cand;
    v.cand_weight = l->b_weight;
    *b = v;
    return 0;
}
