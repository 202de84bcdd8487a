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
 *   DM_t  = Σ_j ρ_π(j)·r̂_j,  RES_t = Σ_{j shown, w_j ≤ W} w_j·(r_j − e_pos(j)·r̂_j)
 *   DR    = mean_t DM_t + Σ_t RES_t / Σ_t CV_t · mean_t E_t
 * r̂ the item critics' immediate heads (list objective; otherwise DR =
 * SNIPS). The residuals are self-normalised like SNIPS (the sampled ρ_μ
 * makes the weights run low), and an item heavier than W =
 * fusion.ope_max_weight keeps the model's term alone (switch-DR, Wang et
 * al. 2017): the few items the behaviour all but never showed where the
 * target shows them moved whole estimates by 10–18% (docs/fusion.md).
 * ρ_μ is the behaviour's PL at τ_b over the logged candidates
 * (the unshown sample's multiplicities ω included), by Rao–Blackwellised
 * Monte Carlo (rmtl__pl_exam, RMTL__OPE_SAMPLES prefixes, seeded by the
 * request); ρ_π fills the slots in the target's order, each candidate
 * taking c_j of them (a sampled unshown one stands for ω candidates like
 * it). Confidence intervals: normal, 1.96 standard errors of the
 * per-request influence terms (sampling noise only), DR's widened to hold
 * the unswitched estimate's, since the bias of the switched items' model
 * terms is not sampling noise.
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

/* Request t = r − q0's terms: ips[t], cv[t] = Σ_{j shown} w_j·e_pos(j),
 * et[t] = Σ_j ρ_π(j), with rhat dm[t] = Σ_j ρ_π(j)·r̂_j and res[t] =
 * Σ_{j shown, w_j ≤ fusion.ope_max_weight} w_j·(r_j − e_pos(j)·r̂_j)
 * (without rhat 0 and ips[t]), heavy[t] the residuals of the heavier
 * items, and with lt mt[t] = Σ_j ρ_π(j)·lt_j. */
int rmtl__fusion_ope_terms(double *ips, double *cv, double *et, double *dm, double *res,
                           double *heavy, double *mt,
                           const rmtl_fusion *f, const rmtl__flog *l, size_t q0, size_t q1,
                           const float *target, const double *rhat, const double *lt)
{
    double tb = f->o.explore_temperature, wmax = f->o.ope_max_weight;
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
        ips[t] = cv[t] = et[t] = dm[t] = res[t] = heavy[t] = 0.0;
        if (lt)
            mt[t] = 0.0;
        for (size_t j = 0; j < n; j++) {
            et[t] += pi[j];
            if (rhat)
                dm[t] += pi[j] * rhat[b + j - rows0];
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
            /* switch-DR: an item heavier than fusion.ope_max_weight keeps
             * the model's term alone (its weight would dominate the
             * request's variance; the residual it drops is the critics'
             * error on an item the behaviour all but never shows there) */
            double d = w * (rew - (rhat ? ex[k] * rhat[b + k - rows0] : 0.0));
            if (!rhat || wmax <= 0.0 || w <= wmax)
                res[t] += d;
            else
                heavy[t] += d;
        }
    }
    rmtl__free(work);
    rmtl__free(key);
    return rc;
}

/* The self-normalised DR estimate from the per-request terms of N
 * requests (rmtl__fusion_ope_terms; the model's part dm, 0 when NULL;
 * the residuals res plus res2 when not NULL):
 *   mean_t dm_t + (Σ_t res_t / Σ_t cv_t)·mean_t et_t,
 * the residuals normalised as SNIPS normalises its terms, since the
 * sampled ρ_μ makes the weights run low (Jensen's inequality on the PL's
 * sampled normaliser). With no model and res = ips it is SNIPS. phi[t]
 * gets request t's influence on the estimate (their variance over N is
 * the estimate's). */
static double rmtl__ope_dr(double *phi, size_t N, const double *cv, const double *et,
                           const double *dm, const double *res, const double *res2)
{
    double sc = 0.0, se = 0.0, sm = 0.0, sr = 0.0;
    for (size_t t = 0; t < N; t++) {
        sc += cv[t];
        se += et[t];
        sm += dm ? dm[t] : 0.0;
        sr += res[t] + (res2 ? res2[t] : 0.0);
    }
    double ratio = sc > 0.0 ? sr / sc : 0.0, cbar = sc / (double)N, ebar = se / (double)N;
    double mbar = sm / (double)N;
    for (size_t t = 0; t < N; t++) {
        double r = res[t] + (res2 ? res2[t] : 0.0);
        phi[t] = (dm ? dm[t] : 0.0) - mbar +
                 (cbar > 0.0 ? ebar * (r - ratio * cv[t]) / cbar : 0.0) + ratio * (et[t] - ebar);
    }
    return mbar + ratio * ebar;
}

/* 1.96 standard errors of an estimate whose influence terms are phi. */
static double rmtl__ope_half(const double *phi, size_t N)
{
    double v = 0.0;
    for (size_t t = 0; t < N; t++)
        v += phi[t] * phi[t] / (double)N;
    return 1.96 * sqrt(v / (double)N);
}

/* Points t's arrays into buf (RMTL__OPE_T·N doubles). */
static rmtl__ope_t rmtl__ope_split(double *buf, size_t N)
{
    rmtl__ope_t t = {buf,         buf + N,     buf + 2 * N, buf + 3 * N,
                     buf + 4 * N, buf + 5 * N, buf + 6 * N};
    return t;
}

void rmtl__ope_summary(rmtl_fusion_estimate *out, size_t N, const rmtl__ope_t *t, int critic,
                       double *phi)
{
    double sc = 0.0, sc2 = 0.0;
    for (size_t i = 0; i < N; i++) {
        sc += t->cv[i];
        sc2 += t->cv[i] * t->cv[i];
    }
    out->requests = N;
    out->ess = sc2 > 0.0 ? sc * sc / sc2 : 0.0;
    out->snips = rmtl__ope_dr(phi, N, t->cv, t->et, NULL, t->ips, NULL);
    double h = rmtl__ope_half(phi, N);
    out->snips_lo = out->snips - h;
    out->snips_hi = out->snips + h;
    if (critic) {
        out->dr = rmtl__ope_dr(phi, N, t->cv, t->et, t->dm, t->res, NULL);
        h = rmtl__ope_half(phi, N);
        out->dr_lo = out->dr - h;
        out->dr_hi = out->dr + h;
        /* The switch's bias (the critics' error on the heavy items) is not
         * sampling noise, so the switched interval alone missed the truth
         * in 20 of 45 estimates on the tuning worlds. The interval also
         * holds the unswitched estimate's (every residual kept): it covers
         * whenever that unbiased one does. With nothing switched both are
         * the same interval. */
        double u = rmtl__ope_dr(phi, N, t->cv, t->et, t->dm, t->res, t->heavy);
        h = rmtl__ope_half(phi, N);
        out->dr_lo = fmin(out->dr_lo, u - h);
        out->dr_hi = fmax(out->dr_hi, u + h);
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
    double *buf = rmtl__mallocarray((RMTL__OPE_T + 1) * N + 1, sizeof *buf);
    double *rhat = critic ? rmtl__mallocarray(nrows + 1, sizeof *rhat) : NULL;
    int rc = buf && (!critic || rhat)
                 ? 0
                 : rmtl__error(RMTL_ENOMEM, "fusion: out of memory for off-policy evaluation");
    rmtl__ope_t t = rmtl__ope_split(buf, N);
    if (!rc && critic)
        rc = rmtl__ope_values(critic, l, rows0, nrows, rhat, NULL);
    if (!rc)
        rc = rmtl__fusion_ope_terms(t.ips, t.cv, t.et, t.dm, t.res, t.heavy, NULL, f, l, q0, q1,
                                    target, rhat, NULL);
    if (!rc)
        rmtl__ope_summary(out, N, &t, critic != NULL, buf + RMTL__OPE_T * N);
    rmtl__free(buf);
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
    /* per policy its terms, then one array of influence terms (each
     * summary's scratch, then the paired difference's) */
    double *buf = rmtl__mallocarray((2 * RMTL__OPE_T + 1) * N + 1, sizeof *buf);
    double *rhat = critic ? rmtl__mallocarray(2 * nrows + 1, sizeof *rhat) : NULL;
    int rc = buf && (!critic || rhat)
                 ? 0
                 : rmtl__error(RMTL_ENOMEM, "fusion: out of memory for off-policy evaluation");
    double *lt = rhat ? rhat + nrows : NULL, *pa = buf + 2 * RMTL__OPE_T * N;
    rmtl__ope_t a = rmtl__ope_split(buf, N), b = rmtl__ope_split(buf + RMTL__OPE_T * N, N);
    if (!rc && critic)
        rc = rmtl__ope_values(critic, l, rows0, nrows, rhat, lt);
    if (!rc)
        rc = rmtl__fusion_ope_terms(a.ips, a.cv, a.et, a.dm, a.res, a.heavy, a.mt, f, l, q0, q1,
                                    ta, rhat, lt);
    if (!rc)
        rc = rmtl__fusion_ope_terms(b.ips, b.cv, b.et, b.dm, b.res, b.heavy, b.mt, f, l, q0, q1,
                                    tb, rhat, lt);
    if (!rc) {
        rmtl__ope_summary(ea, N, &a, critic != NULL, pa);
        rmtl__ope_summary(eb, N, &b, critic != NULL, pa);
        /* the long-term value per request: the DR request value plus the
         * critics' long-term part (IPS without critics), new minus
         * deployed on the same request. Unlike the reported estimates,
         * every residual counts, heavy items' too, and none is
         * normalised: a trained actor moves most where the log is thin,
         * where a switch would let the critics' error, which the interval
         * does not hold, decide the deploy, and the self-normalised
         * difference could not tell a random actor with untrained critics
         * from good fixed weights (its interval straddled 0). */
        double sum = 0.0, sb = 0.0;
        for (size_t t = 0; t < N; t++) {
            double va = critic ? a.dm[t] + a.res[t] + a.heavy[t] + a.mt[t] : a.ips[t];
            double vb = critic ? b.dm[t] + b.res[t] + b.heavy[t] + b.mt[t] : b.ips[t];
            pa[t] = va - vb;
            sum += pa[t];
            sb += vb;
        }
        double mean = sum / (double)N;
        for (size_t t = 0; t < N; t++)
            pa[t] -= mean; /* the mean's influence terms */
        double h = rmtl__ope_half(pa, N);
        *gain = mean;
        *lo = mean - h;
        *hi = mean + h;
        *base = sb / (double)N;
    }
    rmtl__free(buf);
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
