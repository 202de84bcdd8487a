/* The settings fusion reads from a config, copied into a plain struct;
 * this file's .c is the only fusion file that sees the config's fields. */
#ifndef RMTL_FUSION_OPTS_H
#define RMTL_FUSION_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "nn/hp.h"
#include "rmtl.h"

#define RMTL__FOPT_CAP 16

typedef struct rmtl__fopts {
    size_t tasks;                     /* model.tasks */
    int pair;                         /* fusion.granularity == pair */
    int product;                      /* fusion.formula == product */
    double weight_min, weight_max, bias_min, bias_max, explore_width;
    size_t critic_groups, critic_ensemble;
    size_t actor_hidden[RMTL__FOPT_CAP], n_actor_hidden;
    size_t critic_hidden[RMTL__FOPT_CAP], n_critic_hidden;
    double gamma, tau, actor_lr, critic_lr, eta, box_beta, kappa;
    size_t top_l, rounds, batch_size;
    double reward_coef[RMTL__FOPT_CAP];
    size_t reward_group[RMTL__FOPT_CAP], n_reward;
    size_t user_dim, item_dim, context_dim;
    int explore_pl;                   /* fusion.explore == plackett_luce */
    double explore_temperature;
    size_t log_candidates;
    int list;                         /* fusion.objective == list */
    double position_decay, temperature, kl_beta, anchor;
    uint64_t temperature_steps;
    double ope_max_weight; /* fusion.ope_max_weight (0: no limit) */
    int ope_gate;
    double gate_margin; /* fusion.gate_margin */
    int warm_start; /* fusion.warm_start */
    int scores;                       /* fusion.state.scores */
    rmtl__hp_optim optim;             /* optim.* (lr unused: fusion.*_lr) */
    rmtl__hp_runtime rt;              /* runtime.* */
} rmtl__fopts;

/* Validates cfg (rmtl_config_validate) and copies the settings. */
int rmtl__fopts_read(rmtl__fopts *o, const rmtl_config *cfg);

#endif
