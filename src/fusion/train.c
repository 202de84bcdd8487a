/*
 * Fusion training on a batch of logged requests (docs/fusion.md):
 *
 * critics  Q_(g,m), one TD loss each, aggregated over the shown list:
 *          L = mean_r (Σ_{j∈r} Q(s_j, a_j) − y_r)²,
 *          y_r = R_g(r) + γ·Σ_{j'∈next(r)} φ(a'_j')·Q'_(g,m)(s_j', a'_j'),  a' = μ'(s'),
 *          R_g(r) = Σ_{j∈r} Σ_{k: group k = g} c_k·v_(k,j)
 * actor    L = mean_s [ −Σ_g Q̄_g(s, μ(s)) + η·d(μ(s)) + κ·Σ_g std_m Q_(g,m)(s, μ(s)) ]
 * targets  θ' ← τθ + (1 − τ)θ'
 *
 * A "unit" is what one action belongs to: a shown pair at `pair`
 * granularity, a request at `user` granularity (its first row).
 */
#include "fusion/fusion.h"

#include "core/internal.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* std over the ensemble as sqrt(var + eps) (ours): differentiable where
 * every critic agrees. */
#define RMTL__FUSE_STD_EPS 1e-8

double rmtl__fusion_box_penalty(size_t A, const float *a, const float *lo, const float *hi,
                                double beta, float *grad, float scale)
{
    double d = 0.0;
    for (size_t k = 0; k < A; k++) {
        double below = (double)lo[k] - a[k], above = (double)a[k] - hi[k];
        if (below > 0.0 || above > 0.0) {
            double e = exp(beta * (below > 0.0 ? below : above));
            d += e - 1.0;
            if (grad)
                grad[k] += (float)(scale * beta * e * (below > 0.0 ? -1.0 : 1.0));
        }
    }
    return d;
}

double rmtl__fusion_box_discount(size_t A, const float *a, const float *lo, const float *hi,
                                 double beta)
{
    double d2 = 0.0;
    for (size_t k = 0; k < A; k++) {
        double below = (double)lo[k] - a[k], above = (double)a[k] - hi[k];
        double dist = below > 0.0 ? below : above > 0.0 ? above : 0.0;
        d2 += dist * dist;
    }
    return d2 > 0.0 ? exp(-beta * sqrt(d2)) : 1.0;
}

int rmtl__fusion_check_batch(const rmtl_fusion *f, const rmtl_fusion_batch *b)
{
    static const char fn[] = "rmtl_fusion_train_step";
    if (b->version != 1 && b->version != RMTL_FUSION_BATCH_VERSION)
        return rmtl__error(RMTL_EINVAL, "%s: unknown batch version %u", fn, (unsigned)b->version);
    if (b->requests == 0 || b->n_rows == 0)
        return rmtl__error(RMTL_EINVAL, "%s: the batch is empty (%zu requests, %zu rows)", fn,
                           b->requests, b->n_rows);
    struct {
        const char *name;
        size_t got, want;
    } dims[] = {{"state_dim", b->state_dim, f->state_dim},
                {"tasks", b->tasks, f->T},
                {"action_dim", b->action_dim, f->A},
                {"reward_dim", b->reward_dim, f->R}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].got != dims[i].want)
            return rmtl__error(RMTL_EINVAL, "%s: batch %s is %zu, the fusion expects %zu", fn,
                               dims[i].name, dims[i].got, dims[i].want);
    RMTL__CHECK_ARG(b->rows, "batch->rows");
    RMTL__CHECK_ARG(b->next_rows, "batch->next_rows");
    RMTL__CHECK_ARG(b->state || !f->state_dim, "batch->state");
    RMTL__CHECK_ARG(b->scores, "batch->scores");
    RMTL__CHECK_ARG(b->action && b->box_lo && b->box_hi, "batch->action/box_lo/box_hi");
    RMTL__CHECK_ARG(b->reward, "batch->reward");
    if (b->n_rows > SIZE_MAX / 4 / (f->in_crit + f->state_dim + 1) || b->requests > SIZE_MAX / 4)
        return rmtl__error(RMTL_EINVAL, "%s: batch too large", fn);
    for (size_t r = 0; r < b->requests; r++) {
        size_t s0 = b->rows[2 * r], s1 = b->rows[2 * r + 1];
        size_t n0 = b->next_rows[2 * r], n1 = b->next_rows[2 * r + 1];
        if (!(s0 < s1 && s1 <= b->n_rows))
            return rmtl__error(RMTL_EINVAL, "%s: request %zu shows rows [%zu, %zu): not a "
                               "non-empty range of the %zu rows", fn, r, s0, s1, b->n_rows);
        if (!(n0 <= n1 && n1 <= b->n_rows))
            return rmtl__error(RMTL_EINVAL, "%s: request %zu's next rows [%zu, %zu) are not a "
                               "range of the %zu rows", fn, r, n0, n1, b->n_rows);
    }
    for (size_t r = 0; b->version >= 2 && r < b->requests; r++)
        for (int nx = 0; nx < 2; nx++) {
            const size_t *c = nx ? b->next_cand_rows : b->cand_rows;
            if (c && !(c[2 * r] <= c[2 * r + 1] && c[2 * r + 1] <= b->n_rows))
                return rmtl__error(RMTL_EINVAL, "%s: request %zu's %scand_rows [%zu, %zu) are "
                                   "not a range of the %zu rows", fn, r, nx ? "next_" : "",
                                   c[2 * r], c[2 * r + 1], b->n_rows);
            if (b->cand_weight && !(b->cand_weight[2 * r + (size_t)nx] > 0.0f &&
                                    isfinite(b->cand_weight[2 * r + (size_t)nx])))
                return rmtl__error(RMTL_EINVAL, "%s: cand_weight[%zu][%d] = %g is not a "
                                   "positive finite weight", fn, r, nx,
                                   (double)b->cand_weight[2 * r + (size_t)nx]);
        }
    for (size_t k = 0; b->version >= 2 && b->behaviour && k < b->n_rows; k++)
        if (!isfinite(b->behaviour[k]))
            return rmtl__error(RMTL_ENUMERIC, "%s: batch behaviour[%zu] is %s", fn, k,
                               isnan(b->behaviour[k]) ? "NaN" : "infinite");
    struct {
        const char *name;
        const float *x;
        size_t m;
    } arr[] = {{"state", b->state, f->state_dim}, {"scores", b->scores, f->T},
               {"action", b->action, f->A},       {"box_lo", b->box_lo, f->A},
               {"box_hi", b->box_hi, f->A},       {"reward", b->reward, f->R}};
    for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++)
        for (size_t k = 0; k < b->n_rows * arr[i].m; k++)
            if (!isfinite(arr[i].x[k]))
                return rmtl__error(RMTL_ENUMERIC, "%s: batch %s[%zu][%zu] is %s", fn,
                                   arr[i].name, k / arr[i].m, k % arr[i].m,
                                   isnan(arr[i].x[k]) ? "NaN" : "infinite");
    for (size_t k = 0; k < b->n_rows * f->T; k++)
        if (!(b->scores[k] >= 0.0f && b->scores[k] <= 1.0f))
            return rmtl__error(RMTL_EINVAL, "%s: batch scores[%zu][%zu] = %g is outside [0, 1]",
                               fn, k / f->T, k % f->T, (double)b->scores[k]);
    for (size_t k = 0; k < b->n_rows * f->A; k++)
        if (b->box_lo[k] > b->box_hi[k])
            return rmtl__error(RMTL_EINVAL, "%s: batch box_lo[%zu][%zu] = %g exceeds box_hi = %g",
                               fn, k / f->A, k % f->A, (double)b->box_lo[k],
                               (double)b->box_hi[k]);
    return 0;
}

void rmtl__fusion_batch_v2(rmtl_fusion_batch *out, const rmtl_fusion_batch *b)
{
    rmtl_fusion_batch v = RMTL_FUSION_BATCH_INIT;
    /* a version-1 caller's struct ends before the version-2 fields */
    memcpy(&v, b, b->version >= 2 ? sizeof v : offsetof(rmtl_fusion_batch, cand_rows));
    v.version = RMTL_FUSION_BATCH_VERSION;
    *out = v;
}

size_t *rmtl__fusion_ws_idx(rmtl__ws *ws, size_t n)
{
    return (size_t *)(void *)rmtl__ws_alloc(ws, n * (sizeof(size_t) / sizeof(float)) + 1);
}

/* The units of a batch: their rows and owning requests. next = 0: the
 * requests' shown units; next = 1: the units of their next requests. */
typedef struct rmtl__units {
    size_t n, *row, *req;
} rmtl__units;

static int rmtl__fusion_units(const rmtl_fusion *f, rmtl__ws *ws, const rmtl_fusion_batch *b,
                              int next, rmtl__units *u)
{
    const size_t *range = next ? b->next_rows : b->rows;
    int pair = f->gran == RMTL_FUSION_PAIR;
    u->n = 0;
    for (size_t r = 0; r < b->requests; r++) {
        size_t len = range[2 * r + 1] - range[2 * r];
        u->n += pair ? len : len > 0;
    }
    u->row = rmtl__fusion_ws_idx(ws, u->n);
    u->req = rmtl__fusion_ws_idx(ws, u->n);
    if (!u->row || !u->req)
        return RMTL_ENOMEM;
    size_t k = 0;
    for (size_t r = 0; r < b->requests; r++) {
        size_t s0 = range[2 * r], s1 = range[2 * r + 1];
        if (!pair && s1 > s0)
            s1 = s0 + 1;
        for (size_t j = s0; j < s1; j++, k++) {
            u->row[k] = j;
            u->req[k] = r;
        }
    }
    return 0;
}

/* How many units the batch's requests show (the actor loss's rows). */
static size_t rmtl__fusion_units_count(const rmtl_fusion *f, const rmtl_fusion_batch *b)
{
    if (f->gran != RMTL_FUSION_PAIR)
        return b->requests; /* every request shows at least one row */
    size_t n = 0;
    for (size_t r = 0; r < b->requests; r++)
        n += b->rows[2 * r + 1] - b->rows[2 * r];
    return n;
}

/* x (n × ld): each unit's actor input row in columns [0, in_act). */
static void rmtl__fusion_inputs(const rmtl_fusion *f, const rmtl_fusion_batch *b,
                                const rmtl__units *u, float *x, size_t ld)
{
    for (size_t k = 0; k < u->n; k++)
        rmtl__fusion_state_row(f, b->state + u->row[k] * f->state_dim,
                               b->scores + u->row[k] * f->T, x + k * ld);
}

static int rmtl__fusion_nonfinite(const char *what, double v)
{
    return isfinite(v) ? 0 : rmtl__error(RMTL_ENUMERIC, "fusion: non-finite %s", what);
}

int rmtl__fusion_critic_grad(rmtl_fusion *f, const rmtl_fusion_batch *b, double *loss)
{
    rmtl__ws *ws = &f->ws;
    rmtl__ws_reset(ws);
    rmtl__units cur, nxt;
    int rc = rmtl__fusion_units(f, ws, b, 0, &cur);
    if (!rc)
        rc = rmtl__fusion_units(f, ws, b, 1, &nxt);
    if (rc)
        return rc;
    size_t B = b->requests, C = f->in_crit, A = f->A;
    float *xc = rmtl__ws_alloc(ws, cur.n * C), *xn = rmtl__ws_alloc(ws, nxt.n * C + 1);
    float *zn = rmtl__ws_alloc(ws, nxt.n * A + 1), *phi = rmtl__ws_alloc(ws, nxt.n + 1);
    float *rg = rmtl__ws_alloc(ws, B * f->G), *y = rmtl__ws_alloc(ws, B);
    float *sq = rmtl__ws_alloc(ws, B), *dq = rmtl__ws_alloc(ws, cur.n);
    if (!xc || !xn || !zn || !phi || !rg || !y || !sq || !dq)
        return RMTL_ENOMEM;
    /* inputs: logged actions now, the target actor's actions next */
    rmtl__fusion_inputs(f, b, &cur, xc, C);
    for (size_t k = 0; k < cur.n; k++)
        memcpy(xc + k * C + f->in_act, b->action + cur.row[k] * A, A * sizeof *xc);
    rmtl__fusion_inputs(f, b, &nxt, xn, C);
    double beta = f->o.box_beta, gamma = f->o.gamma;
    if (nxt.n) {
        rmtl__ws_reset(&f->ws_net);
        rc = rmtl__mlp_predict(&f->actor_t, &f->ws_net, nxt.n, xn, C, zn, A);
        if (rc)
            return rc;
        for (size_t k = 0; k < nxt.n; k++) {
            float *a = xn + k * C + f->in_act;
            rmtl__fusion_squash(f, zn + k * A, a);
            size_t row = nxt.row[k] * A;
            phi[k] = (float)rmtl__fusion_box_discount(A, a, b->box_lo + row, b->box_hi + row, beta);
        }
    }
    /* group rewards of each request */
    memset(rg, 0, B * f->G * sizeof *rg);
    const double *coef = f->o.reward_coef;
    const size_t *grp = f->o.reward_group;
    for (size_t r = 0; r < B; r++)
        for (size_t j = b->rows[2 * r]; j < b->rows[2 * r + 1]; j++)
            for (size_t k = 0; k < f->R; k++)
                rg[r * f->G + grp[k]] += (float)(coef[k] * b->reward[j * f->R + k]);
    rmtl__params_zero_grad(&f->critic_ps);
    double total = 0.0;
    for (size_t i = 0; i < f->G * f->M; i++) {
        size_t g = i / f->M;
        rmtl__ws_reset(&f->ws_net);
        float *qn = rmtl__ws_alloc(&f->ws_net, nxt.n + 1);
        if (!qn)
            return RMTL_ENOMEM;
        if (nxt.n && (rc = rmtl__mlp_predict(&f->critic_t[i], &f->ws_net, nxt.n, xn, C, qn, 1)))
            return rc;
        for (size_t r = 0; r < B; r++) {
            y[r] = rg[r * f->G + g];
            sq[r] = 0.0f;
        }
        for (size_t k = 0; k < nxt.n; k++)
            y[nxt.req[k]] += (float)(gamma * phi[k] * qn[k]);
        const float *q;
        if ((rc = rmtl__mlp_forward(&f->critic[i], &f->ws_net, cur.n, xc, C, NULL, &q)))
            return rc;
        for (size_t k = 0; k < cur.n; k++)
            sq[cur.req[k]] += q[k];
        double li = 0.0;
        for (size_t r = 0; r < B; r++) {
            double e = (double)sq[r] - y[r];
            li += e * e;
        }
        for (size_t k = 0; k < cur.n; k++)
            dq[k] = (float)(2.0 * ((double)sq[cur.req[k]] - y[cur.req[k]]) / (double)B);
        total += li / (double)B;
        if ((rc = rmtl__fusion_nonfinite("critic loss", li)) ||
            (rc = rmtl__mlp_backward(&f->critic[i], &f->ws_net, dq, 1, NULL, 0, 0)))
            return rc;
    }
    *loss = total / (double)(f->G * f->M);
    return 0;
}

/* One group of the actor loss: forward its m critics at (s, μ(s)), add the
 * group's terms to the per-unit loss parts and back-propagate into da. */
static int rmtl__fusion_actor_group(rmtl_fusion *f, size_t g, size_t n, const float *xq,
                                    float *da, double *qsum, double *stdsum)
{
    size_t M = f->M, C = f->in_crit, A = f->A;
    double kappa = f->o.kappa;
    rmtl__ws *ws = &f->ws_net;
    rmtl__ws_reset(ws);
    const float *q[64];
    float *dq = rmtl__ws_alloc(ws, M * n), *dx = rmtl__ws_alloc(ws, n * C);
    if (!dq || !dx)
        return RMTL_ENOMEM;
    for (size_t m = 0; m < M; m++) {
        int rc = rmtl__mlp_forward(&f->critic[g * M + m], ws, n, xq, C, NULL, &q[m]);
        if (rc)
            return rc;
    }
    for (size_t k = 0; k < n; k++) {
        double mean = 0.0, var = 0.0;
        for (size_t m = 0; m < M; m++)
            mean += q[m][k];
        mean /= (double)M;
        for (size_t m = 0; m < M; m++)
            var += ((double)q[m][k] - mean) * ((double)q[m][k] - mean);
        double sd = sqrt(var / (double)M + RMTL__FUSE_STD_EPS);
        qsum[k] += mean;
        stdsum[k] += sd;
        for (size_t m = 0; m < M; m++)
            dq[m * n + k] = (float)((-1.0 + kappa * ((double)q[m][k] - mean) / sd) /
                                    ((double)M * (double)n));
    }
    for (size_t m = 0; m < M; m++) {
        int rc = rmtl__mlp_backward(&f->critic[g * M + m], ws, dq + m * n, 1, dx, C, 0);
        if (rc)
            return rc;
        for (size_t k = 0; k < n; k++)
            for (size_t j = 0; j < A; j++)
                da[k * A + j] += dx[k * C + f->in_act + j];
    }
    return 0;
}

int rmtl__fusion_actor_grad(rmtl_fusion *f, const rmtl_fusion_batch *b, double *loss,
                            rmtl_fusion_stats *st)
{
    rmtl__ws *ws = &f->ws;
    rmtl__ws_reset(ws);
    rmtl__units cur;
    int rc = rmtl__fusion_units(f, ws, b, 0, &cur);
    if (rc)
        return rc;
    size_t n = cur.n, C = f->in_crit, A = f->A;
    float *xq = rmtl__ws_alloc(ws, n * C), *da = rmtl__ws_alloc(ws, n * A);
    double *qsum = (double *)(void *)rmtl__ws_alloc(ws, 2 * n);
    double *stdsum = (double *)(void *)rmtl__ws_alloc(ws, 2 * n);
    if (!xq || !da || !qsum || !stdsum)
        return RMTL_ENOMEM;
    rmtl__fusion_inputs(f, b, &cur, xq, C);
    rmtl__params_zero_grad(&f->actor_ps);
    const float *z;
    if ((rc = rmtl__mlp_forward(&f->actor, ws, n, xq, C, NULL, &z)))
        return rc;
    for (size_t k = 0; k < n; k++)
        rmtl__fusion_squash(f, z + k * A, xq + k * C + f->in_act);
    memset(da, 0, n * A * sizeof *da);
    memset(qsum, 0, n * sizeof *qsum);
    memset(stdsum, 0, n * sizeof *stdsum);
    rmtl__params_freeze(&f->critic_ps, 1);
    for (size_t g = 0; !rc && g < f->G; g++)
        rc = rmtl__fusion_actor_group(f, g, n, xq, da, qsum, stdsum);
    rmtl__params_freeze(&f->critic_ps, 0);
    if (rc)
        return rc;
    double eta = f->o.eta, beta = f->o.box_beta, kappa = f->o.kappa;
    double lq = 0.0, lstd = 0.0, lpen = 0.0;
    for (size_t k = 0; k < n; k++) {
        size_t row = cur.row[k] * A;
        lpen += rmtl__fusion_box_penalty(A, xq + k * C + f->in_act, b->box_lo + row,
                                         b->box_hi + row, beta, da + k * A,
                                         (float)(eta / (double)n));
        lq += qsum[k];
        lstd += stdsum[k];
    }
    lq /= (double)n;
    lstd /= (double)n;
    lpen /= (double)n;
    *loss = -lq + eta * lpen + kappa * lstd;
    if ((rc = rmtl__fusion_nonfinite("actor loss", *loss)))
        return rc;
    /* through the squash: da/dz = (hi − lo)/2·(1 − tanh² z) */
    float *dz = da;
    for (size_t k = 0; k < n; k++)
        for (size_t j = 0; j < A; j++) {
            float t = tanhf(z[k * A + j]);
            dz[k * A + j] = da[k * A + j] * (f->hi[j] - f->lo[j]) * 0.5f * (1.0f - t * t);
        }
    if ((rc = rmtl__mlp_backward(&f->actor, ws, dz, A, NULL, 0, 0)))
        return rc;
    if (st) {
        st->q = lq;
        st->q_std = lstd;
        st->penalty = lpen;
    }
    return 0;
}

int rmtl_fusion_train_step(rmtl_fusion *f, const rmtl_fusion_batch *batch,
                           rmtl_fusion_stats *stats)
{
    static const char fn[] = "rmtl_fusion_train_step";
    RMTL__CHECK_ARG(f, "f");
    RMTL__CHECK_ARG(batch, "batch");
    if (stats && stats->version != RMTL_FUSION_STATS_VERSION)
        return rmtl__error(RMTL_EINVAL, "%s: unknown stats version %u", fn,
                           (unsigned)stats->version);
    int rc = rmtl__fusion_check_batch(f, batch);
    if (rc)
        return rc;
    rmtl_fusion_batch v2;
    rmtl__fusion_batch_v2(&v2, batch);
    batch = &v2;
    rmtl_fusion_stats st = RMTL_FUSION_STATS_INIT;
    int list = f->o.list;
    if ((rc = (list ? rmtl__fusion_list_critic_grad : rmtl__fusion_critic_grad)(
             f, batch, &st.critic_loss)) ||
        (rc = rmtl__gx_reduce(&f->gx, &f->critic_ps, batch->requests, &st.critic_loss, 1,
                              "critics")) ||
        (rc = rmtl__adam_step(&f->critic_opt, &f->ws.rt, &f->critic_ps, NULL)))
        return rmtl__error_prefix(rc, "%s: critics", fn);
    if (!(rc = (list ? rmtl__fusion_list_actor_grad : rmtl__fusion_actor_grad)(
              f, batch, &st.actor_loss, &st))) {
        /* the actor's loss terms are means over its units (list: requests) */
        double means[4] = {st.actor_loss, st.q, st.q_std, st.penalty};
        rc = rmtl__gx_reduce(&f->gx, &f->actor_ps,
                             list ? batch->requests : rmtl__fusion_units_count(f, batch), means,
                             4, "actor");
        st.actor_loss = means[0], st.q = means[1], st.q_std = means[2], st.penalty = means[3];
    }
    if (rc || (rc = rmtl__adam_step(&f->actor_opt, &f->ws.rt, &f->actor_ps, NULL)))
        return rmtl__error_prefix(rc, "%s: actor", fn);
    float tau = (float)f->o.tau;
    if ((rc = rmtl__params_soft_update(&f->actor_tps, &f->actor_ps, tau)) ||
        (rc = rmtl__params_soft_update(&f->critic_tps, &f->critic_ps, tau)))
        return rmtl__error_prefix(rc, "%s", fn);
    st.steps = ++f->steps;
    if (stats)
        *stats = st;
    return RMTL_OK;
}
