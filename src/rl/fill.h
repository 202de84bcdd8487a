/* Walking a dataset env with a behaviour policy into a replay buffer: the
 * loop shared by the fill helpers (src/rl/fill.c). */
#ifndef RMTL_RL_FILL_H
#define RMTL_RL_FILL_H

#include "env/denv.h"

#define RMTL__FILL_TASKS_MAX 64

/* Writes the action (e->n_tasks values in [0, 1]) for the current state of
 * the running episode of e. 0 or an error code, which stops the walk. */
typedef int (*rmtl__fill_policy)(float *a, rmtl__denv *e, void *payload);

/* RMTL_EINVAL unless rb's shape is e's. */
int rmtl__fill_check(rmtl_replay *rb, rmtl__denv *e, const char *fn);
/* n transitions: the episode goes on where it was (a new one starts when
 * none is running), each step is stored as it is taken. */
int rmtl__fill_walk(rmtl_replay *rb, rmtl__denv *e, size_t n, rmtl__fill_policy policy,
                    void *payload);

#endif
