/* The critic network: embedding + action field, bottom and tower MLPs,
 * Q = −ReLU(z) (see qnet.h). */
#include "rl/qnet.h"

#include "core/internal.h"
#include "mtl/fold.h"
#include "nn/embed_linear.h"

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
    rmtl__fold_free(q->fold);
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

int rmtl__qnet_refold(rmtl__qnet *q, const rmtl__rt *rt, size_t max_vocab)
{
    if (rmtl__fold_keep(&q->fold, q->ps.version, max_vocab))
        return 0;
    const rmtl__linear *lin = &q->bottom.lin[0];
    rmtl__fold *f = NULL, *old = q->fold;
    q->fold = NULL;
    int rc = rmtl__fold_make(&f, &q->emb, &q->act, &lin, 1, 0, rt, SIZE_MAX, max_vocab,
                             q->ps.version, old);
    q->fold = rmtl__fold_useful(f);
    return rc;
}

/* The cache if it serves a pass over rows with these strides. */
static const rmtl__fold *rmtl__qnet_fold(const rmtl__qnet *q, size_t ldc, size_t ldn)
{
    const rmtl__fold *f = rmtl__fold_valid(q->fold, q->ps.version);
    return ldc == q->emb.n_fields && (ldn == q->emb.n_num || q->emb.n_num == 0) ? f : NULL;
}

/* x = [embed(s) | action field] into a new n × width workspace buffer;
 * with `fold`, also H (n × its width): the first bottom layer's output.
 * skip_x: the caller needs x only for H's unfolded fields, if any. */
static int rmtl__qnet_input(const rmtl__qnet *q, rmtl__ws *ws, size_t n, const int32_t *cat,
                            size_t ldc, const float *num, size_t ldn, const float *a,
                            size_t lda, const rmtl__fold *fold, int skip_x, float **x,
                            float **H)
{
    const rmtl__embed *e = &q->emb;
    int need_x = !fold || !skip_x || fold->need_x0;
    *x = need_x ? rmtl__ws_alloc(ws, n * q->width) : NULL;
    *H = fold ? rmtl__ws_alloc(ws, n * fold->width) : NULL;
    if ((need_x && !*x) || (fold && !*H))
        return RMTL_ENOMEM;
    int rc = 0;
    if (need_x)
        rc = rmtl__embed_forward(e, &ws->rt, n, cat, ldc, num, ldn, *x, q->width);
    else
        rc = rmtl__embed_check_num(e, n, num, ldn);
    if (!rc && (!fold || !skip_x))
        rc = rmtl__linear_forward(&q->act, &ws->rt, n, a, lda, *x + q->emb_width, q->width);
    if (!rc && fold)
        rmtl__fold_rows(fold, &ws->rt, n, cat, num, a, lda, *x, q->width, *H);
    return rc;
}

static void rmtl__neg_relu(size_t n, const float *z, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = z[i] > 0.0f ? -z[i] : -0.0f;
}

int rmtl__qnet_forward(rmtl__qnet *q, rmtl__ws *ws, size_t n, const int32_t *cat, size_t ldc,
                       const float *num, size_t ldn, const float *a, size_t lda,
                       rmtl__rng *dropout_rng, size_t group_vocab, float *q_out)
{
    q->n = n;
    q->cat = cat;
    q->ldc = ldc;
    q->num = num;
    q->ldn = ldn;
    q->a = a;
    q->lda = lda;
    q->z = NULL;
    q->group = group_vocab;
    const float *h, *z;
    const rmtl__fold *fold = rmtl__qnet_fold(q, ldc, ldn);
    float *H;
    int rc = rmtl__qnet_input(q, ws, n, cat, ldc, num, ldn, a, lda, fold,
                              !rmtl__embed_linear_reads_x(&q->emb, group_vocab), &q->x, &H);
    if (!rc)
        rc = rmtl__mlp_forward_pre(&q->bottom, ws, n, q->x, q->width, H,
                                   fold ? fold->width : 0, dropout_rng, &h);
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
    if (!dz || !dh)
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
    if (!rc && q->group) {
        const float *g;
        size_t ldg;
        rc = rmtl__mlp_backward_upper(&q->bottom, ws, dh, q->bottom.out, &g, &ldg);
        if (!rc)
            rc = rmtl__embed_linear_backward(&q->emb, &q->act, &q->bottom.lin[0], ws, n, q->cat,
                                             q->ldc, q->num, q->ldn, q->a, q->lda, q->x,
                                             q->width, g, ldg, da, ldda, q->group);
    } else if (!rc) {
        /* a frozen critic passes down only the action block's gradient */
        size_t c0 = param_grads ? 0 : q->emb_width, wx = q->width - c0;
        float *dx = rmtl__ws_alloc(ws, n * wx);
        rc = dx ? rmtl__mlp_backward_cols(&q->bottom, ws, dh, q->bottom.out, dx, wx, 0, c0,
                                          q->width)
                : RMTL_ENOMEM;
        if (!rc && param_grads)
            rc = rmtl__embed_backward(&q->emb, &ws->rt, n, q->cat, q->ldc, q->num, q->ldn, dx,
                                      q->width);
        if (!rc && (param_grads || da))
            rc = rmtl__linear_backward(&q->act, &ws->rt, n, q->a, q->lda,
                                       dx + q->emb_width - c0, wx, da, ldda, 0);
    }
    if (!param_grads)
        rmtl__params_freeze(&q->ps, 0);
    return rc;
}

int rmtl__qnet_predict(const rmtl__qnet *q, rmtl__ws *ws, size_t n, const int32_t *cat,
                       size_t ldc, const float *num, size_t ldn, const float *a, size_t lda,
                       float *q_out)
{
    float *x, *H, *h = NULL;
    const rmtl__fold *fold = rmtl__qnet_fold(q, ldc, ldn);
    int rc = rmtl__qnet_input(q, ws, n, cat, ldc, num, ldn, a, lda, fold, 1, &x, &H);
    if (!rc) {
        h = rmtl__ws_alloc(ws, n * q->bottom.out);
        if (!h)
            return RMTL_ENOMEM;
        rc = fold ? rmtl__mlp_predict_pre(&q->bottom, ws, n, H, fold->width, h, q->bottom.out)
                  : rmtl__mlp_predict(&q->bottom, ws, n, x, q->width, h, q->bottom.out);
    }
    if (!rc)
        rc = rmtl__mlp_predict(&q->tower, ws, n, h, q->bottom.out, q_out, 1);
    if (rc)
        return rc;
    rmtl__neg_relu(n, q_out, q_out);
    return 0;
}
