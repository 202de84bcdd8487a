/* Simulator internals: parameter validation, alias tables, the world's
 * observable features carrying information about the hidden truth, the
 * candidate generator's corner cases, and allocation failures. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "env/env.h"
#include "sim/sim.h"
#include "util/corr.h"

static struct rmtl__sim_params defaults(void)
{
    struct rmtl__sim_params p;
    rmtl__sim_params_default(&p);
    return p;
}

static rmtl_env *create(const struct rmtl__sim_params *p, uint64_t seed)
{
    rmtl_env *env = NULL;
    int rc = rmtl__sim_create(&env, p, seed);
    ck_assert_msg(rc == RMTL_OK, "create: %s", rmtl_last_error());
    return env;
}

static int create_rc(const struct rmtl__sim_params *p)
{
    rmtl_env *env = (rmtl_env *)p; /* must be overwritten */
    int rc = rmtl__sim_create(&env, p, 1);
    if (rc != RMTL_OK)
        ck_assert_ptr_null(env);
    rmtl_env_free(rc == RMTL_OK ? env : NULL);
    return rc;
}

#define ck_assert_bad(field, value, key)                                                  \
    do {                                                                                  \
        struct rmtl__sim_params p_ = defaults();                                          \
        p_.field = (value);                                                               \
        ck_assert_int_eq(create_rc(&p_), RMTL_ECONFIG);                                   \
        ck_assert_msg(strstr(rmtl_last_error(), (key)) != NULL, "message \"%s\" lacks %s", \
                      rmtl_last_error(), (key));                                          \
    } while (0)

START_TEST(test_params_validation)
{
    struct rmtl__sim_params p = defaults();
    ck_assert_int_eq(rmtl__sim_params_validate(&p), RMTL_OK);
    ck_assert_bad(users, 0, "sim.users");
    ck_assert_bad(items, 0, "sim.items");
    ck_assert_bad(items, -5, "sim.items");
    ck_assert_bad(latent_dim, 0, "sim.latent_dim");
    ck_assert_bad(candidates, 0, "sim.candidates");
    ck_assert_bad(candidates, 2001, "sim.candidates");
    ck_assert_bad(top_l, 0, "sim.top_l");
    ck_assert_bad(top_l, 201, "sim.top_l");
    ck_assert_bad(max_requests, 0, "sim.max_requests");
    ck_assert_bad(leave_base, -0.1, "sim.leave_base");
    ck_assert_bad(leave_base, 1.5, "sim.leave_base");
    ck_assert_bad(leave_base, NAN, "sim.leave_base");
    ck_assert_bad(leave_reward_slope, -1.0, "sim.leave_reward_slope");
    ck_assert_bad(fatigue, INFINITY, "sim.fatigue");
    ck_assert_bad(tasks, 0, "sim.tasks");
    ck_assert_bad(tasks, 4, "sim.tasks");
    ck_assert_bad(sessions, 0, "sim.sessions");
    ck_assert_bad(n_reward_coef, 3, "fusion.reward_coef");
    ck_assert_bad(reward_coef[1], NAN, "fusion.reward_coef");
    ck_assert_bad(user_dim, -1, "fusion.state.user_dim");
    ck_assert_bad(item_dim, 70000, "fusion.state.item_dim");
    ck_assert_bad(context_dim, 6, "fusion.state.context_dim");
    ck_assert_bad(segments, 0, "sim.segments");
    ck_assert_bad(brands, 10, "sim.brands");
    ck_assert_bad(category_share, 0.9, "sim.category_share + sim.brand_share");
    ck_assert_bad(pop_mix, 1.01, "sim.pop_mix");
    ck_assert_bad(position_decay, -0.5, "sim.position_decay");
    ck_assert_bad(affinity_cache_max, -1, "sim.affinity_cache_max");
    ck_assert_bad(truth_affinity[2], NAN, "sim.truth.affinity[like]");
    ck_assert_int_eq(rmtl__sim_create(NULL, &p, 1), RMTL_EINVAL);
    rmtl_env *env = NULL;
    ck_assert_int_eq(rmtl__sim_create(&env, NULL, 1), RMTL_EINVAL);
    /* Extremes that are valid. */
    p = defaults();
    p.leave_base = 0.0, p.candidates = p.items, p.top_l = p.candidates;
    p.user_dim = p.item_dim = p.context_dim = 0;
    ck_assert_int_eq(create_rc(&p), RMTL_OK);
}
END_TEST

START_TEST(test_alias_frequencies)
{
    const double w[6] = {0.0, 1.0, 2.0, 0.0, 3.0, 10.0};
    rmtl__alias_slot t[6];
    uint32_t work[12];
    double q[6];
    rmtl__alias_build(t, w, 6, work, q);
    rmtl__rng r;
    rmtl__sim_rng_seed(&r, 1, 2, 3);
    size_t count[6] = {0}, n = 320000;
    for (size_t i = 0; i < n; i++)
        count[rmtl__alias_draw(t, 6, &r)]++;
    ck_assert_uint_eq(count[0], 0);
    ck_assert_uint_eq(count[3], 0);
    for (int i = 0; i < 6; i++) {
        double p = w[i] / 16.0, sd = sqrt(n * p * (1 - p));
        ck_assert_msg(fabs((double)count[i] - n * p) <= 5 * sd + 1, "slot %d: %zu vs %g", i,
                      count[i], n * p);
    }
    const double zero[3] = {0, 0, 0};
    rmtl__alias_build(t, zero, 3, work, q); /* uniform */
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < 30000; i++)
        count[rmtl__alias_draw(t, 3, &r)]++;
    for (int i = 0; i < 3; i++)
        ck_assert(count[i] > 9000 && count[i] < 11000);
}
END_TEST

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* What a model sees must tell it about what it cannot see. */
START_TEST(test_features_are_informative)
{
    struct rmtl__sim_params p = defaults();
    rmtl_env *env = create(&p, 42);
    const rmtl__sim *s = rmtl__env_sim(env, "test");
    const rmtl__sim_world *w = &s->w;
    size_t d = w->d, fd = w->user_dim;

    /* Float features: similar features, similar latent vectors. */
    enum { PAIRS = 4000 };
    static double fsim[PAIRS], lsim[PAIRS], same_seg[PAIRS];
    rmtl__rng r;
    rmtl__sim_rng_seed(&r, 5, 0, 0);
    double seg_in = 0, seg_out = 0;
    size_t n_in = 0, n_out = 0;
    for (size_t i = 0; i < PAIRS; i++) {
        uint32_t a = rmtl__sim_below(&r, w->users), b = rmtl__sim_below(&r, w->users);
        fsim[i] = dot(w->u_feat + a * fd, w->u_feat + b * fd, fd);
        lsim[i] = dot(w->u_lat + a * d, w->u_lat + b * d, d);
        same_seg[i] = w->u_cat[a * RMTL__SIM_UCAT] == w->u_cat[b * RMTL__SIM_UCAT];
        if (same_seg[i] && a != b)
            seg_in += lsim[i], n_in++;
        else if (!same_seg[i])
            seg_out += lsim[i], n_out++;
    }
    ck_assert_double_gt(rmtl_test_corr(fsim, lsim, PAIRS), 0.5);
    ck_assert_uint_gt(n_in, 100);
    ck_assert_double_gt(seg_in / (double)n_in, seg_out / (double)n_out + 3.0);

    /* Popularity bucket follows quality (the items' shared logit offset);
     * price bucket follows price. */
    double qsum[16] = {0}, psum[16] = {0};
    size_t qn[16] = {0};
    for (size_t i = 0; i < w->items; i++) {
        int pop = w->i_cat[i * RMTL__SIM_ICAT + 3], price = w->i_cat[i * RMTL__SIM_ICAT + 2];
        qsum[pop] += w->i_bias[i * RMTL__SIM_TASKS];
        qn[pop]++;
        psum[price] += w->i_lprice[i];
    }
    ck_assert_double_gt(qsum[5] / (double)qn[5], qsum[1] / (double)qn[1] + 0.2);
    for (int b = 2; b <= 5; b++)
        ck_assert_double_gt(psum[b], psum[b - 1]);

    /* The truth is learnable from categorical features alone: cell means of
     * P(click) over (user segment, item category) explain much of it. */
    size_t S = (size_t)p.segments + 1, C = (size_t)p.categories + 1;
    double *sum = calloc(S * C, sizeof *sum), *sq = calloc(S * C, sizeof *sq);
    size_t *cnt = calloc(S * C, sizeof *cnt);
    ck_assert(sum && sq && cnt);
    double total = 0, total_sq = 0;
    size_t n = 0;
    for (uint32_t u = 0; u < w->users; u += 5)
        for (uint32_t i = 0; i < w->items; i += 5) {
            float m[RMTL__SIM_TASKS];
            rmtl__sim_marginals(s, u, i, rmtl__sim_affinity(s, u, i), m);
            size_t cell = (size_t)w->u_cat[u * RMTL__SIM_UCAT] * C +
                          (size_t)w->i_cat[(size_t)i * RMTL__SIM_ICAT];
            sum[cell] += m[0], sq[cell] += (double)m[0] * m[0], cnt[cell]++;
            total += m[0], total_sq += (double)m[0] * m[0], n++;
        }
    double var_total = total_sq / (double)n - (total / (double)n) * (total / (double)n);
    double var_within = 0;
    for (size_t c = 0; c < S * C; c++)
        if (cnt[c])
            var_within += sq[c] - sum[c] * sum[c] / (double)cnt[c];
    double r2 = 1.0 - var_within / (double)n / var_total;
    /* ~0.2 by default; a grouping with no information would give ~0.001 */
    ck_assert_msg(r2 > 0.1, "segment x category explain %g of P(click)", r2);
    free(sum);
    free(sq);
    free(cnt);
    rmtl_env_free(env);
}
END_TEST

/* Candidates stay distinct through the generator's corner cases: every
 * item a candidate, categories without items, popularity only or interest
 * only, and stamps wrapping around. */
static void play(rmtl_env *env, int sessions)
{
    rmtl_sim_info info = RMTL_SIM_INFO_INIT;
    ck_assert_int_eq(rmtl_env_sim_info(&info, env), RMTL_OK);
    float *scores = malloc(info.candidates * sizeof *scores);
    unsigned char *seen = calloc(info.items, 1), *here = calloc(info.items, 1);
    ck_assert(scores && seen && here);
    uint64_t state = 1;
    for (int k = 0; k < sessions; k++) {
        ck_assert_int_eq(rmtl_env_sim_reset(env), RMTL_OK);
        memset(seen, 0, info.items);
        size_t n_seen = 0;
        rmtl_sim_feedback fb = RMTL_SIM_FEEDBACK_INIT;
        do {
            rmtl_sim_request req = RMTL_SIM_REQUEST_INIT;
            ck_assert_int_eq(rmtl_env_sim_request(&req, env), RMTL_OK);
            memset(here, 0, info.items);
            size_t reused = 0;
            for (size_t j = 0; j < req.n; j++) {
                ck_assert_uint_lt(req.items[j], info.items);
                ck_assert_msg(!here[req.items[j]], "duplicate candidate");
                here[req.items[j]] = 1;
                reused += seen[req.items[j]];
            }
            /* Shown items come back only when nothing else is left. */
            size_t unseen = info.items - n_seen;
            ck_assert_uint_eq(reused, unseen >= req.n ? 0 : req.n - unseen);
            ck_assert_int_eq(rmtl_env_sim_random_policy(scores, &req, &state), RMTL_OK);
            ck_assert_int_eq(rmtl_env_sim_step(&fb, env, scores, req.n), RMTL_OK);
            for (size_t j = 0; j < fb.n_shown; j++) {
                n_seen += !seen[fb.items[j]];
                seen[fb.items[j]] = 1;
            }
        } while (!fb.done);
    }
    free(scores);
    free(seen);
    free(here);
}

START_TEST(test_generator_corners)
{
    struct rmtl__sim_params p = defaults();
    p.users = 100, p.items = 300, p.candidates = 100;
    p.pop_mix = 1.0;
    rmtl_env *env = create(&p, 4);
    play(env, 20);
    rmtl_env_free(env);
    p.pop_mix = 0.0;
    env = create(&p, 4);
    play(env, 20);
    rmtl_env_free(env);
    p.pop_mix = 0.3, p.categories = 1, p.brands = 1, p.pop_skew = 5.0;
    env = create(&p, 4);
    play(env, 20);
    rmtl_env_free(env);

    p = defaults();
    p.users = 50, p.items = 40, p.candidates = 40, p.top_l = 5, p.max_requests = 12;
    p.leave_base = 0.0, p.fatigue = 0.0; /* every session runs to the end */
    p.categories = 60, p.brands = 60;    /* most categories are empty */
    env = create(&p, 3);
    play(env, 5);

    /* Stamps wrapping around, with marks of old requests and sessions that
     * the new stamps would match if they survived: with every item a
     * candidate, one stale match loses a candidate. */
    rmtl__sim *s = rmtl__env_sim(env, "test");
    s->host.req_stamp = 0xffffu; /* the next request and session wrap */
    s->host.sess_stamp = 0xffffu;
    for (uint32_t i = 0; i < s->w.items; i++)
        s->host.mark[i] = (1u + i % 7u) << 16 | (1u + i % 5u);
    play(env, 5);
    ck_assert_uint_lt(s->host.req_stamp, 0x100u);
    ck_assert_uint_lt(s->host.sess_stamp, 0x10u);
    rmtl_env_free(env);
}
END_TEST

/* Worlds too big for the affinity cache compute each session's row: the
 * same truth and, up to rounding of the products, the same sessions. */
START_TEST(test_affinity_cache_or_not)
{
    struct rmtl__sim_params p = defaults();
    p.users = 500, p.items = 700, p.candidates = 100;
    rmtl_env *cached = create(&p, 8);
    p.affinity_cache_max = 500 * 700 - 1;
    rmtl_env *direct = create(&p, 8);
    ck_assert_ptr_nonnull(rmtl__env_sim(cached, "test")->w.aff);
    ck_assert_ptr_null(rmtl__env_sim(direct, "test")->w.aff);
    for (uint32_t u = 0; u < 500; u += 13)
        for (uint32_t i = 0; i < 700; i += 17) {
            float a[2], b[2];
            ck_assert_int_eq(rmtl_env_sim_true_probs(cached, u, i, a, 2), RMTL_OK);
            ck_assert_int_eq(rmtl_env_sim_true_probs(direct, u, i, b, 2), RMTL_OK);
            ck_assert_float_eq_tol(a[0], b[0], 1e-6);
            ck_assert_float_eq_tol(a[1], b[1], 1e-6);
        }
    /* The random policy's ranking does not depend on the truth, so only a
     * rounding difference that flips a behaviour could tell them apart. */
    rmtl_sim_stats x = RMTL_SIM_STATS_INIT, y = RMTL_SIM_STATS_INIT;
    uint64_t sx = 4, sy = 4;
    ck_assert_int_eq(rmtl_env_sim_evaluate(&x, cached, 200, 3, rmtl_env_sim_random_policy, &sx),
                     RMTL_OK);
    ck_assert_int_eq(rmtl_env_sim_evaluate(&y, direct, 200, 3, rmtl_env_sim_random_policy, &sy),
                     RMTL_OK);
    ck_assert(!memcmp(&x, &y, sizeof x));
    ck_assert_int_eq(rmtl_env_sim_evaluate(&x, cached, 100, 3, rmtl_env_sim_oracle_policy, cached),
                     RMTL_OK);
    ck_assert_int_eq(rmtl_env_sim_evaluate(&y, direct, 100, 3, rmtl_env_sim_oracle_policy, direct),
                     RMTL_OK);
    ck_assert_double_eq_tol(x.reward_mean, y.reward_mean, 0.05 * x.reward_mean);
    rmtl_env_free(cached);
    rmtl_env_free(direct);
}
END_TEST

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Every allocation of create and log may fail: each failure is reported
 * as RMTL_ENOMEM, leaks nothing (checked under ASan) and leaves no file.
 * Once with the affinity cache, once without. */
static void allocation_failures(const struct rmtl__sim_params *p, const char *dir)
{
    char path[64];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    int done = 0;
    for (size_t fail = 1; fail < 1000 && !done; fail++) {
        rmtl__alloc_fail_after(fail);
        rmtl_env *env = NULL;
        int rc = rmtl__sim_create(&env, p, 9);
        if (rc == RMTL_OK) {
            rc = rmtl_env_sim_log(NULL, env, path, 3, 1, 2, rmtl_env_sim_oracle_policy, env);
            rmtl_env_free(env);
        } else {
            ck_assert_ptr_null(env);
        }
        size_t made = rmtl__alloc_fail_after(0);
        ck_assert_msg(rc == RMTL_OK || rc == RMTL_ENOMEM, "fail at %zu: %d %s", fail, rc,
                      rmtl_last_error());
        if (rc == RMTL_ENOMEM)
            ck_assert_int_eq(count_files(dir), 0);
        else
            done = made < fail; /* nothing failed: all allocations covered */
        if (rc == RMTL_OK)
            unlink(path);
    }
    ck_assert(done);
}

START_TEST(test_allocation_failures)
{
    char dir[] = "/tmp/rmtl-check-sim-alloc-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct rmtl__sim_params p = defaults();
    p.users = 60, p.items = 80, p.candidates = 20;
    allocation_failures(&p, dir);
    p.affinity_cache_max = 0;
    allocation_failures(&p, dir);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

Suite *rmtl_test_sim_suite(void)
{
    Suite *s = suite_create("sim_internal");
    TCase *tc = tcase_create("internal");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_params_validation);
    tcase_add_test(tc, test_alias_frequencies);
    tcase_add_test(tc, test_features_are_informative);
    tcase_add_test(tc, test_generator_corners);
    tcase_add_test(tc, test_affinity_cache_or_not);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
