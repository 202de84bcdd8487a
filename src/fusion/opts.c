/* Copies fusion's settings out of a config (see opts.h). */
#include "fusion/opts.h"

#include "core/params.h"

#include <string.h>

int rmtl__fopts_read(rmtl__fopts *o, const rmtl_config *cfg)
{
    int rc = rmtl_config_validate(cfg);
    if (rc)
        return rc;
    const struct rmtl__settings *p = rmtl__config_params(cfg);
    memset(o, 0, sizeof *o);
    o->tasks = p->model.tasks.n;
    o->pair = p->fusion.granularity == RMTL__GRAN_PAIR;
    o->product = p->fusion.formula == RMTL__FORMULA_PRODUCT;
    o->weight_min = p->fusion.weight_min;
    o->weight_max = p->fusion.weight_max;
    o->bias_min = p->fusion.bias_min;
    o->bias_max = p->fusion.bias_max;
    o->explore_width = p->fusion.explore_width;
    o->critic_groups = (size_t)p->fusion.critic_groups;
    o->critic_ensemble = (size_t)p->fusion.critic_ensemble;
    o->n_actor_hidden = rmtl__hp_sizes(o->actor_hidden, RMTL__FOPT_CAP, &p->fusion.actor_hidden);
    o->n_critic_hidden =
        rmtl__hp_sizes(o->critic_hidden, RMTL__FOPT_CAP, &p->fusion.critic_hidden);
    o->gamma = p->fusion.gamma;
    o->tau = p->fusion.tau;
    o->actor_lr = p->fusion.actor_lr;
    o->critic_lr = p->fusion.critic_lr;
    o->eta = p->fusion.eta;
    o->box_beta = p->fusion.box_beta;
    o->kappa = p->fusion.kappa;
    o->top_l = (size_t)p->fusion.top_l;
    o->rounds = (size_t)p->fusion.rounds;
    o->batch_size = (size_t)p->fusion.batch_size;
    o->n_reward = p->fusion.reward_coef.n;
    for (size_t i = 0; i < o->n_reward; i++) {
        o->reward_coef[i] = p->fusion.reward_coef.v[i];
        o->reward_group[i] = (size_t)p->fusion.reward_group.v[i];
    }
    o->explore_pl = p->fusion.explore == RMTL__EXPLORE_PL;
    o->explore_temperature = p->fusion.explore_temperature;
    o->log_candidates = (size_t)p->fusion.log_candidates;
    o->list = p->fusion.objective == RMTL__OBJECTIVE_LIST;
    o->position_decay = p->fusion.position_decay;
    o->temperature = p->fusion.temperature;
    o->temperature_steps = (uint64_t)p->fusion.temperature_steps;
    o->kl_beta = p->fusion.kl_beta;
    o->anchor = p->fusion.anchor;
    o->ope_max_weight = p->fusion.ope_max_weight;
    o->ope_gate = p->fusion.ope_gate;
    o->gate_margin = p->fusion.gate_margin;
    o->warm_start = p->fusion.warm_start;
    o->user_dim = (size_t)p->fusion.state.user_dim;
    o->item_dim = (size_t)p->fusion.state.item_dim;
    o->context_dim = (size_t)p->fusion.state.context_dim;
    o->scores = p->fusion.state.scores;
    rmtl__hp_optim_read(&o->optim, p);
    rmtl__hp_runtime_read(&o->rt, p);
    return 0;
}
