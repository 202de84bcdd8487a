/* The replay buffer's inside (the public rmtl_replay, include/rmtl.h):
 * one flat array per field, slot-major, so a transition costs its ids and
 * floats only (never embedded vectors). */
#ifndef RMTL_RL_REPLAY_H
#define RMTL_RL_REPLAY_H

#include "core/rng.h"
#include "rmtl.h"

#include <stddef.h>
#include <stdint.h>

/* Gathered rows of one sample, handed out as an rmtl_transitions view. */
typedef struct rmtl__tbuf {
    size_t cap; /* rows allocated */
    int32_t *cat, *next_cat;
    float *num, *next_num, *action, *reward, *labels;
    uint8_t *done;
} rmtl__tbuf;

struct rmtl_replay {
    size_t cap, size, head; /* head: the slot written next */
    size_t n_cat, n_num, n_tasks;
    int32_t *cat, *next_cat;               /* cap × n_cat */
    float *num, *next_num;                 /* cap × n_num (NULL when 0) */
    float *action, *reward, *labels;       /* cap × n_tasks */
    uint8_t *done;                         /* cap */
    /* perm[0..size) is a permutation of the filled slots. A sample is a
     * partial Fisher-Yates shuffle of its first `batch` entries: a uniform
     * draw without replacement from any starting order, in O(batch). */
    uint32_t *perm;
    rmtl__rng sample_rng; /* RMTL__STREAM_SAMPLE */
    rmtl__rng noise_rng;  /* RMTL__STREAM_NOISE: behaviour-policy noise of the fill helpers */
    rmtl__tbuf out;
};

/* Checks the shape and values of rows of t against the buffer's shape:
 * RMTL_EINVAL naming a missing array, a done flag other than 0/1, an
 * action outside [0, 1]; RMTL_ENUMERIC for NaN/Inf in any float. `what`
 * prefixes messages. */
int rmtl__transitions_check(const rmtl_transitions *t, size_t n_cat, size_t n_num,
                            size_t n_tasks, const char *what);

#endif
