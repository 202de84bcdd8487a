/* Allocation-failure injection over the public calls that allocate
 * (issue "Reliability", docs/reliability.md): config load, dataset load,
 * model create/save/load, agent create and update, fusion
 * create/train/save/load. For each scenario the n-th allocation fails,
 * for n = 1, 2, ... until a run completes without reaching the injected
 * failure: every failed run must return RMTL_ENOMEM with its
 * out-parameters NULL, leak nothing (the ASan run's LeakSanitizer checks),
 * and leave the handles it was given working. The number of allocations
 * of the successful run, i.e. the sites covered, is printed per scenario. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "util/fusion_data.h"
#include "util/mtl.h"
#include "util/tdata.h"

enum { ROWS = 24, T = 2 };

#define FUSION_YAML                                                                      \
    "fusion: {actor_hidden: [8], critic_hidden: [6], critic_groups: 2, critic_ensemble: 2," \
    " state: {user_dim: 3, item_dim: 2, context_dim: 1}}\nruntime: {threads: 1}\n"

#define CONFIG_YAML                                                                      \
    "model: {arch: ple, tasks: [click, buy, like], bottom: [16, 8], tower: [4],\n"       \
    "        experts: {count: 4, specific: 2, shared: 1}}\n"                             \
    "rl: {gamma: 0.5, critic: {bottom: [8]}}\n"                                          \
    "fusion: {reward_coef: [1, 2, 3], reward_group: [0, 1, 1]}\n"

static const char schema_yaml[] =
    "columns: {sid: session, ts: timestamp, city: categorical, age: numerical,\n"
    "  uid: {role: user, feature: true}, click: {role: label, threshold: 0},\n"
    "  buy: {role: label, positive: [yes]}}\n";
static const char csv_text[] = "sid,ts,city,age,uid,click,buy\n1,1,paris,31,u1,1,yes\n"
                               "1,2,rome,25,u2,0,no\n2,5,paris,,u1,1,no\n3,1,oslo,40,u3,0,no\n"
                               "3,2,rome,22,u3,1,yes\n";

/* Everything the scenarios use, built once per test without injection. */
typedef struct world {
    rmtl_config *cfg, *fcfg;
    char *cfg_dump;
    mtl_data d;
    rmtl_dataset *ds;
    rmtl_model *m;
    void *mbuf, *abuf, *fbuf;
    size_t mlen, alen, flen;
    const char *mpath, *fpath, *csv_path, *schema_path, *yaml_path;
    float act[ROWS * T], rew[ROWS * T];
    uint8_t done[ROWS];
    rmtl_transitions t;
    rmtl_fusion *f;
    fx_batch fb;
    float predict_ref[ROWS * T];
    /* per-iteration handles */
    rmtl_config *cfg_t;
    rmtl_agent *ag;
    rmtl_fusion *ft;
} world;

static world W;

static void predict(const rmtl_model *m, float *out)
{
    rmtl_batch b = mtl_batch(&W.d, 0, ROWS, 0);
    ck_assert_int_eq(rmtl_model_predict(m, NULL, &b, out, ROWS * T), RMTL_OK);
}

static void world_init(void)
{
    memset(&W, 0, sizeof W);
    W.cfg = mtl_small_config("mmoe", 5);
    ck_assert_ptr_nonnull(W.cfg);
    ck_assert_int_eq(rmtl_config_set(W.cfg, "rl.critic.bottom", "[6, 5]"), 0);
    ck_assert_int_eq(rmtl_config_set(W.cfg, "rl.critic.tower", "[4]"), 0);
    ck_assert_int_eq(rmtl_config_set_int(W.cfg, "rl.init_training_step", 0), 0);
    ck_assert_int_eq(rmtl_config_set_int(W.cfg, "rl.actor_update_freq", 1), 0);
    ck_assert_int_eq(rmtl_config_dump(&W.cfg_dump, NULL, W.cfg), 0);
    mtl_data_make(&W.d, ROWS + 1, T, 7);
    ck_assert_int_eq(rmtl_dataset_from_arrays(&W.ds, ROWS, MTL_N_CAT, mtl_vocab, W.d.cat,
                                              MTL_N_NUM, W.d.num, T, W.d.labels, NULL),
                     0);
    ck_assert_int_eq(rmtl_model_create(&W.m, W.cfg, W.ds), 0);
    predict(W.m, W.predict_ref);
    ck_assert_int_eq(rmtl_model_save_buffer(&W.mbuf, &W.mlen, W.m, RMTL_SAVE_TRAINING_STATE), 0);
    W.mpath = rmtl_tdata_write("model.rmtl", W.mbuf, W.mlen);
    for (size_t i = 0; i < ROWS; i++) {
        for (size_t k = 0; k < T; k++) {
            W.act[i * T + k] = (float)((i * 7 + k * 3) % 11) / 10.0f;
            W.rew[i * T + k] = W.d.labels[i * T + k] > 0.5f ? -0.1f : -1.0f;
        }
        W.done[i] = i % 5 == 4;
    }
    rmtl_transitions t = RMTL_TRANSITIONS_INIT;
    t.rows = ROWS;
    t.cat = W.d.cat;
    t.num = W.d.num;
    t.action = W.act;
    t.next_cat = W.d.cat + MTL_N_CAT;
    t.next_num = W.d.num + MTL_N_NUM;
    t.reward = W.rew;
    t.done = W.done;
    t.labels = W.d.labels;
    W.t = t;
    rmtl_agent *ag = NULL;
    ck_assert_int_eq(rmtl_agent_create(&ag, W.cfg, W.m), 0);
    ck_assert_int_eq(rmtl_agent_save_buffer(&W.abuf, &W.alen, ag), 0);
    rmtl_agent_free(ag);

    W.fcfg = fx_config(FUSION_YAML);
    ck_assert_int_eq(rmtl_fusion_create(&W.f, W.fcfg), 0);
    fx_batch_make(&W.fb, W.f, 3, 3, 2, 11);
    ck_assert_int_eq(rmtl_fusion_save_buffer(&W.fbuf, &W.flen, W.f, RMTL_SAVE_TRAINING_STATE), 0);
    W.fpath = rmtl_tdata_write("fusion.rmtl", W.fbuf, W.flen);
    W.csv_path = rmtl_tdata_write("data.csv", csv_text, (size_t)-1);
    W.schema_path = rmtl_tdata_write("schema.yaml", schema_yaml, (size_t)-1);
    W.yaml_path = rmtl_tdata_write("config.yaml", CONFIG_YAML, (size_t)-1);
}

static void world_free(void)
{
    rmtl_config_free(W.cfg);
    rmtl_config_free(W.fcfg);
    rmtl_free(W.cfg_dump);
    mtl_data_free(&W.d);
    rmtl_dataset_free(W.ds);
    rmtl_model_free(W.m);
    rmtl_free(W.mbuf);
    rmtl_free(W.abuf);
    rmtl_free(W.fbuf);
    rmtl_fusion_free(W.f);
    fx_batch_free(&W.fb);
    rmtl_tdata_cleanup();
}

/* One fused score of a fixed pair from handle `f`. */
static float fuse_one(const rmtl_fusion *f)
{
    static const float state[6] = {0.1f, -0.2f, 0.3f, 0.5f, -0.5f, 0.25f};
    static const float scores[2] = {0.3f, 0.7f};
    float fused = 0.0f;
    ck_assert_int_eq(rmtl_fuse_scores(&fused, f, state, 6, scores, 2, NULL, 0), RMTL_OK);
    return fused;
}

/* --- scenarios: setup (not injected), op (injected), check, teardown ------ */

static void setup_cfg(void) { ck_assert_int_eq(rmtl_config_clone(&W.cfg_t, W.cfg), 0); }
static void teardown_cfg(void)
{
    rmtl_config_free(W.cfg_t);
    W.cfg_t = NULL;
}
/* Loading is all-or-nothing: a failed load leaves the config as it was. */
static void check_cfg(int rc)
{
    if (rc == RMTL_OK)
        return;
    char *dump = NULL;
    ck_assert_int_eq(rmtl_config_dump(&dump, NULL, W.cfg_t), 0);
    ck_assert_str_eq(dump, W.cfg_dump);
    rmtl_free(dump);
}
static int op_config_load(void)
{
    rmtl_config *c = NULL;
    int rc = rmtl_config_create(&c);
    if (!rc)
        rc = rmtl_config_load_file(c, W.yaml_path);
    if (!rc)
        rc = rmtl_config_validate(c);
    rmtl_config_free(c);
    if (!rc)
        rc = rmtl_config_load_string(W.cfg_t, CONFIG_YAML, strlen(CONFIG_YAML), NULL);
    return rc;
}

static int op_dataset_load(void)
{
    rmtl_dataset *ds = NULL, *val = NULL;
    int rc = rmtl_dataset_load(&ds, W.csv_path, W.schema_path, NULL, NULL);
    ck_assert(rc == RMTL_OK || ds == NULL);
    if (!rc) {
        rc = rmtl_dataset_load(&val, W.csv_path, NULL, ds, NULL);
        ck_assert(rc == RMTL_OK || val == NULL);
    }
    rmtl_dataset_free(val);
    rmtl_dataset_free(ds);
    return rc;
}

static int op_model_create(void)
{
    rmtl_model *m = NULL;
    int rc = rmtl_model_create(&m, W.cfg, W.ds);
    ck_assert(rc == RMTL_OK || m == NULL);
    rmtl_model_free(m);
    return rc;
}

/* A failed save changes neither the model nor the previous file. */
static void check_model(int rc)
{
    (void)rc;
    float out[ROWS * T];
    predict(W.m, out);
    ck_assert_mem_eq(out, W.predict_ref, sizeof out);
    size_t len = 0;
    char *file = rmtl_tdata_read(W.mpath, &len);
    ck_assert_ptr_nonnull(file);
    ck_assert_uint_eq(len, W.mlen);
    ck_assert_mem_eq(file, W.mbuf, len);
    free(file);
}
static int op_model_save(void)
{
    void *buf = NULL;
    size_t len = 0;
    int rc = rmtl_model_save_buffer(&buf, &len, W.m, RMTL_SAVE_TRAINING_STATE);
    ck_assert(rc == RMTL_OK || buf == NULL);
    rmtl_free(buf);
    if (!rc)
        rc = rmtl_model_save(W.m, W.mpath, RMTL_SAVE_TRAINING_STATE);
    return rc;
}

static int op_model_load(void)
{
    rmtl_model *a = NULL, *b = NULL;
    int rc = rmtl_model_load_buffer(&a, W.mbuf, W.mlen);
    ck_assert(rc == RMTL_OK || a == NULL);
    if (!rc) {
        rc = rmtl_model_load(&b, W.mpath);
        ck_assert(rc == RMTL_OK || b == NULL);
    }
    rmtl_model_free(a);
    rmtl_model_free(b);
    return rc;
}

static int op_agent_create(void)
{
    rmtl_agent *a = NULL;
    int rc = rmtl_agent_create(&a, W.cfg, W.m);
    ck_assert(rc == RMTL_OK || a == NULL);
    rmtl_agent_free(a);
    return rc;
}

static void setup_agent(void) { ck_assert_int_eq(rmtl_agent_load_buffer(&W.ag, W.abuf, W.alen), 0); }
static void teardown_agent(void)
{
    rmtl_agent_free(W.ag);
    W.ag = NULL;
}
/* The agent goes on: another update and a save work. */
static void check_agent(int rc)
{
    (void)rc;
    rmtl_agent_report r = RMTL_AGENT_REPORT_INIT;
    ck_assert_msg(rmtl_agent_update(W.ag, &W.t, &r) == RMTL_OK, "%s", rmtl_last_error());
    void *buf = NULL;
    size_t len;
    ck_assert_int_eq(rmtl_agent_save_buffer(&buf, &len, W.ag), 0);
    rmtl_free(buf);
}
static int op_agent_update(void)
{
    rmtl_agent_report r = RMTL_AGENT_REPORT_INIT;
    int rc = rmtl_agent_update(W.ag, &W.t, &r);
    if (!rc)
        rc = rmtl_agent_update(W.ag, &W.t, &r);
    return rc;
}

static int op_fusion_create(void)
{
    rmtl_fusion *f = NULL;
    int rc = rmtl_fusion_create(&f, W.fcfg);
    ck_assert(rc == RMTL_OK || f == NULL);
    rmtl_fusion_free(f);
    return rc;
}

static void setup_fusion(void)
{
    ck_assert_int_eq(rmtl_fusion_load_buffer(&W.ft, W.fbuf, W.flen), 0);
}
static void teardown_fusion(void)
{
    rmtl_fusion_free(W.ft);
    W.ft = NULL;
}
/* The handle goes on: it serves and trains. */
static void check_fusion(int rc)
{
    (void)rc;
    (void)fuse_one(W.ft);
    rmtl_fusion_stats st = RMTL_FUSION_STATS_INIT;
    ck_assert_msg(rmtl_fusion_train_step(W.ft, &W.fb.b, &st) == RMTL_OK, "%s",
                  rmtl_last_error());
}
static int op_fusion_train(void)
{
    rmtl_fusion_stats st = RMTL_FUSION_STATS_INIT;
    int rc = rmtl_fusion_train_step(W.ft, &W.fb.b, &st);
    if (!rc)
        rc = rmtl_fusion_deploy(W.ft);
    return rc;
}

/* A failed save changes neither the handle nor the previous file. */
static void check_fusion_saved(int rc)
{
    (void)rc;
    ck_assert(fuse_one(W.f) == fuse_one(W.ft));
    size_t len = 0;
    char *file = rmtl_tdata_read(W.fpath, &len);
    ck_assert_ptr_nonnull(file);
    ck_assert_uint_eq(len, W.flen);
    ck_assert_mem_eq(file, W.fbuf, len);
    free(file);
}
static int op_fusion_save(void)
{
    void *buf = NULL;
    size_t len = 0;
    int rc = rmtl_fusion_save_buffer(&buf, &len, W.f, RMTL_SAVE_TRAINING_STATE);
    ck_assert(rc == RMTL_OK || buf == NULL);
    rmtl_free(buf);
    if (!rc)
        rc = rmtl_fusion_save(W.f, W.fpath, RMTL_SAVE_TRAINING_STATE);
    return rc;
}

static int op_fusion_load(void)
{
    rmtl_fusion *a = NULL, *b = NULL;
    int rc = rmtl_fusion_load_buffer(&a, W.fbuf, W.flen);
    ck_assert(rc == RMTL_OK || a == NULL);
    if (!rc) {
        rc = rmtl_fusion_load(&b, W.fpath);
        ck_assert(rc == RMTL_OK || b == NULL);
    }
    rmtl_fusion_free(a);
    rmtl_fusion_free(b);
    return rc;
}

typedef struct scenario {
    const char *name;
    void (*setup)(void);
    int (*op)(void);
    void (*check)(int rc);
    void (*teardown)(void);
} scenario;

static const scenario scenarios[] = {
    {"config load (file + string)", setup_cfg, op_config_load, check_cfg, teardown_cfg},
    {"dataset load (schema + reference)", NULL, op_dataset_load, NULL, NULL},
    {"model create", NULL, op_model_create, NULL, NULL},
    {"model save (buffer + file)", NULL, op_model_save, check_model, NULL},
    {"model load (buffer + file)", NULL, op_model_load, NULL, NULL},
    {"agent create", NULL, op_agent_create, NULL, NULL},
    {"agent update (x2)", setup_agent, op_agent_update, check_agent, teardown_agent},
    {"fusion create", NULL, op_fusion_create, NULL, NULL},
    {"fusion train step + deploy", setup_fusion, op_fusion_train, check_fusion, teardown_fusion},
    {"fusion save (buffer + file)", setup_fusion, op_fusion_save, check_fusion_saved,
     teardown_fusion},
    {"fusion load (buffer + file)", NULL, op_fusion_load, NULL, NULL},
};
#define N_SCENARIOS (sizeof scenarios / sizeof scenarios[0])

START_TEST(test_alloc_fail_scenario)
{
    const scenario *s = &scenarios[_i];
    world_init();
    size_t n;
    for (n = 1;; n++) {
        if (s->setup)
            s->setup();
        rmtl_error_clear();
        rmtl__alloc_fail_after(n);
        int rc = s->op();
        size_t made = rmtl__alloc_fail_after(0);
        int done = rc == RMTL_OK && made < n;
        ck_assert_msg(rc == RMTL_OK || rc == RMTL_ENOMEM,
                      "%s: allocation %zu of %zu failed: %s (%s)", s->name, n, made,
                      rmtl_strerror(rc), rmtl_last_error());
        if (rc == RMTL_ENOMEM)
            ck_assert_msg(rmtl_last_error()[0] != '\0', "%s: ENOMEM without a message", s->name);
        if (s->check)
            s->check(rc);
        if (s->teardown)
            s->teardown();
        if (done)
            break;
        ck_assert_uint_lt(n, 200000);
    }
    ck_assert_msg(n > 1, "%s allocates nothing: the loop tested nothing", s->name);
    printf("alloc-fail: %-36s %5zu allocations, each failed once -> RMTL_ENOMEM\n", s->name,
           n - 1);
    world_free();
}
END_TEST

Suite *rmtl_test_alloc_fail_suite(void)
{
    Suite *s = suite_create("alloc_fail");
    TCase *tc = tcase_create("scenarios");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_alloc_fail_scenario, 0, (int)N_SCENARIOS);
    suite_add_tcase(s, tc);
    return s;
}
