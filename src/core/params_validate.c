/* Cross-parameter checks. Single values are range-checked whenever they
 * are set, so only relations between keys are left for here. */
#include "core/params.h"

#include "core/internal.h"

int rmtl__params_validate(const struct rmtl__settings *p)
{
    const rmtl__dlist *coef = &p->fusion.reward_coef;
    const rmtl__ilist *group = &p->fusion.reward_group;
    if (group->n != coef->n)
        return rmtl__error(RMTL_ECONFIG,
                           "fusion.reward_group: %zu entries but fusion.reward_coef has %zu; "
                           "give each reward part its critic group",
                           group->n, coef->n);
    int64_t groups = p->fusion.critic_groups;
    unsigned used = 0; /* critic_groups <= 16 */
    for (size_t i = 0; i < group->n; i++) {
        if (group->v[i] >= groups)
            return rmtl__error(RMTL_ECONFIG,
                               "fusion.reward_group: entry %zu is group %lld but "
                               "fusion.critic_groups is %lld (groups are 0 to %lld)",
                               i + 1, (long long)group->v[i], (long long)groups,
                               (long long)groups - 1);
        used |= 1u << group->v[i];
    }
    for (int64_t g = 0; g < groups; g++)
        if (!(used & (1u << g)))
            return rmtl__error(RMTL_ECONFIG,
                               "fusion.critic_groups: group %lld has no reward part in "
                               "fusion.reward_group, so its critics would learn nothing",
                               (long long)g);

    if (p->fusion.weight_min > p->fusion.weight_max)
        return rmtl__error(RMTL_ECONFIG, "fusion.weight_min (%g) exceeds fusion.weight_max (%g)",
                           p->fusion.weight_min, p->fusion.weight_max);
    if (p->fusion.bias_min > p->fusion.bias_max)
        return rmtl__error(RMTL_ECONFIG, "fusion.bias_min (%g) exceeds fusion.bias_max (%g)",
                           p->fusion.bias_min, p->fusion.bias_max);
    if (p->fusion.formula == RMTL__FORMULA_PRODUCT && p->fusion.bias_min < 0)
        return rmtl__error(RMTL_ECONFIG,
                           "fusion.bias_min: %g is negative, but fusion.formula product takes "
                           "log(p + b), which needs p + b > 0",
                           p->fusion.bias_min);

    int64_t user_part = p->fusion.state.user_dim + p->fusion.state.context_dim;
    if (p->fusion.granularity == RMTL__GRAN_USER && user_part == 0)
        return rmtl__error(RMTL_ECONFIG,
                           "fusion.state.user_dim + fusion.state.context_dim: the user-level "
                           "state is empty");
    if (p->fusion.granularity == RMTL__GRAN_PAIR && user_part == 0 &&
        p->fusion.state.item_dim == 0 && !p->fusion.state.scores)
        return rmtl__error(RMTL_ECONFIG,
                           "fusion.state: the pair state is empty (all dims 0 and scores false)");

    if (p->rl.batch_size > p->rl.buffer_size)
        return rmtl__error(RMTL_ECONFIG,
                           "rl.batch_size (%lld) exceeds rl.buffer_size (%lld): batches are "
                           "sampled without replacement",
                           (long long)p->rl.batch_size, (long long)p->rl.buffer_size);
    if (p->sim.top_l > p->sim.candidates)
        return rmtl__error(RMTL_ECONFIG, "sim.top_l (%lld) exceeds sim.candidates (%lld)",
                           (long long)p->sim.top_l, (long long)p->sim.candidates);
    return 0;
}
