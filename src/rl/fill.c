/* Filling a replay buffer by walking a dataset env with a behaviour
 * policy: uniform random actions (warm-up) or the actor with clipped
 * Gaussian noise (rmtl_replay_fill_actor, src/rl/actor.c). */
#include "rl/fill.h"

#include "core/internal.h"
#include "env/denv.h"
#include "rl/replay.h"

#include <string.h>

int rmtl__fill_check(rmtl_replay *rb, rmtl__denv *e, const char *fn)
{
    if (!rb)
        return rmtl__error(RMTL_EINVAL, "%s: invalid argument 'rb'", fn);
    if (rb->n_cat != e->n_cat || rb->n_num != e->n_num || rb->n_tasks != e->n_tasks)
        return rmtl__error(RMTL_EINVAL,
                           "%s: the buffer holds states of %zu categorical and %zu numerical "
                           "values and %zu tasks, the env has %zu, %zu and %zu",
                           fn, rb->n_cat, rb->n_num, rb->n_tasks, e->n_cat, e->n_num,
                           e->n_tasks);
    return 0;
}

int rmtl__fill_walk(rmtl_replay *rb, rmtl__denv *e, size_t n, rmtl__fill_policy policy,
                    void *payload)
{
    size_t T = e->n_tasks;
    float a[RMTL__FILL_TASKS_MAX];
    if (T > RMTL__FILL_TASKS_MAX)
        return rmtl__error(RMTL_EINVAL, "replay fill: %zu tasks, at most %d", T,
                           RMTL__FILL_TASKS_MAX);
    for (size_t done = 0; done < n; done++) {
        if (e->state != RMTL__EP_RUNNING)
            rmtl__denv_begin(e);
        size_t r = rmtl__denv_row(e);
        int rc = policy(a, e, payload);
        if (rc)
            return rc;
        const float *y = rmtl__denv_labels(e, r);
        uint8_t end = (uint8_t)rmtl__denv_advance(e, a);
        size_t r2 = rmtl__denv_row(e);
        rmtl_transitions t = RMTL_TRANSITIONS_INIT;
        t.rows = 1;
        t.cat = rmtl__denv_cat(e, r);
        t.num = rmtl__denv_num(e, r);
        t.action = a;
        t.next_cat = rmtl__denv_cat(e, r2);
        t.next_num = rmtl__denv_num(e, r2);
        t.reward = e->reward;
        t.done = &end;
        t.labels = y;
        rc = rmtl_replay_store(rb, &t);
        if (rc)
            return rc;
    }
    return 0;
}

static int rmtl__random_policy(float *a, rmtl__denv *e, void *payload)
{
    rmtl__rng *rng = payload;
    for (size_t k = 0; k < e->n_tasks; k++)
        a[k] = rmtl__rng_float(rng);
    return 0;
}

int rmtl_replay_fill_random(rmtl_replay *rb, rmtl_env *env, size_t n)
{
    rmtl__denv *e = rmtl__denv_of(env, "rmtl_replay_fill_random");
    if (!e)
        return RMTL_EINVAL;
    int rc = rmtl__fill_check(rb, e, "rmtl_replay_fill_random");
    if (rc)
        return rc;
    return rmtl__fill_walk(rb, e, n, rmtl__random_policy, &rb->noise_rng);
}
