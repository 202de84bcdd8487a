/* rmtl_agent_train: the host's sample-and-update loop of docs/rmtl.md as
 * one call, with progress and cancellation. */
#include <math.h>

#include "core/internal.h"
#include "core/progress.h"
#include "rl/agent.h"

int rmtl_agent_train(rmtl_agent_report *last, rmtl_agent *agent, rmtl_replay *rb, size_t steps,
                     rmtl_progress_fn fn, void *payload)
{
    static const char what[] = "rmtl_agent_train";
    RMTL__CHECK_ARG(agent, "agent");
    RMTL__CHECK_ARG(rb, "rb");
    if (last && last->version != RMTL_AGENT_REPORT_VERSION)
        return rmtl__error(RMTL_EINVAL, "%s: unknown report version %u", what,
                           (unsigned)last->version);
    size_t held = rmtl_replay_size(rb);
    size_t batch = agent->hp.batch_size < held ? agent->hp.batch_size : held;
    if (steps > 0 && batch == 0)
        return rmtl__error(RMTL_ESTATE, "%s: the replay buffer is empty (fill it first)", what);
    rmtl__progress prog;
    rmtl__progress_start(&prog, fn, payload, what, steps);
    double sum = 0.0;
    int rc = 0;
    for (size_t i = 0; !rc && i < steps; i++) {
        rmtl_transitions t = RMTL_TRANSITIONS_INIT;
        rmtl_agent_report r = RMTL_AGENT_REPORT_INIT;
        if ((rc = rmtl_replay_sample(&t, rb, batch)) || (rc = rmtl_agent_update(agent, &t, &r)))
            return rmtl__error_prefix(rc, "%s", what);
        if (last)
            *last = r;
        double step_loss = 0.0; /* the mean over the task critics */
        for (size_t k = 0; k < r.n_tasks; k++)
            step_loss += r.critic_loss[k] / (double)r.n_tasks;
        sum += step_loss;
        rc = rmtl__progress_report(&prog, i + 1, sum / (double)(i + 1), 0);
    }
    return rc;
}
