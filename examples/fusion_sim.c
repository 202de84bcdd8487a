/*
 * The fusion comparison of docs/fusion.md in the session simulator: fixed weights
 * tuned by the cross-entropy method (the industry baseline), user-level RL
 * fusion (one action per request, UnifiedRL/BatchRL-MTF) and enhanced-state
 * pair-level RL fusion (EnhancedRL), on the same simulated worlds and
 * evaluation sessions.
 *
 *   fusion_sim [seeds [rounds [sessions [steps [eval [noise [yaml]]]]]]]
 *
 * For each world seed (runtime.seed = 1 .. seeds): a CEM search for fixed
 * weights; progressive training of a pair-level and a user-level fusion
 * whose first behaviour policy is those CEM weights (`rounds` rounds of
 * `sessions` exploring sessions and `steps` updates each); then every
 * policy is evaluated on the same `eval` sessions of one fixed stream
 * (cumulative session reward and length) and scored by MTF-GAUC on the
 * pair-level fusion's offline log. The MTL scores are the simulator's true
 * probabilities (noise 0, a perfect MTL model) or an imperfect model's:
 * p̂ = σ(logit p + noise·ε) with ε ~ N(0, 1) fixed per (user, item, task),
 * an error that the user and item features can partly explain away.
 * `yaml` (a string) overrides the config. Prints a table per seed and the
 * means.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <rmtl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "fusion_sim: %s: %s\n", what, rmtl_last_error());
    return 1;
}

/* The imperfect MTL model: true marginals with a fixed logit error. */
typedef struct noisy {
    const rmtl_env *env;
    size_t tasks;
    double sigma;
} noisy;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int noisy_scorer(float *scores, size_t capacity, const rmtl_sim_request *req, void *payload)
{
    const noisy *m = payload;
    if (capacity < req->n * m->tasks)
        return RMTL_EINVAL;
    for (size_t i = 0; i < req->n; i++) {
        float p[3];
        int rc = rmtl_env_sim_true_probs(m->env, req->user, req->items[i], p, 3);
        if (rc)
            return rc;
        for (size_t k = 0; k < m->tasks; k++) {
            uint64_t h = mix(mix(mix(req->user) ^ req->items[i]) ^ k);
            double u1 = ((double)(h >> 11) + 0.5) * 0x1p-53, u2 = (double)(mix(h) >> 11) * 0x1p-53;
            double eps = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
            double pk = p[k] < 1e-6f ? 1e-6 : p[k] > 1 - 1e-6f ? 1 - 1e-6 : p[k];
            double z = log(pk / (1 - pk)) + m->sigma * eps;
            scores[i * m->tasks + k] = (float)(1.0 / (1.0 + exp(-z)));
        }
    }
    return 0;
}

static const char BASE[] =
    "fusion: {critic_hidden: [128, 64], critic_ensemble: 5}\n"
    "runtime: {threads: 1}\n";

enum { POLICIES = 4 };
static const char *const NAMES[POLICIES] = {"cem fixed", "user RL", "pair RL", "oracle"};

int main(int argc, char **argv)
{
    size_t seeds = argc > 1 ? strtoul(argv[1], NULL, 10) : 5;
    size_t rounds = argc > 2 ? strtoul(argv[2], NULL, 10) : 5;
    size_t sessions = argc > 3 ? strtoul(argv[3], NULL, 10) : 200;
    size_t steps = argc > 4 ? strtoul(argv[4], NULL, 10) : 300;
    size_t eval = argc > 5 ? strtoul(argv[5], NULL, 10) : 1000;
    double sigma = argc > 6 ? strtod(argv[6], NULL) : 0.0;
    const char *extra = argc > 7 ? argv[7] : "";
    const uint64_t EVAL_SEED = 987654321;
    double sum[POLICIES][3] = {{0}};
    printf("seeds %zu, rounds %zu x (%zu sessions, %zu steps), eval %zu sessions, score noise "
           "%g\n", seeds, rounds, sessions, steps, eval, sigma);
    for (size_t seed = 1; seed <= seeds; seed++) {
        double t0 = now();
        rmtl_config *cfg = NULL;
        rmtl_env *env = NULL;
        rmtl_fusion *pair = NULL, *user = NULL, *fixed = NULL;
        char yaml[512];
        snprintf(yaml, sizeof yaml, "runtime: {seed: %zu}\n", seed);
        if (rmtl_config_create(&cfg) ||
            rmtl_config_load_string(cfg, BASE, sizeof BASE - 1, "base") ||
            rmtl_config_load_string(cfg, yaml, strlen(yaml), "seed") ||
            (*extra && rmtl_config_load_string(cfg, extra, strlen(extra), "argv")) ||
            rmtl_env_sim_create(&env, cfg) || rmtl_fusion_create(&pair, cfg) ||
            rmtl_fusion_create(&fixed, cfg) ||
            rmtl_config_set_string(cfg, "fusion.granularity", "user") ||
            rmtl_fusion_create(&user, cfg))
            return fail("setup");
        rmtl_fusion_info info = RMTL_FUSION_INFO_INIT;
        rmtl_fusion_describe(&info, pair);
        noisy model = {env, info.tasks, sigma};
        rmtl_fusion_sim_opts o = RMTL_FUSION_SIM_OPTS_INIT;
        o.sessions = sessions;
        o.train_steps = steps;
        if (sigma > 0) {
            o.scorer = noisy_scorer;
            o.scorer_payload = &model;
        }
        /* the baseline first: CEM-tuned fixed weights ... */
        rmtl_fusion_cem_opts co = RMTL_FUSION_CEM_OPTS_INIT;
        co.eval.sessions = 200;
        co.eval.seed = 1000 * seed; /* not the evaluation stream */
        co.eval.scorer = o.scorer;
        co.eval.scorer_payload = o.scorer_payload;
        double cem_best = 0;
        if (rmtl_fusion_cem(&cem_best, fixed, env, &co))
            return fail("cem");
        float base[64], any_state[64] = {0}, any_scores[16] = {0}, fused;
        if (rmtl_fuse_scores(&fused, fixed, any_state, info.state_dim, any_scores, info.tasks,
                             base, 64))
            return fail("baseline action");
        printf("  seed %zu: CEM weights", seed);
        for (size_t k = 0; k < info.action_dim; k++)
            printf(" %.3f", (double)base[k]);
        printf(" (best %.2f)\n", cem_best);
        /* ... is the behaviour policy of the first round of both RL
         * fusions (progressive training starts from the deployed policy) */
        if (rmtl_fusion_set_fixed(pair, base, info.action_dim) ||
            rmtl_fusion_set_fixed(user, base, info.action_dim))
            return fail("set_fixed");
        for (size_t r = 0; r < rounds; r++) {
            rmtl_fusion_round_stats rp = RMTL_FUSION_ROUND_STATS_INIT,
                                    ru = RMTL_FUSION_ROUND_STATS_INIT;
            if (rmtl_fusion_round(&rp, pair, env, &o, NULL, NULL) ||
                rmtl_fusion_round(&ru, user, env, &o, NULL, NULL))
                return fail("round");
            printf("  seed %zu round %zu: explore reward pair %.2f user %.2f; critic loss "
                   "%.3f / %.3f; q %.2f / %.2f; penalty %.3f / %.3f\n", seed, r + 1,
                   rp.explore.reward_mean, ru.explore.reward_mean, rp.train.critic_loss,
                   ru.train.critic_loss, rp.train.q, ru.train.q, rp.train.penalty,
                   ru.train.penalty);
            printf("    off-policy request value (DR): pair new %.3f [%.3f, %.3f] vs deployed "
                   "%.3f -> %s; user new %.3f [%.3f, %.3f] vs %.3f -> %s\n", rp.ope_new.dr,
                   rp.ope_new.dr_lo, rp.ope_new.dr_hi, rp.ope_deployed.dr,
                   rp.deployed ? "deployed" : "kept", ru.ope_new.dr, ru.ope_new.dr_lo,
                   ru.ope_new.dr_hi, ru.ope_deployed.dr, ru.deployed ? "deployed" : "kept");
            fflush(stdout);
        }
        const rmtl_fusion *pol[3] = {fixed, user, pair};
        rmtl_fusion_sim_opts ev = RMTL_FUSION_SIM_OPTS_INIT;
        ev.sessions = eval;
        ev.seed = EVAL_SEED;
        ev.scorer = o.scorer;
        ev.scorer_payload = o.scorer_payload;
        printf("seed %zu (%.0f s):\n  %-10s %10s %8s %8s\n", seed, now() - t0, "policy",
               "reward", "length", "gauc");
        for (int p = 0; p < POLICIES; p++) {
            rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
            double gauc = 0;
            if (p < 3) {
                if (rmtl_fusion_evaluate(&st, pol[p], env, &ev) ||
                    rmtl_fusion_log_gauc(&gauc, pol[p], pair))
                    return fail("evaluate");
            } else if (rmtl_env_sim_evaluate(&st, env, eval, EVAL_SEED,
                                             rmtl_env_sim_oracle_policy, env)) {
                return fail("oracle");
            }
            printf("  %-10s %10.2f %8.2f %8.4f\n", NAMES[p], st.reward_mean, st.length_mean,
                   p < 3 ? gauc : 0.0);
            sum[p][0] += st.reward_mean;
            sum[p][1] += st.length_mean;
            sum[p][2] += gauc;
        }
        fflush(stdout);
        rmtl_fusion_free(pair);
        rmtl_fusion_free(user);
        rmtl_fusion_free(fixed);
        rmtl_env_free(env);
        rmtl_config_free(cfg);
    }
    printf("mean over %zu seeds:\n  %-10s %10s %8s %8s\n", seeds, "policy", "reward", "length",
           "gauc");
    for (int p = 0; p < POLICIES; p++)
        printf("  %-10s %10.2f %8.2f %8.4f\n", NAMES[p], sum[p][0] / (double)seeds,
               sum[p][1] / (double)seeds, p < 3 ? sum[p][2] / (double)seeds : 0.0);
    return 0;
}
