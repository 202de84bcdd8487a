/* Fusion handle: configuration, networks, deployed policy, fixed mode. */
#include "fusion/fusion.h"

#include "core/internal.h"
#include "nn/gemm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int rmtl__fusion_dims(rmtl_fusion *f)
{
    const rmtl__fopts *o = &f->o;
    int rc = rmtl__fopts_read(&f->o, f->cfg);
    if (rc)
        return rc;
    f->T = o->tasks;
    f->gran = o->pair ? RMTL_FUSION_PAIR : RMTL_FUSION_USER;
    f->formula = o->product ? RMTL_FUSION_PRODUCT : RMTL_FUSION_SUM;
    f->A = o->product ? 2 * f->T : f->T;
    f->R = o->n_reward;
    f->G = o->critic_groups;
    f->M = o->critic_ensemble;
    f->user_dim = o->user_dim;
    f->item_dim = o->item_dim;
    f->ctx_dim = o->context_dim;
    f->state_dim = f->user_dim + f->item_dim + f->ctx_dim;
    f->score_in = o->scores ? f->T : 0;
    f->in_req = f->user_dim + f->ctx_dim;
    f->in_pair = o->pair ? f->item_dim + f->score_in : 0;
    f->in_act = f->in_req + f->in_pair;
    f->in_crit = f->in_act + f->A;
    f->in_item = f->user_dim + f->ctx_dim + f->item_dim + f->T;
    f->rho = (float)o->explore_width;
    /* The single-pair path keeps two layers and the pair input on the
     * stack; these bounds make that safe for any config. */
    for (size_t i = 0; i < o->n_actor_hidden; i++)
        if (o->actor_hidden[i] > RMTL__FUSE_WIDTH_MAX)
            return rmtl__error(RMTL_ECONFIG,
                               "fusion.actor_hidden: width %zu exceeds %d, the widest layer "
                               "the allocation-free serving path takes",
                               o->actor_hidden[i], RMTL__FUSE_WIDTH_MAX);
    if (f->in_pair > RMTL__FUSE_WIDTH_MAX)
        return rmtl__error(RMTL_ECONFIG,
                           "fusion.state.item_dim: item_dim + tasks = %zu exceeds %d, the "
                           "widest pair input the allocation-free serving path takes",
                           f->in_pair, RMTL__FUSE_WIDTH_MAX);
    if (f->in_act == 0)
        return rmtl__error(RMTL_ECONFIG, "fusion.state: the actor's state is empty");
    for (size_t k = 0; k < f->A; k++) {
        int w = k < f->T;
        f->lo[k] = (float)(w ? o->weight_min : o->bias_min);
        f->hi[k] = (float)(w ? o->weight_max : o->bias_max);
    }
    return 0;
}

int rmtl__fusion_build(rmtl_fusion *f)
{
    const rmtl__fopts *o = &f->o;
    int rc = rmtl__blis_init(o->rt.blis_arch);
    if (rc)
        return rc;
    const size_t *aw = o->actor_hidden, *cw = o->critic_hidden;
    size_t na = o->n_actor_hidden, nc = o->n_critic_hidden;
    uint64_t seed = o->rt.seed;
    rmtl__rng init, scratch;
    rmtl__rng_seed(&init, seed, RMTL__STREAM_INIT);
    rmtl__rng_seed(&scratch, seed, RMTL__STREAM_INIT);
    rmtl__rng_seed(&f->rng, seed, RMTL__STREAM_SAMPLE);
    rmtl__rng noise;
    rmtl__rng_seed(&noise, seed, RMTL__STREAM_NOISE);
    f->noise = rmtl__rng_u64(&noise);
    rmtl__flog_init(&f->log, f->state_dim, f->T, f->A, f->R);
    rmtl__params_init(&f->actor_ps);
    rmtl__params_init(&f->actor_tps);
    rmtl__params_init(&f->critic_ps);
    rmtl__params_init(&f->critic_tps);
    rmtl__params_init(&f->dep_ps);
    rc = rmtl__mlp_init(&f->actor, &f->actor_ps, "actor", f->in_act, aw, na, f->A, 0.0f, &init);
    if (!rc)
        rc = rmtl__mlp_init(&f->actor_t, &f->actor_tps, "actor", f->in_act, aw, na, f->A, 0.0f,
                            &scratch);
    if (!rc)
        rc = rmtl__mlp_init(&f->dep, &f->dep_ps, "actor", f->in_act, aw, na, f->A, 0.0f,
                            &scratch);
    if (rc)
        return rc;
    size_t nq = f->G * f->M;
    f->critic = rmtl__calloc(nq, sizeof *f->critic);
    f->critic_t = rmtl__calloc(nq, sizeof *f->critic_t);
    if (!f->critic || !f->critic_t)
        return rmtl__error(RMTL_ENOMEM, "fusion: out of memory for %zu critics", nq);
    for (size_t i = 0; i < nq; i++) {
        char name[64];
        snprintf(name, sizeof name, "critic.%zu.%zu", i / f->M, i % f->M);
        /* objective list: action-free item values, two heads (immediate,
         * continuation); pair: Q(s, a) */
        size_t in = o->list ? f->in_item : f->in_crit, out = o->list ? 2 : 1;
        rc = rmtl__mlp_init(&f->critic[i], &f->critic_ps, name, in, cw, nc, out, 0.0f, &init);
        if (!rc)
            rc = rmtl__mlp_init(&f->critic_t[i], &f->critic_tps, name, in, cw, nc, out, 0.0f,
                                &scratch);
        if (rc)
            return rc;
    }
    if ((rc = rmtl__params_copy(&f->actor_tps, &f->actor_ps)) ||
        (rc = rmtl__params_copy(&f->dep_ps, &f->actor_ps)) ||
        (rc = rmtl__params_copy(&f->critic_tps, &f->critic_ps)))
        return rc;
    rmtl__hp_optim_adam(&f->actor_opt, &o->optim, o->actor_lr);
    rmtl__hp_optim_adam(&f->critic_opt, &o->optim, o->critic_lr);
    rmtl__ws_init(&f->ws, o->rt.threads);
    rmtl__ws_init(&f->ws_net, o->rt.threads);
    return rmtl__fserve_build(&f->serve, &f->dep, f->user_dim, f->ctx_dim, f->in_pair);
}

void rmtl_fusion_free(rmtl_fusion *f)
{
    if (!f)
        return;
    rmtl__fserve_free(&f->serve);
    rmtl__mlp_free(&f->actor);
    rmtl__mlp_free(&f->actor_t);
    rmtl__mlp_free(&f->dep);
    for (size_t i = 0; f->critic && i < f->G * f->M; i++)
        rmtl__mlp_free(&f->critic[i]);
    for (size_t i = 0; f->critic_t && i < f->G * f->M; i++)
        rmtl__mlp_free(&f->critic_t[i]);
    rmtl__free(f->critic);
    rmtl__free(f->critic_t);
    rmtl__params_free(&f->actor_ps);
    rmtl__params_free(&f->actor_tps);
    rmtl__params_free(&f->critic_ps);
    rmtl__params_free(&f->critic_tps);
    rmtl__params_free(&f->dep_ps);
    rmtl__ws_free(&f->ws);
    rmtl__ws_free(&f->ws_net);
    rmtl__gx_free(&f->gx);
    rmtl__flog_free(&f->log);
    rmtl_config_free(f->cfg);
    rmtl__free(f);
}

int rmtl_fusion_create(rmtl_fusion **out, const rmtl_config *cfg)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(cfg, "cfg");
    rmtl_fusion *f = rmtl__calloc(1, sizeof *f);
    if (!f)
        return rmtl__error(RMTL_ENOMEM, "rmtl_fusion_create: out of memory");
    int rc = rmtl_config_clone(&f->cfg, cfg);
    if (!rc)
        rc = rmtl__fusion_dims(f);
    if (!rc)
        rc = rmtl__fusion_build(f);
    if (rc) {
        rmtl_fusion_free(f);
        return rmtl__error_prefix(rc, "rmtl_fusion_create");
    }
    *out = f;
    return RMTL_OK;
}

int rmtl_fusion_describe(rmtl_fusion_info *out, const rmtl_fusion *f)
{
    RMTL__CHECK_ARG(out, "out");
    RMTL__CHECK_ARG(f, "f");
    if (out->version != RMTL_FUSION_INFO_VERSION)
        return rmtl__error(RMTL_EINVAL, "rmtl_fusion_describe: unknown info version %u",
                           (unsigned)out->version);
    out->tasks = f->T;
    out->user_dim = f->user_dim;
    out->item_dim = f->item_dim;
    out->context_dim = f->ctx_dim;
    out->state_dim = f->state_dim;
    out->action_dim = f->A;
    out->reward_dim = f->R;
    out->granularity = f->gran;
    out->formula = f->formula;
    out->fixed = f->fixed;
    out->steps = f->steps;
    out->actor_params = rmtl__params_size(&f->actor_ps);
    return RMTL_OK;
}

int rmtl_fusion_set_fixed(rmtl_fusion *f, const float *action, size_t len)
{
    RMTL__CHECK_ARG(f, "f");
    if (!action) {
        f->fixed = 0;
        return RMTL_OK;
    }
    if (len != f->A)
        return rmtl__error(RMTL_EINVAL, "rmtl_fusion_set_fixed: action has %zu values, the "
                           "fusion's actions have %zu", len, f->A);
    for (size_t k = 0; k < len; k++)
        if (!(action[k] >= f->lo[k] && action[k] <= f->hi[k]))
            return rmtl__error(RMTL_EINVAL, "rmtl_fusion_set_fixed: action[%zu] = %g is outside "
                               "its bounds [%g, %g] (fusion.%s_min/max)", k, (double)action[k],
                               (double)f->lo[k], (double)f->hi[k], k < f->T ? "weight" : "bias");
    memcpy(f->fixed_action, action, len * sizeof *action);
    f->fixed = 1;
    return RMTL_OK;
}

int rmtl_fusion_deploy(rmtl_fusion *f)
{
    RMTL__CHECK_ARG(f, "f");
    int rc = rmtl__fserve_build(&f->serve, &f->actor, f->user_dim, f->ctx_dim, f->in_pair);
    if (!rc)
        rc = rmtl__params_copy(&f->dep_ps, &f->actor_ps); /* same architecture: cannot fail */
    if (rc)
        return rmtl__error_prefix(rc, "rmtl_fusion_deploy");
    f->fixed = 0;
    return RMTL_OK;
}

/* |2(a − lo)/(hi − lo) − 1| at most this, so that a fixed action on a bound
 * starts the actor where tanh still has a slope (1% of the range inside). */
#define RMTL__WARM_MAX 0.98

int rmtl__fusion_actor_from_fixed(rmtl_fusion *f)
{
    if (!f->fixed)
        return RMTL_OK;
    rmtl__linear *out = &f->actor.lin[f->actor.n_lin - 1];
    memset(out->w->w, 0, out->w->rows * out->w->cols * sizeof *out->w->w);
    for (size_t k = 0; k < f->A; k++) {
        double range = (double)f->hi[k] - f->lo[k];
        double u = range > 0 ? 2.0 * ((double)f->fixed_action[k] - f->lo[k]) / range - 1.0 : 0.0;
        u = u > RMTL__WARM_MAX ? RMTL__WARM_MAX : u < -RMTL__WARM_MAX ? -RMTL__WARM_MAX : u;
        out->b->w[k] = (float)atanh(u);
    }
    return rmtl__params_copy(&f->actor_tps, &f->actor_ps);
}

void rmtl__fusion_state_row(const rmtl_fusion *f, const float *state, const float *scores,
                            float *row)
{
    size_t u = f->user_dim, i = f->item_dim, c = f->ctx_dim;
    memcpy(row, state, u * sizeof *row);
    memcpy(row + u, state + u + i, c * sizeof *row);
    if (f->in_pair) {
        memcpy(row + u + c, state + u, i * sizeof *row);
        memcpy(row + u + c + i, scores, f->score_in * sizeof *row);
    }
}

void rmtl__fusion_squash(const rmtl_fusion *f, const float *z, float *a)
{
    for (size_t k = 0; k < f->A; k++)
        a[k] = f->lo[k] + (f->hi[k] - f->lo[k]) * 0.5f * (tanhf(z[k]) + 1.0f);
}

/* p_i + b_i below this is taken as this (ours): log stays finite for a
 * zero score with a zero bias, so 0^w ranks last instead of being −inf
 * (or NaN for w = 0). */
#define RMTL__FUSE_EPS 1e-12

float rmtl__fusion_formula(int formula, size_t T, const float *p, const float *a)
{
    double s = 0.0;
    if (formula == RMTL_FUSION_PRODUCT) {
        for (size_t i = 0; i < T; i++) {
            double x = (double)p[i] + (double)a[T + i];
            s += (double)a[i] * log(x > RMTL__FUSE_EPS ? x : RMTL__FUSE_EPS);
        }
    } else {
        for (size_t i = 0; i < T; i++)
            s += (double)a[i] * (double)p[i];
    }
    return (float)s;
}

/* Gradient exchange of the train step (dist/gx.h). */
int rmtl_fusion_set_grad_exchange(rmtl_fusion *f, const rmtl_grad_exchange *exchange)
{
    RMTL__CHECK_ARG(f, "f");
    return rmtl__gx_set(&f->gx, exchange, "rmtl_fusion_set_grad_exchange");
}
