/* Registration of the gradient exchange on the training handles. */
#include "core/internal.h"
#include "dist/gx.h"
#include "fusion/fusion.h"
#include "mtl/model.h"
#include "rl/agent.h"

int rmtl_model_set_grad_exchange(rmtl_model *m, const rmtl_grad_exchange *exchange)
{
    static const char fn[] = "rmtl_model_set_grad_exchange";
    RMTL__CHECK_ARG(m, "m");
    int rc = rmtl__gx_set(&m->gx, exchange, fn);
    if (!rc && exchange)
        rmtl__gx_fork_rng(&m->drop, exchange->rank);
    return rc;
}

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

int rmtl_fusion_set_grad_exchange(rmtl_fusion *f, const rmtl_grad_exchange *exchange)
{
    RMTL__CHECK_ARG(f, "f");
    return rmtl__gx_set(&f->gx, exchange, "rmtl_fusion_set_grad_exchange");
}
