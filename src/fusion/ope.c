/*
 * Off-policy evaluation of a fusion policy on the offline log (SPEC §4b,
 * docs/fusion.md "Off-policy evaluation").
 *
 * The estimand is the policy as it serves: the top l of a request's
 * candidates by its fused score, no exploration (what rmtl_fusion_evaluate
 * plays and what a service deploys). The simulator's clicks follow a
 * position-based model (an item at slot k is examined with probability
 * e_k and its reward is then the item's own), so a request's value is
 * Σ_j ρ_π(j)·v_j, ρ_π(j) the examination the target gives candidate j,
 * and each shown item needs only its own weight ρ_π(j)/ρ_μ(j), ρ_μ(j) the
 * behaviour's expected examination of j (the item-position estimator of
 * Li et al. 2018 and the policy-aware estimator of Oosterhuis and de Rijke
 * 2020), not a product over the prefix (the previous estimator, whose
 * weights left an effective sample size near 1 of 15,000 requests):
 *   IPS_t = Σ_{j shown} w_j·r_j,  CV_t = Σ_{j shown} w_j·e_pos(j)
 *   SNIPS = Σ_t IPS_t / Σ_t CV_t · mean_t E_t, E_t = Σ_j ρ_π(j) = E[CV_t]
 *   DR    = mean_t [ Σ_j ρ_π(j)·r̂_j + Σ_{j shown} w_j·(r_j − e_pos(j)·r̂_j) ]
 * r̂ the item critics' immediate heads (list objective; otherwise DR =
 * SNIPS). ρ_μ is the behaviour's PL at τ_b over the logged candidates
 * (the unshown sample's multiplicities ω included), by Rao–Blackwellised
 * Monte Carlo (rmtl__pl_exam, RMTL__OPE_SAMPLES prefixes, seeded by the
 * request); ρ_π fills the slots in the target's order, each candidate
 * taking c_j of them (a sampled unshown one stands for ω candidates like
 * it). Confidence intervals: normal, 1.96 standard errors of the
 * per-request influence terms.
 */
#include "fusion/fusion.h"
#include "fusion/plackett_luce.h"

#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RMTL__OPE_SLOTS 1024  /* fusion.top_l's upper limit is 1000 */
#define RMTL__OPE_SAMPLES 128 /* Monte Carlo prefixes per request for ρ_μ */

/* Item values of `n` log rows by f's item critics: rhat the immediate
 * heads (mean over each group's ensemble, summed over groups) and, when
 * lt is not NULL, the rest of the actor's Q̄_LCB (rmtl__fusion_group_lcb,
 * summed over groups) − rhat: the long-term part the gate adds. */
static int rmtl__ope_values(const rmtl_fusion *f, const rmtl__flog *l, size_t r0, size_t n,
                            double *rhat, double *lt)
{
    size_t M = f->M;
    rmtl__ws ws;
    rmtl__ws_init(&ws, 1);
    float *x = rmtl__ws_alloc(&ws, n * f->in_item + 1), *y = rmtl__ws_alloc(&ws, M * 2 * n + 2);
    int rc = x && y ? 0 : RMTL_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        rmtl__fusion_item_row(f, l->state + (r0 + i) * l->S, l->scores + (r0 + i) * l->T,
                              x + i * f->in_item);
        rhat[i] = 0.0;
        if (lt)
            lt[i] = 0.0;
    }
    for (size_t g = 0; !rc && g < f->G; g++) {
        for (size_t m = 0; !rc && m < M; m++) {
            rmtl__ws w2;
            rmtl__ws_init(&w2, 1);
            rc = rmtl__mlp_predict(&f->critic[g * M + m], &w2, n, x, f->in_item, y + m * 2 * n, 2);
            rmtl__ws_free(&w2);
        }
        for (size_t i = 0; !rc && i < n; i++) {
            double imm = 0.0;
            for (size_t m = 0; m < M; m++)
                imm += (double)y[m * 2 * n + 2 * i] / (double)M;
            rhat[i] += imm;
        }
        if (!rc && lt)
            rmtl__fusion_group_lcb(y, M, n, f->o.kappa, lt, NULL);
    }
    for (size_t i = 0; !rc && lt && i < n; i++)
        lt[i] -= rhat[i];
    rmtl__ws_free(&ws);
    return rc;
}

typedef struct rmtl__ope_key {
    double f;
    size_t j;
} rmtl__ope_key;

/* best first; ties by row, so the order is total and the same everywhere */
static int rmtl__ope_by_score(const void *a, const void *b)
{
    const rmtl__ope_key *x = a, *y = b;
    if (x->f != y->f)
        return x->f > y->f ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

/* The examination the served ranking by `score` gives each of n
 * candidates: in that order candidate j takes the c_j slots (a real
 * number of them) after those before it, and gets Σ e_k over the part of
 * slots 0..l−1 it covers. */
static void rmtl__ope_served_exam(double *exam, const double *score, const double *c,
                                  const double *e, size_t n, size_t l, rmtl__ope_key *key)
{
    for (size_t j = 0; j < n; j++) {
        key[j].f = score[j];
        key[j].j = j;
    }
    qsort(key, n, sizeof *key, rmtl__ope_by_score);
    double at = 0.0; /* slots taken so far */
    for (size_t i = 0; i < n; i++) {
        size_t j = key[i].j;
        double end = at + c[j], x = 0.0;
        for (size_t k = (size_t)at; k < l && (double)k < end; k++) {
            double a = (double)k > at ? (double)k : at, b = (double)(k + 1) < end ? (double)(k + 1)
                                                                                 : end;
            x += e[k] * (b - a);
        }
        exam[j] = x;
        at = end;
    }
}

/* The per-request terms of requests q0..q1−1 (t = r − q0) for the served
 * policy whose fused scores on the rows from l->begin[q0] are `target`:
 * ips[t], cv[t] (Σ_{j shown} w_j·e_pos), et[t] (Σ_j ρ_π(j)), dr[t] (with
 * rhat, else 0) and, with lt, mt[t] = Σ_j ρ_π(j)·lt_j. rhat and lt are
 * per row from the first row of q0 (may be NULL; mt only read with lt). */
static int rmtl__ope_terms(double *ips, double *cv, double *et, double *dr, double *mt,
                           const rmtl_fusion *f, const rmtl__flog *l, size_t q0, size_t q1,
                           const float *target, const double *rhat, const double *lt)
{
    double tb = f->o.explore_temperature;
    size_t L = f->o.top_l, widest = 0, rows0 = l->begin[q0];
    for (size_t r = q0; r < q1; r++)
        widest = l->end[r] - l->begin[r] > widest ? l->end[r] - l->begin[r] : widest;
    double *work = rmtl__mallocarray(8 * widest + 1, sizeof *work);
    rmtl__ope_key *key = rmtl__mallocarray(widest + 1, sizeof *key);
    double ex[RMTL__OPE_SLOTS];
    int rc = work && key && L <= RMTL__OPE_SLOTS
                 ? 0
                 : rmtl__error(RMTL_ENOMEM, "fusion: out of memory for off-policy evaluation");
    for (size_t k = 0; k < L && k < RMTL__OPE_SLOTS; k++)
        ex[k] = pow(1.0 + (double)k, -f->o.position_decay);
    for (size_t r = q0; !rc && r < q1; r++) {
        size_t b = l->begin[r], shown = l->mid[r] - b, n = l->end[r] - b, t = r - q0;
        double *yb = work, *ft = work + widest, *c = work + 2 * widest, *mu = work + 3 * widest,
               *pi = work + 4 * widest;
        for (size_t j = 0; j < n; j++) {
            size_t row = b + j;
            yb[j] = rmtl__fusion_formula(f->formula, f->T, l->scores + row * l->T,
                                         l->action + row * l->A) / tb;
            ft[j] = (double)target[row - rows0];
            c[j] = j < shown ? 1.0 : (double)l->weight[r];
        }
        /* the seed is the request's, so every target meets the same ρ_μ */
        rmtl__pl_exam(mu, yb, c, ex, n, L, RMTL__OPE_SAMPLES, 0x9e3779b97f4a7c15u ^ (uint64_t)r,
                      work + 5 * widest);
        rmtl__ope_served_exam(pi, ft, c, ex, n, L, key);
        double dm = 0.0, res = 0.0;
        ips[t] = cv[t] = et[t] = 0.0;
        if (lt)
            mt[t] = 0.0;
        for (size_t j = 0; j < n; j++) {
            et[t] += pi[j];
            if (rhat)
                dm += pi[j] * rhat[b + j - rows0];
            if (lt)
                mt[t] += pi[j] * lt[b + j - rows0];
        }
        for (size_t k = 0; k < shown && k < L; k++) {
            /* a shown item the behaviour could not have shown (its
             * examination underflowed) carries no weight */
            double w = mu[k] > 0.0 ? pi[k] / mu[k] : 0.0, rew = 0.0;
            for (size_t i = 0; i < f->R; i++)
                rew += f->o.reward_coef[i] * l->reward[(b + k) * l->R + i];
            ips[t] += w * rew;
            cv[t] += w * ex[k];
            if (rhat)
                res += w * (rew - ex[k] * rhat[b + k - rows0]);
        }
        dr[t] = dm + res;
    }
    rmtl__free(work);
    rmtl__free(key);
    return rc;
}

/* SNIPS and DR (with critics, else DR = SNIPS) with their intervals and
 * the ESS, from the per-request terms of N requests (rmtl__ope_terms). */
static void rmtl__ope_summary(rmtl_fusion_estimate *out, size_t N, const double *ips,
                              const double *cv, const double *et, const double *drt, int critic)
{
    double si = 0.0, sc = 0.0, se = 0.0, sc2 = 0.0, sd = 0.0;
    for (size_t t = 0; t < N; t++) {
        si += ips[t];
        sc += cv[t];
        se += et[t];
        sc2 += cv[t] * cv[t];
        sd += drt[t];
    }
    double ratio = sc > 0.0 ? si / sc : 0.0, ebar = se / (double)N, snips = ratio * ebar;
    double cbar = sc / (double)N, dr = sd / (double)N, vs = 0.0, vd = 0.0;
    for (size_t t = 0; t < N; t++) {
        /* influence of request t on the ratio estimate and on the mean */
        double phi = (cbar > 0.0 ? ebar * (ips[t] - ratio * cv[t]) / cbar : 0.0) +
                     ratio * (et[t] - ebar);
        vs += phi * phi / (double)N;
        vd += (drt[t] - dr) * (drt[t] - dr) / (double)N;
    }
    double ses = sqrt(vs / (double)N), sed = sqrt(vd / (double)N);
    out->requests = N;
    out->ess = sc2 > 0.0 ? sc * sc / sc2 : 0.0;
    out->snips = snips;
    out->snips_lo = snips - 1.96 * ses;
    out->snips_hi = snips + 1.96 * ses;
    if (critic) {
        out->dr = dr;
        out->dr_lo = dr - 1.96 * sed;
        out->dr_hi = dr + 1.96 * sed;
    } else {
        out->dr = out->snips;
        out->dr_lo = out->snips_lo;
        out->dr_hi = out->snips_hi;
    }
}

/* Both estimates of the served policy whose fused scores on the log's
 * rows l->begin[q0] .. are `target`, on requests q0..q1−1; DR with f's
 * item critics when f has them (list objective), else DR = SNIPS. */
int rmtl__fusion_ope_both(rmtl_fusion_estimate *out, const rmtl_fusion *f, const rmtl__flog *l,
                          size_t q0, size_t q1, const float *target)
{
    size_t N = q1 - q0;
    if (N == 0)
        return rmtl__error(RMTL_ESTATE, "fusion: no logged requests to evaluate");
    size_t rows0 = l->begin[q0], nrows = l->end[q1 - 1] - rows0;
    const rmtl_fusion *critic = f->o.list ? f : NULL;
    double *ips = rmtl__mallocarray(4 * N + 1, sizeof *ips);
    double *rhat = critic ? rmtl__mallocarray(nrows + 1, sizeof *rhat) : NULL;
    int rc = ips && (!critic || rhat)
                 ? 0
                 : rmtl__error(RMTL_ENOMEM, "fusion: out of memory for off-policy evaluation");
    if (!rc && critic)
        rc = rmtl__ope_values(critic, l, rows0, nrows, rhat, NULL);
    if (!rc)
        rc = rmtl__ope_terms(ips, ips + N, ips + 2 * N, ips + 3 * N, NULL, f, l, q0, q1, target,
                             rhat, NULL);
    if (!rc)
        rmtl__ope_summary(out, N, ips, ips + N, ips + 2 * N, ips + 3 * N, critic != NULL);
    rmtl__free(ips);
    rmtl__free(rhat);
    return rc;
}

int rmtl__fusion_ope_gain(double *gain, double *lo, double *hi, double *base,
                          rmtl_fusion_estimate *ea, rmtl_fusion_estimate *eb,
                          const rmtl_fusion *f, const rmtl__flog *l, size_t q0, size_t q1,
                          const float *ta, const float *tb)
{
    size_t N = q1 - q0;
    if (N == 0)
        return rmtl__error(RMTL_ESTATE, "fusion: no logged requests to evaluate");
    size_t rows0 = l->begin[q0], nrows = l->end[q1 - 1] - rows0;
    const rmtl_fusion *critic = f->o.list ? f : NULL;
    /* per policy: ips, cv, et, dr, mt (N each) */
    double *a = rmtl__mallocarray(10 * N + 1, sizeof *a), *b = a + 5 * N;
    double *rhat = critic ? rmtl__mallocarray(2 * nrows + 1, sizeof *rhat) : NULL;
    int rc = a && (!critic || rhat)
                 ? 0
                 : rmtl__error(RMTL_ENOMEM, "fusion: out of memory for off-policy evaluation");
    double *lt = rhat ? rhat + nrows : NULL;
    if (!rc && critic)
        rc = rmtl__ope_values(critic, l, rows0, nrows, rhat, lt);
    if (!rc)
        rc = rmtl__ope_terms(a, a + N, a + 2 * N, a + 3 * N, a + 4 * N, f, l, q0, q1, ta, rhat,
                             lt);
    if (!rc)
        rc = rmtl__ope_terms(b, b + N, b + 2 * N, b + 3 * N, b + 4 * N, f, l, q0, q1, tb, rhat,
                             lt);
    if (!rc) {
        rmtl__ope_summary(ea, N, a, a + N, a + 2 * N, a + 3 * N, critic != NULL);
        rmtl__ope_summary(eb, N, b, b + N, b + 2 * N, b + 3 * N, critic != NULL);
        /* per request: DR plus the critics' long-term part (IPS without
         * critics), new minus deployed on the same request */
        double sum = 0.0, sb = 0.0, var = 0.0;
        for (size_t t = 0; t < N; t++) {
            double va = critic ? a[3 * N + t] + a[4 * N + t] : a[t];
            double vb = critic ? b[3 * N + t] + b[4 * N + t] : b[t];
            a[t] = va - vb; /* a's IPS term is summarised already */
            sum += a[t];
            sb += vb;
        }
        double mean = sum / (double)N;
        for (size_t t = 0; t < N; t++)
            var += (a[t] - mean) * (a[t] - mean) / (double)N;
        double se = sqrt(var / (double)N);
        *gain = mean;
        *lo = mean - 1.96 * se;
        *hi = mean + 1.96 * se;
        *base = sb / (double)N;
    }
    rmtl__free(a);
    rmtl__free(rhat);
    return rc;
}

int rmtl_fusion_ope(rmtl_fusion_estimate *out, const rmtl_fusion *target, const rmtl_fusion *logged)
{
    static const char fn[] = "rmtl_fusion_ope";
    RMTL__CHECK_ARG(out, "out");
    RMTL__CHECK_ARG(target, "target");
    RMTL__CHECK_ARG(logged, "logged");
    if (out->version != RMTL_FUSION_ESTIMATE_VERSION)
        return rmtl__error(RMTL_EINVAL, "%s: unknown result version %u", fn,
                           (unsigned)out->version);
    const rmtl__flog *l = &logged->log;
    if (l->reqs == 0)
        return rmtl__error(RMTL_ESTATE, "%s: the log is empty (no rmtl_fusion_round yet)", fn);
    if (l->S != target->state_dim || l->T != target->T || l->R != target->R)
        return rmtl__error(RMTL_EINVAL, "%s: the log has state %zu, %zu tasks and %zu reward "
                           "parts, the target %zu, %zu and %zu", fn, l->S, l->T, l->R,
                           target->state_dim, target->T, target->R);
    if (!logged->o.explore_pl)
        return rmtl__error(RMTL_EINVAL, "%s: the log was explored with fusion.explore: uniform, "
                           "whose list propensities are unknown", fn);
    float *score = rmtl__mallocarray(l->rows + 1, sizeof *score);
    int rc = score ? 0 : rmtl__error(RMTL_ENOMEM, "%s: out of memory", fn);
    for (size_t i = 0; !rc && i < l->rows; i++)
        rc = rmtl_fuse_scores(&score[i], target, l->state + i * l->S, l->S, l->scores + i * l->T,
                              l->T, NULL, 0);
    rmtl_fusion_estimate res = RMTL_FUSION_ESTIMATE_INIT;
    if (!rc)
        rc = rmtl__fusion_ope_both(&res, logged, l, 0, l->reqs, score);
    rmtl__free(score);
    if (!rc)
        *out = res;
    return rc ? rmtl__error_prefix(rc, "%s", fn) : RMTL_OK;
}
