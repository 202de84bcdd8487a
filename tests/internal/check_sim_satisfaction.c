/* The simulator's long-term dynamics (src/sim/satisfaction.c): a constructed
 * world in which two policies earn the same immediate reward, one from
 * satisfying items and one from unsatisfying ones; the trait's visibility
 * through the brand and the last item float; and the switch. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "env/env.h"
#include "sim/sim.h"

static rmtl_env *create(const struct rmtl__sim_params *p, uint64_t seed)
{
    rmtl_env *env = NULL;
    int rc = rmtl__sim_create(&env, p, seed);
    ck_assert_msg(rc == RMTL_OK, "create: %s", rmtl_last_error());
    return env;
}

/* Scores by the true expected reward among the candidates whose trait has
 * the wanted sign; the others rank below all of them. */
struct half {
    const rmtl__sim *s;
    int sign;
};

static int half_policy(float *scores, const rmtl_sim_request *req, void *payload)
{
    const struct half *h = payload;
    const rmtl__sim *s = h->s;
    for (size_t j = 0; j < req->n; j++) {
        uint32_t item = req->items[j];
        float r = rmtl__sim_expected_reward(s, req->user, item,
                                            rmtl__sim_affinity(s, req->user, item));
        int ok = (s->w.i_sat[item] > 0.0f) == (h->sign > 0);
        scores[j] = ok ? r : r - 1000.0f;
    }
    return 0;
}

/* The world of the test: no click shift, so the trait is independent of the
 * immediate truth and either half of the catalogue offers the same
 * immediate reward. */
static struct rmtl__sim_params constructed(void)
{
    struct rmtl__sim_params p;
    rmtl__sim_params_default(&p);
    p.users = 400, p.items = 1000, p.candidates = 100;
    p.sat_enabled = 1;
    p.sat_click = 0.0;
    return p;
}

/* Plays n host sessions with the policy: the mean reward of the first
 * request (the same state for both policies: nothing consumed yet) and the
 * mean session length and reward. */
static void play(double *first, double *length, double *reward, rmtl_env *env, struct half *h,
                 size_t n)
{
    float scores[1000];
    *first = *length = *reward = 0.0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(rmtl_env_sim_reset(env), RMTL_OK);
        rmtl_sim_feedback fb = RMTL_SIM_FEEDBACK_INIT;
        for (uint32_t t = 0;; t++) {
            rmtl_sim_request req = RMTL_SIM_REQUEST_INIT;
            ck_assert_int_eq(rmtl_env_sim_request(&req, env), RMTL_OK);
            ck_assert_int_eq(half_policy(scores, &req, h), 0);
            ck_assert_int_eq(rmtl_env_sim_step(&fb, env, scores, req.n), RMTL_OK);
            if (t == 0)
                *first += fb.reward / (double)n;
            if (fb.done) {
                *length += (double)(t + 1) / (double)n;
                *reward += fb.session_reward / (double)n;
                break;
            }
        }
    }
}

START_TEST(test_unsatisfying_items_shorten_sessions)
{
    struct rmtl__sim_params p = constructed();
    for (int control = 0; control < 2; control++) {
        if (control) /* without the leave effect the two halves last as long */
            p.sat_leave = 0.0;
        /* two copies of one world: the same users in the same order */
        rmtl_env *e1 = create(&p, 3), *e2 = create(&p, 3);
        struct half kale = {e1->sim, +1}, choc = {e2->sim, -1};
        double f1, l1, r1, f2, l2, r2;
        size_t n = 800;
        play(&f1, &l1, &r1, e1, &kale, n);
        play(&f2, &l2, &r2, e2, &choc, n);
        /* the same immediate reward (within sampling noise) ... */
        ck_assert_msg(fabs(f1 / f2 - 1.0) < 0.1, "first-request reward %g vs %g", f1, f2);
        if (!control) {
            /* ... but clicks on unsatisfying items make users leave sooner */
            ck_assert_msg(l1 > 1.25 * l2, "lengths %g (satisfying) vs %g", l1, l2);
            ck_assert_msg(r1 > r2, "session rewards %g vs %g", r1, r2);
        } else {
            ck_assert_msg(fabs(l1 / l2 - 1.0) < 0.1, "control lengths %g vs %g", l1, l2);
        }
        rmtl_env_free(e1);
        rmtl_env_free(e2);
    }
}
END_TEST

static double corr(const double *x, const double *y, size_t n)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++)
        mx += x[i] / (double)n, my += y[i] / (double)n;
    for (size_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxy / sqrt(sxx * syy);
}

START_TEST(test_trait_partly_visible)
{
    struct rmtl__sim_params p;
    rmtl__sim_params_default(&p);
    p.sat_enabled = 1;
    rmtl_env *env = create(&p, 5);
    const rmtl__sim_world *w = &env->sim->w;
    size_t I = w->items, fd = w->item_dim;
    static double sat[4000], feat[4000], brand_mean[4000], click[4000];
    static double bsum[200], bcount[200];
    ck_assert_uint_le(I, 4000);
    memset(bsum, 0, sizeof bsum), memset(bcount, 0, sizeof bcount);
    double lo = 1, hi = -1;
    for (size_t i = 0; i < I; i++) {
        sat[i] = w->i_sat[i];
        lo = fmin(lo, sat[i]), hi = fmax(hi, sat[i]);
        feat[i] = w->i_feat[i * fd + fd - 1];
        size_t b = (size_t)w->i_cat[i * RMTL__SIM_ICAT + 1];
        bsum[b] += sat[i], bcount[b] += 1;
    }
    ck_assert(lo >= -1.0 && hi <= 1.0 && lo < -0.9 && hi > 0.9); /* spans [-1, 1] */
    for (size_t i = 0; i < I; i++) {
        size_t b = (size_t)w->i_cat[i * RMTL__SIM_ICAT + 1];
        brand_mean[i] = (bsum[b] - sat[i]) / fmax(1.0, bcount[b] - 1); /* the others' */
    }
    /* the float shows the trait with noise (σ = 1 on a unit normal: r ≈ 0.7,
     * a little less through the uniform transform) */
    double r_feat = corr(sat, feat, I), r_brand = corr(sat, brand_mean, I);
    ck_assert_msg(r_feat > 0.55 && r_feat < 0.8, "trait-feature correlation %g", r_feat);
    ck_assert_msg(r_brand > 0.35, "trait-brand correlation %g", r_brand);

    /* the click truth shifts towards unsatisfying items: same world without
     * the dynamics, item click biases differ by -click·trait */
    p.sat_enabled = 0;
    rmtl_env *off = create(&p, 5);
    const rmtl__sim_world *w0 = &off->sim->w;
    ck_assert_ptr_null(w0->i_sat);
    for (size_t i = 0; i < I; i++)
        click[i] = (double)w->i_bias[i * RMTL__SIM_TASKS] - (double)w0->i_bias[i * RMTL__SIM_TASKS];
    for (size_t i = 0; i < I; i++)
        ck_assert_msg(fabs(click[i] + p.sat_click * sat[i]) < 1e-5, "item %zu", i);
    rmtl_env_free(off);
    rmtl_env_free(env);
}
END_TEST

Suite *rmtl_test_sim_satisfaction_suite(void)
{
    Suite *s = suite_create("sim_satisfaction");
    TCase *tc = tcase_create("dynamics");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_unsatisfying_items_shorten_sessions);
    tcase_add_test(tc, test_trait_partly_visible);
    suite_add_tcase(s, tc);
    return s;
}
