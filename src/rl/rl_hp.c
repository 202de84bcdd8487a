/* Copies the RL hyper-parameters out of a config (rl_hp.h). */
#include "rl/rl_hp.h"

#include "core/internal.h"
#include "core/params.h"

#include <string.h>

int rmtl__rlhp_from_config(rmtl__rlhp *hp, const rmtl_config *cfg)
{
    RMTL__CHECK_ARG(cfg, "cfg");
    int rc = rmtl_config_validate(cfg);
    if (rc)
        return rc;
    const struct rmtl__settings *p = rmtl__config_params(cfg);
    memset(hp, 0, sizeof *hp);
    hp->gamma = p->rl.gamma;
    hp->tau = p->rl.tau;
    hp->actor_lr = p->rl.actor_lr;
    hp->critic_lr = p->rl.critic_lr;
    hp->policy_noise = p->rl.policy_noise;
    hp->noise_clip = p->rl.noise_clip;
    hp->explore_noise = p->rl.explore_noise;
    hp->lambda = p->rl.lambda;
    hp->bc_weight = p->rl.bc_weight;
    hp->ips = p->rl.ips;
    hp->reward = p->rl.reward;
    hp->actor_update_freq = (uint64_t)p->rl.actor_update_freq;
    hp->soft_update_freq = (uint64_t)p->rl.soft_update_freq;
    hp->init_training_step = (uint64_t)p->rl.init_training_step;
    hp->buffer_size = (size_t)p->rl.buffer_size;
    hp->batch_size = (size_t)p->rl.batch_size;
    hp->n_critic_bottom = rmtl__hp_sizes(hp->critic_bottom, RMTL__HP_LIST_CAP,
                                         &p->rl.critic.bottom);
    hp->n_critic_tower = rmtl__hp_sizes(hp->critic_tower, RMTL__HP_LIST_CAP,
                                        &p->rl.critic.tower);
    hp->embed_dim = (size_t)p->model.embed_dim;
    hp->dropout = p->model.dropout;
    rmtl__hp_optim_read(&hp->optim, p);
    rmtl__hp_runtime_read(&hp->rt, p);
    return 0;
}
