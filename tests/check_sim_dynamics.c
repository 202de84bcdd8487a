/* The simulator's long-term dynamics and full-feature logs through the
 * public API: with sim.satisfaction.enabled false the simulator is exactly
 * the one before the dynamics existed (statistics recorded from that code,
 * bit for bit), its keys are validated with the key and line named, and
 * the log carries every feature the request had. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rmtl.h"

static rmtl_env *make_env(const char *yaml)
{
    rmtl_config *c = NULL;
    ck_assert_int_eq(rmtl_config_create(&c), RMTL_OK);
    ck_assert_msg(rmtl_config_load_string(c, yaml, strlen(yaml), "t") == RMTL_OK, "%s",
                  rmtl_last_error());
    rmtl_env *env = NULL;
    ck_assert_msg(rmtl_env_sim_create(&env, c) == RMTL_OK, "%s", rmtl_last_error());
    rmtl_config_free(c);
    return env;
}

/* the world, with %s inside its sim map */
static const char world[] = "sim: {users: 300, items: 400, candidates: 50, tasks: 3%s}\n"
                            "fusion: {reward_coef: [1, 5, 2]}\nruntime: {seed: 7}\n";

/* Recorded with the simulator of commit 25e1492 (before the dynamics). */
static const double want_random[7] = {0x1.cab851eb851ecp+4, 0x1.ebe2f9521c6ccp+4,
                                      0x1.be147ae147aep+2,  0x1.55222fdd8ef17p+2,
                                      0x1.8a52202ca98a5p-3, 0x1.5be542eb815bep-4,
                                      0x1.a4c3fc2e21a4cp-4};
static const double want_oracle[7] = {0x1.7075c28f5c29p+6,  0x1.00f811408acf5p+6,
                                      0x1.80ccccccccccdp+3, 0x1.ccd0e34f08857p+2,
                                      0x1.4430488d87763p-2, 0x1.5653aa6b15654p-3,
                                      0x1.84d26b9831e6cp-3};

static void same_as_before(const char *yaml, int expect_same)
{
    rmtl_env *env = make_env(yaml);
    rmtl_sim_stats s = RMTL_SIM_STATS_INIT;
    uint64_t st = 5;
    ck_assert_int_eq(rmtl_env_sim_evaluate(&s, env, 200, 11, rmtl_env_sim_random_policy, &st),
                     RMTL_OK);
    double got[7] = {s.reward_mean, s.reward_std, s.length_mean, s.length_std,
                     s.rate[0],     s.rate[1],    s.rate[2]};
    int same = s.impressions == 6970 && !memcmp(got, want_random, sizeof got);
    ck_assert_uint_eq(s.impressions == 6970, expect_same || s.impressions == 6970);
    ck_assert_msg(expect_same ? same : !same, "random policy: %a %a", got[0], got[2]);
    ck_assert_int_eq(rmtl_env_sim_evaluate(&s, env, 200, 12, rmtl_env_sim_oracle_policy, env),
                     RMTL_OK);
    double got2[7] = {s.reward_mean, s.reward_std, s.length_mean, s.length_std,
                      s.rate[0],     s.rate[1],    s.rate[2]};
    same = s.impressions == 12025 && !memcmp(got2, want_oracle, sizeof got2);
    ck_assert_msg(expect_same ? same : !same, "oracle: %a %a", got2[0], got2[2]);
    rmtl_env_free(env);
}

START_TEST(test_dynamics_off_is_bit_identical)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, world, "");
    same_as_before(yaml, 1);
    /* off, whatever the magnitudes */
    snprintf(yaml, sizeof yaml, world,
             ", satisfaction: {enabled: false, click: 2, memory: 0.1, leave: 7, "
             "brand_share: 0.9, feature_noise: 0}");
    same_as_before(yaml, 1);
    /* and on, the sessions differ (the test can fail) */
    snprintf(yaml, sizeof yaml, world, ", satisfaction: {enabled: true}");
    same_as_before(yaml, 0);
}
END_TEST

static void config_error(const char *yaml, const char *want)
{
    rmtl_config *c = NULL;
    ck_assert_int_eq(rmtl_config_create(&c), RMTL_OK);
    int rc = rmtl_config_load_string(c, yaml, strlen(yaml), "cfg.yaml");
    ck_assert_int_eq(rc, RMTL_ECONFIG);
    ck_assert_msg(strstr(rmtl_last_error(), want) != NULL, "message \"%s\" lacks \"%s\"",
                  rmtl_last_error(), want);
    rmtl_config_free(c);
}

START_TEST(test_satisfaction_keys_validated)
{
    config_error("sim:\n  satisfaction:\n    memory: 1.5\n", "sim.satisfaction.memory");
    config_error("sim:\n  satisfaction:\n    memory: 1.5\n", "cfg.yaml:3");
    config_error("sim:\n  satisfaction:\n    leave: -1\n", "sim.satisfaction.leave");
    config_error("sim:\n  satisfaction:\n    click: 9\n", "sim.satisfaction.click");
    config_error("sim:\n  satisfaction:\n    brand_share: 2\n", "sim.satisfaction.brand_share");
    config_error("sim:\n  satisfaction:\n    feature_noise: -0.5\n",
                 "sim.satisfaction.feature_noise");
    config_error("sim:\n  satisfaction:\n    enabled: maybe\n", "sim.satisfaction.enabled");
    config_error("sim:\n  satisfaction:\n    patience: 3\n", "sim.satisfaction.patience");
    config_error("sim:\n  satisfaction:\n    patience: 3\n", "cfg.yaml:3");
    config_error("sim:\n  satisfactoin: {enabled: true}\n", "sim.satisfactoin");
}
END_TEST

/* The first request of the log's stream, as the policy saw it. */
struct first {
    int seen;
    float user[64], item[64 * 64], ctx[8];
    uint32_t items[64];
    size_t n, ud, id, cd;
};

static int record_first(float *scores, const rmtl_sim_request *req, void *payload)
{
    struct first *f = payload;
    if (!f->seen) {
        f->seen = 1;
        f->n = req->n, f->ud = req->user_dim, f->id = req->item_dim, f->cd = req->context_dim;
        memcpy(f->user, req->user_feat, req->user_dim * sizeof(float));
        memcpy(f->item, req->item_feat, req->n * req->item_dim * sizeof(float));
        memcpy(f->ctx, req->context, req->context_dim * sizeof(float));
        memcpy(f->items, req->items, req->n * sizeof(uint32_t));
    }
    for (size_t j = 0; j < req->n; j++)
        scores[j] = (float)(req->n - j); /* shows candidates 0..l-1 */
    return 0;
}

START_TEST(test_log_has_every_feature)
{
    rmtl_env *env = make_env("sim: {users: 50, items: 60, candidates: 20, "
                             "satisfaction: {enabled: true}}\n"
                             "fusion: {state: {user_dim: 3, item_dim: 5, context_dim: 2}}\n");
    char dir[] = "/tmp/rmtl_simdyn_XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/log.csv", dir);
    struct first f;
    memset(&f, 0, sizeof f);
    ck_assert_int_eq(rmtl_env_sim_log(NULL, env, path, 2, 4, 0, record_first, &f), RMTL_OK);
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    char line[4096];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    ck_assert_ptr_nonnull(strstr(line, ",purchase,user_f_0,user_f_1,user_f_2,item_f_0,"));
    ck_assert_ptr_nonnull(strstr(line, ",item_f_4,context_0,context_1\n"));
    /* the first row: position 0, candidate 0 */
    ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
    fclose(fp);
    double v[64];
    size_t nv = 0;
    for (char *p = line; nv < 64;) {
        v[nv++] = strtod(p, &p);
        if (*p != ',')
            break;
        p++;
    }
    size_t base = 16; /* 14 fixed columns + click, purchase */
    ck_assert_uint_eq(nv, base + 3 + 5 + 2);
    ck_assert_double_eq(v[4], f.items[0]);
    for (size_t j = 0; j < 3; j++)
        ck_assert_float_eq((float)v[base + j], f.user[j]);
    for (size_t j = 0; j < 5; j++)
        ck_assert_float_eq((float)v[base + 3 + j], f.item[j]);
    for (size_t j = 0; j < 2; j++)
        ck_assert_float_eq((float)v[base + 8 + j], f.ctx[j]);
    unlink(path);
    rmdir(dir);
    rmtl_env_free(env);
}
END_TEST

Suite *rmtl_test_sim_dynamics_suite(void)
{
    Suite *s = suite_create("sim_dynamics");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_dynamics_off_is_bit_identical);
    tcase_add_test(tc, test_satisfaction_keys_validated);
    tcase_add_test(tc, test_log_has_every_feature);
    suite_add_tcase(s, tc);
    return s;
}
