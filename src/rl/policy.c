/* The actor's forward and backward through an MTL model (policy.h). */
#include "rl/policy.h"

#include "nn/activation.h"

int rmtl__policy_forward(rmtl__policy_pass *pp, rmtl_model *m, const rmtl_batch *b,
                         float *probs, size_t ldp)
{
    const rmtl__net *net = &m->net;
    const rmtl__embed *e = &net->emb;
    size_t n = b->rows, T = net->n_tasks, d0 = rmtl__net_input_width(net);
    rmtl__ws *ws = &m->ws;
    pp->net = net;
    pp->b = b;
    rmtl__pass_init(&pp->ps, RMTL__PASS_TRAIN, &m->tape, &net->mods, n, ws, NULL);
    pp->x = rmtl__ws_alloc(ws, n * d0);
    pp->S = pp->x ? rmtl__ws_alloc(ws, n * T) : NULL;
    pp->P = pp->S && net->arch->chain ? rmtl__ws_alloc(ws, n * T) : pp->S;
    if (!pp->P)
        return RMTL_ENOMEM;
    int rc = rmtl__embed_forward(e, &ws->rt, n, b->cat, e->n_fields, b->num, e->n_num, pp->x,
                                 d0);
    if (rc)
        return rc;
    pp->x0 = rmtl__g_input(&pp->ps, pp->x, d0, d0);
    rc = net->arch->wire(&pp->ps, net->hp, T, pp->x0, pp->z);
    if (rc)
        return rc;
    float *S = pp->S, *P = pp->P;
    for (size_t k = 0; k < T; k++) {
        rmtl__sigmoid(n, rmtl__g_value(&pp->ps, pp->z[k]), S + k * n);
        if (P != S)
            for (size_t i = 0; i < n; i++)
                P[k * n + i] = k ? P[(k - 1) * n + i] * S[k * n + i] : S[i];
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < T; k++)
            probs[i * ldp + k] = P[k * n + i];
    return 0;
}

int rmtl__policy_backward(rmtl__policy_pass *pp, const float *dp, size_t lddp)
{
    const rmtl__net *net = pp->net;
    const rmtl__embed *e = &net->emb;
    rmtl__pass *ps = &pp->ps;
    size_t n = ps->n, T = net->n_tasks, d0 = rmtl__net_input_width(net);
    /* dP: the gradient of each output, one column per task; ESMM's chain
     * p_k = p_(k−1)·σ(z_k) hands a share of task k's to task k − 1, so
     * the last task goes first */
    float *dP = rmtl__ws_alloc(ps->ws, n * T);
    if (!dP)
        return RMTL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < T; k++)
            dP[k * n + i] = dp[i * lddp + k];
    for (size_t k = T; k-- > 0;) {
        float *dz = rmtl__g_grad(ps, pp->z[k]);
        if (!dz)
            return RMTL_ENOMEM;
        const float *s = pp->S + k * n;
        const float *prev = net->arch->chain && k ? pp->P + (k - 1) * n : NULL;
        for (size_t i = 0; i < n; i++) {
            float g = dP[k * n + i];
            dz[i] = g * (prev ? prev[i] : 1.0f) * s[i] * (1.0f - s[i]);
            if (prev)
                dP[(k - 1) * n + i] += g * s[i];
        }
    }
    int rc = rmtl__graph_backward(ps);
    const float *dx = rc ? NULL : rmtl__g_grad_of(ps, pp->x0);
    if (dx)
        rc = rmtl__embed_backward(e, &ps->ws->rt, n, pp->b->cat, e->n_fields, pp->b->num,
                                  e->n_num, dx, d0);
    return rc;
}
