/*
 * The actor handle's inside (public rmtl_actor, include/rmtl.h): an MTL
 * model under RL training, its target copy (for the critics' TD targets),
 * its frozen pre-trained copy (the behaviour-cloning anchor) and its own
 * Adam optimiser (rl.actor_lr).
 */
#ifndef RMTL_RL_ACTOR_H
#define RMTL_RL_ACTOR_H

#include "mtl/model.h"
#include "rl/rl_hp.h"

struct rmtl_actor {
    rmtl_config *cfg; /* owned copy: checkpoints */
    rmtl__rlhp hp;
    rmtl_model *model;  /* the policy being trained */
    rmtl_model *target; /* soft-updated copy */
    rmtl_model *anchor; /* the pre-trained model, never changed */
    size_t n_tasks;
    rmtl__adam opt;
    rmtl_ctx *ctx;       /* evaluation passes (act, target actions) */
    rmtl__rng noise_rng; /* exploration noise */
    uint64_t updates;    /* actor updates done */
    rmtl__gx *gx;        /* borrowed from the owning agent, or NULL */
    int fold;            /* RMTL__FOLD_*: the target's input-layer cache (mtl/fold.h) */
};

/* An actor around `model` (taken over, also on failure: it becomes the
 * policy, whose Adam moments stay as they are), its target and anchor
 * cloned from it, settings from cfg (copied). */
int rmtl__actor_wrap(rmtl_actor **out, const rmtl_config *cfg, rmtl_model *model);

/* rows × T actions of the target actor at the next states of t into out
 * (row stride T), through ctx. The target's folded input layer is made
 * current first (it changes only with the soft updates). */
int rmtl__actor_target_actions(const rmtl_actor *a, rmtl_ctx *ctx, const rmtl_transitions *t,
                               float *out);

/* RMTL_EINVAL naming `fn` unless the critics are one per task of the actor
 * (any order) over the actor's input layout; by_task[k] receives task k's. */
int rmtl__actor_match_critics(const rmtl_actor *a, rmtl_critic *const *critics, size_t n,
                              rmtl_critic **by_task, const char *fn);

/* The actor's loss on checked transitions (critics sorted by task) and its
 * gradient, accumulated into the model's parameter gradients; no step. */
int rmtl__actor_grad(rmtl_actor *a, rmtl_critic *const *by_task, const rmtl_transitions *t,
                     double *loss);

/* The actor update on checked transitions with critics sorted by task. */
int rmtl__actor_update_sorted(rmtl_actor *a, rmtl_critic *const *by_task,
                              const rmtl_transitions *t, double *loss);

#endif
