/* Input layer, architecture wiring, outputs and loss (see net.h). */
#include "mtl/net.h"

#include "mtl/fold.h"
#include "nn/kernels.h"
#include "nn/activation.h"
#include "nn/loss.h"

#include <math.h>
#include <string.h>

void rmtl__net_free(rmtl__net *net)
{
    if (!net)
        return;
    rmtl__fold_free(net->fold);
    rmtl__mods_free(&net->mods);
    rmtl__embed_free(&net->emb);
    rmtl__params_free(&net->ps);
    memset(net, 0, sizeof *net);
}

size_t rmtl__net_input_width(const rmtl__net *net) { return rmtl__embed_width(&net->emb); }

int rmtl__net_init(rmtl__net *net, const rmtl__mtlhp *hp, const rmtl__layout *lay)
{
    memset(net, 0, sizeof *net);
    rmtl__params_init(&net->ps);
    net->arch = rmtl__arch_find(hp->arch);
    net->hp = hp;
    net->n_tasks = lay->n_tasks;
    net->task = (const char *const *)lay->task;
    if (!net->arch)
        return rmtl__error(RMTL_ECONFIG, "model.arch: unknown architecture '%s'", hp->arch);
    rmtl__rng init;
    rmtl__rng_seed(&init, hp->rt.seed, RMTL__STREAM_INIT);
    int rc = rmtl__embed_init(&net->emb, &net->ps, "embed", lay->vocab, lay->n_cat, lay->n_num,
                              hp->embed_dim, &init);
    if (!rc) {
        rmtl__tape tape = {0};
        rmtl__pass ps;
        rmtl__pass_build(&ps, &tape, &net->mods, &net->ps, &init, hp->dropout);
        int x0 = rmtl__g_input(&ps, NULL, 0, rmtl__net_input_width(net));
        int z[RMTL__TASKS_MAX];
        rc = net->arch->wire(&ps, hp, lay->n_tasks, x0, z);
        for (size_t k = 0; !rc && k < lay->n_tasks; k++)
            if (rmtl__g_cols(&ps, z[k]) != 1)
                rc = rmtl__error(RMTL_ERROR, "network: output %zu is not one logit", k);
        rmtl__tape_free(&tape);
    }
    if (rc)
        rmtl__net_free(net);
    return rc;
}

/* From dL/dP (T columns of n, modified in place) to the logits, last
 * task first: under ESMM's chain p_k = p_(k−1)·σ(z_k) task k hands a
 * share of its gradient to task k − 1, which must be complete before it
 * is reached. */
static int rmtl__outputs_back(rmtl__net_pass *np, float *dP)
{
    rmtl__pass *ps = &np->ps;
    size_t n = ps->n;
    int chain = np->net->arch->chain;
    for (size_t k = np->net->n_tasks; k-- > 0;) {
        float *dz = rmtl__g_grad(ps, np->z[k]);
        if (!dz)
            return RMTL_ENOMEM;
        const float *s = np->S + k * n, *prev = chain && k ? np->P + (k - 1) * n : NULL;
        float *dp = dP + k * n, *dprev = prev ? dP + (k - 1) * n : NULL;
        for (size_t i = 0; i < n; i++) {
            float before = prev ? prev[i] : 1.0f;
            dz[i] = dp[i] * before * s[i] * (1.0f - s[i]);
            if (dprev)
                dprev[i] += dp[i] * s[i];
        }
    }
    return 0;
}

/* Loss (and, when training, the gradient of every logit). */
static int rmtl__loss(rmtl__net_pass *np, int train, double *loss)
{
    const rmtl__net *net = np->net;
    const rmtl_batch *b = np->b;
    rmtl__pass *ps = &np->ps;
    const int *z = np->z;
    const float *P = np->P;
    size_t n = ps->n, T = net->n_tasks;
    double total = 0.0, scale = 1.0 / (double)T;
    float *dP = NULL;
    if (train && net->arch->chain && !(dP = rmtl__ws_alloc(ps->ws, n * T)))
        return RMTL_ENOMEM;
    for (size_t k = 0; k < T; k++) {
        const float *y = b->labels + k, *w = b->weights ? b->weights + k : NULL;
        double l;
        int rc;
        if (net->arch->chain) {
            rc = rmtl__loss_bce(&l, net->task[k], n, P + k * n, y, w, T, scale,
                                dP ? dP + k * n : NULL);
        } else {
            float *dz = NULL;
            if (train && !(dz = rmtl__g_grad(ps, z[k])))
                return RMTL_ENOMEM;
            rc = rmtl__loss_bce_logits(&l, net->task[k], n, rmtl__g_value(ps, z[k]), y, w, T,
                                       scale, dz);
        }
        if (rc)
            return rc;
        total += l;
    }
    if (!isfinite(total))
        return rmtl__error(RMTL_ENUMERIC, "loss is not finite (%g): loss weights too large?",
                           total);
    *loss = total;
    return dP ? rmtl__outputs_back(np, dP) : 0;
}

int rmtl__net_forward(rmtl__net_pass *np, const rmtl__net *net, rmtl__ws *ws, rmtl__tape *tape,
                      rmtl__rng *drop, int train, const rmtl_batch *b, float *probs, size_t ldp)
{
    size_t n = b->rows, T = net->n_tasks, d0 = rmtl__net_input_width(net);
    const rmtl__embed *e = &net->emb;
    np->net = net;
    np->b = b;
    rmtl__pass_init(&np->ps, train ? RMTL__PASS_TRAIN : RMTL__PASS_EVAL, tape, &net->mods, n, ws,
                    drop);
    /* evaluation with a current fold: x0 only if the fold leaves fields */
    const rmtl__fold *fold = train ? NULL : rmtl__fold_current(net);
    float *H = fold ? rmtl__ws_alloc(ws, n * fold->width) : NULL;
    if (fold && !H)
        return RMTL_ENOMEM;
    np->x = !fold || fold->need_x0 ? rmtl__ws_alloc(ws, n * d0) : NULL;
    np->S = np->x || fold ? rmtl__ws_alloc(ws, n * T) : NULL;
    np->P = np->S && net->arch->chain ? rmtl__ws_alloc(ws, n * T) : np->S;
    if (!np->P)
        return RMTL_ENOMEM;
    int rc = np->x ? rmtl__embed_forward(e, &ws->rt, n, b->cat, e->n_fields, b->num, e->n_num,
                                         np->x, d0)
                   : 0;
    /* the embedding's own guard when x0 was built, this one when not */
    if (!rc && !np->x)
        rc = rmtl__embed_check_num(e, n, b->num, e->n_num);
    if (rc)
        return rc;
    if (fold) {
        rmtl__fold_pre(fold, &ws->rt, n, b->cat, b->num, np->x, d0, H);
        np->ps.pre = H;
        np->ps.ldpre = fold->width;
        np->ps.pre_col = fold->col;
    }
    np->x0 = rmtl__g_input(&np->ps, np->x, d0, d0);
    np->ps.emb = e;
    np->ps.cat = b->cat;
    np->ps.num = b->num;
    np->ps.input = np->x0;
    rc = net->arch->wire(&np->ps, net->hp, T, np->x0, np->z);
    if (!rc && np->ps.next != net->mods.n)
        rc = rmtl__error(RMTL_ERROR, "network wiring: %zu of %zu modules used", np->ps.next,
                         net->mods.n);
    if (rc)
        return rc;
    float *S = np->S, *P = np->P;
    for (size_t k = 0; k < T; k++) {
        rmtl__sigmoid(n, rmtl__g_value(&np->ps, np->z[k]), S + k * n);
        if (P != S)
            for (size_t i = 0; i < n; i++)
                P[k * n + i] = k ? P[(k - 1) * n + i] * S[k * n + i] : S[i];
    }
    if (probs)
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < T; k++)
                probs[i * ldp + k] = P[k * n + i];
    return 0;
}

/* From the logit gradients to the parameters and the input layer. */
static int rmtl__net_back(rmtl__net_pass *np)
{
    const rmtl__embed *e = &np->net->emb;
    int rc = rmtl__graph_backward(&np->ps);
    const float *dx = rc ? NULL : rmtl__g_grad_of(&np->ps, np->x0);
    if (dx)
        rc = rmtl__embed_backward(e, &np->ps.ws->rt, np->ps.n, np->b->cat, e->n_fields,
                                  np->b->num, e->n_num, dx, rmtl__net_input_width(np->net));
    return rc;
}

int rmtl__net_backward(rmtl__net_pass *np, const float *dp, size_t lddp)
{
    size_t n = np->ps.n, T = np->net->n_tasks;
    float *dP = rmtl__ws_alloc(np->ps.ws, n * T);
    if (!dP)
        return RMTL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < T; k++)
            dP[k * n + i] = dp[i * lddp + k];
    int rc = rmtl__outputs_back(np, dP);
    return rc ? rc : rmtl__net_back(np);
}

int rmtl__net_run(const rmtl__net *net, rmtl__ws *ws, rmtl__tape *tape, rmtl__rng *drop,
                  int train, const rmtl_batch *b, float *probs, size_t ldp, double *loss)
{
    if ((train || loss) && !b->labels)
        return rmtl__error(RMTL_EINVAL, "batch: no labels to compute the loss");
    rmtl__ws_reset(ws);
    rmtl__net_pass np;
    int rc = rmtl__net_forward(&np, net, ws, tape, drop, train, b, probs, ldp);
    if (rc)
        return rc;
    double l = 0.0;
    if (train || loss) {
        rc = rmtl__loss(&np, train, &l);
        if (rc)
            return rc;
        if (loss)
            *loss = l;
    }
    return train ? rmtl__net_back(&np) : 0;
}
