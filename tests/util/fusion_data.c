/* Test data for fusion (see fusion_data.h). */
#include "util/fusion_data.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

float fx_uniform(unsigned long long *s, float lo, float hi)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (float)((*s >> 40) & 0xffffff) / 16777216.0f;
}

rmtl_config *fx_config(const char *yaml)
{
    rmtl_config *c = NULL;
    ck_assert_int_eq(rmtl_config_create(&c), RMTL_OK);
    if (yaml && *yaml)
        ck_assert_msg(rmtl_config_load_string(c, yaml, strlen(yaml), "test") == RMTL_OK, "%s",
                      rmtl_last_error());
    return c;
}

rmtl_fusion *fx_fusion(const char *yaml)
{
    rmtl_config *c = fx_config(yaml);
    rmtl_fusion *f = NULL;
    ck_assert_msg(rmtl_fusion_create(&f, c) == RMTL_OK, "%s", rmtl_last_error());
    rmtl_config_free(c);
    return f;
}

rmtl_fusion_info fx_info(const rmtl_fusion *f)
{
    rmtl_fusion_info in = RMTL_FUSION_INFO_INIT;
    ck_assert_int_eq(rmtl_fusion_describe(&in, f), RMTL_OK);
    return in;
}

static float *fx_fill(size_t n, float lo, float hi, unsigned long long *s)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++)
        x[i] = fx_uniform(s, lo, hi);
    return x;
}

void fx_request_make(fx_request *r, const rmtl_fusion *f, size_t n, unsigned long long seed)
{
    rmtl_fusion_info in = fx_info(f);
    r->user = fx_fill(in.user_dim, -1, 1, &seed);
    r->context = fx_fill(in.context_dim, -1, 1, &seed);
    r->items = fx_fill(n * in.item_dim, -1, 1, &seed);
    r->scores = fx_fill(n * in.tasks, 0, 1, &seed);
    rmtl_fusion_request q = RMTL_FUSION_REQUEST_INIT;
    q.n = n;
    q.user_dim = in.user_dim;
    q.user = r->user;
    q.context_dim = in.context_dim;
    q.context = r->context;
    q.item_dim = in.item_dim;
    q.items = r->items;
    q.tasks = in.tasks;
    q.scores = r->scores;
    r->req = q;
}

void fx_request_free(fx_request *r)
{
    free(r->user);
    free(r->context);
    free(r->items);
    free(r->scores);
}

void fx_state_row(const fx_request *r, size_t i, float *out)
{
    const rmtl_fusion_request *q = &r->req;
    memcpy(out, q->user, q->user_dim * sizeof *out);
    memcpy(out + q->user_dim, q->items + i * q->item_dim, q->item_dim * sizeof *out);
    memcpy(out + q->user_dim + q->item_dim, q->context, q->context_dim * sizeof *out);
}

void fx_batch_make(fx_batch *x, const rmtl_fusion *f, size_t sessions, size_t len,
                   size_t shown, unsigned long long seed)
{
    rmtl_fusion_info in = fx_info(f);
    double rho = 0.15; /* fusion.explore_width's default */
    size_t B = sessions * len, n = B * shown, A = in.action_dim;
    x->rows = malloc(2 * B * sizeof *x->rows);
    x->next_rows = malloc(2 * B * sizeof *x->next_rows);
    ck_assert(x->rows && x->next_rows);
    for (size_t r = 0; r < B; r++) {
        x->rows[2 * r] = r * shown;
        x->rows[2 * r + 1] = (r + 1) * shown;
        int last = r % len == len - 1;
        x->next_rows[2 * r] = last ? 0 : (r + 1) * shown;
        x->next_rows[2 * r + 1] = last ? 0 : (r + 2) * shown;
    }
    x->state = fx_fill(n * in.state_dim, -1, 1, &seed);
    x->scores = fx_fill(n * in.tasks, 0, 1, &seed);
    x->action = fx_fill(n * A, 0, 1, &seed); /* within the default bounds */
    x->box_lo = malloc(n * A * sizeof *x->box_lo);
    x->box_hi = malloc(n * A * sizeof *x->box_hi);
    ck_assert(x->box_lo && x->box_hi);
    for (size_t i = 0; i < n * A; i++) {
        x->box_lo[i] = x->action[i] - (float)rho;
        x->box_hi[i] = x->action[i] + (float)rho;
    }
    x->reward = fx_fill(n * in.reward_dim, 0, 1, &seed);
    for (size_t i = 0; i < n * in.reward_dim; i++)
        x->reward[i] = x->reward[i] < 0.3f ? 1.0f : 0.0f;
    rmtl_fusion_batch b = RMTL_FUSION_BATCH_INIT;
    b.requests = B;
    b.rows = x->rows;
    b.next_rows = x->next_rows;
    b.n_rows = n;
    b.state_dim = in.state_dim;
    b.state = x->state;
    b.tasks = in.tasks;
    b.scores = x->scores;
    b.action_dim = A;
    b.action = x->action;
    b.box_lo = x->box_lo;
    b.box_hi = x->box_hi;
    b.reward_dim = in.reward_dim;
    b.reward = x->reward;
    x->b = b;
}

void fx_batch_free(fx_batch *x)
{
    free(x->rows);
    free(x->next_rows);
    free(x->state);
    free(x->scores);
    free(x->action);
    free(x->box_lo);
    free(x->box_hi);
    free(x->reward);
}
