/* The critic network: embedding + action field, bottom and tower MLPs,
 * Q = −ReLU(z) (see qnet.h). */
#include "rl/qnet.h"

#include "core/internal.h"

#include <string.h>

int rmtl__qnet_init(rmtl__qnet *q, const rmtl__qnet_shape *s, rmtl__rng *rng)
{
    memset(q, 0, sizeof *q);
    rmtl__params_init(&q->ps);
    if (s->n_bottom == 0)
        return rmtl__error(RMTL_EINVAL, "critic: rl.critic.bottom needs at least one layer");
    int rc = rmtl__embed_init(&q->emb, &q->ps, "emb", s->vocab, s->n_fields, s->n_num, s->dim,
                              rng);
    if (!rc)
        rc = rmtl__linear_init(&q->act, &q->ps, "action", 1, s->dim, 1, rng);
    if (!rc) {
        q->emb_width = rmtl__embed_width(&q->emb);
        q->width = q->emb_width + s->dim;
        rc = rmtl__mlp_init(&q->bottom, &q->ps, "bottom", q->width, s->bottom, s->n_bottom, 0,
                            s->dropout, rng);
    }
    if (!rc)
        rc = rmtl__mlp_init(&q->tower, &q->ps, "tower", q->bottom.out, s->tower, s->n_tower, 1,
                            s->dropout, rng);
    if (rc)
        rmtl__qnet_free(q);
    return rc;
}

void rmtl__qnet_free(rmtl__qnet *q)
{
    if (!q)
        return;
    rmtl__embed_free(&q->emb);
    rmtl__mlp_free(&q->bottom);
    rmtl__mlp_free(&q->tower);
    rmtl__params_free(&q->ps);
    memset(q, 0, sizeof *q);
}

static int rmtl__same_shape(const rmtl__param *a, const rmtl__param *b)
{
    return (a == NULL) == (b == NULL) && (!a || (a->rows == b->rows && a->cols == b->cols));
}

int rmtl__qnet_load_embed(rmtl__qnet *q, const rmtl__embed *src)
{
    const rmtl__embed *e = &q->emb;
    int same = e->n_fields == src->n_fields && e->n_num == src->n_num && e->dim == src->dim &&
               rmtl__same_shape(e->table, src->table);
    for (size_t f = 0; same && f <= e->n_fields; f++)
        same = e->offset[f] == src->offset[f];
    if (same && e->n_num)
        same = rmtl__same_shape(e->num.w, src->num.w) && rmtl__same_shape(e->num.b, src->num.b);
    if (!same)
        return rmtl__error(RMTL_EINVAL,
                           "critic: the actor's input layer (%zu fields, %zu numerical, "
                           "dim %zu) differs from the critic's (%zu, %zu, %zu)",
                           src->n_fields, src->n_num, src->dim, e->n_fields, e->n_num, e->dim);
    if (e->table)
        memcpy(e->table->w, src->table->w, e->table->rows * e->table->cols * sizeof(float));
    if (e->n_num) {
        memcpy(e->num.w->w, src->num.w->w, e->num.w->rows * e->num.w->cols * sizeof(float));
        if (e->num.b)
            memcpy(e->num.b->w, src->num.b->w, e->num.b->cols * sizeof(float));
    }
    return 0;
}

/* x = [embed(s) | action field] into a new n × width workspace buffer. */
static int rmtl__qnet_input(const rmtl__qnet *q, rmtl__ws *ws, size_t n, const int32_t *cat,
                            size_t ldc, const float *num, size_t ldn, const float *a,
                            size_t lda, float **x)
{
    *x = rmtl__ws_alloc(ws, n * q->width);
    if (!*x)
        return RMTL_ENOMEM;
    int rc = rmtl__embed_forward(&q->emb, &ws->rt, n, cat, ldc, num, ldn, *x, q->width);
    if (!rc)
        rc = rmtl__linear_forward(&q->act, &ws->rt, n, a, lda, *x + q->emb_width, q->width);
    return rc;
}

static void rmtl__neg_relu(size_t n, const float *z, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = z[i] > 0.0f ? -z[i] : -0.0f;
}

int rmtl__qnet_forward(rmtl__qnet *q, rmtl__ws *ws, size_t n, const int32_t *cat, size_t ldc,
                       const float *num, size_t ldn, const float *a, size_t lda,
                       rmtl__rng *dropout_rng, float *q_out)
{
    q->n = n;
    q->cat = cat;
    q->ldc = ldc;
    q->num = num;
    q->ldn = ldn;
    q->a = a;
    q->lda = lda;
    q->z = NULL;
    const float *h, *z;
    int rc = rmtl__qnet_input(q, ws, n, cat, ldc, num, ldn, a, lda, &q->x);
    if (!rc)
        rc = rmtl__mlp_forward(&q->bottom, ws, n, q->x, q->width, dropout_rng, &h);
    if (!rc)
        rc = rmtl__mlp_forward(&q->tower, ws, n, h, q->bottom.out, dropout_rng, &z);
    if (rc)
        return rc;
    q->z = z;
    rmtl__neg_relu(n, z, q_out);
    return 0;
}

int rmtl__qnet_backward(rmtl__qnet *q, rmtl__ws *ws, const float *dq, float *da, size_t ldda,
                        int param_grads)
{
    if (!q->z)
        return rmtl__error(RMTL_ESTATE, "critic: backward without a forward pass");
    size_t n = q->n;
    float *dz = rmtl__ws_alloc(ws, n);
    float *dh = rmtl__ws_alloc(ws, n * q->bottom.out);
    float *dx = rmtl__ws_alloc(ws, n * q->width);
    if (!dz || !dh || !dx)
        return RMTL_ENOMEM;
    /* Q = −max(z, 0): dQ/dz = −1 where z > 0, else 0 */
    for (size_t i = 0; i < n; i++)
        dz[i] = q->z[i] > 0.0f ? -dq[i] : 0.0f;
    /* Frozen parameters make the Linear backward skip dW but still pass
     * the input gradient down, which is all the actor needs. Critic
     * parameters are never frozen otherwise, so unfreezing restores them. */
    if (!param_grads)
        rmtl__params_freeze(&q->ps, 1);
    int rc = rmtl__mlp_backward(&q->tower, ws, dz, 1, dh, q->bottom.out, 0);
    if (!rc)
        rc = rmtl__mlp_backward(&q->bottom, ws, dh, q->bottom.out, dx, q->width, 0);
    if (!rc && param_grads)
        rc = rmtl__embed_backward(&q->emb, &ws->rt, n, q->cat, q->ldc, q->num, q->ldn, dx,
                                  q->width);
    if (!rc && (param_grads || da))
        rc = rmtl__linear_backward(&q->act, &ws->rt, n, q->a, q->lda, dx + q->emb_width,
                                   q->width, da, ldda, 0);
    if (!param_grads)
        rmtl__params_freeze(&q->ps, 0);
    return rc;
}

int rmtl__qnet_predict(const rmtl__qnet *q, rmtl__ws *ws, size_t n, const int32_t *cat,
                       size_t ldc, const float *num, size_t ldn, const float *a, size_t lda,
                       float *q_out)
{
    float *x, *h = NULL;
    int rc = rmtl__qnet_input(q, ws, n, cat, ldc, num, ldn, a, lda, &x);
    if (!rc) {
        h = rmtl__ws_alloc(ws, n * q->bottom.out);
        if (!h)
            return RMTL_ENOMEM;
        rc = rmtl__mlp_predict(&q->bottom, ws, n, x, q->width, h, q->bottom.out);
    }
    if (!rc)
        rc = rmtl__mlp_predict(&q->tower, ws, n, h, q->bottom.out, q_out, 1);
    if (rc)
        return rc;
    rmtl__neg_relu(n, q_out, q_out);
    return 0;
}
