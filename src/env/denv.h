/*
 * The session MDP over a dataset (public rmtl_env in dataset mode,
 * include/rmtl.h; the shared handle is src/env/env.h). An episode is one
 * session of the dataset's session index (sessions by first timestamp,
 * rows by timestamp: src/data/dataset.h); the state is an impression's
 * feature row, read in place from the dataset, which the env borrows.
 */
#ifndef RMTL_RL_DENV_H
#define RMTL_RL_DENV_H

#include "core/rng.h"
#include "rmtl.h"

#include <stddef.h>
#include <stdint.h>

enum { RMTL__EP_NONE = 0, RMTL__EP_RUNNING = 1, RMTL__EP_DONE = 2 };

typedef struct rmtl__denv {
    const rmtl_dataset *ds; /* borrowed */
    size_t n_cat, n_num, n_tasks, n_sessions;
    int reward_kind; /* enum rmtl__reward */
    int eval;        /* sessions in order instead of at random */
    rmtl__rng rng;   /* RMTL__STREAM_ENV of runtime.seed: session draws */
    size_t next_session; /* evaluation: the session the next reset plays */
    /* the episode */
    int state;           /* RMTL__EP_* */
    size_t session, step, len;
    const size_t *rows;  /* the session's rows, in time order */
    float *reward;       /* n_tasks: the last step's rewards */
} rmtl__denv;

void rmtl__denv_free(rmtl__denv *e);

/* Lower clamp of the BCE reward's log arguments (the reference code's). */
#define RMTL__REWARD_EPS 1e-4

/* Reward of action a for label y; kind is enum rmtl__reward (rl.reward):
 *   bce  r = y·log(a) + (1−y)·log(1−a), the logs' arguments clamped to
 *        [1e-4, 1]
 *   abs  r = −|a − y| */
float rmtl__reward(int kind, float a, float y);

/* The dataset env inside `env`, or NULL with RMTL_EINVAL set (NULL env or
 * a simulator) naming `fn`. */
rmtl__denv *rmtl__denv_of(const rmtl_env *env, const char *fn);

/* Row of the current state; the episode must be running. */
static inline size_t rmtl__denv_row(const rmtl__denv *e) { return e->rows[e->step]; }

/* Feature rows of dataset row r. */
const int32_t *rmtl__denv_cat(const rmtl__denv *e, size_t r);
const float *rmtl__denv_num(const rmtl__denv *e, size_t r);
const float *rmtl__denv_labels(const rmtl__denv *e, size_t r);

/* Starts the next episode (evaluation order or a random session). */
void rmtl__denv_begin(rmtl__denv *e);
/* Steps the running episode with the (already checked) actions a (T
 * values): fills e->reward, advances, returns 1 when the episode ended. */
int rmtl__denv_advance(rmtl__denv *e, const float *a);

#endif
