/* Critic: one task's Q network, target, optimiser; its update (critic.h). */
#include "rl/critic.h"

#include "core/internal.h"
#include "mtl/batch.h"
#include "mtl/fold.h"
#include "mtl/model.h"
#include "rl/fill.h"
#include "rl/replay.h"
#include "nn/loss.h"
#include "rl/td.h"

#include <math.h>
#include <string.h>

static uint64_t rmtl__critic_stream(size_t task, int purpose)
{
    return RMTL__STREAM_CRITIC + 4 * (uint64_t)task + (uint64_t)purpose;
}

static void rmtl__critic_free_inner(rmtl_critic *c)
{
    rmtl__qnet_free(&c->net);
    rmtl__qnet_free(&c->target);
    rmtl__ws_free(&c->ws);
    rmtl__layout_free(&c->lay);
    rmtl_config_free(c->cfg);
    rmtl_ctx_free(c->ctx);
    rmtl__free(c->next_a);
}

int rmtl__critic_new(rmtl_critic **out, const rmtl__rlhp *hp, const rmtl__layout *lay,
                     size_t dim, size_t task, const rmtl__embed *embed)
{
    *out = NULL;
    if (task >= lay->n_tasks)
        return rmtl__error(RMTL_EINVAL, "critic: task %zu is not below the %zu tasks", task,
                           lay->n_tasks);
    rmtl_critic *c = rmtl__calloc(1, sizeof *c);
    if (!c)
        return rmtl__error(RMTL_ENOMEM, "critic: out of memory");
    c->task = task;
    c->n_tasks = lay->n_tasks;
    c->hp = *hp;
    c->dim = dim;
    rmtl__ws_init(&c->ws, hp->rt.threads);
    rmtl__hp_optim_adam(&c->opt, &hp->optim, hp->critic_lr);
    uint64_t seed = hp->rt.seed;
    rmtl__rng init;
    rmtl__rng_seed(&init, seed, rmtl__critic_stream(task, 0));
    rmtl__rng_seed(&c->dropout_rng, seed, rmtl__critic_stream(task, 1));
    rmtl__rng_seed(&c->noise_rng, seed, rmtl__critic_stream(task, 2));
    int rc = rmtl__layout_copy(&c->lay, lay);
    if (!rc)
        rc = rmtl_ctx_create(&c->ctx, hp->rt.threads);
    if (!rc) {
        rmtl__qnet_shape shape = {c->lay.vocab,     c->lay.n_cat,      c->lay.n_num,
                                  dim,              hp->critic_bottom, hp->n_critic_bottom,
                                  hp->critic_tower, hp->n_critic_tower, (float)hp->dropout};
        rc = rmtl__qnet_init(&c->net, &shape, &init);
        if (!rc)
            rc = rmtl__qnet_init(&c->target, &shape, &init);
    }
    if (!rc && embed)
        rc = rmtl__qnet_load_embed(&c->net, embed);
    if (!rc)
        rc = rmtl__params_copy(&c->target.ps, &c->net.ps);
    if (rc) {
        rmtl__critic_free_inner(c);
        rmtl__free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int rmtl__critic_new_cfg(rmtl_critic **out, const rmtl_config *cfg, const rmtl__layout *lay,
                         size_t dim, size_t task, const rmtl__embed *embed)
{
    *out = NULL;
    rmtl__rlhp hp;
    rmtl_config *copy = NULL;
    int rc = rmtl__rlhp_from_config(&hp, cfg);
    if (!rc)
        rc = rmtl_config_clone(&copy, cfg);
    if (!rc)
        rc = rmtl__critic_new(out, &hp, lay, dim, task, embed);
    if (rc) {
        rmtl_config_free(copy);
        return rc;
    }
    (*out)->cfg = copy;
    return 0;
}

void rmtl_critic_free(rmtl_critic *c)
{
    if (!c)
        return;
    rmtl__critic_free_inner(c);
    rmtl__free(c);
}

int rmtl__critic_update_from(rmtl_critic *c, const rmtl_transitions *t, const float *next_a,
                             size_t ldna, double *loss)
{
    size_t n = t->rows, k = c->task, T = c->n_tasks, nc = c->lay.n_cat, nn = c->lay.n_num;
    rmtl__ws_reset(&c->ws);
    float *a2 = rmtl__ws_alloc(&c->ws, n), *qt = rmtl__ws_alloc(&c->ws, n);
    float *qc = rmtl__ws_alloc(&c->ws, n), *y = rmtl__ws_alloc(&c->ws, n);
    float *q = rmtl__ws_alloc(&c->ws, n), *dq = rmtl__ws_alloc(&c->ws, n);
    float *w = c->hp.ips ? rmtl__ws_alloc(&c->ws, n) : NULL;
    if (!a2 || !qt || !qc || !y || !q || !dq || (c->hp.ips && !w))
        return RMTL_ENOMEM;
    rmtl__smooth_actions(&c->noise_rng, n, next_a + k, ldna, c->hp.policy_noise, c->hp.noise_clip, a2,
                         1);
    /* the target reads n rows per soft update at least; the critic 2n
     * before its step (s' here, s below) */
    int rc = rmtl__qnet_refold(&c->target, &c->ws.rt, rmtl__fold_limit(c->fold, n));
    if (!rc)
        rc = rmtl__qnet_refold(&c->net, &c->ws.rt, rmtl__fold_limit(c->fold, 2 * n));
    if (!rc)
        rc = rmtl__qnet_predict(&c->target, &c->ws, n, t->next_cat, nc, t->next_num, nn, a2, 1,
                                qt);
    if (!rc)
        rc = rmtl__qnet_predict(&c->net, &c->ws, n, t->next_cat, nc, t->next_num, nn, a2, 1, qc);
    if (rc)
        return rc;
    rmtl__td_target(n, t->reward + k, T, t->done, qt, qc, c->hp.gamma, y);
    if (w)
        rmtl__ips_weights(n, t->labels + k, T, w);
    rmtl__params_zero_grad(&c->net.ps);
    rc = rmtl__qnet_forward(&c->net, &c->ws, n, t->cat, nc, t->num, nn, t->action + k, T,
                            &c->dropout_rng, rmtl__fold_limit(c->fold, n), q);
    double l = 0.0;
    if (!rc)
        rc = rmtl__loss_mse(&l, "critic", n, q, y, w, 1, 1.0, dq);
    if (!rc)
        rc = rmtl__qnet_backward(&c->net, &c->ws, dq, NULL, 0, 1);
    if (!rc)
        rc = rmtl__gx_reduce(c->gx, &c->net.ps, n, &l, 1, "critic update");
    if (!rc)
        rc = rmtl__adam_step(&c->opt, &c->ws.rt, &c->net.ps, NULL);
    if (rc)
        return rc;
    c->updates++;
    if (loss)
        *loss = l;
    return 0;
}

int rmtl__critic_action_grad(rmtl_critic *c, size_t n, const int32_t *cat, const float *num,
                             const float *pi, size_t ldpi, const float *w, size_t ldw,
                             float *grad, size_t ldg, double *qsum)
{
    rmtl__ws_reset(&c->ws);
    float *q = rmtl__ws_alloc(&c->ws, n), *dq = rmtl__ws_alloc(&c->ws, n);
    if (!q || !dq)
        return RMTL_ENOMEM;
    int rc = rmtl__qnet_refold(&c->net, &c->ws.rt, rmtl__fold_limit(c->fold, n));
    if (!rc)
        rc = rmtl__qnet_forward(&c->net, &c->ws, n, cat, c->lay.n_cat, num, c->lay.n_num, pi,
                                ldpi, NULL, rmtl__fold_limit(c->fold, n), q);
    if (rc)
        return rc;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i * ldw] : 1.0;
        s += wi * q[i];
        dq[i] = (float)(-wi / (double)n);
    }
    if (qsum)
        *qsum = s;
    return rmtl__qnet_backward(&c->net, &c->ws, dq, grad, ldg, 0);
}

/* --- public calls ----------------------------------------------------------- */

int rmtl_critic_create(rmtl_critic **out, const rmtl_config *cfg, const rmtl_model *model,
                       size_t task)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(model, "model");
    RMTL__CHECK_ARG(cfg, "cfg");
    if (task >= model->lay.n_tasks)
        return rmtl__error(RMTL_EINVAL, "rmtl_critic_create: task %zu, the model has %zu tasks",
                           task, model->lay.n_tasks);
    return rmtl__critic_new_cfg(out, cfg, &model->lay, model->hp.embed_dim, task,
                                &model->net.emb);
}

size_t rmtl_critic_task(const rmtl_critic *c) { return c ? c->task : 0; }

uint64_t rmtl_critic_updates(const rmtl_critic *c) { return c ? c->updates : 0; }

int rmtl_critic_q(const rmtl_critic *c, rmtl_ctx *ctx, const rmtl_batch *states,
                  const float *action, size_t stride, float *q, size_t capacity)
{
    RMTL__CHECK_ARG(c, "critic");
    RMTL__CHECK_ARG(action, "action");
    RMTL__CHECK_ARG(q, "q");
    RMTL__CHECK_ARG(stride > 0, "stride");
    int rc = rmtl__batch_check(&c->lay, states, 0);
    if (rc)
        return rc;
    size_t n = states->rows;
    if (capacity < n)
        return rmtl__error(RMTL_EINVAL, "rmtl_critic_q: q holds %zu values, the batch has %zu rows",
                           capacity, n);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(action[i * stride]))
            return rmtl__error(RMTL_ENUMERIC, "rmtl_critic_q: action of row %zu is %g", i,
                               (double)action[i * stride]);
    rmtl_ctx *tmp = NULL;
    if (!ctx && (rc = rmtl_ctx_create(&tmp, 1)))
        return rc;
    rmtl_ctx *x = ctx ? ctx : tmp;
    rmtl__ws_reset(&x->ws);
    rc = rmtl__qnet_predict(&c->net, &x->ws, n, states->cat, c->lay.n_cat, states->num,
                            c->lay.n_num, action, stride, q);
    rmtl_ctx_free(tmp);
    return rc;
}

/* The transitions as the critic (and its actor) read them: shapes, values,
 * and ids within the vocabularies, for s and s'. */
int rmtl__critic_check_batch(const rmtl__layout *lay, const rmtl_transitions *t, const char *fn)
{
    int rc = rmtl__transitions_check(t, lay->n_cat, lay->n_num, lay->n_tasks, fn);
    for (int next = 0; !rc && next < 2; next++) {
        rmtl_batch b = RMTL_BATCH_INIT;
        b.rows = t->rows;
        b.cat = next ? t->next_cat : t->cat;
        b.num = next ? t->next_num : t->num;
        rc = rmtl__batch_check(lay, &b, 0);
        if (rc)
            rmtl__error_prefix(rc, "%s: %s", fn, next ? "next states" : "states");
    }
    return rc;
}

int rmtl__critic_reserve_next(float **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    float *p = rmtl__mallocarray(n, sizeof *p);
    if (!p)
        return rmtl__error(RMTL_ENOMEM, "critic: out of memory for %zu target actions", n);
    rmtl__free(*buf);
    *buf = p;
    *cap = n;
    return 0;
}

int rmtl_critic_soft_update(rmtl_critic *c)
{
    RMTL__CHECK_ARG(c, "critic");
    return rmtl__params_soft_update(&c->target.ps, &c->net.ps, (float)c->hp.tau);
}

int rmtl_critic_loss_weights(const rmtl_critic *const *critics, size_t n_critics,
                             const rmtl_model *model, rmtl_ctx *ctx, const rmtl_batch *batch,
                             double lambda, float *weights, size_t capacity)
{
    RMTL__CHECK_ARG(model, "model");
    RMTL__CHECK_ARG(weights, "weights");
    if (!(lambda >= 0.0 && isfinite(lambda)))
        return rmtl__error(RMTL_EINVAL, "rmtl_critic_loss_weights: lambda %g is not a finite "
                                        "non-negative number",
                           lambda);
    const rmtl__layout *l = &model->lay;
    size_t T = l->n_tasks;
    const rmtl_critic *by_task[RMTL__FILL_TASKS_MAX] = {0};
    if (!critics || n_critics != T || T > RMTL__FILL_TASKS_MAX)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_critic_loss_weights: %zu critics given, the model has %zu "
                           "tasks",
                           critics ? n_critics : 0, T);
    for (size_t i = 0; i < n_critics; i++) {
        const rmtl_critic *c = critics[i];
        int same = c && c->lay.n_cat == l->n_cat && c->lay.n_num == l->n_num &&
                   c->n_tasks == T && !by_task[c->task];
        for (size_t f = 0; same && f < l->n_cat; f++)
            same = c->lay.vocab[f] == l->vocab[f];
        if (!same)
            return rmtl__error(RMTL_EINVAL,
                               "rmtl_critic_loss_weights: critic %zu is missing, repeats a "
                               "task or was built for other inputs than the model's",
                               i);
        by_task[c->task] = c;
    }
    /* the predictions go straight into `weights` (checked there), and each
     * column becomes the weight once its critic has read it */
    rmtl_ctx *tmp = NULL;
    int rc = ctx ? 0 : rmtl_ctx_create(&tmp, 1);
    rmtl_ctx *x = ctx ? ctx : tmp;
    if (!rc)
        rc = rmtl_model_predict(model, x, batch, weights, capacity);
    size_t n = rc ? 0 : batch->rows;
    for (size_t k = 0; !rc && k < T; k++) {
        rmtl__ws_reset(&x->ws);
        float *q = rmtl__ws_alloc(&x->ws, n);
        rc = q ? rmtl__qnet_predict(&by_task[k]->net, &x->ws, n, batch->cat, l->n_cat,
                                    batch->num, l->n_num, weights + k, T, q)
               : RMTL_ENOMEM;
        for (size_t i = 0; !rc && i < n; i++)
            weights[i * T + k] = (float)(1.0 - lambda * (double)q[i]);
    }
    rmtl_ctx_free(tmp);
    return rc;
}
