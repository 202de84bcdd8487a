/* The agent: an actor, its critics and the update schedule (agent.h). */
#include "rl/agent.h"

#include "core/internal.h"
#include "rl/fill.h"

#include <math.h>
#include <string.h>

int rmtl__agent_assemble(rmtl_agent **out, rmtl_actor *actor)
{
    *out = NULL;
    rmtl_agent *ag = rmtl__calloc(1, sizeof *ag);
    if (!ag) {
        rmtl_actor_free(actor);
        return rmtl__error(RMTL_ENOMEM, "rmtl_agent_create: out of memory");
    }
    const rmtl__rlhp *hp = &actor->hp;
    ag->hp = *hp;
    ag->actor = actor;
    ag->n_tasks = actor->n_tasks;
    ag->critics = rmtl__calloc(ag->n_tasks, sizeof *ag->critics);
    ag->critic_loss = rmtl__calloc(ag->n_tasks, sizeof *ag->critic_loss);
    int rc = ag->critics && ag->critic_loss
                 ? rmtl_ctx_create(&ag->ctx, hp->rt.threads)
                 : rmtl__error(RMTL_ENOMEM, "rmtl_agent_create: out of memory");
    const rmtl_model *m = actor->model;
    for (size_t k = 0; !rc && k < ag->n_tasks; k++)
        rc = rmtl__critic_new_cfg(&ag->critics[k], actor->cfg, &m->lay, m->hp.embed_dim, k,
                                  &m->net.emb);
    if (rc) {
        rmtl_agent_free(ag);
        return rc;
    }
    *out = ag;
    return 0;
}

int rmtl_agent_create(rmtl_agent **out, const rmtl_config *cfg, const rmtl_model *pretrained)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    rmtl_actor *actor = NULL;
    int rc = rmtl_actor_create(&actor, cfg, pretrained);
    return rc ? rc : rmtl__agent_assemble(out, actor);
}

void rmtl_agent_free(rmtl_agent *ag)
{
    if (!ag)
        return;
    for (size_t k = 0; ag->critics && k < ag->n_tasks; k++)
        rmtl_critic_free(ag->critics[k]);
    rmtl__free(ag->critics);
    rmtl__free(ag->critic_loss);
    rmtl__free(ag->next_a);
    rmtl_ctx_free(ag->ctx);
    rmtl__gx_free(&ag->gx);
    rmtl_actor_free(ag->actor);
    rmtl__free(ag);
}

rmtl_actor *rmtl_agent_actor(rmtl_agent *ag) { return ag ? ag->actor : NULL; }

rmtl_critic *rmtl_agent_critic(rmtl_agent *ag, size_t task)
{
    return ag && task < ag->n_tasks ? ag->critics[task] : NULL;
}

uint64_t rmtl_agent_steps(const rmtl_agent *ag) { return ag ? ag->steps : 0; }

int rmtl_agent_update(rmtl_agent *ag, const rmtl_transitions *batch, rmtl_agent_report *report)
{
    RMTL__CHECK_ARG(ag, "agent");
    if (report && (report->version == 0 || report->version > RMTL_AGENT_REPORT_VERSION))
        return rmtl__error(RMTL_EINVAL, "rmtl_agent_update: 'report' not initialised with "
                                        "RMTL_AGENT_REPORT_INIT");
    rmtl_actor *a = ag->actor;
    size_t T = ag->n_tasks;
    int rc = rmtl__critic_check_batch(&a->model->lay, batch, "rmtl_agent_update");
    if (!rc)
        rc = rmtl__critic_reserve_next(&ag->next_a, &ag->next_cap, batch->rows * T);
    /* π'(s') once for all critics */
    if (!rc)
        rc = rmtl__actor_target_actions(a, ag->ctx, batch, ag->next_a);
    for (size_t k = 0; !rc && k < T; k++)
        rc = rmtl__critic_update_from(ag->critics[k], batch, ag->next_a, T,
                                      &ag->critic_loss[k]);
    uint64_t t = ag->steps;
    int act = t >= ag->hp.init_training_step && (t + 1) % ag->hp.actor_update_freq == 0;
    int soft = (t + 1) % ag->hp.soft_update_freq == 0;
    double aloss = NAN;
    if (!rc && act)
        rc = rmtl__actor_update_sorted(a, ag->critics, batch, &aloss);
    for (size_t k = 0; !rc && soft && k < T; k++)
        rc = rmtl_critic_soft_update(ag->critics[k]);
    if (!rc && soft)
        rc = rmtl_actor_soft_update(a);
    if (rc)
        return rc;
    ag->steps++;
    if (report) {
        report->step = ag->steps;
        report->n_tasks = T;
        report->critic_loss = ag->critic_loss;
        report->actor_updated = act;
        report->actor_loss = aloss;
        report->targets_updated = soft;
    }
    return 0;
}

int rmtl_agent_loss_weights(const rmtl_agent *ag, const rmtl_model *model, rmtl_ctx *ctx,
                            const rmtl_batch *batch, float *weights, size_t capacity)
{
    RMTL__CHECK_ARG(ag, "agent");
    return rmtl_critic_loss_weights((const rmtl_critic *const *)ag->critics, ag->n_tasks, model,
                                    ctx, batch, ag->hp.lambda, weights, capacity);
}

/* The agent lends its exchange to the actor and every critic (dist/gx.h);
 * each rank forks the random streams so dropout and noise differ by rank. */
int rmtl_agent_set_grad_exchange(rmtl_agent *ag, const rmtl_grad_exchange *exchange)
{
    static const char fn[] = "rmtl_agent_set_grad_exchange";
    RMTL__CHECK_ARG(ag, "agent");
    int rc = rmtl__gx_set(&ag->gx, exchange, fn);
    if (rc)
        return rc;
    rmtl__gx *gx = exchange ? &ag->gx : NULL;
    ag->actor->gx = gx;
    for (size_t k = 0; k < ag->n_tasks; k++) {
        rmtl_critic *c = ag->critics[k];
        c->gx = gx;
        if (exchange) {
            rmtl__gx_fork_rng(&c->dropout_rng, exchange->rank);
            rmtl__gx_fork_rng(&c->noise_rng, exchange->rank);
        }
    }
    return 0;
}

/* One critic's update against an actor's target actions: it composes the
 * two handles, so it lives here and critic.c never calls the actor. */
int rmtl_critic_update(rmtl_critic *c, const rmtl_actor *actor, const rmtl_transitions *batch,
                       double *loss)
{
    RMTL__CHECK_ARG(c, "critic");
    RMTL__CHECK_ARG(actor, "actor");
    const rmtl__layout *al = &actor->model->lay;
    int same = al->n_cat == c->lay.n_cat && al->n_num == c->lay.n_num &&
               al->n_tasks == c->lay.n_tasks;
    for (size_t f = 0; same && f < al->n_cat; f++)
        same = al->vocab[f] == c->lay.vocab[f];
    if (!same)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_critic_update: the actor's inputs or tasks differ from the "
                           "critic's");
    int rc = rmtl__critic_check_batch(&c->lay, batch, "rmtl_critic_update");
    if (!rc)
        rc = rmtl__critic_reserve_next(&c->next_a, &c->next_cap, batch->rows * c->n_tasks);
    if (!rc)
        rc = rmtl__actor_target_actions(actor, c->ctx, batch, c->next_a);
    if (rc)
        return rc;
    return rmtl__critic_update_from(c, batch, c->next_a, c->n_tasks, loss);
}
