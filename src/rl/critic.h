/*
 * The critic handle's inside (public rmtl_critic, include/rmtl.h): one
 * task's Q network, its target copy, its optimiser and random streams.
 *
 * The update is split so that the agent can share work between its T
 * critics: the actor's target action π'(s') is computed once per batch and
 * handed to every critic (rmtl__critic_update_from).
 */
#ifndef RMTL_RL_CRITIC_H
#define RMTL_RL_CRITIC_H

#include "dist/gx.h"
#include "nn/adam.h"
#include "mtl/layout.h"
#include "rl/rl_hp.h"
#include "rl/qnet.h"

#include <stdint.h>

struct rmtl_critic {
    rmtl_config *cfg; /* owned copy: checkpoints */
    size_t task, n_tasks;
    rmtl__layout lay; /* the states' fields and the tasks (the actor's layout) */
    rmtl__rlhp hp; /* hyper-parameters read at creation */
    rmtl__qnet net, target;
    rmtl__adam opt;
    rmtl__ws ws;
    rmtl__rng dropout_rng, noise_rng;
    uint64_t updates; /* critic updates done */
    size_t dim;       /* embedding dimension */
    rmtl_ctx *ctx;    /* evaluation passes of the actor's target */
    float *next_a;    /* rows × T target actions of the last update */
    size_t next_cap;
    rmtl__gx *gx;     /* borrowed from the owning agent, or NULL */
    int fold;         /* RMTL__FOLD_*: the first bottom layer's cache (mtl/fold.h) */
};

/* Builds a critic for `task` of the layout's tasks over its states
 * (layout copied), embedding dimension dim; the other hyper-parameters
 * come from hp (rl.*, optim.*, model.dropout, runtime.*). Weights are
 * seeded from runtime.seed and the task, then the embedding is copied from
 * `embed` when it is not NULL. The target starts equal to the critic. */
int rmtl__critic_new(rmtl_critic **out, const rmtl__rlhp *hp, const rmtl__layout *lay,
                     size_t dim, size_t task, const rmtl__embed *embed);
/* The same from a config (copied into the critic; hp read from it). */
int rmtl__critic_new_cfg(rmtl_critic **out, const rmtl_config *cfg, const rmtl__layout *lay,
                         size_t dim, size_t task, const rmtl__embed *embed);

/* One critic step (docs/rmtl.md) on the transitions t, given the target
 * actor's actions next_a (t->rows × n_tasks, row stride ldna) at s':
 *   a' = next_a[:, k] + clip(N(0, σ), −c, c)
 *   y  = r_k + γ(1 − done)·min(Q'(s', a'), Q(s', a'))        (evaluation mode)
 *   L  = mean_i w_i·(Q(s_i, a_ik) − y_i)²                     (training mode)
 * with IPS weights w when rl.ips, else 1; then one Adam step. t must have
 * been checked (rmtl__transitions_check). *loss: L. */
int rmtl__critic_update_from(rmtl_critic *c, const rmtl_transitions *t, const float *next_a,
                             size_t ldna, double *loss);

/* The actor's side of one task: Q(s, π_k(s)) for the n states of t (in
 * evaluation mode, the critic frozen) and d/dπ_k of
 * L = −(1/n)·Σ_i w_i·Q(s_i, π_ik): grad[i·ldg] is set. w may be NULL
 * (all 1), read with stride ldw. *qsum (may be NULL): Σ_i w_i·Q_i. */
int rmtl__critic_action_grad(rmtl_critic *c, size_t n, const int32_t *cat, const float *num,
                             const float *pi, size_t ldpi, const float *w, size_t ldw,
                             float *grad, size_t ldg, double *qsum);

/* Checks transitions against a layout: rmtl__transitions_check, and the
 * ids of s and s' within the vocabularies (messages prefixed with fn). */
int rmtl__critic_check_batch(const rmtl__layout *lay, const rmtl_transitions *t, const char *fn);
/* Grows *buf to n floats (contents lost). */
int rmtl__critic_reserve_next(float **buf, size_t *cap, size_t n);

#endif
