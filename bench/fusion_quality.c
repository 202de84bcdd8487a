/* Fusion quality on a realistic pipeline (issue 20; docs/fusion.md,
 * "Results"). JSON on stdout, progress on stderr. Per world (runtime.seed)
 * and setting:
 *
 *   S1  true probabilities as the scores, today's dynamics (sim.satisfaction off)
 *   S2  learned MTL scores, today's dynamics
 *   S3  learned MTL scores, long-term dynamics on (sim.satisfaction.enabled)
 *
 * the pipeline a team runs: log sessions with an exploring baseline policy
 * (uniformly random rankings) → train an MMoE on the log (early stopping on
 * a validation log) → its predictions are the fusion's scores → tune fixed
 * weights with CEM, train user-level and pair-level RL fusion with
 * progressive rounds (both starting from the CEM weights) → evaluate every
 * policy on the same N sessions of a separate evaluation stream. Two
 * references: the oracle (true expected reward Σ c_k·P(k)) and the myopic
 * supervised ranker (Σ c_k·p̂_k of the MTL model: a model of the pair's
 * immediate reward, γ = 0). MTF-GAUC of every policy on the same held-out
 * impressions (fresh sessions of the training stream, random rankings).
 *
 *   build/bench/fusion_quality [--worlds N] [--first-seed S] [--settings S1,S2,S3]
 *       [--quick] [--no-timing] [--round-eval N] [--set key=value]...
 *
 * Deterministic: the same arguments give the same JSON (--no-timing writes
 * 0 for the seconds). Each policy's training sits in one function
 * (train_cem, train_user, train_pair) so a new trainer swaps in there. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../examples/sim_scorer.h"
#include "rmtl.h"

#define MAX_SETS 16

enum { P_CEM, P_USER, P_PAIR, P_MYOPIC, P_ORACLE, NPOL };
static const char *const pol_name[NPOL] = {"cem", "user_rl", "pair_rl", "myopic", "oracle"};

/* Run sizes: the default world and --quick (CI). */
typedef struct sizes {
    const char *sim_yaml;
    size_t log_train, log_val;              /* logged sessions for the MTL model */
    int max_epochs, patience;               /* MTL early stopping */
    size_t cem_iter, cem_pop, cem_sessions; /* CEM */
    size_t rounds, round_sessions, round_steps;
    size_t eval_sessions, gauc_sessions;
} sizes;

static const sizes full_sizes = {"", 3000, 1000, 8, 1, 10, 16, 100, 5, 200, 300, 1000, 300};
static const sizes quick_sizes = {"sim: {users: 300, items: 300, candidates: 60}\n",
                                  400, 150, 2, 1, 2, 6, 20, 2, 20, 20, 100, 40};

/* Every setting of every run (before --set): small fusion networks, one
 * thread everywhere (the numbers then depend on nothing but the seed). */
static const char base_yaml[] =
    "model: {arch: mmoe, embed_dim: 16, bottom: [64, 32], tower: [32], dropout: 0.1,\n"
    "        experts: {count: 4}}\n"
    "train: {batch_size: 512}\n"
    "fusion: {actor_hidden: [128, 64], critic_hidden: [64, 32], critic_ensemble: 4}\n"
    "runtime: {threads: 1}\n";

static const uint64_t EVAL_SEED = 987654321; /* the evaluation stream */

typedef struct run_opts {
    int worlds, first_seed, quick, timing;
    size_t round_eval; /* --round-eval: sessions to evaluate the served policy after each round */
    int settings[3]; /* S1, S2, S3 on/off */
    const char *sets[MAX_SETS];
    int n_sets;
    sizes z;
} run_opts;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "fusion_quality: %s: %s: %s\n", what, rmtl_strerror(rc), rmtl_last_error());
    return rc ? rc : 1;
}

#define TRY(what, call)                                                                        \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_)                                                                               \
            return fail(what, rc_);                                                            \
    } while (0)

/* ---- one world of one setting -------------------------------------------- */

typedef struct world {
    int setting; /* 0, 1, 2 = S1, S2, S3 */
    int seed;
    rmtl_config *cfg;
    rmtl_env *env;
    rmtl_sim_info info;
    rmtl_dataset *train, *val;
    rmtl_model *model;
    sim_scorer scorer;
    int has_scorer;
    rmtl_fusion *pol[3]; /* cem, user, pair */
    /* results */
    int epochs;
    double val_auc[RMTL_SIM_MAX_TASKS];
    double log_seconds, mtl_seconds, fusion_seconds, seconds;
    double cem_best, cem_action[64];
    size_t action_dim;
    rmtl_sim_stats st[NPOL];
    double gauc[NPOL];
    double explore_reward[2][16]; /* user, pair: per round */
    int deployed[2][16];          /* user, pair: the round's off-policy gate let it deploy */
    double gate[2][16][3];        /* user, pair: the gate's gain, its lower bound, the base */
    double round_eval[2][17];     /* user, pair: the served policy before round 1 and after each
                                     round (--round-eval) */
    rmtl_fusion_estimate ope[NPOL]; /* cem, user, pair on the pair fusion's log (rmtl_fusion_ope) */
} world;

/* The scorer options of a setting: the MTL model's, or the truth's (NULL). */
static void scorer_opts(rmtl_fusion_sim_opts *o, world *w)
{
    o->scorer = w->has_scorer ? sim_scorer_fn : NULL;
    o->scorer_payload = w->has_scorer ? &w->scorer : NULL;
}

/* Task scores of a request: the scorer's, or the true marginals. */
static int task_scores(float *p, world *w, const rmtl_sim_request *req)
{
    size_t T = w->info.tasks;
    if (w->has_scorer)
        return sim_scorer_fn(p, req->n * T, req, &w->scorer);
    for (size_t j = 0; j < req->n; j++) {
        int rc = rmtl_env_sim_true_probs(w->env, req->user, req->items[j], p + j * T, T);
        if (rc)
            return rc;
    }
    return 0;
}

/* The myopic supervised ranker: Σ_k c_k·p̂_k. */
static int myopic_policy(float *scores, const rmtl_sim_request *req, void *payload)
{
    world *w = payload;
    size_t T = w->info.tasks;
    static float p[4096 * RMTL_SIM_MAX_TASKS];
    if (req->n > 4096)
        return RMTL_EINVAL;
    int rc = task_scores(p, w, req);
    if (rc)
        return rc;
    for (size_t j = 0; j < req->n; j++) {
        double s = 0.0;
        for (size_t k = 0; k < T; k++)
            s += w->info.reward_coef[k] * p[j * T + k];
        scores[j] = (float)s;
    }
    return 0;
}

/* -- the MTL model ---------------------------------------------------------- */

static int train_mtl(world *w, const run_opts *o, const char *dir)
{
    char path[2][512], probe[512];
    static const char *const names[2] = {"train", "val"};
    size_t n[2] = {o->z.log_train, o->z.log_val};
    for (int s = 0; s < 2; s++) {
        /* the exploring baseline: uniformly random rankings */
        uint64_t state = 1000 + (uint64_t)s;
        snprintf(path[s], sizeof path[s], "%s/%s.csv", dir, names[s]);
        TRY("log", rmtl_env_sim_log(NULL, w->env, path[s], n[s], 100 + (uint64_t)s, 0,
                                    rmtl_env_sim_random_policy, &state));
    }
    TRY("train log", rmtl_dataset_load(&w->train, path[0], "examples/schemas/sim.yaml", NULL, NULL));
    TRY("val log", rmtl_dataset_load(&w->val, path[1], NULL, w->train, NULL));
    remove(path[0]);
    remove(path[1]);
    double t0 = now_s();
    TRY("model", rmtl_model_create(&w->model, w->cfg, w->train));
    rmtl_model *best = NULL;
    double best_auc = -1.0;
    int since = 0;
    size_t T = w->info.tasks;
    for (int e = 1; e <= o->z.max_epochs && since <= o->z.patience; e++) {
        double loss, auc[RMTL_SIM_MAX_TASKS], mean = 0.0;
        TRY("epoch", rmtl_model_train_epoch(&loss, w->model, w->train, NULL, NULL));
        TRY("validation", rmtl_model_evaluate(w->model, NULL, w->val, auc, NULL, NULL, T));
        for (size_t k = 0; k < T; k++)
            mean += auc[k] / (double)T;
        fprintf(stderr, "  S%d world %d epoch %d: loss %.4f val AUC %.4f\n", w->setting + 1,
                w->seed, e, loss, mean);
        if (mean > best_auc) {
            best_auc = mean, since = 0, w->epochs = e;
            memcpy(w->val_auc, auc, T * sizeof *auc);
            rmtl_model_free(best);
            TRY("clone", rmtl_model_clone(&best, w->model));
        } else {
            since++;
        }
    }
    rmtl_model_free(w->model);
    w->model = best;
    w->mtl_seconds = now_s() - t0;
    snprintf(probe, sizeof probe, "%s/probe.csv", dir);
    TRY("scorer", sim_scorer_init(&w->scorer, w->model, w->train, w->env, probe));
    w->has_scorer = 1;
    return 0;
}

/* -- policy training: one function per policy -------------------------------- */

/* CEM fixed weights on the training stream's sessions (not the evaluation
 * stream). Leaves f serving its fixed action. */
static int train_cem(world *w, rmtl_fusion *f, const sizes *z)
{
    rmtl_fusion_cem_opts co = RMTL_FUSION_CEM_OPTS_INIT;
    co.iterations = z->cem_iter;
    co.population = z->cem_pop;
    co.eval.sessions = z->cem_sessions;
    co.eval.seed = 1000 * (uint64_t)w->seed;
    scorer_opts(&co.eval, w);
    TRY("cem", rmtl_fusion_cem(&w->cem_best, f, w->env, &co));
    return 0;
}

/* Progressive rounds (explore → train → deploy) from the deployed policy;
 * `which` 0 = user, 1 = pair. */
static int train_rl(world *w, rmtl_fusion *f, const run_opts *ro, int which)
{
    const sizes *z = &ro->z;
    rmtl_fusion_sim_opts o = RMTL_FUSION_SIM_OPTS_INIT;
    o.sessions = z->round_sessions;
    o.train_steps = z->round_steps;
    scorer_opts(&o, w);
    for (size_t r = 0; r <= z->rounds && r < 17; r++)
        w->round_eval[which][r] = NAN;
    for (size_t r = 0; r <= z->rounds && r < 17; r++) {
        if (ro->round_eval && (r == 0 || w->deployed[which][r - 1])) {
            /* a stream of its own: neither the rounds' nor the final
             * evaluation's; a round that kept its policy keeps its value */
            rmtl_fusion_sim_opts e = o;
            rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
            e.sessions = ro->round_eval;
            e.seed = EVAL_SEED + 1;
            TRY("round evaluation", rmtl_fusion_evaluate(&st, f, w->env, &e));
            w->round_eval[which][r] = st.reward_mean;
        } else if (ro->round_eval) {
            w->round_eval[which][r] = w->round_eval[which][r - 1];
        }
        if (r == z->rounds)
            break;
        rmtl_fusion_round_stats rs = RMTL_FUSION_ROUND_STATS_INIT;
        TRY("round", rmtl_fusion_round(&rs, f, w->env, &o, NULL, NULL));
        if (r < 16) {
            w->explore_reward[which][r] = rs.explore.reward_mean;
            w->deployed[which][r] = rs.deployed;
            w->gate[which][r][0] = rs.gated ? rs.gate_gain : NAN;
            w->gate[which][r][1] = rs.gated ? rs.gate_gain_lo : NAN;
            w->gate[which][r][2] = rs.gated ? rs.gate_base : NAN;
        }
    }
    return 0;
}

static int train_user(world *w, rmtl_fusion *f, const run_opts *o) { return train_rl(w, f, o, 0); }
static int train_pair(world *w, rmtl_fusion *f, const run_opts *o) { return train_rl(w, f, o, 1); }

/* -- evaluation --------------------------------------------------------------- */

static int evaluate(world *w, const sizes *z)
{
    rmtl_fusion_sim_opts e = RMTL_FUSION_SIM_OPTS_INIT;
    e.sessions = z->eval_sessions;
    e.seed = EVAL_SEED;
    scorer_opts(&e, w);
    for (int p = 0; p < NPOL; p++) {
        rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
        if (p <= P_PAIR)
            TRY("evaluate", rmtl_fusion_evaluate(&st, w->pol[p], w->env, &e));
        else if (p == P_MYOPIC)
            TRY("evaluate", rmtl_env_sim_evaluate(&st, w->env, e.sessions, EVAL_SEED,
                                                  myopic_policy, w));
        else
            TRY("evaluate", rmtl_env_sim_evaluate(&st, w->env, e.sessions, EVAL_SEED,
                                                  rmtl_env_sim_oracle_policy, w->env));
        w->st[p] = st;
    }
    return 0;
}

/* MTF-GAUC of every policy on the same impressions: fresh sessions of the
 * env's own stream (after every exploring round), shown by random rankings
 * so every candidate can be an impression. */
static int gauc_all(world *w, const sizes *z)
{
    size_t cap = 1024, n = 0, T = w->info.tasks, C = w->info.candidates, l = w->info.top_l;
    int64_t *user = malloc(cap * sizeof *user);
    float *score[NPOL], *label = malloc(cap * sizeof *label);
    float *p = malloc(C * T * sizeof *p), *all = malloc(NPOL * C * sizeof *all);
    float *rnd = malloc(C * sizeof *rnd);
    for (int k = 0; k < NPOL; k++)
        score[k] = malloc(cap * sizeof *score[k]);
    rmtl_ctx *ctx = NULL;
    int rc = rmtl_ctx_create(&ctx, 1);
    uint64_t state = 77;
    for (size_t s = 0; !rc && s < z->gauc_sessions; s++) {
        rc = rmtl_env_sim_reset(w->env);
        for (int done = 0; !rc && !done;) {
            rmtl_sim_request req = RMTL_SIM_REQUEST_INIT;
            if ((rc = rmtl_env_sim_request(&req, w->env)) || (rc = task_scores(p, w, &req)))
                break;
            rmtl_fusion_request fr = RMTL_FUSION_REQUEST_INIT;
            fr.n = req.n, fr.user_dim = req.user_dim, fr.user = req.user_feat;
            fr.context_dim = req.context_dim, fr.context = req.context;
            fr.item_dim = req.item_dim, fr.items = req.item_feat;
            fr.tasks = T, fr.scores = p;
            for (int k = 0; k <= P_PAIR && !rc; k++)
                rc = rmtl_fuse_scores_batch(w->pol[k], ctx, &fr, all + (size_t)k * C, C, NULL, 0);
            if (!rc)
                rc = myopic_policy(all + (size_t)P_MYOPIC * C, &req, w);
            if (!rc)
                rc = rmtl_env_sim_oracle_policy(all + (size_t)P_ORACLE * C, &req, w->env);
            if (!rc)
                rc = rmtl_env_sim_random_policy(rnd, &req, &state);
            rmtl_sim_feedback fb = RMTL_SIM_FEEDBACK_INIT;
            if (rc || (rc = rmtl_env_sim_step(&fb, w->env, rnd, req.n)))
                break;
            if (n + l > cap) {
                cap *= 2;
                user = realloc(user, cap * sizeof *user);
                label = realloc(label, cap * sizeof *label);
                for (int k = 0; k < NPOL; k++)
                    score[k] = realloc(score[k], cap * sizeof *score[k]);
            }
            for (size_t i = 0; i < fb.n_shown; i++, n++) {
                user[n] = req.user;
                label[n] = fb.behaviours[i * fb.tasks]; /* click, the main behaviour */
                for (int k = 0; k < NPOL; k++)
                    score[k][n] = all[(size_t)k * C + fb.shown[i]];
            }
            done = fb.done;
        }
    }
    for (int k = 0; k < NPOL && !rc; k++)
        rc = rmtl_fusion_gauc(&w->gauc[k], user, score[k], label, n);
    rmtl_ctx_free(ctx);
    for (int k = 0; k < NPOL; k++)
        free(score[k]);
    free(user), free(label), free(p), free(all), free(rnd);
    return rc ? fail("gauc", rc) : 0;
}

/* The config of a world: base, sizes, setting, seed, --set. */
static int make_config(world *w, const run_opts *o)
{
    char yaml[256];
    TRY("config", rmtl_config_create(&w->cfg));
    TRY("config", rmtl_config_load_string(w->cfg, base_yaml, strlen(base_yaml), "bench"));
    if (*o->z.sim_yaml)
        TRY("config", rmtl_config_load_string(w->cfg, o->z.sim_yaml, strlen(o->z.sim_yaml),
                                              "sizes"));
    snprintf(yaml, sizeof yaml, "runtime: {seed: %d}\n", w->seed);
    TRY("config", rmtl_config_load_string(w->cfg, yaml, strlen(yaml), "seed"));
    TRY("config", rmtl_config_set_bool(w->cfg, "sim.satisfaction.enabled", w->setting == 2));
    for (int i = 0; i < o->n_sets; i++) {
        char key[128];
        const char *eq = strchr(o->sets[i], '=');
        if (!eq || (size_t)(eq - o->sets[i]) >= sizeof key)
            return fail("--set wants key=value", RMTL_EINVAL);
        memcpy(key, o->sets[i], (size_t)(eq - o->sets[i]));
        key[eq - o->sets[i]] = '\0';
        TRY(o->sets[i], rmtl_config_set(w->cfg, key, eq + 1));
    }
    TRY("config", rmtl_config_validate(w->cfg));
    return 0;
}

static int run_world(world *w, const run_opts *o, const char *dir)
{
    double t0 = now_s();
    if (make_config(w, o))
        return 1;
    TRY("simulator", rmtl_env_sim_create(&w->env, w->cfg));
    w->info = (rmtl_sim_info)RMTL_SIM_INFO_INIT;
    TRY("simulator", rmtl_env_sim_info(&w->info, w->env));
    if (w->setting > 0 && train_mtl(w, o, dir))
        return 1;
    w->log_seconds = now_s() - t0 - w->mtl_seconds;
    double t1 = now_s();
    rmtl_config *ucfg = NULL;
    TRY("fusion", rmtl_fusion_create(&w->pol[P_CEM], w->cfg));
    TRY("fusion", rmtl_fusion_create(&w->pol[P_PAIR], w->cfg));
    TRY("config", rmtl_config_clone(&ucfg, w->cfg));
    TRY("config", rmtl_config_set_string(ucfg, "fusion.granularity", "user"));
    TRY("fusion", rmtl_fusion_create(&w->pol[P_USER], ucfg));
    rmtl_config_free(ucfg);
    if (train_cem(w, w->pol[P_CEM], &o->z))
        return 1;
    rmtl_fusion_info fi = RMTL_FUSION_INFO_INIT;
    TRY("fusion", rmtl_fusion_describe(&fi, w->pol[P_CEM]));
    float base[64], state[4096] = {0}, sc[16] = {0}, fused;
    if (fi.action_dim > 64 || fi.state_dim > 4096 || fi.tasks > 16)
        return fail("fusion shape", RMTL_EINVAL);
    TRY("cem action", rmtl_fuse_scores(&fused, w->pol[P_CEM], state, fi.state_dim, sc, fi.tasks,
                                       base, 64));
    w->action_dim = fi.action_dim;
    for (size_t k = 0; k < fi.action_dim; k++)
        w->cem_action[k] = base[k];
    /* progressive training starts from the deployed policy: the CEM weights */
    TRY("set_fixed", rmtl_fusion_set_fixed(w->pol[P_USER], base, fi.action_dim));
    TRY("set_fixed", rmtl_fusion_set_fixed(w->pol[P_PAIR], base, fi.action_dim));
    if (train_user(w, w->pol[P_USER], o) || train_pair(w, w->pol[P_PAIR], o))
        return 1;
    w->fusion_seconds = now_s() - t1;
    if (evaluate(w, &o->z) || gauc_all(w, &o->z))
        return 1;
    /* off-policy estimates of the request value of each deployable policy
     * on the pair fusion's log (PL exploration; rmtl_fusion_ope), to set
     * beside the simulated reward per request */
    for (int p = 0; p <= P_PAIR; p++) {
        rmtl_fusion_estimate e = RMTL_FUSION_ESTIMATE_INIT;
        int rc = rmtl_fusion_ope(&e, w->pol[p], w->pol[P_PAIR]);
        if (rc == RMTL_EINVAL) /* uniform exploration (--set): no propensities */
            e.dr = e.dr_lo = e.dr_hi = NAN;
        else if (rc)
            return fail("ope", rc);
        w->ope[p] = e;
    }
    w->seconds = now_s() - t0;
    fprintf(stderr, "S%d world %d (%.0f s): cem %.2f user %.2f pair %.2f myopic %.2f oracle %.2f\n",
            w->setting + 1, w->seed, w->seconds, w->st[P_CEM].reward_mean,
            w->st[P_USER].reward_mean, w->st[P_PAIR].reward_mean, w->st[P_MYOPIC].reward_mean,
            w->st[P_ORACLE].reward_mean);
    return 0;
}

static void world_free(world *w)
{
    for (int k = 0; k < 3; k++)
        rmtl_fusion_free(w->pol[k]);
    if (w->has_scorer)
        sim_scorer_free(&w->scorer);
    rmtl_model_free(w->model);
    rmtl_dataset_free(w->val);
    rmtl_dataset_free(w->train);
    rmtl_env_free(w->env);
    rmtl_config_free(w->cfg);
}

/* ---- JSON ------------------------------------------------------------------- */

static const char *const setting_doc[3] = {
    "true probabilities, today's dynamics", "learned MTL scores, today's dynamics",
    "learned MTL scores, long-term dynamics (sim.satisfaction.enabled)"};

static double tm(const run_opts *o, double s) { return o->timing ? s : 0.0; }

static void print_num(double v)
{
    if (isfinite(v))
        printf("%.6g", v);
    else
        printf("null");
}

static void print_world(const world *w, const run_opts *o)
{
    printf("      {\"seed\": %d, \"seconds\": %.1f, \"mtl_seconds\": %.1f, "
           "\"fusion_seconds\": %.1f,\n", w->seed, tm(o, w->seconds), tm(o, w->mtl_seconds),
           tm(o, w->fusion_seconds));
    if (w->has_scorer) {
        printf("       \"mtl\": {\"epochs\": %d, \"val_auc\": [", w->epochs);
        for (size_t k = 0; k < w->info.tasks; k++)
            printf("%s%.4f", k ? ", " : "", w->val_auc[k]);
        printf("], \"pairs_scored\": %llu},\n", (unsigned long long)w->scorer.predicted);
    }
    printf("       \"cem_action\": [");
    for (size_t k = 0; k < w->action_dim; k++)
        printf("%s%.4f", k ? ", " : "", w->cem_action[k]);
    printf("],\n       \"explore_reward\": {\"user_rl\": [");
    for (size_t r = 0; r < o->z.rounds && r < 16; r++)
        printf("%s%.3f", r ? ", " : "", w->explore_reward[0][r]);
    printf("], \"pair_rl\": [");
    for (size_t r = 0; r < o->z.rounds && r < 16; r++)
        printf("%s%.3f", r ? ", " : "", w->explore_reward[1][r]);
    printf("]},\n       \"deployed\": {\"user_rl\": [");
    for (size_t r = 0; r < o->z.rounds && r < 16; r++)
        printf("%s%d", r ? ", " : "", w->deployed[0][r]);
    printf("], \"pair_rl\": [");
    for (size_t r = 0; r < o->z.rounds && r < 16; r++)
        printf("%s%d", r ? ", " : "", w->deployed[1][r]);
    printf("]},\n       \"gate\": {");
    for (int g = 0; g < 2; g++) {
        /* per round [gain, its lower bound, the deployed policy's estimate] */
        printf("%s\"%s\": [", g ? ", " : "", g ? "pair_rl" : "user_rl");
        for (size_t r = 0; r < o->z.rounds && r < 16; r++) {
            printf("%s[", r ? ", " : "");
            for (int k = 0; k < 3; k++) {
                printf(k ? ", " : "");
                print_num(w->gate[g][r][k]);
            }
            printf("]");
        }
        printf("]");
    }
    printf("},\n       \"round_eval\": {\"user_rl\": [");
    for (size_t r = 0; r <= o->z.rounds && r < 17; r++) {
        printf(r ? ", " : "");
        print_num(w->round_eval[0][r]);
    }
    printf("], \"pair_rl\": [");
    for (size_t r = 0; r <= o->z.rounds && r < 17; r++) {
        printf(r ? ", " : "");
        print_num(w->round_eval[1][r]);
    }
    printf("]},\n       \"policies\": {\n");
    for (int p = 0; p < NPOL; p++) {
        const rmtl_sim_stats *s = &w->st[p];
        printf("         \"%s\": {\"reward_mean\": %.4f, \"reward_std\": %.4f, "
               "\"length_mean\": %.4f, \"length_std\": %.4f, \"click_rate\": %.5f, \"gauc\": ",
               pol_name[p], s->reward_mean, s->reward_std, s->length_mean, s->length_std,
               s->rate[0]);
        print_num(w->gauc[p]);
        if (p <= P_PAIR) {
            printf(", \"sim_request_reward\": %.4f, \"ope_request_reward\": ",
                   s->length_mean > 0 ? s->reward_mean / s->length_mean : 0.0);
            print_num(w->ope[p].dr);
            printf(", \"ope_ci\": [");
            print_num(w->ope[p].dr_lo);
            printf(", ");
            print_num(w->ope[p].dr_hi);
            printf("], \"ope_snips\": ");
            print_num(w->ope[p].snips);
            printf(", \"ope_ess\": %.1f", w->ope[p].ess);
        }
        printf("}%s\n", p + 1 < NPOL ? "," : "");
    }
    printf("       }}");
}

/* The gain of reward r over the baseline's, in percent. */
static double gain_pct(double r, double base) { return 100.0 * (r / base - 1.0); }

/* Means over the worlds and per-world wins of the trained policies. */
static void print_summary(world *ws, int nw)
{
    printf("    \"mean\": {\n");
    for (int p = 0; p < NPOL; p++) {
        double r = 0, l = 0, g = 0;
        for (int i = 0; i < nw; i++) {
            r += ws[i].st[p].reward_mean / nw;
            l += ws[i].st[p].length_mean / nw;
            g += ws[i].gauc[p] / nw;
        }
        printf("      \"%s\": {\"reward_mean\": %.4f, \"length_mean\": %.4f, \"gauc\": ",
               pol_name[p], r, l);
        print_num(g);
        printf("}%s\n", p + 1 < NPOL ? "," : "");
    }
    /* best of the four deployable policies (not the oracle) per world */
    int best[NPOL] = {0}, pair_beats_cem = 0, user_beats_cem = 0;
    for (int i = 0; i < nw; i++) {
        int b = 0;
        for (int p = 1; p < P_ORACLE; p++)
            if (ws[i].st[p].reward_mean > ws[i].st[b].reward_mean)
                b = p;
        best[b]++;
        pair_beats_cem += ws[i].st[P_PAIR].reward_mean > ws[i].st[P_CEM].reward_mean;
        user_beats_cem += ws[i].st[P_USER].reward_mean > ws[i].st[P_CEM].reward_mean;
    }
    printf("    },\n    \"wins\": {\"best_of_deployable\": {");
    for (int p = 0; p < P_ORACLE; p++)
        printf("%s\"%s\": %d", p ? ", " : "", pol_name[p], best[p]);
    printf("}, \"pair_rl_beats_cem\": %d, \"user_rl_beats_cem\": %d},\n", pair_beats_cem,
           user_beats_cem);
    /* Gains over CEM in percent: of the mean rewards (the targets)
     * and of each world (mean and standard error over the worlds), so that
     * a target is read against the spread between worlds, which is larger
     * than the evaluation noise within one. */
    printf("    \"vs_cem\": {");
    for (int p = P_USER; p < P_ORACLE; p++) {
        double rp = 0, rc = 0, m = 0, v = 0;
        for (int i = 0; i < nw; i++) {
            rp += ws[i].st[p].reward_mean, rc += ws[i].st[P_CEM].reward_mean;
            m += gain_pct(ws[i].st[p].reward_mean, ws[i].st[P_CEM].reward_mean) / nw;
        }
        for (int i = 0; i < nw; i++) {
            double d = gain_pct(ws[i].st[p].reward_mean, ws[i].st[P_CEM].reward_mean) - m;
            v += d * d;
        }
        printf("%s\"%s\": {\"gain_pct\": ", p > P_USER ? ", " : "", pol_name[p]);
        print_num(gain_pct(rp, rc));
        printf(", \"world_mean_pct\": ");
        print_num(m);
        printf(", \"world_se_pct\": ");
        print_num(nw > 1 ? sqrt(v / (nw - 1) / nw) : NAN);
        printf("}");
    }
    printf("}\n");
}

static int usage(void)
{
    fprintf(stderr, "usage: fusion_quality [--worlds N] [--first-seed S] [--settings S1,S2,S3]\n"
                    "           [--quick] [--no-timing] [--round-eval N] [--set key=value]...\n");
    return 2;
}

int main(int argc, char **argv)
{
    run_opts o;
    memset(&o, 0, sizeof o);
    o.worlds = 5, o.first_seed = 1, o.timing = 1;
    o.settings[0] = o.settings[1] = o.settings[2] = 1;
    int worlds_given = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--worlds") && i + 1 < argc)
            o.worlds = atoi(argv[++i]), worlds_given = 1;
        else if (!strcmp(argv[i], "--first-seed") && i + 1 < argc)
            o.first_seed = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick"))
            o.quick = 1;
        else if (!strcmp(argv[i], "--no-timing"))
            o.timing = 0;
        else if (!strcmp(argv[i], "--round-eval") && i + 1 < argc)
            o.round_eval = (size_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--settings") && i + 1 < argc) {
            const char *s = argv[++i];
            for (int k = 0; k < 3; k++) {
                char name[4] = {'S', (char)('1' + k), 0, 0};
                o.settings[k] = strstr(s, name) != NULL;
            }
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc && o.n_sets < MAX_SETS)
            o.sets[o.n_sets++] = argv[++i];
        else
            return usage();
    }
    if (o.quick && !worlds_given)
        o.worlds = 1;
    if (o.worlds < 1 || o.worlds > 100)
        return usage();
    o.z = o.quick ? quick_sizes : full_sizes;
    char dir[] = "/tmp/rmtl_fusion_quality_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    world *ws = calloc((size_t)o.worlds * 3, sizeof *ws);
    int status = 0;
    double t0 = now_s();
    for (int s = 0; s < 3 && !status; s++) {
        if (!o.settings[s])
            continue;
        for (int i = 0; i < o.worlds && !status; i++) {
            world *w = &ws[s * o.worlds + i];
            w->setting = s, w->seed = o.first_seed + i;
            status = run_world(w, &o, dir);
        }
    }
    rmdir(dir);
    if (!status) {
        const sizes *z = &o.z;
        printf("{\n  \"bench\": \"fusion_quality\", \"quick\": %s, \"worlds\": %d, "
               "\"first_seed\": %d, \"seconds\": %.1f,\n", o.quick ? "true" : "false", o.worlds,
               o.first_seed, tm(&o, now_s() - t0));
        printf("  \"sizes\": {\"log_train_sessions\": %zu, \"log_val_sessions\": %zu, "
               "\"max_epochs\": %d, \"patience\": %d, \"cem\": [%zu, %zu, %zu], "
               "\"rounds\": %zu, \"round_sessions\": %zu, \"round_steps\": %zu, "
               "\"eval_sessions\": %zu, \"gauc_sessions\": %zu, \"eval_seed\": %llu},\n",
               z->log_train, z->log_val, z->max_epochs, z->patience, z->cem_iter, z->cem_pop,
               z->cem_sessions, z->rounds, z->round_sessions, z->round_steps, z->eval_sessions,
               z->gauc_sessions, (unsigned long long)EVAL_SEED);
        printf("  \"set\": [");
        for (int i = 0; i < o.n_sets; i++)
            printf("%s\"%s\"", i ? ", " : "", o.sets[i]);
        printf("],\n  \"settings\": [\n");
        int first = 1;
        for (int s = 0; s < 3; s++) {
            if (!o.settings[s])
                continue;
            printf("%s   {\"name\": \"S%d\", \"scores\": \"%s\", \"worlds\": [\n",
                   first ? "" : ",\n", s + 1, setting_doc[s]);
            first = 0;
            for (int i = 0; i < o.worlds; i++) {
                print_world(&ws[s * o.worlds + i], &o);
                printf("%s\n", i + 1 < o.worlds ? "," : "");
            }
            printf("    ],\n");
            print_summary(&ws[s * o.worlds], o.worlds);
            printf("   }");
        }
        printf("\n  ]\n}\n");
    }
    for (int i = 0; i < o.worlds * 3; i++)
        world_free(&ws[i]);
    free(ws);
    return status ? 1 : 0;
}
