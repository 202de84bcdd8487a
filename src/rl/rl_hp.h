/*
 * The hyper-parameters the RL handles read from a config, copied into a
 * plain struct at creation; only rl_hp.c sees the config's fields (the
 * groups shared with the model and fusion are nn/hp.h's).
 */
#ifndef RMTL_RL_HP_H
#define RMTL_RL_HP_H

#include "nn/hp.h"
#include "rmtl.h"

#include <stddef.h>
#include <stdint.h>

#define RMTL__HP_LIST_CAP 16

typedef struct rmtl__rlhp {
    /* rl.* */
    double gamma, tau, actor_lr, critic_lr, policy_noise, noise_clip, explore_noise;
    double lambda, bc_weight;
    int ips, reward; /* reward: enum rmtl__reward */
    uint64_t actor_update_freq, soft_update_freq, init_training_step;
    size_t buffer_size, batch_size;
    size_t critic_bottom[RMTL__HP_LIST_CAP], n_critic_bottom;
    size_t critic_tower[RMTL__HP_LIST_CAP], n_critic_tower;
    /* model.* and optim.* that the critics share with the actor */
    size_t embed_dim;
    double dropout;
    rmtl__hp_optim optim; /* optim.lr unused: rl.actor_lr, rl.critic_lr */
    rmtl__hp_runtime rt;
} rmtl__rlhp;

/* Validates cfg (RMTL_ECONFIG with the config's message) and copies its
 * values. */
int rmtl__rlhp_from_config(rmtl__rlhp *hp, const rmtl_config *cfg);

#endif
