/* The simulator handle and its public calls (include/rmtl.h, "Env
 * (simulator)"). */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "env/env.h"
#include "sim/sim.h"

void rmtl__sim_free(rmtl__sim *s)
{
    if (!s)
        return;
    rmtl__sess_free(&s->host);
    rmtl__sess_free(&s->run);
    rmtl__sim_world_free(&s->w);
    rmtl__free(s->exam);
    rmtl__free(s);
}

int rmtl__sim_create(rmtl_env **out, const struct rmtl__sim_params *p, uint64_t seed)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(p, "params");
    int rc = rmtl__sim_params_validate(p);
    if (rc)
        return rc;
    rmtl_env *env = rmtl__calloc(1, sizeof *env);
    rmtl__sim *s = rmtl__calloc(1, sizeof *s);
    if (!env || !s) {
        rmtl__free(env);
        rmtl__free(s);
        return rmtl__error(RMTL_ENOMEM, "simulator: out of memory");
    }
    s->p = *p;
    s->n = (uint32_t)p->candidates, s->l = (uint32_t)p->top_l, s->tasks = (uint32_t)p->tasks;
    s->rt.threads = 1; /* products of one user against <= candidates items */
    s->host_seed = seed;
    if (p->leave_base > 0.0 && p->leave_base < 1.0)
        s->leave_logit0 = log(p->leave_base / (1.0 - p->leave_base));
    if (!(s->exam = rmtl__mallocarray(s->l, sizeof *s->exam)))
        rc = rmtl__error(RMTL_ENOMEM, "simulator: out of memory");
    else
        for (uint32_t k = 0; k < s->l; k++)
            s->exam[k] = (float)pow(1.0 + k, -p->position_decay);
    if (rc || (rc = rmtl__sim_world_create(&s->w, p, seed)) ||
        (rc = rmtl__sess_init(&s->host, s)) || (rc = rmtl__sess_init(&s->run, s))) {
        rmtl__sim_free(s);
        rmtl__free(env);
        return rc;
    }
    env->kind = RMTL__ENV_SIM;
    env->sim = s;
    *out = env;
    return 0;
}

rmtl__sim *rmtl__env_sim(const rmtl_env *env, const char *fn)
{
    if (!env)
        rmtl__error(RMTL_EINVAL, "%s: env is NULL", fn);
    else if (env->kind != RMTL__ENV_SIM)
        rmtl__error(RMTL_EINVAL, "%s: env is not a simulator", fn);
    else
        return env->sim;
    return NULL;
}

const rmtl__sim_sess *rmtl__sim_session_of(const rmtl__sim *s, const rmtl_sim_request *req)
{
    const rmtl__sim_sess *all[2] = {&s->host, &s->run};
    for (int i = 0; i < 2; i++)
        if (all[i]->state == RMTL__SESS_ACTIVE && req->items == all[i]->cand &&
            req->user == all[i]->user && req->n == s->n)
            return all[i];
    return NULL;
}

int rmtl_env_sim_create(rmtl_env **out, const rmtl_config *cfg)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(cfg, "cfg");
    const struct rmtl__settings *cp = rmtl__config_params(cfg);
    struct rmtl__sim_params p;
    rmtl__sim_params_from_config(&p, cp);
    return rmtl__sim_create(out, &p, (uint64_t)cp->runtime.seed);
}

int rmtl_env_sim_info(rmtl_sim_info *out, const rmtl_env *env)
{
    RMTL__CHECK_ARG(out && out->version >= 1 && out->version <= RMTL_SIM_INFO_VERSION, "out");
    rmtl__sim *s = rmtl__env_sim(env, __func__);
    if (!s)
        return RMTL_EINVAL;
    const rmtl__sim_world *w = &s->w;
    out->users = w->users, out->items = w->items, out->tasks = s->tasks;
    out->candidates = s->n, out->top_l = s->l;
    out->max_requests = (size_t)s->p.max_requests, out->sessions = (size_t)s->p.sessions;
    out->user_dim = w->user_dim, out->item_dim = w->item_dim;
    out->context_dim = (size_t)s->p.context_dim;
    memcpy(out->user_card, w->user_card, sizeof out->user_card);
    memcpy(out->item_card, w->item_card, sizeof out->item_card);
    for (int k = 0; k < RMTL_SIM_MAX_TASKS; k++)
        out->reward_coef[k] = (uint32_t)k < s->tasks ? s->p.reward_coef[k] : 0.0;
    out->position_decay = s->p.position_decay;
    return 0;
}

int rmtl_env_sim_reset(rmtl_env *env)
{
    rmtl__sim *s = rmtl__env_sim(env, __func__);
    if (!s)
        return RMTL_EINVAL;
    rmtl__sess_begin(&s->host, s, s->host_seed, s->host_next++);
    return 0;
}

int rmtl_env_sim_request(rmtl_sim_request *out, const rmtl_env *env)
{
    RMTL__CHECK_ARG(out && out->version >= 1 && out->version <= RMTL_SIM_REQUEST_VERSION, "out");
    rmtl__sim *s = rmtl__env_sim(env, __func__);
    if (!s)
        return RMTL_EINVAL;
    if (rmtl__sess_pending(&s->host))
        return rmtl__error_prefix(RMTL_ESTATE, "%s", __func__);
    rmtl__sess_request_view(out, &s->host, s);
    return 0;
}

int rmtl_env_sim_step(rmtl_sim_feedback *out, rmtl_env *env, const float *scores, size_t n)
{
    RMTL__CHECK_ARG(out && out->version >= 1 && out->version <= RMTL_SIM_FEEDBACK_VERSION, "out");
    rmtl__sim *s = rmtl__env_sim(env, __func__);
    if (!s)
        return RMTL_EINVAL;
    int rc = rmtl__sess_check_step(&s->host, s, scores, n);
    if (rc)
        return rmtl__error_prefix(rc, "%s", __func__);
    rmtl__sess_serve(&s->host, s, scores);
    rmtl__sess_advance(&s->host, s);
    rmtl__sess_feedback_view(out, &s->host, s);
    return 0;
}

int rmtl_env_sim_true_probs(const rmtl_env *env, uint32_t user, uint32_t item, float *probs,
                            size_t capacity)
{
    rmtl__sim *s = rmtl__env_sim(env, __func__);
    if (!s)
        return RMTL_EINVAL;
    if (user >= s->w.users || item >= s->w.items)
        return rmtl__error(RMTL_EINVAL, "%s: user %u / item %u out of range (%u users, %u items)",
                           __func__, user, item, s->w.users, s->w.items);
    if (!probs || capacity < s->tasks)
        return rmtl__error(RMTL_EINVAL, "%s: room for %zu probabilities, %u tasks", __func__,
                           probs ? capacity : 0, s->tasks);
    float m[RMTL__SIM_TASKS];
    rmtl__sim_marginals(s, user, item, rmtl__sim_affinity(s, user, item), m);
    memcpy(probs, m, s->tasks * sizeof *probs);
    return 0;
}

int rmtl_env_sim_oracle_policy(float *scores, const rmtl_sim_request *req, void *payload)
{
    RMTL__CHECK_ARG(scores, "scores");
    RMTL__CHECK_ARG(req && (req->items || req->n == 0), "req");
    rmtl__sim *s = rmtl__env_sim(payload, __func__);
    if (!s)
        return RMTL_EINVAL;
    if (req->user >= s->w.users)
        return rmtl__error(RMTL_EINVAL, "%s: user %u out of range", __func__, req->user);
    /* A request of this env's own sessions has its affinities computed. */
    const rmtl__sim_sess *ss = rmtl__sim_session_of(s, req);
    for (size_t j = 0; j < req->n; j++)
        if (req->items[j] >= s->w.items)
            return rmtl__error(RMTL_EINVAL, "%s: item %u out of range", __func__, req->items[j]);
    for (size_t j = 0; j < req->n; j++) {
        float aff = ss ? ss->cand_aff[j] : rmtl__sim_affinity(s, req->user, req->items[j]);
        scores[j] = rmtl__sim_expected_reward(s, req->user, req->items[j], aff);
    }
    return 0;
}

int rmtl_env_sim_random_policy(float *scores, const rmtl_sim_request *req, void *payload)
{
    RMTL__CHECK_ARG(scores, "scores");
    RMTL__CHECK_ARG(req, "req");
    RMTL__CHECK_ARG(payload, "payload");
    uint64_t *state = payload;
    for (size_t j = 0; j < req->n; j++)
        scores[j] = (float)(rmtl__splitmix64(state) >> 40) * 0x1.0p-24f;
    return 0;
}
