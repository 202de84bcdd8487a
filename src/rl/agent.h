/* The agent handle's inside (public rmtl_agent, include/rmtl.h): an actor,
 * one critic per task, and the schedule's step counter. */
#ifndef RMTL_RL_AGENT_H
#define RMTL_RL_AGENT_H

#include "rl/actor.h"
#include "rl/critic.h"

struct rmtl_agent {
    rmtl__rlhp hp; /* the actor's cfg holds the config itself */
    rmtl_actor *actor;
    rmtl_critic **critics; /* n_tasks, critic k scores task k */
    size_t n_tasks;
    rmtl_ctx *ctx;         /* the target actor's passes */
    float *next_a;         /* rows × T target actions of the last update */
    size_t next_cap;
    double *critic_loss;   /* n_tasks, the last update's */
    uint64_t steps;        /* updates done */
    rmtl__gx gx;           /* gradient exchange, lent to the actor and critics */
};

/* An agent around an existing actor (taken over, also on failure) with
 * fresh critics built from the actor's config. */
int rmtl__agent_assemble(rmtl_agent **out, rmtl_actor *actor);

#endif
