/* Critic: one task's Q network, target, optimiser; its update (critic.h). */
#include "rl/critic.h"

#include "core/internal.h"
#include "nn/loss.h"
#include "rl/td.h"

#include <string.h>

/* Random streams of critic k: 16 + 4k + purpose, clear of the generic
 * streams of nn/rng.h, so critics of different tasks never share numbers. */
enum { RMTL__CRITIC_STREAM_BASE = 16 };

static uint64_t rmtl__critic_stream(size_t task, int purpose)
{
    return RMTL__CRITIC_STREAM_BASE + 4 * (uint64_t)task + (uint64_t)purpose;
}

static void rmtl__critic_free_inner(rmtl_critic *c)
{
    rmtl__qnet_free(&c->net);
    rmtl__qnet_free(&c->target);
    rmtl__ws_free(&c->ws);
    rmtl__free(c->vocab);
}

int rmtl__critic_new(rmtl_critic **out, const rmtl__rlhp *hp, const size_t *vocab,
                     size_t n_fields, size_t n_num, size_t dim, size_t task, size_t n_tasks,
                     const rmtl__embed *embed)
{
    *out = NULL;
    if (task >= n_tasks)
        return rmtl__error(RMTL_EINVAL, "critic: task %zu is not below the %zu tasks", task,
                           n_tasks);
    rmtl_critic *c = rmtl__calloc(1, sizeof *c);
    if (!c)
        return rmtl__error(RMTL_ENOMEM, "critic: out of memory");
    c->task = task;
    c->n_tasks = n_tasks;
    c->hp = *hp;
    c->n_fields = n_fields;
    c->n_num = n_num;
    c->dim = dim;
    rmtl__ws_init(&c->ws, hp->threads);
    rmtl__adam_init(&c->opt, hp->critic_lr, hp->weight_decay);
    c->opt.beta1 = hp->beta1;
    c->opt.beta2 = hp->beta2;
    c->opt.eps = hp->eps;
    c->opt.clip_norm = hp->clip_norm;
    uint64_t seed = hp->seed;
    rmtl__rng init;
    rmtl__rng_seed(&init, seed, rmtl__critic_stream(task, 0));
    rmtl__rng_seed(&c->dropout_rng, seed, rmtl__critic_stream(task, 1));
    rmtl__rng_seed(&c->noise_rng, seed, rmtl__critic_stream(task, 2));
    c->vocab = rmtl__mallocarray(n_fields ? n_fields : 1, sizeof *c->vocab);
    int rc = c->vocab ? 0 : rmtl__error(RMTL_ENOMEM, "critic: out of memory");
    if (!rc) {
        if (n_fields)
            memcpy(c->vocab, vocab, n_fields * sizeof *vocab);
        rmtl__qnet_shape shape = {c->vocab,          n_fields,          n_num,
                                  dim,               hp->critic_bottom, hp->n_critic_bottom,
                                  hp->critic_tower,  hp->n_critic_tower, (float)hp->dropout};
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
    size_t n = t->rows, k = c->task, T = c->n_tasks, nc = c->n_fields, nn = c->n_num;
    rmtl__ws_reset(&c->ws);
    float *a2 = rmtl__ws_alloc(&c->ws, n), *qt = rmtl__ws_alloc(&c->ws, n);
    float *qc = rmtl__ws_alloc(&c->ws, n), *y = rmtl__ws_alloc(&c->ws, n);
    float *q = rmtl__ws_alloc(&c->ws, n), *dq = rmtl__ws_alloc(&c->ws, n);
    float *w = c->hp.ips ? rmtl__ws_alloc(&c->ws, n) : NULL;
    if (!a2 || !qt || !qc || !y || !q || !dq || (c->hp.ips && !w))
        return RMTL_ENOMEM;
    rmtl__smooth_actions(&c->noise_rng, n, next_a + k, ldna, c->hp.policy_noise, c->hp.noise_clip, a2,
                         1);
    int rc = rmtl__qnet_predict(&c->target, &c->ws, n, t->next_cat, nc, t->next_num, nn, a2, 1,
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
                            &c->dropout_rng, q);
    double l = 0.0;
    if (!rc)
        rc = rmtl__loss_mse(&l, "critic", n, q, y, w, 1, 1.0, dq);
    if (!rc)
        rc = rmtl__qnet_backward(&c->net, &c->ws, dq, NULL, 0, 1);
    if (!rc)
        rc = rmtl__adam_step(&c->opt, &c->net.ps, NULL);
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
    int rc = rmtl__qnet_forward(&c->net, &c->ws, n, cat, c->n_fields, num, c->n_num, pi, ldpi,
                                NULL, q);
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
