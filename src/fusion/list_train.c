/*
 * List-aware training (fusion.objective: list; SPEC §4b, docs/fusion.md):
 *
 * critics  per reward group g and ensemble member m, an action-free item
 *          value Q̄_gm(x) = r̂_gm(x) + h_gm(x) (one MLP, two outputs) on the
 *          item state x = [user; context | item; scores]:
 *            immediate     Σ_{j shown} (e_pos(j)·r̂(x_j) − r_gj)²
 *            continuation  (Σ_{j shown} e_pos(j)·h(x_j) − γ·V'(t+1))²,
 *            V'(t+1) = Σ_{k<l} e_k Σ_{j ∈ C(t+1)} P_k^θ'(j)·Q̄'_gm(x_j)
 *          with P^θ' the target actor's PL slot probabilities over the next
 *          request's logged candidates C(t+1) (shown and unshown);
 * actor    maximises J = Σ_{k<l} e_k Σ_j P_k^θ(j)·Q̄_LCB(x_j) over every
 *          logged candidate, z_j = F_θ(x_j)/τ, Q̄_LCB = Σ_g (mean_m − κ·std_m),
 *          minus β·KL(π_θ⁰ ‖ π_b⁰) of the first slots (both at the behaviour
 *          temperature τ_b, so that annealing τ does not pull on the scale
 *          of F), minus the anchor
 *          λ·‖ā_θ − ā_b‖² of the request's (c-weighted) mean action.
 * Losses are means over requests.
 */
#include "fusion/fusion.h"
#include "fusion/plackett_luce.h"

#include "core/internal.h"

#include <math.h>
#include <string.h>

#define RMTL__LIST_STD_EPS 1e-8

/* The candidate lists of a batch's requests (next = 0) or of their next
 * requests (next = 1): list r is off[r] .. off[r+1]-1, its shown rows
 * first (shown[r] of them, in position order), then the unshown ones. */
typedef struct rmtl__lists {
    size_t B, n, *off, *shown, *row;
    double *c; /* multiplicity of each entry: 1 shown, ω unshown */
} rmtl__lists;

static double *rmtl__ws_dbl(rmtl__ws *ws, size_t n)
{
    return (double *)(void *)rmtl__ws_alloc(ws, 2 * n + 2);
}

static int rmtl__lists_build(rmtl__ws *ws, const rmtl_fusion_batch *b, int next, rmtl__lists *L)
{
    const size_t *sr = next ? b->next_rows : b->rows;
    const size_t *cr = next ? b->next_cand_rows : b->cand_rows;
    size_t B = b->requests;
    L->B = B;
    L->n = 0;
    for (size_t r = 0; r < B; r++) {
        size_t ns = sr[2 * r + 1] - sr[2 * r];
        L->n += ns + (ns && cr ? cr[2 * r + 1] - cr[2 * r] : 0);
    }
    L->off = rmtl__fusion_ws_idx(ws, B + 1);
    L->shown = rmtl__fusion_ws_idx(ws, B);
    L->row = rmtl__fusion_ws_idx(ws, L->n);
    L->c = rmtl__ws_dbl(ws, L->n);
    if (!L->off || !L->shown || !L->row || !L->c)
        return RMTL_ENOMEM;
    size_t k = 0;
    for (size_t r = 0; r < B; r++) {
        L->off[r] = k;
        size_t s0 = sr[2 * r], s1 = sr[2 * r + 1];
        L->shown[r] = s1 - s0;
        for (size_t j = s0; j < s1; j++, k++) {
            L->row[k] = j;
            L->c[k] = 1.0;
        }
        if (s1 > s0 && cr) {
            double w = b->cand_weight ? b->cand_weight[2 * r + (size_t)next] : 1.0;
            for (size_t j = cr[2 * r]; j < cr[2 * r + 1]; j++, k++) {
                L->row[k] = j;
                L->c[k] = w;
            }
        }
    }
    L->off[B] = k;
    return 0;
}

/* Examination probability of shown position k. */
static double rmtl__exam(const rmtl_fusion *f, size_t k)
{
    return pow(1.0 + (double)k, -f->o.position_decay);
}

double rmtl__fusion_temperature(const rmtl_fusion *f)
{
    double t = f->o.temperature;
    uint64_t n = f->o.temperature_steps;
    if (n == 0 || f->steps >= n)
        return t;
    /* geometric from 10·τ down to τ over the first n steps */
    return t * pow(10.0, 1.0 - (double)f->steps / (double)n);
}

void rmtl__fusion_item_row(const rmtl_fusion *f, const float *state, const float *scores,
                           float *row)
{
    size_t u = f->user_dim, i = f->item_dim, c = f->ctx_dim;
    memcpy(row, state, u * sizeof *row);
    memcpy(row + u, state + u + i, c * sizeof *row);
    memcpy(row + u + c, state + u, i * sizeof *row);
    memcpy(row + u + c + i, scores, f->T * sizeof *row);
}

/* ∂F/∂a of the formula at scores p and action a, into g (A values). */
static void rmtl__formula_grad(int formula, size_t T, const float *p, const float *a, double *g)
{
    for (size_t i = 0; i < T; i++) {
        if (formula == RMTL_FUSION_PRODUCT) {
            double x = (double)p[i] + (double)a[T + i];
            int clamped = !(x > 1e-12);
            g[i] = log(clamped ? 1e-12 : x);
            g[T + i] = clamped ? 0.0 : (double)a[i] / x;
        } else {
            g[i] = p[i];
        }
    }
}

/* Actions of the entries of L by actor net `m` (training forward when
 * train, else prediction), into act (L->n × A); z (L->n × A, the
 * pre-squash outputs) only when training. At `user` granularity the
 * actor runs once per list on its first row and every entry shares it. */
static int rmtl__list_actions(rmtl_fusion *f, rmtl__mlp *m, int train, const rmtl_fusion_batch *b,
                              const rmtl__lists *L, float *act, const float **z_out,
                              size_t *units)
{
    size_t A = f->A, in = f->in_act;
    int pair = f->gran == RMTL_FUSION_PAIR;
    size_t nu = 0;
    for (size_t r = 0; r < L->B; r++)
        nu += pair ? L->off[r + 1] - L->off[r] : L->off[r + 1] > L->off[r];
    *units = nu;
    if (nu == 0)
        return 0;
    rmtl__ws *ws = &f->ws; /* the step's buffers; networks run in ws_net */
    float *x = rmtl__ws_alloc(ws, nu * in), *z = train ? NULL : rmtl__ws_alloc(ws, nu * A);
    if (!x || (!train && !z))
        return RMTL_ENOMEM;
    size_t u = 0;
    for (size_t r = 0; r < L->B; r++) {
        size_t e1 = pair ? L->off[r + 1] : (L->off[r + 1] > L->off[r] ? L->off[r] + 1 : L->off[r]);
        for (size_t e = L->off[r]; e < e1; e++, u++) {
            size_t row = L->row[e];
            rmtl__fusion_state_row(f, b->state + row * f->state_dim, b->scores + row * f->T,
                                   x + u * in);
        }
    }
    int rc;
    const float *zz;
    if (train) {
        rc = rmtl__mlp_forward(m, ws, nu, x, in, NULL, &zz);
    } else {
        rmtl__ws_reset(&f->ws_net);
        rc = rmtl__mlp_predict(m, &f->ws_net, nu, x, in, z, A);
        zz = z;
    }
    if (rc)
        return rc;
    u = 0;
    for (size_t r = 0; r < L->B; r++)
        for (size_t e = L->off[r]; e < L->off[r + 1]; e++) {
            rmtl__fusion_squash(f, zz + u * A, act + e * A);
            if (pair || e + 1 == L->off[r + 1])
                u++;
        }
    if (z_out)
        *z_out = zz;
    return 0;
}

/* Item states of the entries of L into x (L->n × in_item). */
static void rmtl__list_items(const rmtl_fusion *f, const rmtl_fusion_batch *b,
                             const rmtl__lists *L, float *x)
{
    for (size_t e = 0; e < L->n; e++) {
        size_t row = L->row[e];
        rmtl__fusion_item_row(f, b->state + row * f->state_dim, b->scores + row * f->T,
                              x + e * f->in_item);
    }
}

/* Work for rmtl__pl_value over the longest list. */
static double *rmtl__list_work(rmtl__ws *ws, const rmtl__lists *L, size_t l)
{
    size_t w = 0;
    for (size_t r = 0; r < L->B; r++)
        w = L->off[r + 1] - L->off[r] > w ? L->off[r + 1] - L->off[r] : w;
    return rmtl__ws_dbl(ws, 2 * l * w + 3 * w + l + 1);
}

int rmtl__fusion_list_critic_grad(rmtl_fusion *f, const rmtl_fusion_batch *b, double *loss)
{
    rmtl__ws *ws = &f->ws;
    rmtl__ws_reset(ws);
    rmtl__lists cur, nxt;
    int rc = rmtl__lists_build(ws, b, 0, &cur);
    if (!rc)
        rc = rmtl__lists_build(ws, b, 1, &nxt);
    if (rc)
        return rc;
    size_t B = b->requests, A = f->A, I = f->in_item, l = f->o.top_l, G = f->G, M = f->M;
    size_t ns = 0; /* shown entries of the current lists */
    for (size_t r = 0; r < B; r++)
        ns += cur.shown[r];
    float *xc = rmtl__ws_alloc(ws, ns * I + 1), *xn = rmtl__ws_alloc(ws, nxt.n * I + 1);
    float *an = rmtl__ws_alloc(ws, nxt.n * A + 1), *rg = rmtl__ws_alloc(ws, ns * G + 1);
    float *dy = rmtl__ws_alloc(ws, 2 * ns + 1), *qn = rmtl__ws_alloc(ws, 2 * nxt.n + 2);
    double *zn = rmtl__ws_dbl(ws, nxt.n), *qv = rmtl__ws_dbl(ws, nxt.n);
    double *ex = rmtl__ws_dbl(ws, l), *vn = rmtl__ws_dbl(ws, B);
    size_t *sreq = rmtl__fusion_ws_idx(ws, ns), *spos = rmtl__fusion_ws_idx(ws, ns);
    double *work = rmtl__list_work(ws, &nxt, l);
    if (!xc || !xn || !an || !rg || !dy || !qn || !zn || !qv || !ex || !vn || !sreq || !spos ||
        !work)
        return RMTL_ENOMEM;
    for (size_t k = 0; k < l; k++)
        ex[k] = rmtl__exam(f, k);
    /* shown entries: item states, owners, positions and group rewards */
    const double *coef = f->o.reward_coef;
    const size_t *grp = f->o.reward_group;
    size_t s = 0;
    for (size_t r = 0; r < B; r++)
        for (size_t k = 0; k < cur.shown[r]; k++, s++) {
            size_t row = cur.row[cur.off[r] + k];
            rmtl__fusion_item_row(f, b->state + row * f->state_dim, b->scores + row * f->T,
                                  xc + s * I);
            sreq[s] = r;
            spos[s] = k;
            for (size_t g = 0; g < G; g++)
                rg[s * G + g] = 0.0f;
            for (size_t k2 = 0; k2 < f->R; k2++)
                rg[s * G + grp[k2]] += (float)(coef[k2] * b->reward[row * f->R + k2]);
        }
    /* the target actor's PL scores over the next requests' candidates */
    double tau = rmtl__fusion_temperature(f), gamma = f->o.gamma;
    if (nxt.n) {
        size_t units;
        rmtl__list_items(f, b, &nxt, xn);
        if ((rc = rmtl__list_actions(f, &f->actor_t, 0, b, &nxt, an, NULL, &units)))
            return rc;
        for (size_t e = 0; e < nxt.n; e++) {
            size_t row = nxt.row[e];
            zn[e] = rmtl__fusion_formula(f->formula, f->T, b->scores + row * f->T, an + e * A) /
                    tau;
        }
    }
    rmtl__params_zero_grad(&f->critic_ps);
    double total = 0.0;
    for (size_t i = 0; i < G * M; i++) {
        size_t g = i / M;
        /* V'(t+1) by the target critic */
        for (size_t r = 0; r < B; r++)
            vn[r] = 0.0;
        if (nxt.n) {
            rmtl__ws_reset(&f->ws_net);
            if ((rc = rmtl__mlp_predict(&f->critic_t[i], &f->ws_net, nxt.n, xn, I, qn, 2)))
                return rc;
            for (size_t e = 0; e < nxt.n; e++)
                qv[e] = (double)qn[2 * e] + (double)qn[2 * e + 1];
            for (size_t r = 0; r < B; r++) {
                size_t o = nxt.off[r], n = nxt.off[r + 1] - o;
                if (n)
                    vn[r] = rmtl__pl_value(zn + o, nxt.c + o, qv + o, ex, n, l, NULL, work,
                                           NULL);
            }
        }
        rmtl__ws_reset(&f->ws_net);
        const float *q;
        if ((rc = rmtl__mlp_forward(&f->critic[i], &f->ws_net, ns, xc, I, NULL, &q)))
            return rc;
        double li = 0.0;
        s = 0;
        for (size_t r = 0; r < B; r++) {
            double hs = 0.0;
            size_t s0 = s;
            for (size_t k = 0; k < cur.shown[r]; k++, s++) {
                double e = rmtl__exam(f, spos[s]);
                double d = e * q[2 * s] - rg[s * G + g];
                li += d * d;
                dy[2 * s] = (float)(2.0 * e * d / (double)B);
                hs += e * q[2 * s + 1];
            }
            double d = hs - gamma * vn[r];
            li += d * d;
            for (size_t t = s0; t < s; t++)
                dy[2 * t + 1] = (float)(2.0 * rmtl__exam(f, spos[t]) * d / (double)B);
        }
        total += li / (double)B;
        if ((rc = isfinite(li) ? 0 : rmtl__error(RMTL_ENUMERIC, "fusion: non-finite critic loss")) ||
            (rc = rmtl__mlp_backward(&f->critic[i], &f->ws_net, dy, 2, NULL, 0, 0)))
            return rc;
    }
    *loss = total / (double)(G * M);
    return 0;
}

void rmtl__fusion_group_lcb(const float *y, size_t M, size_t n, double kappa, double *q,
                            double *sd)
{
    for (size_t e = 0; e < n; e++) {
        double mean = 0.0, var = 0.0;
        for (size_t m = 0; m < M; m++)
            mean += (double)y[m * 2 * n + 2 * e] + y[m * 2 * n + 2 * e + 1];
        mean /= (double)M;
        for (size_t m = 0; m < M; m++) {
            double d = (double)y[m * 2 * n + 2 * e] + y[m * 2 * n + 2 * e + 1] - mean;
            var += d * d;
        }
        double s = sqrt(var / (double)M + RMTL__LIST_STD_EPS);
        q[e] += mean - kappa * s;
        if (sd)
            sd[e] += s;
    }
}

/* Q̄_LCB of every entry of L by the online critics (frozen: prediction),
 * and the ensemble std summed over groups into sd (may be NULL). */
static int rmtl__list_values(rmtl_fusion *f, const float *x, size_t n, double *q, double *sd)
{
    size_t M = f->M;
    rmtl__ws *ws = &f->ws_net;
    for (size_t e = 0; e < n; e++) {
        q[e] = 0.0;
        if (sd)
            sd[e] = 0.0;
    }
    for (size_t g = 0; g < f->G; g++) {
        rmtl__ws_reset(ws);
        float *y = rmtl__ws_alloc(ws, M * 2 * n);
        if (!y)
            return RMTL_ENOMEM;
        for (size_t m = 0; m < M; m++) {
            int rc = rmtl__mlp_predict(&f->critic[g * M + m], ws, n, x, f->in_item,
                                       y + m * 2 * n, 2);
            if (rc)
                return rc;
        }
        rmtl__fusion_group_lcb(y, M, n, f->o.kappa, q, sd);
    }
    return 0;
}

int rmtl__fusion_list_actor_grad(rmtl_fusion *f, const rmtl_fusion_batch *b, double *loss,
                                 rmtl_fusion_stats *st)
{
    rmtl__ws *ws = &f->ws;
    rmtl__ws_reset(ws);
    rmtl__lists cur;
    int rc = rmtl__lists_build(ws, b, 0, &cur);
    if (rc)
        return rc;
    size_t B = b->requests, A = f->A, n = cur.n, l = f->o.top_l;
    float *x = rmtl__ws_alloc(ws, n * f->in_item), *act = rmtl__ws_alloc(ws, n * A);
    double *q = rmtl__ws_dbl(ws, n), *sd = rmtl__ws_dbl(ws, n), *z = rmtl__ws_dbl(ws, n);
    double *zb = rmtl__ws_dbl(ws, n), *gz = rmtl__ws_dbl(ws, n), *gk = rmtl__ws_dbl(ws, n);
    double *zk = rmtl__ws_dbl(ws, n);
    double *ga = rmtl__ws_dbl(ws, n * A), *ex = rmtl__ws_dbl(ws, l);
    double *work = rmtl__list_work(ws, &cur, l);
    if (!x || !act || !q || !sd || !z || !zb || !gz || !gk || !zk || !ga || !ex || !work)
        return RMTL_ENOMEM;
    for (size_t k = 0; k < l; k++)
        ex[k] = rmtl__exam(f, k);
    rmtl__list_items(f, b, &cur, x);
    if ((rc = rmtl__list_values(f, x, n, q, sd)))
        return rc;
    rmtl__params_zero_grad(&f->actor_ps);
    const float *za;
    size_t units;
    if ((rc = rmtl__list_actions(f, &f->actor, 1, b, &cur, act, &za, &units)))
        return rc;
    double tau = rmtl__fusion_temperature(f), taub = f->o.explore_temperature;
    double beta = f->o.kl_beta, lam = f->o.anchor;
    for (size_t e = 0; e < n; e++) {
        size_t row = cur.row[e];
        const float *p = b->scores + row * f->T;
        double F = rmtl__fusion_formula(f->formula, f->T, p, act + e * A);
        z[e] = F / tau;
        zk[e] = F / taub; /* the trust region compares rankings at τ_b, whatever τ */
        double fb = b->behaviour ? (double)b->behaviour[row]
                                 : rmtl__fusion_formula(f->formula, f->T, p, b->action + row * A);
        zb[e] = fb / taub;
    }
    double lj = 0.0, lkl = 0.0, lanc = 0.0, lsd = 0.0;
    for (size_t r = 0; r < B; r++) {
        size_t o = cur.off[r], m = cur.off[r + 1] - o;
        double J = rmtl__pl_value(z + o, cur.c + o, q + o, ex, m, l, gz + o, work, NULL);
        double kl = rmtl__pl_first_kl(zk + o, zb + o, cur.c + o, m, gk + o);
        lj += J;
        lkl += kl;
        /* ∂L/∂a through F: L_r = −J + β·KL, z = F/τ */
        double cs = 0.0, mean[RMTL__FUSE_ACT_MAX] = {0}, meanb[RMTL__FUSE_ACT_MAX] = {0};
        for (size_t e = o; e < o + m; e++) {
            double gF = (-gz[e] / tau + beta * gk[e] / taub) / (double)B;
            double dF[RMTL__FUSE_ACT_MAX];
            rmtl__formula_grad(f->formula, f->T, b->scores + cur.row[e] * f->T, act + e * A, dF);
            for (size_t k = 0; k < A; k++) {
                ga[e * A + k] = gF * dF[k];
                mean[k] += cur.c[e] * act[e * A + k];
                meanb[k] += cur.c[e] * b->action[cur.row[e] * A + k];
            }
            cs += cur.c[e];
            lsd += sd[e] * cur.c[e];
        }
        for (size_t k = 0; k < A; k++) {
            double d = (mean[k] - meanb[k]) / cs;
            lanc += d * d;
            for (size_t e = o; e < o + m; e++)
                ga[e * A + k] += lam * 2.0 * d * cur.c[e] / cs / (double)B;
        }
    }
    lj /= (double)B;
    lkl /= (double)B;
    lanc /= (double)B;
    *loss = -lj + beta * lkl + lam * lanc;
    if (!isfinite(*loss))
        return rmtl__error(RMTL_ENUMERIC, "fusion: non-finite actor loss");
    /* gather per actor unit and go through the squash */
    int pair = f->gran == RMTL_FUSION_PAIR;
    float *dz = rmtl__ws_alloc(ws, units * A);
    if (!dz)
        return RMTL_ENOMEM;
    memset(dz, 0, units * A * sizeof *dz);
    size_t u = 0;
    double acc[RMTL__FUSE_ACT_MAX] = {0};
    for (size_t r = 0; r < B; r++)
        for (size_t e = cur.off[r]; e < cur.off[r + 1]; e++) {
            for (size_t k = 0; k < A; k++)
                acc[k] += ga[e * A + k];
            if (pair || e + 1 == cur.off[r + 1]) {
                for (size_t k = 0; k < A; k++) {
                    float t = tanhf(za[u * A + k]);
                    dz[u * A + k] = (float)(acc[k] * (f->hi[k] - f->lo[k]) * 0.5 * (1.0 - t * t));
                    acc[k] = 0.0;
                }
                u++;
            }
        }
    if ((rc = rmtl__mlp_backward(&f->actor, ws, dz, A, NULL, 0, 0)))
        return rc;
    if (st) {
        st->q = lj;
        st->q_std = lsd / (double)B;
        st->penalty = lkl;
    }
    return 0;
}
