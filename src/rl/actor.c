/* The actor: an MTL model under RL training (actor.h). */
#include "rl/actor.h"

#include "core/internal.h"
#include "mtl/batch.h"
#include "mtl/fold.h"
#include "rl/critic.h"
#include "rl/fill.h"
#include "mtl/net.h"
#include "rl/replay.h"
#include "rl/td.h"

#include <math.h>
#include <string.h>

/* The optimiser state a clone brought along is the supervised run's: the
 * actor starts a fresh Adam (as a new torch.optim.Adam would), and the
 * copies that never train keep no moments at all. */
static void rmtl__drop_moments(rmtl_model *m, int keep_zeroed)
{
    for (size_t i = 0; i < m->net.ps.n; i++) {
        rmtl__param *p = m->net.ps.p[i];
        if (keep_zeroed && p->m) {
            memset(p->m, 0, p->rows * p->cols * sizeof(float));
            memset(p->v, 0, p->rows * p->cols * sizeof(float));
        } else if (!keep_zeroed) {
            rmtl__free(p->m);
            rmtl__free(p->v);
            p->m = p->v = NULL;
        }
    }
}

int rmtl__actor_wrap(rmtl_actor **out, const rmtl_config *cfg, rmtl_model *model)
{
    *out = NULL;
    rmtl__rlhp hp;
    int rc = rmtl__rlhp_from_config(&hp, cfg);
    if (!rc && model->lay.n_tasks > RMTL__FILL_TASKS_MAX)
        rc = rmtl__error(RMTL_EINVAL, "actor: %zu tasks, at most %d", model->lay.n_tasks,
                         RMTL__FILL_TASKS_MAX);
    rmtl_actor *a = rc ? NULL : rmtl__calloc(1, sizeof *a);
    if (!a) {
        rmtl_model_free(model);
        return rc ? rc : rmtl__error(RMTL_ENOMEM, "actor: out of memory");
    }
    a->model = model;
    a->hp = hp;
    a->n_tasks = model->lay.n_tasks;
    rmtl__hp_optim_adam(&a->opt, &hp.optim, hp.actor_lr);
    rmtl__rng_seed(&a->noise_rng, hp.rt.seed, RMTL__STREAM_ACTOR_NOISE);
    rc = rmtl_config_clone(&a->cfg, cfg);
    if (!rc)
        rc = rmtl_model_clone(&a->target, model);
    if (!rc)
        rc = rmtl_model_clone(&a->anchor, model);
    if (!rc)
        rc = rmtl_ctx_create(&a->ctx, hp.rt.threads);
    if (rc) {
        rmtl_actor_free(a);
        return rc;
    }
    rmtl__drop_moments(a->target, 0);
    rmtl__drop_moments(a->anchor, 0);
    *out = a;
    return 0;
}

int rmtl_actor_create(rmtl_actor **out, const rmtl_config *cfg, const rmtl_model *pretrained)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(pretrained, "pretrained");
    RMTL__CHECK_ARG(cfg, "cfg");
    rmtl_model *m;
    int rc = rmtl_model_clone(&m, pretrained);
    if (rc)
        return rc;
    rmtl__drop_moments(m, 1);
    return rmtl__actor_wrap(out, cfg, m);
}

void rmtl_actor_free(rmtl_actor *a)
{
    if (!a)
        return;
    rmtl_config_free(a->cfg);
    rmtl_model_free(a->model);
    rmtl_model_free(a->target);
    rmtl_model_free(a->anchor);
    rmtl_ctx_free(a->ctx);
    rmtl__free(a);
}

const rmtl_model *rmtl_actor_model(const rmtl_actor *a) { return a ? a->model : NULL; }

uint64_t rmtl_actor_updates(const rmtl_actor *a) { return a ? a->updates : 0; }

/* π(s) + clip(N(0, σ), −c, c), clamped to the action space [0, 1]. */
static void rmtl__explore(rmtl_actor *a, size_t n, float *act)
{
    for (size_t i = 0; i < n; i++) {
        double e = a->hp.explore_noise * rmtl__rng_normal(&a->noise_rng);
        double c = a->hp.noise_clip, v = act[i] + (e < -c ? -c : e > c ? c : e);
        act[i] = (float)(v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v);
    }
}

int rmtl_actor_act(rmtl_actor *a, const rmtl_batch *states, int explore, float *actions,
                   size_t capacity)
{
    RMTL__CHECK_ARG(a, "actor");
    int rc = rmtl_model_predict(a->model, a->ctx, states, actions, capacity);
    if (rc)
        return rc;
    if (explore)
        rmtl__explore(a, states->rows * a->n_tasks, actions);
    return 0;
}

/* The states (or next states) of t as a batch. */
static rmtl_batch rmtl__states(const rmtl_transitions *t, int next)
{
    rmtl_batch b = RMTL_BATCH_INIT;
    b.rows = t->rows;
    b.cat = next ? t->next_cat : t->cat;
    b.num = next ? t->next_num : t->num;
    return b;
}

int rmtl__actor_target_actions(const rmtl_actor *a, rmtl_ctx *ctx, const rmtl_transitions *t,
                               float *out)
{
    rmtl_batch b = rmtl__states(t, 1);
    int rc = rmtl__fold_refresh(&a->target->net, &ctx->ws.rt,
                                rmtl__fold_limit(a->fold, t->rows));
    return rc ? rc : rmtl_model_predict(a->target, ctx, &b, out, t->rows * a->n_tasks);
}

int rmtl__actor_match_critics(const rmtl_actor *a, rmtl_critic *const *critics, size_t n,
                              rmtl_critic **by_task, const char *fn)
{
    const rmtl__layout *l = &a->model->lay;
    if (!critics || n != a->n_tasks)
        return rmtl__error(RMTL_EINVAL, "%s: %zu critics given, the actor has %zu tasks", fn,
                           critics ? n : 0, a->n_tasks);
    for (size_t k = 0; k < n; k++)
        by_task[k] = NULL;
    for (size_t i = 0; i < n; i++) {
        const rmtl_critic *c = critics[i];
        if (!c)
            return rmtl__error(RMTL_EINVAL, "%s: critic %zu is NULL", fn, i);
        int same = c->n_tasks == l->n_tasks && c->lay.n_cat == l->n_cat &&
                   c->lay.n_num == l->n_num;
        for (size_t f = 0; same && f < l->n_cat; f++)
            same = c->lay.vocab[f] == l->vocab[f];
        if (!same)
            return rmtl__error(RMTL_EINVAL,
                               "%s: critic %zu was built for other inputs or tasks than the "
                               "actor's",
                               fn, i);
        if (by_task[c->task])
            return rmtl__error(RMTL_EINVAL, "%s: two critics for task %zu", fn, c->task);
        by_task[c->task] = critics[i];
    }
    return 0;
}

/* β·(1/P)·Σ_p mean((θ_p − θ0_p)²) over the P parameter tensors (the
 * reference's mean of per-tensor MSEs), and its gradient added to g. The
 * gradient is dense, so every row of a sparse table counts as touched. */
static double rmtl__bc_term(rmtl__params *ps, const rmtl__params *anchor, double beta)
{
    double total = 0.0, np = (double)ps->n;
    for (size_t i = 0; i < ps->n; i++) {
        rmtl__param *p = ps->p[i];
        const float *w0 = anchor->p[i]->w;
        size_t len = p->rows * p->cols;
        double s = 0.0, c = 2.0 * beta / (np * (double)len);
        for (size_t j = 0; j < len; j++) {
            double d = (double)p->w[j] - w0[j];
            s += d * d;
            p->g[j] += (float)(c * d);
        }
        if (p->sparse)
            for (size_t r = 0; r < p->rows; r++)
                rmtl__param_touch(p, r);
        total += s / (double)len;
    }
    return beta * total / np;
}

/* The actor's loss on checked transitions and its gradient, accumulated
 * into the model's (zeroed) parameter gradients; no step. */
int rmtl__actor_grad(rmtl_actor *a, rmtl_critic *const *by_task, const rmtl_transitions *t,
                     double *loss)
{
    rmtl_model *m = a->model;
    size_t n = t->rows, T = a->n_tasks;
    rmtl_batch b = rmtl__states(t, 0);
    int rc = rmtl__batch_check(&m->lay, &b, 0);
    if (rc)
        return rc;
    rmtl__ws_reset(&m->ws);
    float *pi = rmtl__ws_alloc(&m->ws, n * T), *dpi = rmtl__ws_alloc(&m->ws, n * T);
    float *w = a->hp.ips ? rmtl__ws_alloc(&m->ws, n) : NULL; /* one task's at a time */
    if (!pi || !dpi || (a->hp.ips && !w))
        return RMTL_ENOMEM;
    /* training mode without dropout: the reference runs its actor in
     * evaluation mode, but the backward needs the recording */
    rmtl__net_pass np;
    rc = rmtl__net_forward(&np, &m->net, &m->ws, &m->tape, NULL, 1, &b, pi, T);
    np.ps.group_vocab = rmtl__fold_limit(a->fold, n);
    double qsum = 0.0;
    for (size_t k = 0; !rc && k < T; k++) {
        if (w)
            rmtl__ips_weights(n, t->labels + k, T, w);
        double qk = 0.0;
        rc = rmtl__critic_action_grad(by_task[k], n, t->cat, t->num, pi + k, T, w, 1, dpi + k, T,
                                      &qk);
        qsum += qk;
    }
    if (!rc)
        rc = rmtl__net_backward(&np, dpi, T);
    if (rc)
        return rc;
    double l = -qsum / (double)n;
    if (a->hp.bc_weight > 0.0)
        l += rmtl__bc_term(&m->net.ps, &a->anchor->net.ps, a->hp.bc_weight);
    *loss = l;
    return 0;
}

int rmtl__actor_update_sorted(rmtl_actor *a, rmtl_critic *const *by_task,
                              const rmtl_transitions *t, double *loss)
{
    rmtl__params *ps = &a->model->net.ps;
    rmtl__params_zero_grad(ps);
    double l = 0.0;
    int rc = rmtl__actor_grad(a, by_task, t, &l);
    if (!rc)
        rc = rmtl__gx_reduce(a->gx, ps, t->rows, &l, 1, "actor update");
    if (!rc && !isfinite(l))
        rc = rmtl__error(RMTL_ENUMERIC, "actor: the loss is not finite (%g)", l);
    if (!rc)
        rc = rmtl__adam_step(&a->opt, &a->model->ws.rt, ps, NULL);
    rmtl__params_zero_grad(ps);
    if (rc)
        return rc;
    a->updates++;
    if (loss)
        *loss = l;
    return 0;
}

int rmtl_actor_update(rmtl_actor *a, rmtl_critic *const *critics, size_t n_critics,
                      const rmtl_transitions *batch, double *loss)
{
    RMTL__CHECK_ARG(a, "actor");
    rmtl_critic *by_task[RMTL__FILL_TASKS_MAX];
    int rc = rmtl__actor_match_critics(a, critics, n_critics, by_task, "rmtl_actor_update");
    if (!rc)
        rc = rmtl__critic_check_batch(&a->model->lay, batch, "rmtl_actor_update");
    if (rc)
        return rc;
    return rmtl__actor_update_sorted(a, by_task, batch, loss);
}

int rmtl_actor_soft_update(rmtl_actor *a)
{
    RMTL__CHECK_ARG(a, "actor");
    return rmtl__params_soft_update(&a->target->net.ps, &a->model->net.ps, (float)a->hp.tau);
}

/* --- behaviour policy: the actor with exploration noise ------------------- */

/* π(s) for the rest of the running session, computed in one batch when
 * the walk enters it (the logged MDP's states do not depend on the
 * actions), then handed out step by step with fresh exploration noise, so
 * the noise drawn does not depend on how the walk was split into calls. */
typedef struct rmtl__actor_walk {
    rmtl_actor *a;
    const rmtl__denv *e;
    size_t session, from, len; /* the batch covers steps [from, from + len) */
    int valid;
    float *act;   /* len × T */
    int32_t *cat; /* len × n_cat, gathered states */
    float *num;   /* len × n_num */
    size_t cap;
} rmtl__actor_walk;

static int rmtl__actor_walk_batch(rmtl__actor_walk *w)
{
    const rmtl__denv *e = w->e;
    size_t len = e->len - e->step, nc = e->n_cat, nn = e->n_num, T = e->n_tasks;
    if (len > w->cap) {
        float *act = rmtl__mallocarray(len, T * sizeof(float));
        int32_t *cat = rmtl__mallocarray(len, (nc ? nc : 1) * sizeof(int32_t));
        float *num = rmtl__mallocarray(len, (nn ? nn : 1) * sizeof(float));
        if (!act || !cat || !num) {
            rmtl__free(act), rmtl__free(cat), rmtl__free(num);
            return rmtl__error(RMTL_ENOMEM, "rmtl_replay_fill_actor: out of memory");
        }
        rmtl__free(w->act), rmtl__free(w->cat), rmtl__free(w->num);
        w->act = act, w->cat = cat, w->num = num, w->cap = len;
    }
    for (size_t i = 0; i < len; i++) {
        size_t r = e->rows[e->step + i];
        memcpy(w->cat + i * nc, rmtl__denv_cat(e, r), nc * sizeof(int32_t));
        if (nn)
            memcpy(w->num + i * nn, rmtl__denv_num(e, r), nn * sizeof(float));
    }
    rmtl_batch b = RMTL_BATCH_INIT;
    b.rows = len;
    b.cat = w->cat;
    b.num = nn ? w->num : NULL;
    int rc = rmtl_actor_act(w->a, &b, 0, w->act, len * T);
    if (rc)
        return rc;
    w->session = e->session;
    w->from = e->step;
    w->len = len;
    w->valid = 1;
    return 0;
}

static int rmtl__actor_policy(float *act, rmtl__denv *e, void *payload)
{
    rmtl__actor_walk *w = payload;
    /* a new episode (or a walk that starts mid-episode) needs a new batch;
     * an episode is only ever entered at step 0 or resumed in order */
    if (!w->valid || e->step == 0 || w->session != e->session || e->step < w->from ||
        e->step >= w->from + w->len) {
        int rc = rmtl__actor_walk_batch(w);
        if (rc)
            return rc;
    }
    memcpy(act, w->act + (e->step - w->from) * e->n_tasks, e->n_tasks * sizeof(float));
    rmtl__explore(w->a, e->n_tasks, act);
    return 0;
}

int rmtl_replay_fill_actor(rmtl_replay *rb, rmtl_env *env, rmtl_actor *actor, size_t n)
{
    rmtl__denv *e = rmtl__denv_of(env, "rmtl_replay_fill_actor");
    if (!e)
        return RMTL_EINVAL;
    RMTL__CHECK_ARG(actor, "actor");
    int rc = rmtl__fill_check(rb, e, "rmtl_replay_fill_actor");
    if (rc)
        return rc;
    const rmtl__layout *l = &actor->model->lay;
    if (l->n_cat != e->n_cat || l->n_num != e->n_num || l->n_tasks != e->n_tasks)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_replay_fill_actor: the actor's inputs or tasks differ from "
                           "the env's");
    rmtl__actor_walk w = {actor, e, 0, 0, 0, 0, NULL, NULL, NULL, 0};
    rc = rmtl__fill_walk(rb, e, n, rmtl__actor_policy, &w);
    rmtl__free(w.act), rmtl__free(w.cat), rmtl__free(w.num);
    return rc;
}
