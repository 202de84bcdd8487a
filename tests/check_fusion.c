/* Public API of fusion: create, the formula, single vs batched serving
 * (bit for bit), bad input, threads, exploration, training, deploy,
 * checkpoints, MTF-GAUC. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rmtl.h"
#include "util/fusion_data.h"
#include "util/mtl.h"
#include "util/slow.h"

/* Small networks keep the suite fast; the serving tests also use the
 * default [256, 128] actor. */
#define SMALL_F(extra)                                                                    \
    "fusion: {" extra " actor_hidden: [32, 16], critic_hidden: [16], critic_groups: 2,"  \
    " critic_ensemble: 3, state: {user_dim: 5, item_dim: 4, context_dim: 3}}\n"          \
    "runtime: {threads: 1}\n"
#define SMALL SMALL_F("")

#define ck_assert_error(rc, code, want)                                                   \
    do {                                                                                  \
        int rc_ = (rc);                                                                   \
        ck_assert_msg(rc_ == (code), "got %d (%s), want %d", rc_, rmtl_last_error(),      \
                      (code));                                                            \
        ck_assert_msg(strstr(rmtl_last_error(), (want)) != NULL,                          \
                      "message \"%s\" lacks \"%s\"", rmtl_last_error(), (want));          \
    } while (0)

START_TEST(test_create_and_describe)
{
    rmtl_fusion *f = fx_fusion(NULL);
    rmtl_fusion_info in = fx_info(f);
    ck_assert_uint_eq(in.tasks, 2);
    ck_assert_uint_eq(in.action_dim, 4);
    ck_assert_uint_eq(in.state_dim, 16 + 16 + 4);
    ck_assert_uint_eq(in.reward_dim, 2);
    ck_assert_int_eq(in.granularity, RMTL_FUSION_PAIR);
    ck_assert_int_eq(in.formula, RMTL_FUSION_PRODUCT);
    ck_assert_int_eq(in.fixed, 0);
    /* [user 16; ctx 4; item 16; scores 2] → 256 → 128 → 4 */
    ck_assert_uint_eq(in.actor_params, 38 * 256 + 256 + 256 * 128 + 128 + 128 * 4 + 4);
    rmtl_fusion_free(f);

    f = fx_fusion("fusion: {formula: sum, granularity: user}\nmodel: {tasks: [a, b, c]}\n");
    in = fx_info(f);
    ck_assert_uint_eq(in.action_dim, 3);
    ck_assert_int_eq(in.granularity, RMTL_FUSION_USER);
    ck_assert_int_eq(in.formula, RMTL_FUSION_SUM);
    rmtl_fusion_free(f);

    rmtl_fusion_info bad = RMTL_FUSION_INFO_INIT;
    bad.version = 99;
    f = fx_fusion(SMALL);
    ck_assert_error(rmtl_fusion_describe(&bad, f), RMTL_EINVAL, "version");
    rmtl_fusion_free(f);
    rmtl_fusion_free(NULL);
}
END_TEST

START_TEST(test_create_errors)
{
    rmtl_fusion *f = (rmtl_fusion *)1;
    rmtl_config *c = fx_config("fusion: {actor_hidden: [4096]}\n");
    ck_assert_error(rmtl_fusion_create(&f, c), RMTL_ECONFIG, "fusion.actor_hidden");
    ck_assert_ptr_null(f);
    rmtl_config_free(c);
    c = fx_config("fusion: {reward_coef: [1, 2, 3]}\n"); /* groups list too short */
    ck_assert_error(rmtl_fusion_create(&f, c), RMTL_ECONFIG, "fusion.reward_group");
    rmtl_config_free(c);
    c = fx_config("fusion: {state: {item_dim: 3000}}\n");
    ck_assert_error(rmtl_fusion_create(&f, c), RMTL_ECONFIG, "fusion.state.item_dim");
    rmtl_config_free(c);
    ck_assert_error(rmtl_fusion_create(&f, NULL), RMTL_EINVAL, "cfg");
    ck_assert_error(rmtl_fusion_create(NULL, NULL), RMTL_EINVAL, "out");
}
END_TEST

/* The product formula equals its log-space form: exp(fused) = Π (p+b)^w. */
START_TEST(test_formula_product_and_sum)
{
    rmtl_fusion *f = fx_fusion(SMALL "model: {tasks: [a, b, c]}\n");
    const float act[6] = {1.5f, 0.25f, 2.0f, 0.1f, 0.0f, 0.7f};
    ck_assert_int_eq(rmtl_fusion_set_fixed(f, act, 6), RMTL_OK);
    ck_assert_int_eq(fx_info(f).fixed, 1);
    float state[12] = {0};
    unsigned long long s = 5;
    for (int t = 0; t < 200; t++) {
        float p[3], fused = 0, used[6];
        for (int i = 0; i < 3; i++)
            p[i] = fx_uniform(&s, 0, 1);
        if (t == 0)
            p[2] = 0.0f; /* p + b = 0.7 */
        ck_assert_int_eq(rmtl_fuse_scores(&fused, f, state, 12, p, 3, used, 6), RMTL_OK);
        ck_assert_mem_eq(used, act, sizeof act);
        double prod = 1.0, logsum = 0.0;
        for (int i = 0; i < 3; i++) {
            prod *= pow((double)p[i] + act[3 + i], act[i]);
            logsum += act[i] * log((double)p[i] + act[3 + i]);
        }
        ck_assert_double_eq_tol(fused, logsum, 1e-5 * (1 + fabs(logsum)));
        ck_assert_double_eq_tol(exp(fused), prod, 1e-5 * prod);
    }
    rmtl_fusion_free(f);

    f = fx_fusion(SMALL_F("formula: sum,"));
    const float w[2] = {0.3f, 1.7f};
    ck_assert_int_eq(rmtl_fusion_set_fixed(f, w, 2), RMTL_OK);
    float p[2] = {0.2f, 0.9f}, fused;
    ck_assert_int_eq(rmtl_fuse_scores(&fused, f, state, 12, p, 2, NULL, 0), RMTL_OK);
    ck_assert_double_eq_tol(fused, 0.3 * 0.2 + 1.7 * 0.9, 1e-6);
    rmtl_fusion_free(f);
}
END_TEST

START_TEST(test_set_fixed_errors)
{
    rmtl_fusion *f = fx_fusion(SMALL);
    const float over[4] = {2.5f, 1, 0.5f, 0.5f}; /* weight_max 2 */
    ck_assert_error(rmtl_fusion_set_fixed(f, over, 4), RMTL_EINVAL, "action[0]");
    const float nan4[4] = {1, 1, NAN, 0.5f};
    ck_assert_error(rmtl_fusion_set_fixed(f, nan4, 4), RMTL_EINVAL, "action[2]");
    ck_assert_error(rmtl_fusion_set_fixed(f, over, 3), RMTL_EINVAL, "3 values");
    ck_assert_int_eq(fx_info(f).fixed, 0);
    const float ok[4] = {1, 1, 0.5f, 0.5f};
    ck_assert_int_eq(rmtl_fusion_set_fixed(f, ok, 4), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_set_fixed(f, NULL, 0), RMTL_OK);
    ck_assert_int_eq(fx_info(f).fixed, 0);
    rmtl_fusion_free(f);
}
END_TEST

/* Every row of a batched call equals the single-pair call on that pair,
 * bit for bit, fused score and action. */
static void check_single_equals_batched(const char *yaml, size_t n, int threads)
{
    rmtl_fusion *f = fx_fusion(yaml);
    rmtl_fusion_info in = fx_info(f);
    fx_request r;
    fx_request_make(&r, f, n, 1000 + n);
    float *fused = malloc(n * sizeof *fused), *act = malloc(n * in.action_dim * sizeof *act);
    rmtl_ctx *ctx;
    ck_assert_int_eq(rmtl_ctx_create(&ctx, threads), RMTL_OK);
    ck_assert_msg(rmtl_fuse_scores_batch(f, ctx, &r.req, fused, n, act, n * in.action_dim) ==
                      RMTL_OK, "%s", rmtl_last_error());
    float *row = malloc((in.state_dim + 1) * sizeof *row), a1[32];
    size_t bad = 0, same_as_first = 0;
    for (size_t i = 0; i < n; i++) {
        float f1;
        fx_state_row(&r, i, row);
        ck_assert_int_eq(rmtl_fuse_scores(&f1, f, row, in.state_dim, r.scores + i * in.tasks,
                                          in.tasks, a1, 32),
                         RMTL_OK);
        bad += memcmp(&f1, fused + i, sizeof f1) != 0 ||
               memcmp(a1, act + i * in.action_dim, in.action_dim * sizeof *a1) != 0;
        same_as_first += memcmp(act + i * in.action_dim, act, in.action_dim * sizeof *act) == 0;
    }
    ck_assert_msg(bad == 0, "%s n=%zu threads=%d: %zu of %zu rows differ", yaml, n, threads, bad,
                  n);
    /* pair granularity gives each pair its own action, user granularity
     * one per request */
    if (in.granularity == RMTL_FUSION_USER)
        ck_assert_uint_eq(same_as_first, n);
    else if (n > 2)
        ck_assert_uint_lt(same_as_first, n);
    /* a NULL context gives the same result */
    float *fused2 = malloc(n * sizeof *fused2);
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &r.req, fused2, n, NULL, 0), RMTL_OK);
    ck_assert_mem_eq(fused2, fused, n * sizeof *fused);
    free(fused2);
    free(row);
    free(fused);
    free(act);
    rmtl_ctx_free(ctx);
    fx_request_free(&r);
    rmtl_fusion_free(f);
}

static const char *const serve_configs[] = {
    "",                                                      /* defaults: [256, 128] */
    SMALL,
    "fusion: {actor_hidden: [37, 19, 5], state: {user_dim: 3, item_dim: 7, context_dim: 2}}\n",
    "fusion: {state: {item_dim: 0}}\n",                      /* scores only per pair */
    "fusion: {state: {scores: false}}\n",
    "fusion: {state: {user_dim: 0, context_dim: 0}}\n",      /* no request part */
    "fusion: {granularity: user}\n",
    "fusion: {formula: sum}\nmodel: {tasks: [a, b, c]}\n",
    "fusion: {weight_min: -1, weight_max: 3, bias_min: 0.05, bias_max: 0.05}\n",
};

START_TEST(test_single_equals_batched)
{
    static const size_t ns[] = {1, 2, 7, 255, 256, 257, 1000};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        check_single_equals_batched(serve_configs[_i], ns[k], 1);
    check_single_equals_batched(serve_configs[_i], 600, 2);
}
END_TEST

START_TEST(test_fixed_single_equals_batched)
{
    rmtl_fusion *f = fx_fusion(SMALL);
    const float act[4] = {0.5f, 1.5f, 0.0f, 0.3f};
    ck_assert_int_eq(rmtl_fusion_set_fixed(f, act, 4), RMTL_OK);
    fx_request r;
    fx_request_make(&r, f, 50, 3);
    float fused[50], a[200], row[12];
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &r.req, fused, 50, a, 200), RMTL_OK);
    for (size_t i = 0; i < 50; i++) {
        float f1;
        fx_state_row(&r, i, row);
        ck_assert_int_eq(rmtl_fuse_scores(&f1, f, row, 12, r.scores + 2 * i, 2, NULL, 0), RMTL_OK);
        ck_assert_mem_eq(&f1, fused + i, sizeof f1);
        ck_assert_mem_eq(a + 4 * i, act, sizeof act);
    }
    fx_request_free(&r);
    rmtl_fusion_free(f);
}
END_TEST

/* Bad input: an error code, a message naming the problem, and the
 * outputs untouched. */
START_TEST(test_single_bad_input)
{
    rmtl_fusion *f = fx_fusion(SMALL);
    float state[12], p[2] = {0.5f, 0.5f}, fused = 42.0f, act[4] = {7, 7, 7, 7};
    for (int i = 0; i < 12; i++)
        state[i] = 0.1f * (float)i;
    const float sentinel_act[4] = {7, 7, 7, 7};
#define UNTOUCHED()                                                                       \
    do {                                                                                  \
        ck_assert_float_eq(fused, 42.0f);                                                 \
        ck_assert_mem_eq(act, sentinel_act, sizeof act);                                  \
    } while (0)
    state[3] = NAN;
    ck_assert_error(rmtl_fuse_scores(&fused, f, state, 12, p, 2, act, 4), RMTL_ENUMERIC,
                    "state[3] is NaN");
    UNTOUCHED();
    state[3] = INFINITY;
    ck_assert_error(rmtl_fuse_scores(&fused, f, state, 12, p, 2, act, 4), RMTL_ENUMERIC,
                    "state[3] is infinite");
    UNTOUCHED();
    state[3] = 0.3f;
    p[1] = -INFINITY;
    ck_assert_error(rmtl_fuse_scores(&fused, f, state, 12, p, 2, act, 4), RMTL_ENUMERIC,
                    "scores[1] is infinite");
    p[1] = NAN;
    ck_assert_error(rmtl_fuse_scores(&fused, f, state, 12, p, 2, act, 4), RMTL_ENUMERIC,
                    "scores[1] is NaN");
    p[1] = 1.5f;
    ck_assert_error(rmtl_fuse_scores(&fused, f, state, 12, p, 2, act, 4), RMTL_EINVAL,
                    "scores[1] = 1.5 is outside [0, 1]");
    p[1] = -0.01f;
    ck_assert_error(rmtl_fuse_scores(&fused, f, state, 12, p, 2, act, 4), RMTL_EINVAL,
                    "outside [0, 1]");
    UNTOUCHED();
    p[1] = 1.0f;
    ck_assert_error(rmtl_fuse_scores(&fused, f, state, 11, p, 2, act, 4), RMTL_EINVAL,
                    "state has 11 features, the fusion expects 12");
    ck_assert_error(rmtl_fuse_scores(&fused, f, state, 12, p, 3, act, 4), RMTL_EINVAL,
                    "3 scores");
    ck_assert_error(rmtl_fuse_scores(&fused, f, state, 12, p, 2, act, 3), RMTL_EINVAL,
                    "action_capacity");
    ck_assert_error(rmtl_fuse_scores(NULL, f, state, 12, p, 2, act, 4), RMTL_EINVAL, "fused");
    ck_assert_error(rmtl_fuse_scores(&fused, NULL, state, 12, p, 2, act, 4), RMTL_EINVAL, "'f'");
    ck_assert_error(rmtl_fuse_scores(&fused, f, NULL, 12, p, 2, act, 4), RMTL_EINVAL, "state");
    ck_assert_error(rmtl_fuse_scores(&fused, f, state, 12, NULL, 2, act, 4), RMTL_EINVAL,
                    "scores");
    UNTOUCHED();
    /* boundary scores are valid */
    p[0] = 0.0f;
    ck_assert_int_eq(rmtl_fuse_scores(&fused, f, state, 12, p, 2, act, 4), RMTL_OK);
    ck_assert(isfinite(fused));
#undef UNTOUCHED
    rmtl_fusion_free(f);
}
END_TEST

START_TEST(test_batch_bad_input)
{
    rmtl_fusion *f = fx_fusion(SMALL);
    fx_request r;
    fx_request_make(&r, f, 20, 9);
    float fused[20], act[80], lo[80], hi[80];
    for (int i = 0; i < 20; i++)
        fused[i] = 42.0f;
    rmtl_ctx *ctx;
    ck_assert_int_eq(rmtl_ctx_create(&ctx, 0), RMTL_OK);
    const float keep = 42.0f;
#define UNTOUCHED()                                                                       \
    for (int i_ = 0; i_ < 20; i_++)                                                       \
    ck_assert_mem_eq(&fused[i_], &keep, sizeof keep)
    r.items[4 * 5 + 2] = NAN;
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &r.req, fused, 20, act, 80), RMTL_ENUMERIC,
                    "items[5][2] is NaN");
    uint64_t ns = 1;
    ck_assert_error(rmtl_fusion_explore(f, ctx, &r.req, &ns, fused, act, lo, hi, 20),
                    RMTL_ENUMERIC, "items[5][2]");
    UNTOUCHED();
    r.items[4 * 5 + 2] = 0.0f;
    r.user[1] = INFINITY;
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &r.req, fused, 20, act, 80), RMTL_ENUMERIC,
                    "user[1] is infinite");
    r.user[1] = 0.0f;
    r.context[2] = NAN;
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &r.req, fused, 20, act, 80), RMTL_ENUMERIC,
                    "context[2]");
    r.context[2] = 0.0f;
    r.scores[2 * 19 + 1] = 2.0f;
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &r.req, fused, 20, act, 80), RMTL_EINVAL,
                    "scores[19][1] = 2 is outside [0, 1]");
    r.scores[2 * 19 + 1] = NAN;
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &r.req, fused, 20, act, 80), RMTL_ENUMERIC,
                    "scores[19][1] is NaN");
    r.scores[2 * 19 + 1] = 0.5f;
    UNTOUCHED();
    rmtl_fusion_request q = r.req;
    q.item_dim = 5;
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &q, fused, 20, act, 80), RMTL_EINVAL,
                    "user/item/context dims 5/5/3");
    q = r.req;
    q.tasks = 3;
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &q, fused, 20, act, 80), RMTL_EINVAL,
                    "3 tasks");
    q = r.req;
    q.version = 7;
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &q, fused, 20, act, 80), RMTL_EINVAL,
                    "version");
    q = r.req;
    q.items = NULL;
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &q, fused, 20, act, 80), RMTL_EINVAL,
                    "req->items");
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &r.req, fused, 19, act, 80), RMTL_EINVAL,
                    "capacity 19");
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &r.req, fused, 20, act, 79), RMTL_EINVAL,
                    "actions_capacity 79");
    ck_assert_error(rmtl_fuse_scores_batch(f, ctx, &r.req, NULL, 20, act, 80), RMTL_EINVAL,
                    "fused");
    ck_assert_error(rmtl_fusion_explore(f, ctx, &r.req, NULL, fused, act, lo, hi, 20),
                    RMTL_EINVAL, "noise_state");
    UNTOUCHED();
    /* an empty request is fine and writes nothing */
    q = r.req;
    q.n = 0;
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, ctx, &q, fused, 0, NULL, 0), RMTL_OK);
    UNTOUCHED();
#undef UNTOUCHED
    rmtl_ctx_free(ctx);
    fx_request_free(&r);
    rmtl_fusion_free(f);
}
END_TEST

/* 8 threads × 10,000 single-pair calls (and a batched call now and then,
 * each thread with its own context) on one handle all give the results
 * a single thread computed. */
typedef struct thr_job {
    const rmtl_fusion *f;
    const fx_request *r;
    const float *want;
    size_t n, state_dim, tasks;
    int id;
    size_t bad;
} thr_job;

static void *thr_main(void *arg)
{
    thr_job *j = arg;
    float row[64], fused, *batch = malloc(j->n * sizeof *batch);
    rmtl_ctx *ctx = NULL;
    if (!batch || rmtl_ctx_create(&ctx, 1) != RMTL_OK) {
        j->bad = 1;
        free(batch);
        return NULL;
    }
    for (size_t k = 0; k < 10000; k++) {
        size_t i = (k * 7 + (size_t)j->id * 13) % j->n;
        fx_state_row(j->r, i, row);
        if (rmtl_fuse_scores(&fused, j->f, row, j->state_dim, j->r->scores + i * j->tasks,
                             j->tasks, NULL, 0) != RMTL_OK ||
            memcmp(&fused, j->want + i, sizeof fused) != 0)
            j->bad++;
        if (k % 500 == 0 &&
            (rmtl_fuse_scores_batch(j->f, ctx, &j->r->req, batch, j->n, NULL, 0) != RMTL_OK ||
             memcmp(batch, j->want, j->n * sizeof *batch) != 0))
            j->bad++;
    }
    rmtl_ctx_free(ctx);
    free(batch);
    return NULL;
}

START_TEST(test_threads_share_a_handle)
{
    rmtl_fusion *f = fx_fusion(SMALL);
    rmtl_fusion_info in = fx_info(f);
    fx_request r;
    enum { N = 64, THREADS = 8 };
    fx_request_make(&r, f, N, 77);
    float want[N];
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &r.req, want, N, NULL, 0), RMTL_OK);
    pthread_t th[THREADS];
    thr_job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (thr_job){f, &r, want, N, in.state_dim, in.tasks, t, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, thr_main, &jobs[t]), 0);
    }
    size_t bad = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        bad += jobs[t].bad;
    }
    ck_assert_uint_eq(bad, 0);
    fx_request_free(&r);
    rmtl_fusion_free(f);
}
END_TEST

START_TEST(test_explore)
{
    for (int user = 0; user < 2; user++) {
        rmtl_fusion *f = fx_fusion(user ? SMALL_F("granularity: user, explore: uniform,")
                                        : SMALL_F("explore: uniform,"));
        fx_request r;
        enum { N = 300 };
        fx_request_make(&r, f, N, 4);
        float fused[N], act[4 * N], lo[4 * N], hi[4 * N], mu[4 * N], base[N];
        ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &r.req, base, N, mu, 4 * N), RMTL_OK);
        uint64_t s1 = 11, s2 = 11, s3 = 12;
        ck_assert_int_eq(rmtl_fusion_explore(f, NULL, &r.req, &s1, fused, act, lo, hi, N),
                         RMTL_OK);
        ck_assert_uint_ne(s1, 11); /* the state advanced */
        size_t moved = 0, low_half = 0;
        for (size_t i = 0; i < 4 * N; i++) {
            float bound_lo = 0.0f, bound_hi = (i % 4) < 2 ? 2.0f : 1.0f; /* defaults */
            ck_assert_float_eq_tol(lo[i], mu[i] - 0.15f, 1e-6f);
            ck_assert_float_eq_tol(hi[i], mu[i] + 0.15f, 1e-6f);
            ck_assert(act[i] >= lo[i] - 1e-6f && act[i] <= hi[i] + 1e-6f);
            ck_assert(act[i] >= bound_lo && act[i] <= bound_hi);
            moved += act[i] != mu[i];
            low_half += act[i] < mu[i];
        }
        ck_assert_uint_gt(moved, 4 * N * 9 / 10);
        if (!user) /* uniform noise: about half below the policy's action */
            ck_assert(low_half > 4 * N * 4 / 10 && low_half < 4 * N * 6 / 10);
        for (size_t i = 1; user && i < N; i++)
            ck_assert_mem_eq(act + 4 * i, act, 4 * sizeof *act);
        /* fused scores use the explored action */
        rmtl_fusion *fx = fx_fusion(user ? SMALL_F("granularity: user,") : SMALL);
        for (size_t i = 0; i < N; i += 37) {
            float fi;
            ck_assert_int_eq(rmtl_fusion_set_fixed(fx, act + 4 * i, 4), RMTL_OK);
            float row[12];
            fx_state_row(&r, i, row);
            ck_assert_int_eq(rmtl_fuse_scores(&fi, fx, row, 12, r.scores + 2 * i, 2, NULL, 0),
                             RMTL_OK);
            ck_assert_mem_eq(&fi, fused + i, sizeof fi);
        }
        rmtl_fusion_free(fx);
        /* same state, same draws; another state, other draws */
        float act2[4 * N], fused2[N];
        ck_assert_int_eq(rmtl_fusion_explore(f, NULL, &r.req, &s2, fused2, act2, lo, hi, N),
                         RMTL_OK);
        ck_assert_mem_eq(act2, act, sizeof act);
        ck_assert_int_eq(rmtl_fusion_explore(f, NULL, &r.req, &s3, fused2, act2, lo, hi, N),
                         RMTL_OK);
        ck_assert(memcmp(act2, act, sizeof act) != 0);
        fx_request_free(&r);
        rmtl_fusion_free(f);
    }
}
END_TEST

/* Served scores change on deploy, not on a training step. */
START_TEST(test_train_then_deploy)
{
    rmtl_fusion *f = fx_fusion(SMALL);
    fx_batch b;
    fx_batch_make(&b, f, 4, 3, 5, 21);
    fx_request r;
    fx_request_make(&r, f, 30, 8);
    float before[30], after[30], deployed[30];
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &r.req, before, 30, NULL, 0), RMTL_OK);
    rmtl_fusion_stats st = RMTL_FUSION_STATS_INIT;
    for (int i = 0; i < 5; i++)
        ck_assert_msg(rmtl_fusion_train_step(f, &b.b, &st) == RMTL_OK, "%s", rmtl_last_error());
    ck_assert_uint_eq(st.steps, 5);
    ck_assert_uint_eq(fx_info(f).steps, 5);
    ck_assert(isfinite(st.critic_loss) && st.critic_loss > 0);
    ck_assert(isfinite(st.actor_loss) && isfinite(st.q) && st.q_std > 0 && st.penalty >= 0);
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &r.req, after, 30, NULL, 0), RMTL_OK);
    ck_assert_mem_eq(after, before, sizeof before);
    ck_assert_int_eq(rmtl_fusion_deploy(f), RMTL_OK);
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &r.req, deployed, 30, NULL, 0), RMTL_OK);
    ck_assert(memcmp(deployed, before, sizeof before) != 0);
    /* deploy leaves fixed mode */
    const float act[4] = {1, 1, 0, 0};
    ck_assert_int_eq(rmtl_fusion_set_fixed(f, act, 4), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_deploy(f), RMTL_OK);
    ck_assert_int_eq(fx_info(f).fixed, 0);
    fx_request_free(&r);
    fx_batch_free(&b);
    rmtl_fusion_free(f);
}
END_TEST

START_TEST(test_train_bad_batch)
{
    rmtl_fusion *f = fx_fusion(SMALL);
    fx_batch b;
    fx_batch_make(&b, f, 2, 2, 3, 1);
    rmtl_fusion_batch q = b.b;
    q.state_dim = 11;
    ck_assert_error(rmtl_fusion_train_step(f, &q, NULL), RMTL_EINVAL, "state_dim is 11");
    q = b.b;
    q.reward_dim = 1;
    ck_assert_error(rmtl_fusion_train_step(f, &q, NULL), RMTL_EINVAL, "reward_dim");
    q = b.b;
    q.requests = 0;
    ck_assert_error(rmtl_fusion_train_step(f, &q, NULL), RMTL_EINVAL, "empty");
    b.rows[3] = 100;
    ck_assert_error(rmtl_fusion_train_step(f, &b.b, NULL), RMTL_EINVAL, "request 1 shows rows");
    b.rows[3] = 6;
    b.next_rows[1] = 99;
    ck_assert_error(rmtl_fusion_train_step(f, &b.b, NULL), RMTL_EINVAL, "request 0's next rows");
    b.next_rows[1] = 6;
    b.reward[5] = NAN;
    ck_assert_error(rmtl_fusion_train_step(f, &b.b, NULL), RMTL_ENUMERIC, "reward[2][1] is NaN");
    b.reward[5] = 1;
    b.scores[4] = 1.25f;
    ck_assert_error(rmtl_fusion_train_step(f, &b.b, NULL), RMTL_EINVAL, "scores[2][0] = 1.25");
    b.scores[4] = 0.25f;
    b.box_lo[0] = b.box_hi[0] + 1;
    ck_assert_error(rmtl_fusion_train_step(f, &b.b, NULL), RMTL_EINVAL, "box_lo[0][0]");
    ck_assert_uint_eq(fx_info(f).steps, 0);
    ck_assert_error(rmtl_fusion_train_step(f, NULL, NULL), RMTL_EINVAL, "batch");
    fx_batch_free(&b);
    rmtl_fusion_free(f);
}
END_TEST

/* The actor learns the best action of a one-step problem: reward
 * 1 − (w − 1.5)² for the logged weight w of a sum-fusion with one task. */
START_TEST(test_train_learns_best_action)
{
    rmtl_fusion *f = fx_fusion(
        "model: {tasks: [click]}\n"
        "fusion: {formula: sum, objective: pair, actor_hidden: [16], critic_hidden: [32, 32],"
        " critic_groups: 1, critic_ensemble: 2, reward_coef: [1], reward_group: [0], gamma: 0, kappa: 0, eta: 0,"
        " actor_lr: 0.001, critic_lr: 0.01, tau: 0.05,"
        " state: {user_dim: 2, item_dim: 2, context_dim: 0, scores: false}}\n"
        "runtime: {threads: 1, seed: 3}\n");
    enum { B = 64 };
    size_t rows[2 * B], next[2 * B];
    float state[B * 4], scores[B], action[B], lo[B], hi[B], reward[B];
    unsigned long long s = 99;
    for (size_t i = 0; i < B; i++) {
        rows[2 * i] = i;
        rows[2 * i + 1] = i + 1;
        next[2 * i] = next[2 * i + 1] = 0;
    }
    rmtl_fusion_batch b = RMTL_FUSION_BATCH_INIT;
    b.requests = B;
    b.rows = rows;
    b.next_rows = next;
    b.n_rows = B;
    b.state_dim = 4;
    b.state = state;
    b.tasks = 1;
    b.scores = scores;
    b.action_dim = 1;
    b.action = action;
    b.box_lo = lo;
    b.box_hi = hi;
    b.reward_dim = 1;
    b.reward = reward;
    float probe_state[4] = {0.1f, -0.2f, 0.3f, 0.0f}, p = 0.5f, a0, a1, fused;
    ck_assert_int_eq(rmtl_fuse_scores(&fused, f, probe_state, 4, &p, 1, &a0, 1), RMTL_OK);
    for (int step = 0; step < 1500; step++) {
        for (size_t i = 0; i < B; i++) {
            for (int k = 0; k < 4; k++)
                state[4 * i + k] = fx_uniform(&s, -1, 1);
            scores[i] = fx_uniform(&s, 0, 1);
            action[i] = fx_uniform(&s, 0, 2);
            lo[i] = 0;
            hi[i] = 2;
            reward[i] = 1.0f - (action[i] - 1.5f) * (action[i] - 1.5f);
        }
        ck_assert_msg(rmtl_fusion_train_step(f, &b, NULL) == RMTL_OK, "%s", rmtl_last_error());
    }
    ck_assert_int_eq(rmtl_fusion_deploy(f), RMTL_OK);
    ck_assert_int_eq(rmtl_fuse_scores(&fused, f, probe_state, 4, &p, 1, &a1, 1), RMTL_OK);
    ck_assert_msg(fabsf(a1 - 1.5f) < 0.15f && fabsf(a1 - 1.5f) < 0.5f * fabsf(a0 - 1.5f),
                  "action %g -> %g, best 1.5", (double)a0, (double)a1);
    rmtl_fusion_free(f);
}
END_TEST

static void serve_all(const rmtl_fusion *f, const fx_request *r, float *out)
{
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &r->req, out, r->req.n, NULL, 0), RMTL_OK);
}

START_TEST(test_save_load)
{
    rmtl_fusion *f = fx_fusion(SMALL);
    fx_batch b;
    fx_batch_make(&b, f, 3, 3, 4, 5);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rmtl_fusion_train_step(f, &b.b, NULL), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_deploy(f), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_train_step(f, &b.b, NULL), RMTL_OK); /* undeployed step */
    fx_request r;
    fx_request_make(&r, f, 40, 6);
    float want[40], got[40];
    serve_all(f, &r, want);

    /* serving checkpoint: the deployed policy */
    void *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(rmtl_fusion_save_buffer(&buf, &len, f, 0), RMTL_OK);
    rmtl_fusion *g = NULL;
    ck_assert_msg(rmtl_fusion_load_buffer(&g, buf, len) == RMTL_OK, "%s", rmtl_last_error());
    serve_all(g, &r, got);
    ck_assert_mem_eq(got, want, sizeof want);
    ck_assert_uint_eq(fx_info(g).steps, 0);
    /* a damaged byte anywhere is refused */
    for (size_t at = 0; at < len; at += len / 37 + 1) {
        unsigned char *c = buf;
        c[at] ^= 0x10;
        rmtl_fusion *h = (rmtl_fusion *)1;
        ck_assert_int_eq(rmtl_fusion_load_buffer(&h, buf, len), RMTL_EFORMAT);
        ck_assert_ptr_null(h);
        c[at] ^= 0x10;
    }
    rmtl_fusion_free(g);
    ck_assert_int_eq(rmtl_fusion_load_buffer(&g, buf, len / 2), RMTL_EFORMAT);
    ck_assert_ptr_null(g);
    rmtl_free(buf);

    /* training state: both continue identically */
    char path[] = "/tmp/rmtl_fusion_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(rmtl_fusion_save(f, path, RMTL_SAVE_TRAINING_STATE), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_load(&g, path), RMTL_OK);
    unlink(path);
    serve_all(g, &r, got);
    ck_assert_mem_eq(got, want, sizeof want);
    ck_assert_uint_eq(fx_info(g).steps, 4);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(rmtl_fusion_train_step(f, &b.b, NULL), RMTL_OK);
        ck_assert_int_eq(rmtl_fusion_train_step(g, &b.b, NULL), RMTL_OK);
    }
    ck_assert_int_eq(rmtl_fusion_deploy(f), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_deploy(g), RMTL_OK);
    serve_all(f, &r, want);
    serve_all(g, &r, got);
    ck_assert_mem_eq(got, want, sizeof want);
    rmtl_fusion_free(g);

    /* fixed mode round-trips */
    const float act[4] = {0.25f, 1.75f, 0.5f, 0.125f};
    ck_assert_int_eq(rmtl_fusion_set_fixed(f, act, 4), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_save_buffer(&buf, &len, f, 0), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_load_buffer(&g, buf, len), RMTL_OK);
    ck_assert_int_eq(fx_info(g).fixed, 1);
    serve_all(f, &r, want);
    serve_all(g, &r, got);
    ck_assert_mem_eq(got, want, sizeof want);
    rmtl_free(buf);
    rmtl_fusion_free(g);

    ck_assert_error(rmtl_fusion_load(&g, "/nonexistent/dir/x.rmtl"), RMTL_EIO, "x.rmtl");
    ck_assert_error(rmtl_fusion_save(f, "/nonexistent/dir/x.rmtl", 0), RMTL_EIO, "x.rmtl");

    /* other loaders know a fusion checkpoint, and the fusion loader knows
     * a model's: each message names the path, the kind and the call */
    char kpath[] = "/tmp/rmtl_fusion_kind_XXXXXX";
    fd = mkstemp(kpath);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(rmtl_fusion_save(f, kpath, RMTL_SAVE_TRAINING_STATE), RMTL_OK);
    rmtl_model *m = NULL;
    ck_assert_error(rmtl_model_load(&m, kpath), RMTL_EFORMAT,
                    "holds a fusion policy, not a model: load it with rmtl_fusion_load");
    ck_assert(strncmp(rmtl_last_error(), kpath, strlen(kpath)) == 0);
    rmtl_agent *ag = NULL;
    ck_assert_error(rmtl_agent_load(&ag, kpath), RMTL_EFORMAT,
                    "holds a fusion policy, not an agent: load it with rmtl_fusion_load");
    ck_assert(strncmp(rmtl_last_error(), kpath, strlen(kpath)) == 0);
    rmtl_config *mcfg = mtl_small_config("mmoe", 3);
    m = mtl_model(mcfg, 2);
    ck_assert_int_eq(rmtl_model_save(m, kpath, 0), RMTL_OK);
    ck_assert_error(rmtl_fusion_load(&g, kpath), RMTL_EFORMAT,
                    "holds a model, not a fusion policy: load it with rmtl_model_load");
    ck_assert(strncmp(rmtl_last_error(), kpath, strlen(kpath)) == 0);
    ck_assert_ptr_null(g);
    /* a damaged file is still reported as damage, with the path */
    ck_assert_int_eq(truncate(kpath, 40), 0);
    ck_assert_int_eq(rmtl_fusion_load(&g, kpath), RMTL_EFORMAT);
    ck_assert(strncmp(rmtl_last_error(), kpath, strlen(kpath)) == 0);
    ck_assert(strstr(rmtl_last_error(), "holds") == NULL);
    unlink(kpath);
    rmtl_model_free(m);
    rmtl_config_free(mcfg);

    ck_assert_error(rmtl_fusion_save_buffer(&buf, &len, f, 8), RMTL_EINVAL, "flags");
    fx_request_free(&r);
    fx_batch_free(&b);
    rmtl_fusion_free(f);
}
END_TEST

START_TEST(test_gauc)
{
    /* user 1: AUC 0.75 over 4 rows; user 2: one label only (skipped);
     * user 3: a tie between its two labels, AUC 0.5 over 2 rows */
    const int64_t user[] = {1, 2, 1, 3, 1, 2, 3, 1};
    const float score[] = {0.1f, 0.9f, 0.4f, 0.5f, 0.35f, 0.2f, 0.5f, 0.8f};
    const float label[] = {0, 1, 0, 0, 1, 1, 1, 1};
    double g = 0;
    ck_assert_int_eq(rmtl_fusion_gauc(&g, user, score, label, 8), RMTL_OK);
    ck_assert_double_eq_tol(g, (4 * 0.75 + 2 * 0.5) / 6.0, 1e-12);
    ck_assert_int_eq(rmtl_fusion_gauc(&g, user, score, label, 2), RMTL_OK); /* no user has both */
    ck_assert(isnan(g));
    const float badl[] = {0, 1, 0.5f};
    ck_assert_error(rmtl_fusion_gauc(&g, user, score, badl, 3), RMTL_EINVAL, "label[2] = 0.5");
    const float nans[] = {0, NAN};
    ck_assert_error(rmtl_fusion_gauc(&g, user, nans, label, 2), RMTL_ENUMERIC, "score[1]");
    ck_assert_error(rmtl_fusion_gauc(&g, NULL, score, label, 2), RMTL_EINVAL, "user");
}
END_TEST

/* Plackett–Luce exploration (the default): the actions are the served
 * policy's, the trust box surrounds them, and `fused` holds F_b/τ_b plus
 * Gumbel noise, so that its top l is a PL sample of softmax(F_b/τ_b). */
START_TEST(test_explore_plackett_luce)
{
    rmtl_fusion *f = fx_fusion(SMALL_F("explore_temperature: 0.25,"));
    fx_request r;
    enum { N = 50 };
    fx_request_make(&r, f, N, 4);
    float base[N], mu[4 * N], key[N], act[4 * N], lo[4 * N], hi[4 * N];
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &r.req, base, N, mu, 4 * N), RMTL_OK);
    uint64_t st = 5;
    ck_assert_int_eq(rmtl_fusion_explore(f, NULL, &r.req, &st, key, act, lo, hi, N), RMTL_OK);
    ck_assert_mem_eq(act, mu, sizeof mu);
    for (size_t i = 0; i < 4 * N; i++) {
        ck_assert_float_eq_tol(lo[i], mu[i] - 0.15f, 1e-6f);
        ck_assert_float_eq_tol(hi[i], mu[i] + 0.15f, 1e-6f);
    }
    /* key − F_b/τ_b is Gumbel(0, 1): mean 0.5772, variance π²/6, over many draws */
    double sum = 0, sum2 = 0;
    size_t n = 0;
    for (int d = 0; d < 200; d++) {
        ck_assert_int_eq(rmtl_fusion_explore(f, NULL, &r.req, &st, key, act, lo, hi, N), RMTL_OK);
        for (size_t i = 0; i < N; i++, n++) {
            double g = (double)key[i] - (double)base[i] / 0.25;
            sum += g;
            sum2 += g * g;
        }
    }
    double mean = sum / (double)n, var = sum2 / (double)n - mean * mean;
    ck_assert_msg(fabs(mean - 0.5772) < 0.03 && fabs(var - 1.6449) < 0.1, "mean %g var %g", mean,
                  var);
    fx_request_free(&r);
    rmtl_fusion_free(f);
}
END_TEST

/* A version-1 batch (no candidate fields) still trains, list objective or
 * pair, exactly as a version-2 batch whose new fields are NULL; the same
 * seed and batches give the same actor (determinism). */
START_TEST(test_train_batch_version_1)
{
    for (int obj = 0; obj < 2; obj++) {
        const char *cfg = obj ? SMALL_F("objective: pair,") : SMALL;
        rmtl_fusion *f1 = fx_fusion(cfg), *f2 = fx_fusion(cfg), *f3 = fx_fusion(cfg);
        fx_batch b;
        fx_batch_make(&b, f1, 3, 3, 4, 5);
        /* a version-1 struct: the same leading fields, nothing after reward */
        struct v1 {
            uint32_t version;
            size_t requests;
            const size_t *rows, *next_rows;
            size_t n_rows, state_dim;
            const float *state;
            size_t tasks;
            const float *scores;
            size_t action_dim;
            const float *action, *box_lo, *box_hi;
            size_t reward_dim;
            const float *reward;
        } old = {1, b.b.requests, b.b.rows, b.b.next_rows, b.b.n_rows, b.b.state_dim,
                 b.b.state, b.b.tasks, b.b.scores, b.b.action_dim, b.b.action, b.b.box_lo,
                 b.b.box_hi, b.b.reward_dim, b.b.reward};
        for (int step = 0; step < 5; step++) {
            rmtl_fusion_stats s1 = RMTL_FUSION_STATS_INIT, s2 = RMTL_FUSION_STATS_INIT;
            ck_assert_msg(rmtl_fusion_train_step(f1, (const rmtl_fusion_batch *)(void *)&old,
                                                 &s1) == RMTL_OK, "%s", rmtl_last_error());
            ck_assert_int_eq(rmtl_fusion_train_step(f2, &b.b, &s2), RMTL_OK);
            ck_assert_int_eq(rmtl_fusion_train_step(f3, &b.b, NULL), RMTL_OK);
            ck_assert(isfinite(s1.actor_loss) && isfinite(s1.critic_loss));
            ck_assert_double_eq(s1.actor_loss, s2.actor_loss);
            ck_assert_double_eq(s1.critic_loss, s2.critic_loss);
        }
        float probe[12] = {0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f, 0.7f, 0.8f, -0.9f, 0.1f, 0.2f,
                           0.3f}, p[2] = {0.3f, 0.6f}, y[3], a[3][4];
        rmtl_fusion *fs[3] = {f1, f2, f3};
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(rmtl_fusion_deploy(fs[k]), RMTL_OK);
            ck_assert_int_eq(rmtl_fuse_scores(&y[k], fs[k], probe, 12, p, 2, a[k], 4), RMTL_OK);
        }
        ck_assert_mem_eq(a[0], a[1], sizeof a[0]);
        ck_assert_mem_eq(a[1], a[2], sizeof a[0]);
        fx_batch_free(&b);
        rmtl_fusion_free(f1);
        rmtl_fusion_free(f2);
        rmtl_fusion_free(f3);
    }
}
END_TEST

/* Version-2 fields are checked: a candidate range outside the rows, a
 * non-positive weight, a NaN behaviour score. */
START_TEST(test_train_bad_candidates)
{
    rmtl_fusion *f = fx_fusion(SMALL);
    fx_batch b;
    fx_batch_make(&b, f, 2, 2, 3, 1);
    size_t B = b.b.requests, cand[2 * 8], none[2 * 8];
    float w[2 * 8], beh[64];
    ck_assert_uint_le(B, 8);
    ck_assert_uint_le(b.b.n_rows, 64);
    for (size_t r = 0; r < B; r++) {
        cand[2 * r] = 0;
        cand[2 * r + 1] = b.b.n_rows;
        none[2 * r] = none[2 * r + 1] = 0;
        w[2 * r] = w[2 * r + 1] = 2.0f;
    }
    for (size_t i = 0; i < b.b.n_rows; i++)
        beh[i] = 0.1f * (float)i;
    rmtl_fusion_batch q = b.b;
    q.cand_rows = cand;
    q.next_cand_rows = none;
    q.cand_weight = w;
    q.behaviour = beh;
    ck_assert_msg(rmtl_fusion_train_step(f, &q, NULL) == RMTL_OK, "%s", rmtl_last_error());
    cand[1] = b.b.n_rows + 1;
    ck_assert_error(rmtl_fusion_train_step(f, &q, NULL), RMTL_EINVAL, "cand_rows");
    cand[1] = b.b.n_rows;
    w[0] = 0.0f;
    ck_assert_error(rmtl_fusion_train_step(f, &q, NULL), RMTL_EINVAL, "cand_weight");
    w[0] = 2.0f;
    beh[2] = NAN;
    ck_assert_error(rmtl_fusion_train_step(f, &q, NULL), RMTL_ENUMERIC, "behaviour[2]");
    fx_batch_free(&b);
    rmtl_fusion_free(f);
}
END_TEST

Suite *rmtl_test_fusion_suite(void)
{
    Suite *s = suite_create("fusion");
    TCase *tc = tcase_create("fusion");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_create_and_describe);
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_formula_product_and_sum);
    tcase_add_test(tc, test_set_fixed_errors);
    tcase_add_test(tc, test_fixed_single_equals_batched);
    tcase_add_test(tc, test_single_bad_input);
    tcase_add_test(tc, test_batch_bad_input);
    tcase_add_test(tc, test_explore);
    tcase_add_test(tc, test_train_then_deploy);
    tcase_add_test(tc, test_train_bad_batch);
    tcase_add_test(tc, test_train_learns_best_action);
    tcase_add_test(tc, test_explore_plackett_luce);
    tcase_add_test(tc, test_train_batch_version_1);
    tcase_add_test(tc, test_train_bad_candidates);
    tcase_add_test(tc, test_save_load);
    tcase_add_test(tc, test_gauc);
    suite_add_tcase(s, tc);
    /* its own case, so that `make tsan` runs it without suppressions */
    TCase *th = tcase_create("threads");
    tcase_set_tags(th, "slow"); /* left out under valgrind */
    tcase_set_timeout(th, 600);
    tcase_add_test(th, test_threads_share_a_handle);
    suite_add_tcase(s, th);
    TCase *slow = rmtl_slow_tcase(s, "fusion_slow", 600);
    tcase_add_loop_test(slow, test_single_equals_batched, 0,
                        sizeof serve_configs / sizeof serve_configs[0]);
    return s;
}
