/* The simulator's parameters: defaults, the mapping from a config, and
 * validation with messages that name the key. */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "sim/sim.h"

void rmtl__sim_params_default(struct rmtl__sim_params *p)
{
    static const struct rmtl__sim_params def = {
        .users = 2000,
        .items = 2000,
        .latent_dim = 16,
        .candidates = 200,
        .top_l = 5,
        .max_requests = 30,
        .leave_base = 0.3,
        .leave_reward_slope = 0.5,
        .fatigue = 0.02,
        .tasks = 2,
        .sessions = 2000,
        .n_reward_coef = 2,
        .reward_coef = {1.0, 5.0},
        .user_dim = 16,
        .item_dim = 16,
        .context_dim = 4,

        .segments = 8,
        .activity_levels = 4,
        .regions = 6,
        .categories = 20,
        .brands = 100,
        .price_buckets = 5,
        .pop_buckets = 5,
        .segment_share = 0.6,
        .category_share = 0.5,
        .brand_share = 0.2,
        .feature_noise = 0.5,
        .pop_mix = 0.3,
        .interest_temp = 1.0,
        .pop_skew = 1.0,
        .pop_quality = 1.0,
        .truth_bias = {-2.0, -1.2, -0.8},
        .truth_affinity = {1.0, 0.7, 0.6},
        .truth_quality = {0.4, 0.3, 0.5},
        .region_sd = 0.3,
        .activity_step = 0.15,
        .price_sens_mean = 0.6,
        .price_sens_sd = 0.3,
        .position_decay = 0.3,
        .affinity_cache_max = INT64_C(1) << 25, /* 128 MiB */
        /* docs/simulator.md, "Long-term dynamics": chosen once from
         * RecSim's and KuaiSim's defaults, never tuned on fusion results */
        .sat_enabled = 0,
        .sat_click = 0.11,
        .sat_memory = 0.7,
        .sat_leave = 0.5,
        .sat_brand_share = 0.5,
        .sat_feature_noise = 1.0,
    };
    *p = def;
}

void rmtl__sim_params_from_config(struct rmtl__sim_params *p, const struct rmtl__settings *cp)
{
    rmtl__sim_params_default(p);
    p->users = cp->sim.users;
    p->items = cp->sim.items;
    p->latent_dim = cp->sim.latent_dim;
    p->candidates = cp->sim.candidates;
    p->top_l = cp->sim.top_l;
    p->max_requests = cp->sim.max_requests;
    p->leave_base = cp->sim.leave_base;
    p->leave_reward_slope = cp->sim.leave_reward_slope;
    p->fatigue = cp->sim.fatigue;
    p->tasks = cp->sim.tasks;
    p->sessions = cp->sim.sessions;
    p->n_reward_coef = cp->fusion.reward_coef.n;
    memcpy(p->reward_coef, cp->fusion.reward_coef.v,
           sizeof(double) * (p->n_reward_coef < RMTL__SIM_COEF_CAP ? p->n_reward_coef
                                                                   : RMTL__SIM_COEF_CAP));
    p->user_dim = cp->fusion.state.user_dim;
    p->item_dim = cp->fusion.state.item_dim;
    p->context_dim = cp->fusion.state.context_dim;
    p->sat_enabled = cp->sim.satisfaction.enabled;
    p->sat_click = cp->sim.satisfaction.click;
    p->sat_memory = cp->sim.satisfaction.memory;
    p->sat_leave = cp->sim.satisfaction.leave;
    p->sat_brand_share = cp->sim.satisfaction.brand_share;
    p->sat_feature_noise = cp->sim.satisfaction.feature_noise;
}

/* Integer key in [lo, hi]. */
static int rmtl__int_in(const char *key, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo || v > hi)
        return rmtl__error(RMTL_ECONFIG, "%s: %lld is out of range [%lld, %lld]", key,
                           (long long)v, (long long)lo, (long long)hi);
    return 0;
}

/* Finite real key in [lo, hi]. */
static int rmtl__dbl_in(const char *key, double v, double lo, double hi)
{
    if (!(v >= lo && v <= hi)) /* NaN fails too */
        return rmtl__error(RMTL_ECONFIG, "%s: %g is out of range [%g, %g]", key, v, lo, hi);
    return 0;
}

/* Ids and counts must fit the int32 categorical ids and uint32 item ids. */
#define RMTL__SIM_ID_MAX (INT64_C(1) << 30)
#define RMTL__SIM_DIM_MAX 65536

static int rmtl__check_sizes(const struct rmtl__sim_params *p)
{
    int rc;
    if ((rc = rmtl__int_in("sim.users", p->users, 1, RMTL__SIM_ID_MAX)) ||
        (rc = rmtl__int_in("sim.items", p->items, 1, RMTL__SIM_ID_MAX)) ||
        (rc = rmtl__int_in("sim.latent_dim", p->latent_dim, 1, 1024)) ||
        (rc = rmtl__int_in("sim.candidates", p->candidates, 1, RMTL__SIM_ID_MAX)) ||
        (rc = rmtl__int_in("sim.top_l", p->top_l, 1, RMTL__SIM_ID_MAX)) ||
        (rc = rmtl__int_in("sim.max_requests", p->max_requests, 1, 1000000)) ||
        (rc = rmtl__int_in("sim.tasks", p->tasks, 1, RMTL__SIM_TASKS)) ||
        (rc = rmtl__int_in("sim.sessions", p->sessions, 1, INT64_MAX)) ||
        (rc = rmtl__int_in("fusion.state.user_dim", p->user_dim, 0, RMTL__SIM_DIM_MAX)) ||
        (rc = rmtl__int_in("fusion.state.item_dim", p->item_dim, 0, RMTL__SIM_DIM_MAX)))
        return rc;
    if (p->candidates > p->items)
        return rmtl__error(RMTL_ECONFIG,
                           "sim.candidates (%lld) exceeds sim.items (%lld): candidates are "
                           "distinct items",
                           (long long)p->candidates, (long long)p->items);
    if (p->top_l > p->candidates)
        return rmtl__error(RMTL_ECONFIG, "sim.top_l (%lld) exceeds sim.candidates (%lld)",
                           (long long)p->top_l, (long long)p->candidates);
    if (p->context_dim < 0 || p->context_dim > RMTL__SIM_CONTEXT_MAX)
        return rmtl__error(RMTL_ECONFIG,
                           "fusion.state.context_dim: %lld, but the simulator defines %d "
                           "context features (0 to %d may be used)",
                           (long long)p->context_dim, RMTL__SIM_CONTEXT_MAX,
                           RMTL__SIM_CONTEXT_MAX);
    if (p->n_reward_coef != (size_t)p->tasks)
        return rmtl__error(RMTL_ECONFIG,
                           "fusion.reward_coef: %zu coefficients, but sim.tasks is %lld "
                           "(one coefficient per simulated behaviour)",
                           p->n_reward_coef, (long long)p->tasks);
    for (size_t k = 0; k < p->n_reward_coef; k++)
        if (!isfinite(p->reward_coef[k]))
            return rmtl__error(RMTL_ECONFIG, "fusion.reward_coef: entry %zu is not finite",
                               k + 1);
    return 0;
}

static int rmtl__check_world(const struct rmtl__sim_params *p)
{
    int rc;
    if ((rc = rmtl__int_in("sim.segments", p->segments, 1, 65536)) ||
        (rc = rmtl__int_in("sim.activity_levels", p->activity_levels, 1, 64)) ||
        (rc = rmtl__int_in("sim.regions", p->regions, 1, 65536)) ||
        (rc = rmtl__int_in("sim.categories", p->categories, 1, 65536)) ||
        (rc = rmtl__int_in("sim.brands", p->brands, 1, RMTL__SIM_ID_MAX)) ||
        (rc = rmtl__int_in("sim.price_buckets", p->price_buckets, 1, 65536)) ||
        (rc = rmtl__int_in("sim.pop_buckets", p->pop_buckets, 1, 65536)) ||
        (rc = rmtl__dbl_in("sim.segment_share", p->segment_share, 0.0, 1.0)) ||
        (rc = rmtl__dbl_in("sim.category_share", p->category_share, 0.0, 1.0)) ||
        (rc = rmtl__dbl_in("sim.brand_share", p->brand_share, 0.0, 1.0)) ||
        (rc = rmtl__dbl_in("sim.feature_noise", p->feature_noise, 0.0, 1e3)) ||
        (rc = rmtl__dbl_in("sim.pop_mix", p->pop_mix, 0.0, 1.0)) ||
        (rc = rmtl__dbl_in("sim.interest_temp", p->interest_temp, 0.0, 100.0)) ||
        (rc = rmtl__dbl_in("sim.pop_skew", p->pop_skew, 0.0, 10.0)) ||
        (rc = rmtl__dbl_in("sim.pop_quality", p->pop_quality, -10.0, 10.0)) ||
        (rc = rmtl__dbl_in("sim.region_sd", p->region_sd, 0.0, 10.0)) ||
        (rc = rmtl__dbl_in("sim.activity_step", p->activity_step, -10.0, 10.0)) ||
        (rc = rmtl__dbl_in("sim.price_sens_mean", p->price_sens_mean, 0.0, 10.0)) ||
        (rc = rmtl__dbl_in("sim.price_sens_sd", p->price_sens_sd, 0.0, 10.0)) ||
        (rc = rmtl__dbl_in("sim.position_decay", p->position_decay, 0.0, 10.0)) ||
        (rc = rmtl__int_in("sim.affinity_cache_max", p->affinity_cache_max, 0, INT64_MAX)))
        return rc;
    if (p->brands < p->categories)
        return rmtl__error(RMTL_ECONFIG,
                           "sim.brands (%lld) is below sim.categories (%lld): every category "
                           "needs a brand",
                           (long long)p->brands, (long long)p->categories);
    if (p->category_share + p->brand_share > 1.0)
        return rmtl__error(RMTL_ECONFIG,
                           "sim.category_share + sim.brand_share (%g) exceed 1: they are "
                           "shares of one variance",
                           p->category_share + p->brand_share);
    static const char *const names[3][RMTL__SIM_TASKS] = {
        {"sim.truth.bias[click]", "sim.truth.bias[purchase]", "sim.truth.bias[like]"},
        {"sim.truth.affinity[click]", "sim.truth.affinity[purchase]", "sim.truth.affinity[like]"},
        {"sim.truth.quality[click]", "sim.truth.quality[purchase]", "sim.truth.quality[like]"}};
    for (int k = 0; k < RMTL__SIM_TASKS; k++)
        if ((rc = rmtl__dbl_in(names[0][k], p->truth_bias[k], -20.0, 20.0)) ||
            (rc = rmtl__dbl_in(names[1][k], p->truth_affinity[k], -20.0, 20.0)) ||
            (rc = rmtl__dbl_in(names[2][k], p->truth_quality[k], -20.0, 20.0)))
            return rc;
    return 0;
}

int rmtl__sim_params_validate(const struct rmtl__sim_params *p)
{
    RMTL__CHECK_ARG(p, "params");
    int rc;
    if ((rc = rmtl__check_sizes(p)) ||
        (rc = rmtl__dbl_in("sim.leave_base", p->leave_base, 0.0, 1.0)) ||
        (rc = rmtl__dbl_in("sim.leave_reward_slope", p->leave_reward_slope, 0.0, 1e6)) ||
        (rc = rmtl__dbl_in("sim.fatigue", p->fatigue, 0.0, 1e6)) ||
        (rc = rmtl__dbl_in("sim.satisfaction.click", p->sat_click, 0.0, 5.0)) ||
        (rc = rmtl__dbl_in("sim.satisfaction.memory", p->sat_memory, 0.0, 1.0)) ||
        (rc = rmtl__dbl_in("sim.satisfaction.leave", p->sat_leave, 0.0, 100.0)) ||
        (rc = rmtl__dbl_in("sim.satisfaction.brand_share", p->sat_brand_share, 0.0, 1.0)) ||
        (rc = rmtl__dbl_in("sim.satisfaction.feature_noise", p->sat_feature_noise, 0.0, 1e3)))
        return rc;
    return rmtl__check_world(p);
}
