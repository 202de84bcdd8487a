/* Progress callbacks of the long calls: rmtl_dataset_load(),
 * rmtl_agent_train() and rmtl_fusion_round(). Each reports a growing
 * `done` against a fixed total, ends with done == total, and cancels
 * with RMTL_ESTATE, leaving its object consistent. Small data: fast. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmtl.h"
#include "util/fusion_data.h"
#include "util/mtl.h"
#include "util/tdata.h"

/* Records every report; cancels at the `stop_at`-th call (0: never). */
typedef struct recorder {
    size_t calls, stop_at;
    uint64_t done[512], total;
    double loss[512], elapsed;
    int shrank, bad_version, total_changed;
} recorder;

static int record(const rmtl_progress *p, void *payload)
{
    recorder *r = payload;
    if (p->version != RMTL_PROGRESS_VERSION)
        r->bad_version = 1;
    if (r->calls > 0 && (p->done < r->done[(r->calls - 1) % 512] || p->elapsed < r->elapsed))
        r->shrank = 1;
    if (r->calls > 0 && p->total != r->total)
        r->total_changed = 1;
    r->done[r->calls % 512] = p->done;
    r->loss[r->calls % 512] = p->loss;
    r->total = p->total;
    r->elapsed = p->elapsed;
    r->calls++;
    return r->stop_at && r->calls >= r->stop_at;
}

static uint64_t last_done(const recorder *r)
{
    return r->done[(r->calls - 1) % 512];
}

static void assert_progressed(const recorder *r, uint64_t total, size_t min_calls)
{
    ck_assert_int_eq(r->bad_version, 0);
    ck_assert_int_eq(r->shrank, 0);
    ck_assert_int_eq(r->total_changed, 0);
    ck_assert_uint_ge(r->calls, min_calls);
    ck_assert_uint_eq(r->total, total);
    ck_assert_uint_eq(last_done(r), total);
}

/* --- dataset load -------------------------------------------------------- */

static const char *const schema = "columns:\n"
                                  "  a: categorical\n"
                                  "  b: numerical\n"
                                  "  y: {role: label, threshold: 0.5}\n";

/* A CSV of `rows` rows in the temporary directory. */
static const char *write_csv(size_t rows, const char **schema_path)
{
    size_t cap = 32 + rows * 32, n = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    n += (size_t)snprintf(buf + n, cap - n, "a,b,y\n");
    for (size_t i = 0; i < rows; i++)
        n += (size_t)snprintf(buf + n, cap - n, "v%zu,%zu.5,%d\n", i % 97, i % 13, (int)(i % 3 == 0));
    const char *path = rmtl_tdata_write("progress.csv", buf, n);
    free(buf);
    *schema_path = rmtl_tdata_write("progress.yaml", schema, (size_t)-1);
    return path;
}

START_TEST(test_load_reports_bytes)
{
    const char *sp, *csv = write_csv(20000, &sp);
    FILE *f = fopen(csv, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    uint64_t size = (uint64_t)ftell(f);
    fclose(f);
    recorder r;
    memset(&r, 0, sizeof r);
    rmtl_dataset *ds = NULL;
    rmtl_load_options lo = RMTL_LOAD_OPTIONS_INIT;
    lo.progress = record, lo.payload = &r;
    ck_assert_msg(rmtl_dataset_load(&ds, csv, sp, NULL, &lo) == RMTL_OK, "%s",
                  rmtl_last_error());
    ck_assert_uint_eq(rmtl_dataset_rows(ds), 20000);
    assert_progressed(&r, size, 2);
    ck_assert(isnan(r.loss[0]));
    /* with a reference, and without a callback: the same rows */
    rmtl_dataset *again = NULL;
    ck_assert_int_eq(rmtl_dataset_load(&again, csv, NULL, ds, NULL), RMTL_OK);
    ck_assert_uint_eq(rmtl_dataset_rows(again), 20000);
    rmtl_dataset_free(again);
    rmtl_dataset_free(ds);
}
END_TEST

/* A quoted field at the end sends the parallel parser's work back to the
 * reference reader: the bytes reported still only grow. */
START_TEST(test_load_fallback_keeps_growing)
{
    size_t rows = 60000, cap = 64 + rows * 32, n = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    n += (size_t)snprintf(buf + n, cap - n, "a,b,y\n");
    for (size_t i = 0; i < rows; i++)
        n += (size_t)snprintf(buf + n, cap - n, "v%zu,%zu.5,%d\n", i % 97, i % 13, (int)(i % 3 == 0));
    n += (size_t)snprintf(buf + n, cap - n, "\"v,1\",2,1\n");
    const char *csv = rmtl_tdata_write("fallback.csv", buf, n);
    free(buf);
    const char *sp = rmtl_tdata_write("fallback.yaml", schema, (size_t)-1);
    recorder r;
    memset(&r, 0, sizeof r);
    rmtl_dataset *ds = NULL;
    rmtl_load_options lo = RMTL_LOAD_OPTIONS_INIT;
    lo.progress = record, lo.payload = &r;
    ck_assert_msg(rmtl_dataset_load(&ds, csv, sp, NULL, &lo) == RMTL_OK, "%s", rmtl_last_error());
    ck_assert_uint_eq(rmtl_dataset_rows(ds), rows + 1);
    assert_progressed(&r, (uint64_t)n, 2);
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_load_cancel)
{
    const char *sp, *csv = write_csv(20000, &sp);
    recorder r;
    memset(&r, 0, sizeof r);
    r.stop_at = 1;
    rmtl_dataset *ds = (rmtl_dataset *)&r; /* must come back NULL */
    rmtl_load_options lo = RMTL_LOAD_OPTIONS_INIT;
    lo.progress = record, lo.payload = &r;
    ck_assert_int_eq(rmtl_dataset_load(&ds, csv, sp, NULL, &lo), RMTL_ESTATE);
    ck_assert_ptr_null(ds);
    ck_assert_uint_eq(r.calls, 1);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "cancelled"));
    /* errors of rmtl_dataset_load() still apply */
    ck_assert_int_eq(rmtl_dataset_load(&ds, "/nonexistent.csv", sp, NULL, &lo),
                     RMTL_EIO);
    ck_assert_int_eq(rmtl_dataset_load(&ds, csv, NULL, NULL, &lo), RMTL_EINVAL);
    /* an options struct that was not initialised */
    rmtl_load_options bad = RMTL_LOAD_OPTIONS_INIT;
    bad.version = 0;
    ck_assert_int_eq(rmtl_dataset_load(&ds, csv, sp, NULL, &bad), RMTL_EINVAL);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "RMTL_LOAD_OPTIONS_INIT"));
}
END_TEST

/* --- agent training ------------------------------------------------------ */

typedef struct rl_setup {
    rmtl_config *cfg;
    mtl_data d;
    rmtl_dataset *ds;
    rmtl_model *model;
    rmtl_env *env;
    rmtl_replay *rb;
    rmtl_agent *agent;
} rl_setup;

static void rl_make(rl_setup *s)
{
    memset(s, 0, sizeof *s);
    s->cfg = mtl_small_config("mmoe", 3);
    ck_assert_ptr_nonnull(s->cfg);
    ck_assert_int_eq(rmtl_config_set(s->cfg, "rl.critic.bottom", "[8]"), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set(s->cfg, "rl.critic.tower", "[4]"), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set(s->cfg, "rl.batch_size", "16"), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set(s->cfg, "rl.init_training_step", "0"), RMTL_OK);
    size_t rows = 200;
    mtl_data_make(&s->d, rows, 2, 11);
    int64_t *sess = malloc(rows * sizeof *sess);
    ck_assert_ptr_nonnull(sess);
    for (size_t i = 0; i < rows; i++)
        sess[i] = (int64_t)(i / 5);
    ck_assert_msg(rmtl_dataset_from_arrays(&s->ds, rows, MTL_N_CAT, mtl_vocab, s->d.cat,
                                           MTL_N_NUM, s->d.num, 2, s->d.labels, sess) == RMTL_OK,
                  "%s", rmtl_last_error());
    free(sess);
    ck_assert_msg(rmtl_model_create(&s->model, s->cfg, s->ds) == RMTL_OK, "%s",
                  rmtl_last_error());
    ck_assert_msg(rmtl_env_create(&s->env, s->cfg, s->ds, 0) == RMTL_OK, "%s",
                  rmtl_last_error());
    ck_assert_int_eq(rmtl_replay_create(&s->rb, 300, MTL_N_CAT, MTL_N_NUM, 2, 5), RMTL_OK);
    ck_assert_int_eq(rmtl_replay_fill_random(s->rb, s->env, 300), RMTL_OK);
    ck_assert_msg(rmtl_agent_create(&s->agent, s->cfg, s->model) == RMTL_OK, "%s",
                  rmtl_last_error());
}

static void rl_drop(rl_setup *s)
{
    rmtl_agent_free(s->agent);
    rmtl_replay_free(s->rb);
    rmtl_env_free(s->env);
    rmtl_model_free(s->model);
    rmtl_dataset_free(s->ds);
    mtl_data_free(&s->d);
    rmtl_config_free(s->cfg);
}

START_TEST(test_agent_train_reports_updates)
{
    rl_setup s;
    rl_make(&s);
    recorder r;
    memset(&r, 0, sizeof r);
    rmtl_agent_report last = RMTL_AGENT_REPORT_INIT;
    ck_assert_msg(rmtl_agent_train(&last, s.agent, s.rb, 40, record, &r) == RMTL_OK, "%s",
                  rmtl_last_error());
    /* 40 steps: every step is more than 1% */
    assert_progressed(&r, 40, 40);
    for (size_t i = 0; i < r.calls; i++) {
        ck_assert_uint_eq(r.done[i], i + 1);
        ck_assert(isfinite(r.loss[i]) && r.loss[i] >= 0);
    }
    ck_assert_uint_eq(rmtl_agent_steps(s.agent), 40);
    ck_assert_uint_eq(last.step, 40);
    ck_assert_uint_eq(last.n_tasks, 2);
    ck_assert(isfinite(last.critic_loss[0]));
    /* 0 steps is a no-op; no callback, no report */
    ck_assert_int_eq(rmtl_agent_train(NULL, s.agent, s.rb, 0, NULL, NULL), RMTL_OK);
    ck_assert_int_eq(rmtl_agent_train(NULL, s.agent, s.rb, 3, NULL, NULL), RMTL_OK);
    ck_assert_uint_eq(rmtl_agent_steps(s.agent), 43);
    rl_drop(&s);
}
END_TEST

START_TEST(test_agent_train_matches_host_loop)
{
    /* the same updates as sampling and updating by hand */
    rl_setup a, b;
    rl_make(&a);
    rl_make(&b);
    ck_assert_int_eq(rmtl_agent_train(NULL, a.agent, a.rb, 6, NULL, NULL), RMTL_OK);
    for (int i = 0; i < 6; i++) {
        rmtl_transitions t = RMTL_TRANSITIONS_INIT;
        ck_assert_int_eq(rmtl_replay_sample(&t, b.rb, 16), RMTL_OK);
        ck_assert_int_eq(rmtl_agent_update(b.agent, &t, NULL), RMTL_OK);
    }
    void *pa, *pb;
    size_t la, lb;
    ck_assert_int_eq(rmtl_agent_save_buffer(&pa, &la, a.agent), RMTL_OK);
    ck_assert_int_eq(rmtl_agent_save_buffer(&pb, &lb, b.agent), RMTL_OK);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(pa, pb, la), 0);
    rmtl_free(pa);
    rmtl_free(pb);
    rl_drop(&a);
    rl_drop(&b);
}
END_TEST

START_TEST(test_agent_train_cancel_and_errors)
{
    rl_setup s;
    rl_make(&s);
    recorder r;
    memset(&r, 0, sizeof r);
    r.stop_at = 5;
    ck_assert_int_eq(rmtl_agent_train(NULL, s.agent, s.rb, 40, record, &r), RMTL_ESTATE);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "cancelled"));
    ck_assert_uint_eq(rmtl_agent_steps(s.agent), 5); /* the updates taken stay taken */
    /* and the agent goes on */
    ck_assert_int_eq(rmtl_agent_train(NULL, s.agent, s.rb, 2, NULL, NULL), RMTL_OK);
    ck_assert_uint_eq(rmtl_agent_steps(s.agent), 7);
    rmtl_agent_report bad = RMTL_AGENT_REPORT_INIT;
    bad.version = 99;
    ck_assert_int_eq(rmtl_agent_train(&bad, s.agent, s.rb, 1, NULL, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_agent_train(NULL, NULL, s.rb, 1, NULL, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_agent_train(NULL, s.agent, NULL, 1, NULL, NULL), RMTL_EINVAL);
    rmtl_replay *empty = NULL, *other = NULL;
    ck_assert_int_eq(rmtl_replay_create(&empty, 10, MTL_N_CAT, MTL_N_NUM, 2, 1), RMTL_OK);
    ck_assert_int_eq(rmtl_agent_train(NULL, s.agent, empty, 1, NULL, NULL), RMTL_ESTATE);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "empty"));
    /* a buffer of other shapes fails in the update, nothing taken */
    ck_assert_int_eq(rmtl_replay_create(&other, 40, 1, 0, 2, 1), RMTL_OK);
    rmtl_env *env1 = NULL;
    rmtl_dataset *ds1 = NULL;
    static const size_t vocab[1] = {3};
    static const int32_t cat[4] = {1, 2, 1, 2};
    static const float lab[8] = {1, 0, 0, 0, 1, 1, 0, 0};
    static const int64_t sess[4] = {1, 1, 2, 2};
    ck_assert_int_eq(rmtl_dataset_from_arrays(&ds1, 4, 1, vocab, cat, 0, NULL, 2, lab, sess),
                     RMTL_OK);
    ck_assert_int_eq(rmtl_env_create(&env1, s.cfg, ds1, 0), RMTL_OK);
    ck_assert_int_eq(rmtl_replay_fill_random(other, env1, 40), RMTL_OK);
    ck_assert_int_eq(rmtl_agent_train(NULL, s.agent, other, 3, NULL, NULL), RMTL_EINVAL);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "rmtl_agent_train"));
    ck_assert_uint_eq(rmtl_agent_steps(s.agent), 7);
    rmtl_env_free(env1);
    rmtl_dataset_free(ds1);
    rmtl_replay_free(other);
    rmtl_replay_free(empty);
    rl_drop(&s);
}
END_TEST

/* --- fusion rounds ------------------------------------------------------- */

#define FUSION_WORLD                                                                      \
    "sim: {users: 200, items: 300, candidates: 30, max_requests: 6, sessions: 40}\n"     \
    "runtime: {threads: 1, seed: 5}\n"                                                   \
    "fusion: {actor_hidden: [16], critic_hidden: [16], critic_ensemble: 2,"              \
    " batch_size: 16}\n"

START_TEST(test_fusion_round_reports)
{
    rmtl_config *cfg = fx_config(FUSION_WORLD);
    rmtl_env *env = NULL, *env2 = NULL;
    rmtl_fusion *f = NULL, *g = NULL;
    ck_assert_int_eq(rmtl_env_sim_create(&env, cfg), RMTL_OK);
    ck_assert_int_eq(rmtl_env_sim_create(&env2, cfg), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_create(&f, cfg), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_create(&g, cfg), RMTL_OK);
    rmtl_fusion_sim_opts o = RMTL_FUSION_SIM_OPTS_INIT;
    o.sessions = 12;
    o.train_steps = 8;
    recorder r;
    memset(&r, 0, sizeof r);
    rmtl_fusion_round_stats st = RMTL_FUSION_ROUND_STATS_INIT, st2 = RMTL_FUSION_ROUND_STATS_INIT;
    ck_assert_msg(rmtl_fusion_round(&st, f, env, &o, record, &r) == RMTL_OK, "%s",
                  rmtl_last_error());
    assert_progressed(&r, 20, 20);
    for (size_t i = 0; i < 20; i++) {
        ck_assert_uint_eq(r.done[i], i + 1);
        ck_assert(i < 12 ? isnan(r.loss[i]) : isfinite(r.loss[i]));
    }
    /* the same round without progress */
    ck_assert_int_eq(rmtl_fusion_round(&st2, g, env2, &o, NULL, NULL), RMTL_OK);
    ck_assert_uint_eq(st.explore.requests, st2.explore.requests);
    ck_assert(st.train.critic_loss == st2.train.critic_loss);
    rmtl_fusion_free(g);
    rmtl_fusion_free(f);
    rmtl_env_free(env2);
    rmtl_env_free(env);
    rmtl_config_free(cfg);
}
END_TEST

START_TEST(test_fusion_round_cancel)
{
    rmtl_config *cfg = fx_config(FUSION_WORLD);
    rmtl_env *env = NULL;
    rmtl_fusion *f = NULL;
    ck_assert_int_eq(rmtl_env_sim_create(&env, cfg), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_create(&f, cfg), RMTL_OK);
    fx_request q;
    fx_request_make(&q, f, 30, 1);
    float before[30], after[30];
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &q.req, before, 30, NULL, 0), RMTL_OK);
    rmtl_fusion_sim_opts o = RMTL_FUSION_SIM_OPTS_INIT;
    o.sessions = 10;
    o.train_steps = 6;
    recorder r;
    memset(&r, 0, sizeof r);
    r.stop_at = 13; /* 10 sessions, then 3 steps */
    rmtl_fusion_round_stats st = RMTL_FUSION_ROUND_STATS_INIT;
    ck_assert_int_eq(rmtl_fusion_round(&st, f, env, &o, record, &r), RMTL_ESTATE);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "rmtl_fusion_round: cancelled"));
    ck_assert_uint_eq(st.train.steps, 0); /* stats written on success only */
    rmtl_fusion_info in = fx_info(f);
    ck_assert_uint_eq(in.steps, 3);
    /* not deployed: the served policy is unchanged */
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &q.req, after, 30, NULL, 0), RMTL_OK);
    ck_assert_int_eq(memcmp(before, after, sizeof before), 0);
    /* the log kept the sessions: GAUC on it works; another round goes on */
    double gauc;
    ck_assert_int_eq(rmtl_fusion_log_gauc(&gauc, f, f), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_round(&st, f, env, &o, NULL, NULL), RMTL_OK);
    ck_assert_uint_eq(fx_info(f).steps, 9);
    ck_assert_int_eq(rmtl_fusion_round(&st, f, env, NULL, NULL, NULL), RMTL_EINVAL);
    fx_request_free(&q);
    rmtl_fusion_free(f);
    rmtl_env_free(env);
    rmtl_config_free(cfg);
}
END_TEST

Suite *rmtl_test_progress_suite(void)
{
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("progress");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_load_reports_bytes);
    tcase_add_test(tc, test_load_cancel);
    tcase_add_test(tc, test_load_fallback_keeps_growing);
    tcase_add_test(tc, test_agent_train_reports_updates);
    tcase_add_test(tc, test_agent_train_matches_host_loop);
    tcase_add_test(tc, test_agent_train_cancel_and_errors);
    tcase_add_test(tc, test_fusion_round_reports);
    tcase_add_test(tc, test_fusion_round_cancel);
    suite_add_tcase(s, tc);
    return s;
}
