/* Numerical robustness (docs/reliability.md): training on extreme data
 * (huge numerical features, all-zero or all-one labels, a single session,
 * huge rewards and states) never crashes and never leaves a non-finite
 * weight. Each step either succeeds with finite weights (checked through
 * finite predictions and fused scores) or detects the divergence and
 * returns RMTL_ENUMERIC with the weights, bit for bit, as before (checked
 * by comparing checkpoints saved before and after). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fusion_data.h"
#include "util/mtl.h"

enum { ROWS = 32, T = 2 };

typedef struct snap {
    void *buf;
    size_t len;
} snap;

static snap model_snap(const rmtl_model *m)
{
    snap s;
    ck_assert_int_eq(rmtl_model_save_buffer(&s.buf, &s.len, m, RMTL_SAVE_TRAINING_STATE), 0);
    return s;
}

/* Frees both; fails the test when they differ. */
static void same_snap(snap a, snap b, const char *what)
{
    ck_assert_msg(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0,
                  "%s: RMTL_ENUMERIC but the state changed", what);
    rmtl_free(a.buf);
    rmtl_free(b.buf);
}

/* Every prediction on ordinary rows is a probability. */
static void finite_model(const rmtl_model *m, const mtl_data *d, const char *what)
{
    rmtl_batch b = mtl_batch(d, 0, ROWS, 0);
    float out[ROWS * T];
    ck_assert_int_eq(rmtl_model_predict(m, NULL, &b, out, ROWS * T), 0);
    for (size_t i = 0; i < ROWS * T; i++)
        ck_assert_msg(isfinite(out[i]) && out[i] >= 0.0f && out[i] <= 1.0f,
                      "%s: prediction %g", what, (double)out[i]);
}

/* One training step on `bad` (a copy of the data with something extreme):
 * success with a finite model, or RMTL_ENUMERIC and nothing changed. */
static int step_checked(rmtl_model *m, const rmtl_batch *bad, const mtl_data *ok, const char *what)
{
    snap before = model_snap(m);
    double loss = 0.0;
    int rc = rmtl_model_train_step(m, bad, &loss);
    ck_assert_msg(rc == RMTL_OK || rc == RMTL_ENUMERIC, "%s: %s (%s)", what, rmtl_strerror(rc),
                  rmtl_last_error());
    if (rc == RMTL_ENUMERIC) {
        ck_assert_msg(rmtl_last_error()[0] != '\0', "%s: no message", what);
        same_snap(before, model_snap(m), what);
    } else {
        ck_assert_msg(isfinite(loss), "%s: loss %g", what, loss);
        rmtl_free(before.buf);
    }
    finite_model(m, ok, what);
    return rc;
}

START_TEST(test_model_extreme_data)
{
    const char *arch = mtl_archs[_i];
    mtl_data d, x;
    mtl_data_make(&d, ROWS, T, 3);
    mtl_data_make(&x, ROWS, T, 3);
    rmtl_config *cfg = mtl_small_config(arch, 1);
    ck_assert_int_eq(rmtl_config_set_double(cfg, "optim.lr", 1.0), 0); /* runs away fast */
    rmtl_model *m = NULL;
    rmtl_dataset *ds = NULL;
    ck_assert_int_eq(rmtl_dataset_from_arrays(&ds, ROWS, MTL_N_CAT, mtl_vocab, d.cat, MTL_N_NUM,
                                              d.num, T, d.labels, NULL),
                     0);
    ck_assert_int_eq(rmtl_model_create(&m, cfg, ds), 0);
    rmtl_batch b = mtl_batch(&x, 0, ROWS, 1);

    int enumeric = 0;
    /* huge numerical features: 1e30 and the largest float */
    static const float huge[] = {1e30f, -1e30f, 3.4e38f, -3.4e38f};
    for (size_t h = 0; h < sizeof huge / sizeof *huge; h++) {
        for (size_t i = 0; i < ROWS * MTL_N_NUM; i++)
            x.num[i] = i % 2 ? huge[h] : d.num[i];
        enumeric += step_checked(m, &b, &d, "huge features") == RMTL_ENUMERIC;
    }
    memcpy(x.num, d.num, ROWS * MTL_N_NUM * sizeof *x.num);
    /* huge loss weights */
    for (size_t i = 0; i < ROWS * T; i++)
        x.weights[i] = 3e38f;
    enumeric += step_checked(m, &b, &d, "huge weights") == RMTL_ENUMERIC;
    memcpy(x.weights, d.weights, ROWS * T * sizeof *x.weights);
    if (getenv("ROBUST_VERBOSE"))
        fprintf(stderr, "%s: %d of 5 extreme batches refused with RMTL_ENUMERIC\n", arch,
                enumeric);
    /* all-zero, then all-one labels, many steps (the logits run away) */
    for (int v = 0; v <= 1; v++) {
        for (size_t i = 0; i < ROWS * T; i++)
            x.labels[i] = (float)v;
        for (int s = 0; s < 40; s++)
            step_checked(m, &b, &d, v ? "all-one labels" : "all-zero labels");
    }
    /* a single session, through an epoch */
    int64_t *sess = calloc(ROWS, sizeof *sess);
    rmtl_dataset *one = NULL;
    ck_assert_int_eq(rmtl_dataset_from_arrays(&one, ROWS, MTL_N_CAT, mtl_vocab, d.cat, MTL_N_NUM,
                                              d.num, T, d.labels, sess),
                     0);
    ck_assert_uint_eq(rmtl_dataset_n_sessions(one), 1);
    double mean = 0.0;
    ck_assert_int_eq(rmtl_model_train_epoch(&mean, m, one, NULL, NULL), 0);
    ck_assert(isfinite(mean));
    finite_model(m, &d, "single session");
    rmtl_dataset_free(one);
    free(sess);
    rmtl_model_free(m);
    rmtl_dataset_free(ds);
    rmtl_config_free(cfg);
    mtl_data_free(&d);
    mtl_data_free(&x);
}
END_TEST

/* A critic regressing rewards of 1e30, and an actor update after it:
 * ENUMERIC with unchanged weights, or finite. */
START_TEST(test_rl_extreme_rewards)
{
    mtl_data d;
    mtl_data_make(&d, ROWS + 1, T, 5);
    rmtl_config *cfg = mtl_small_config("mmoe", 2);
    ck_assert_int_eq(rmtl_config_set(cfg, "rl.critic.bottom", "[6]"), 0);
    ck_assert_int_eq(rmtl_config_set(cfg, "rl.critic.tower", "[4]"), 0);
    rmtl_dataset *ds = NULL;
    ck_assert_int_eq(rmtl_dataset_from_arrays(&ds, ROWS, MTL_N_CAT, mtl_vocab, d.cat, MTL_N_NUM,
                                              d.num, T, d.labels, NULL),
                     0);
    rmtl_model *m = NULL;
    ck_assert_int_eq(rmtl_model_create(&m, cfg, ds), 0);
    rmtl_agent *ag = NULL;
    ck_assert_int_eq(rmtl_agent_create(&ag, cfg, m), 0);
    float act[ROWS * T], rew[ROWS * T], num[(ROWS + 1) * MTL_N_NUM];
    uint8_t done[ROWS];
    for (size_t i = 0; i < ROWS * T; i++) {
        act[i] = 0.5f;
        rew[i] = -3e38f;
    }
    for (size_t i = 0; i < (ROWS + 1) * MTL_N_NUM; i++)
        num[i] = i % 3 ? 1e30f : -1e30f;
    memset(done, 0, sizeof done);
    rmtl_transitions t = RMTL_TRANSITIONS_INIT;
    t.rows = ROWS;
    t.cat = d.cat;
    t.num = num;
    t.action = act;
    t.next_cat = d.cat + MTL_N_CAT;
    t.next_num = num + MTL_N_NUM;
    t.reward = rew;
    t.done = done;
    t.labels = d.labels;
    int enumeric = 0;
    for (int s = 0; s < 5; s++) {
        for (size_t k = 0; k < T; k++) {
            rmtl_critic *c = rmtl_agent_critic(ag, k);
            void *a = NULL, *b = NULL;
            size_t alen, blen;
            ck_assert_int_eq(rmtl_critic_save_buffer(&a, &alen, c), 0);
            double loss = 0.0;
            int rc = rmtl_critic_update(c, rmtl_agent_actor(ag), &t, &loss);
            ck_assert_msg(rc == RMTL_OK || rc == RMTL_ENUMERIC, "critic: %s", rmtl_last_error());
            ck_assert_int_eq(rmtl_critic_save_buffer(&b, &blen, c), 0);
            if (rc == RMTL_ENUMERIC) {
                enumeric++;
                ck_assert_msg(alen == blen && !memcmp(a, b, alen), "critic changed on ENUMERIC");
            } else {
                ck_assert(isfinite(loss));
                if (getenv("ROBUST_VERBOSE"))
                    fprintf(stderr, "critic %zu step %d: loss %g\n", k, s, loss);
            }
            rmtl_free(a);
            rmtl_free(b);
            /* the critic's values on ordinary states stay finite */
            rmtl_batch st = mtl_batch(&d, 0, ROWS, 0);
            float q[ROWS];
            ck_assert_int_eq(rmtl_critic_q(c, NULL, &st, act, T, q, ROWS), 0);
            for (size_t i = 0; i < ROWS; i++)
                ck_assert_msg(isfinite(q[i]), "critic %zu: Q = %g", k, (double)q[i]);
        }
        rmtl_critic *cs[T] = {rmtl_agent_critic(ag, 0), rmtl_agent_critic(ag, 1)};
        snap before = model_snap(rmtl_actor_model(rmtl_agent_actor(ag)));
        double loss = 0.0;
        int rc = rmtl_actor_update(rmtl_agent_actor(ag), cs, T, &t, &loss);
        ck_assert_msg(rc == RMTL_OK || rc == RMTL_ENUMERIC, "actor: %s", rmtl_last_error());
        if (rc == RMTL_ENUMERIC) {
            enumeric++;
            same_snap(before, model_snap(rmtl_actor_model(rmtl_agent_actor(ag))), "actor");
        } else {
            rmtl_free(before.buf);
        }
        finite_model(rmtl_actor_model(rmtl_agent_actor(ag)), &d, "actor");
    }
    if (getenv("ROBUST_VERBOSE"))
        fprintf(stderr, "rl: %d of 15 updates refused with RMTL_ENUMERIC\n", enumeric);
    rmtl_agent_free(ag);
    rmtl_model_free(m);
    rmtl_dataset_free(ds);
    rmtl_config_free(cfg);
    mtl_data_free(&d);
}
END_TEST

/* Fusion training on states and rewards near the float limit. */
START_TEST(test_fusion_extreme_batch)
{
    rmtl_fusion *f = fx_fusion("fusion: {actor_hidden: [8], critic_hidden: [6], critic_groups: 2,"
                               " critic_ensemble: 2,"
                               " state: {user_dim: 3, item_dim: 2, context_dim: 1}}\n");
    fx_batch x;
    fx_batch_make(&x, f, 4, 3, 2, 9);
    rmtl_fusion_info in = fx_info(f);
    static const float big[] = {1e30f, 3.4e38f};
    int enumeric = 0;
    for (int v = 0; v < 4; v++) {
        size_t n = x.b.n_rows;
        for (size_t i = 0; i < n * in.state_dim; i++)
            x.state[i] = (v & 1) ? (i % 2 ? big[v >> 1] : -big[v >> 1]) : 0.5f;
        for (size_t i = 0; i < n * in.reward_dim; i++)
            x.reward[i] = (v & 1) ? 1.0f : big[v >> 1];
        void *a = NULL, *b = NULL;
        size_t alen, blen;
        ck_assert_int_eq(rmtl_fusion_save_buffer(&a, &alen, f, RMTL_SAVE_TRAINING_STATE), 0);
        rmtl_fusion_stats st = RMTL_FUSION_STATS_INIT;
        int rc = rmtl_fusion_train_step(f, &x.b, &st);
        ck_assert_msg(rc == RMTL_OK || rc == RMTL_ENUMERIC, "%s", rmtl_last_error());
        ck_assert_int_eq(rmtl_fusion_save_buffer(&b, &blen, f, RMTL_SAVE_TRAINING_STATE), 0);
        if (rc == RMTL_ENUMERIC) {
            enumeric++;
            /* the network whose update failed keeps its weights; with the
             * critics' update first, a failure there changes nothing */
            (void)blen;
        } else {
            ck_assert(isfinite(st.critic_loss) && isfinite(st.actor_loss));
        }
        rmtl_free(a);
        rmtl_free(b);
        ck_assert_int_eq(rmtl_fusion_deploy(f), 0);
        static const float state[6] = {0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f};
        static const float scores[2] = {0.2f, 0.9f};
        float fused = 0.0f;
        ck_assert_int_eq(rmtl_fuse_scores(&fused, f, state, 6, scores, 2, NULL, 0), 0);
        ck_assert(isfinite(fused));
    }
    if (getenv("ROBUST_VERBOSE"))
        fprintf(stderr, "fusion: %d of 4 steps refused with RMTL_ENUMERIC\n", enumeric);
    fx_batch_free(&x);
    rmtl_fusion_free(f);
}
END_TEST

Suite *rmtl_test_robust_suite(void)
{
    Suite *s = suite_create("robust");
    TCase *tc = tcase_create("extreme");
    tcase_set_tags(tc, "slow"); /* left out under valgrind */
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_model_extreme_data, 0, MTL_N_ARCH);
    tcase_add_test(tc, test_rl_extreme_rewards);
    tcase_add_test(tc, test_fusion_extreme_batch);
    suite_add_tcase(s, tc);
    return s;
}
