/* Simulator throughput, one thread, JSON on stdout:
 *   requests_per_s     host loop (reset / request / step), 200 candidates,
 *                      a fixed-weight policy on noisy true probabilities;
 *   sim_only_requests_per_s the same loop with a policy that costs nothing
 *                      (scores = an item feature): the simulator's share;
 *   eval_requests_per_s the same policy through rmtl_env_sim_evaluate;
 *   log_impressions_per_s rmtl_env_sim_log writing its CSV to a temp file.
 * Each figure is the best of a few repetitions (least disturbed by other
 * load on the machine). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"

#define REPEAT 5

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* score = Σ_k w_k·p̂_k with p̂ the true marginals plus uniform noise: a
 * stand-in for a fixed-weight fusion of an MTL model's predictions. */
typedef struct fixed_weight {
    const rmtl__sim *s;
    rmtl__rng rng;
    float w[RMTL__SIM_TASKS];
    float noise;
} fixed_weight;

static int fixed_weight_policy(float *scores, const rmtl_sim_request *req, void *payload)
{
    fixed_weight *f = payload;
    const rmtl__sim_sess *ss = rmtl__sim_session_of(f->s, req);
    if (!ss)
        return RMTL_EINVAL;
    for (size_t j = 0; j < req->n; j++) {
        float m[RMTL__SIM_TASKS];
        rmtl__sim_marginals(f->s, req->user, req->items[j], ss->cand_aff[j], m);
        float v = f->noise * (rmtl__rng_float(&f->rng) - 0.5f);
        for (uint32_t k = 0; k < f->s->tasks; k++)
            v += f->w[k] * (m[k] + f->noise * (rmtl__rng_float(&f->rng) - 0.5f));
        scores[j] = v;
    }
    return 0;
}

static int first_feature_policy(float *scores, const rmtl_sim_request *req, void *payload)
{
    (void)payload;
    for (size_t j = 0; j < req->n; j++)
        scores[j] = req->item_dim ? req->item_feat[j * req->item_dim] : (float)j;
    return 0;
}

/* Best requests per second of the host loop over REPEAT runs, or -1. */
static double host_loop(rmtl_env *env, float *scores, rmtl_sim_policy_fn fn, void *payload)
{
    const size_t target = 100000;
    double best = 0.0;
    for (int rep = 0; rep < REPEAT; rep++) {
        size_t requests = 0;
        double t0 = now_s();
        while (requests < target) {
            if (rmtl_env_sim_reset(env))
                return -1.0;
            rmtl_sim_feedback fb = RMTL_SIM_FEEDBACK_INIT;
            do {
                rmtl_sim_request req = RMTL_SIM_REQUEST_INIT;
                if (rmtl_env_sim_request(&req, env) || fn(scores, &req, payload) ||
                    rmtl_env_sim_step(&fb, env, scores, req.n))
                    return -1.0;
                requests++;
            } while (!fb.done);
        }
        double r = (double)requests / (now_s() - t0);
        best = r > best ? r : best;
    }
    return best;
}

static int die(const char *what, int rc)
{
    fprintf(stderr, "bench/sim: %s: %s: %s\n", what, rmtl_strerror(rc), rmtl_last_error());
    return 1;
}

int main(void)
{
    struct rmtl__sim_params p;
    rmtl__sim_params_default(&p);
    rmtl_env *env = NULL;
    int rc = rmtl__sim_create(&env, &p, 42);
    if (rc)
        return die("create", rc);
    fixed_weight fw = {.s = rmtl__env_sim(env, "bench"), .w = {1.0f, 5.0f, 0.0f}, .noise = 0.05f};
    rmtl__sim_rng_seed(&fw.rng, 7, 0, 0);
    float *scores = malloc(sizeof(float) * (size_t)p.candidates);
    if (!scores)
        return die("malloc", RMTL_ENOMEM);

    /* Host loop: with the fixed-weight policy, and with a trivial one (the
     * first item feature) that shows the simulator's own cost. */
    double best_host = host_loop(env, scores, fixed_weight_policy, &fw);
    double best_sim = host_loop(env, scores, first_feature_policy, NULL);
    if (best_host < 0 || best_sim < 0)
        return die("host loop", rc);

    /* Evaluate. */
    double best_eval = 0.0;
    rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
    for (int rep = 0; rep < REPEAT; rep++) {
        double t0 = now_s();
        if ((rc = rmtl_env_sim_evaluate(&st, env, 10000, 1, fixed_weight_policy, &fw)))
            return die("evaluate", rc);
        double r = (double)st.requests / (now_s() - t0);
        best_eval = r > best_eval ? r : best_eval;
    }

    /* Logging. */
    char dir[] = "/tmp/rmtl-bench-sim-XXXXXX";
    if (!mkdtemp(dir))
        return die("mkdtemp", RMTL_EIO);
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    double best_log = 0.0;
    rmtl_sim_stats lst = RMTL_SIM_STATS_INIT;
    for (int rep = 0; rep < REPEAT; rep++) {
        double t0 = now_s();
        if ((rc = rmtl_env_sim_log(&lst, env, path, 10000, 1, 0, fixed_weight_policy, &fw)))
            return die("log", rc);
        double r = (double)lst.impressions / (now_s() - t0);
        best_log = r > best_log ? r : best_log;
    }
    unlink(path);
    rmdir(dir);

    printf("{\"bench\": \"sim\", \"threads\": 1, \"users\": %lld, \"items\": %lld, "
           "\"candidates\": %lld, \"top_l\": %lld, \"tasks\": %lld, "
           "\"requests_per_s\": %.0f, \"sim_only_requests_per_s\": %.0f, "
           "\"eval_requests_per_s\": %.0f, "
           "\"log_impressions_per_s\": %.0f, \"mean_session_length\": %.2f, "
           "\"mean_session_reward\": %.3f}\n",
           (long long)p.users, (long long)p.items, (long long)p.candidates, (long long)p.top_l,
           (long long)p.tasks, best_host, best_sim, best_eval, best_log, st.length_mean,
           st.reward_mean);
    free(scores);
    rmtl_env_free(env);
    return 0;
}
