/* The session MDP over a dataset: rmtl_env in dataset mode (denv.h). */
#include "env/denv.h"

#include "core/internal.h"
#include "core/params.h"
#include "data/dataset.h"
#include "env/env.h"

#include <math.h>
#include <string.h>

float rmtl__reward(int kind, float a, float y)
{
    double ad = a, yd = y;
    if (kind == RMTL__REWARD_ABS)
        return (float)-fabs(ad - yd);
    double p = ad < RMTL__REWARD_EPS ? RMTL__REWARD_EPS : ad > 1.0 ? 1.0 : ad;
    double q = 1.0 - ad;
    q = q < RMTL__REWARD_EPS ? RMTL__REWARD_EPS : q > 1.0 ? 1.0 : q;
    return (float)(yd * log(p) + (1.0 - yd) * log(q));
}

void rmtl__denv_free(rmtl__denv *e)
{
    if (!e)
        return;
    rmtl__free(e->reward);
    rmtl__free(e);
}

rmtl__denv *rmtl__denv_of(const rmtl_env *env, const char *fn)
{
    if (!env) {
        rmtl__error(RMTL_EINVAL, "%s: invalid argument 'env'", fn);
        return NULL;
    }
    if (env->kind != RMTL__ENV_DATA) {
        rmtl__error(RMTL_EINVAL, "%s: the env is a simulator; use the rmtl_env_sim_* calls", fn);
        return NULL;
    }
    return env->data;
}

const int32_t *rmtl__denv_cat(const rmtl__denv *e, size_t r)
{
    return e->ds->cat + r * e->n_cat;
}

const float *rmtl__denv_num(const rmtl__denv *e, size_t r)
{
    return e->n_num ? e->ds->num + r * e->n_num : NULL;
}

const float *rmtl__denv_labels(const rmtl__denv *e, size_t r)
{
    return e->ds->labels + r * e->n_tasks;
}

/* A dataset read from CSV knows whether it had a session (or user)
 * column; one built from arrays without session ids has one-row sessions
 * only. Either way such data has no sequence to learn from. */
static int rmtl__has_sessions(const rmtl_dataset *ds)
{
    const rmtl__dsmeta *m = ds->meta;
    if (m->from_csv) {
        for (size_t i = 0; i < m->n_cols; i++)
            if (m->cols[i].role == RMTL__ROLE_SESSION || m->cols[i].role == RMTL__ROLE_USER)
                return 1;
        return 0;
    }
    return ds->n_sessions < ds->rows;
}

int rmtl_env_create(rmtl_env **out, const rmtl_config *cfg, const rmtl_dataset *ds,
                    uint32_t flags)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(ds, "ds");
    RMTL__CHECK_ARG(cfg, "cfg");
    int rc = rmtl_config_validate(cfg);
    if (rc)
        return rc;
    const struct rmtl__settings *p = rmtl__config_params(cfg);
    if (flags & ~RMTL_ENV_EVAL)
        return rmtl__error(RMTL_EINVAL, "rmtl_env_create: unknown flags 0x%x", flags);
    if (!ds->labels)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_env_create: the dataset has no labels, so no rewards");
    if (ds->rows == 0 || ds->n_sessions == 0)
        return rmtl__error(RMTL_EINVAL, "rmtl_env_create: the dataset has no rows");
    if (!rmtl__has_sessions(ds))
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_env_create: the dataset has no session column (schema role "
                           "'session' or 'user', or session ids): every impression would be "
                           "an episode of its own");
    rmtl_env *env = rmtl__calloc(1, sizeof *env);
    rmtl__denv *e = rmtl__calloc(1, sizeof *e);
    float *reward = rmtl__calloc(ds->meta->n_tasks, sizeof *reward);
    if (!env || !e || !reward) {
        rmtl__free(env);
        rmtl__free(e);
        rmtl__free(reward);
        return rmtl__error(RMTL_ENOMEM, "rmtl_env_create: out of memory");
    }
    e->ds = ds;
    e->n_cat = ds->meta->n_cat;
    e->n_num = ds->meta->n_num;
    e->n_tasks = ds->meta->n_tasks;
    e->n_sessions = rmtl__dataset_session_count(ds);
    e->reward_kind = p->rl.reward;
    e->eval = (flags & RMTL_ENV_EVAL) != 0;
    e->reward = reward;
    rmtl__rng_seed(&e->rng, (uint64_t)p->runtime.seed, RMTL__STREAM_ENV);
    env->kind = RMTL__ENV_DATA;
    env->data = e;
    *out = env;
    return 0;
}

void rmtl__denv_begin(rmtl__denv *e)
{
    if (e->eval) {
        e->session = e->next_session;
        e->next_session = (e->next_session + 1) % e->n_sessions;
    } else {
        e->session = (size_t)rmtl__rng_below(&e->rng, e->n_sessions);
    }
    e->rows = rmtl__dataset_session_rows(e->ds, e->session, &e->len);
    e->step = 0;
    e->state = RMTL__EP_RUNNING;
}

int rmtl__denv_advance(rmtl__denv *e, const float *a)
{
    const float *y = rmtl__denv_labels(e, rmtl__denv_row(e));
    for (size_t k = 0; k < e->n_tasks; k++)
        e->reward[k] = rmtl__reward(e->reward_kind, a[k], y[k]);
    if (e->step + 1 < e->len) {
        e->step++;
        return 0;
    }
    e->state = RMTL__EP_DONE;
    return 1;
}

static void rmtl__fill_state(rmtl_env_state *out, const rmtl__denv *e)
{
    size_t r = rmtl__denv_row(e);
    out->session = e->session;
    out->step = e->step;
    out->row = r;
    out->n_cat = e->n_cat;
    out->cat = rmtl__denv_cat(e, r);
    out->n_num = e->n_num;
    out->num = rmtl__denv_num(e, r);
}

static int rmtl__check_version(uint32_t version, uint32_t current, const char *fn,
                               const char *init)
{
    if (version == 0 || version > current)
        return rmtl__error(RMTL_EINVAL, "%s: 'out' not initialised with %s", fn, init);
    return 0;
}

int rmtl_env_reset(rmtl_env_state *out, rmtl_env *env)
{
    rmtl__denv *e = rmtl__denv_of(env, "rmtl_env_reset");
    if (!e)
        return RMTL_EINVAL;
    RMTL__CHECK_ARG(out, "out");
    int rc = rmtl__check_version(out->version, RMTL_ENV_STATE_VERSION, "rmtl_env_reset",
                                 "RMTL_ENV_STATE_INIT");
    if (rc)
        return rc;
    rmtl__denv_begin(e);
    rmtl__fill_state(out, e);
    return 0;
}

int rmtl_env_current(rmtl_env_state *out, const rmtl_env *env)
{
    const rmtl__denv *e = rmtl__denv_of(env, "rmtl_env_current");
    if (!e)
        return RMTL_EINVAL;
    RMTL__CHECK_ARG(out, "out");
    int rc = rmtl__check_version(out->version, RMTL_ENV_STATE_VERSION, "rmtl_env_current",
                                 "RMTL_ENV_STATE_INIT");
    if (rc)
        return rc;
    if (e->state != RMTL__EP_RUNNING)
        return rmtl__error(RMTL_ESTATE, "rmtl_env_current: no episode is running (%s)",
                           e->state == RMTL__EP_NONE ? "call rmtl_env_reset first"
                                                     : "the episode is done");
    rmtl__fill_state(out, e);
    return 0;
}

int rmtl_env_step(rmtl_env_step_result *out, rmtl_env *env, const float *action,
                  size_t n_tasks)
{
    rmtl__denv *e = rmtl__denv_of(env, "rmtl_env_step");
    if (!e)
        return RMTL_EINVAL;
    RMTL__CHECK_ARG(out, "out");
    RMTL__CHECK_ARG(action, "action");
    int rc = rmtl__check_version(out->version, RMTL_ENV_STEP_VERSION, "rmtl_env_step",
                                 "RMTL_ENV_STEP_INIT");
    if (rc)
        return rc;
    if (n_tasks != e->n_tasks)
        return rmtl__error(RMTL_EINVAL, "rmtl_env_step: %zu actions given, the env has %zu tasks",
                           n_tasks, e->n_tasks);
    for (size_t k = 0; k < n_tasks; k++) {
        if (!isfinite(action[k]))
            return rmtl__error(RMTL_ENUMERIC, "rmtl_env_step: action of task %zu is %g", k,
                               (double)action[k]);
        if (action[k] < 0.0f || action[k] > 1.0f)
            return rmtl__error(RMTL_EINVAL,
                               "rmtl_env_step: action %g of task %zu is outside [0, 1]",
                               (double)action[k], k);
    }
    if (e->state != RMTL__EP_RUNNING)
        return rmtl__error(RMTL_ESTATE, "rmtl_env_step: %s",
                           e->state == RMTL__EP_NONE
                               ? "no episode yet: call rmtl_env_reset first"
                               : "the episode is done: call rmtl_env_reset for the next");
    out->labels = rmtl__denv_labels(e, rmtl__denv_row(e));
    out->done = rmtl__denv_advance(e, action);
    size_t r = rmtl__denv_row(e); /* when done, the step stayed on the last state */
    out->n_tasks = e->n_tasks;
    out->reward = e->reward;
    out->next_step = e->step;
    out->next_row = r;
    out->next_cat = rmtl__denv_cat(e, r);
    out->next_num = rmtl__denv_num(e, r);
    return 0;
}
