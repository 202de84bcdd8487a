/*
 * Off-policy evaluation of a fusion policy on the offline log (SPEC §4b,
 * docs/fusion.md "Off-policy evaluation"). Both the behaviour and the
 * target are taken as Plackett–Luce policies over a request's logged
 * candidates at the behaviour temperature τ_b: softmax(F/τ_b) slot after
 * slot. Slot k's reward is weighted by the prefix ratio
 *   w_k = Π_{i≤k} π(s_i | s_<i) / μ(s_i | s_<i),
 * which is unbiased for any reward that depends on the shown prefix only
 * (position-based examination included; Swaminathan et al. 2017 and Chen
 * et al. 2019 discuss why the full-list weight is too variable).
 *   SNIPS  Σ_k Σ_t w_tk·r_tk / Σ_t w_tk
 *   DR     mean_t [ DM_t + Σ_k w_tk·(r_tk − e_k·r̂(s_tk)) / w̄_k ],
 *          DM_t = Σ_k e_k Σ_j P_k^π(j)·r̂(x_j), r̂ the item critics' immediate
 *          heads (list objective; otherwise DR = SNIPS).
 * Confidence intervals: normal, 1.96 standard errors of the per-request
 * influence terms.
 */
#include "fusion/fusion.h"
#include "fusion/plackett_luce.h"

#include "core/internal.h"

#include <math.h>
#include <string.h>

#define RMTL__OPE_SLOTS 1024 /* fusion.top_l's upper limit is 1000 */

/* Immediate-head item values r̂ of `n` log rows (mean over each group's
 * ensemble, summed over groups), by f's item critics. */
static int rmtl__ope_rhat(const rmtl_fusion *f, const rmtl__flog *l, size_t r0, size_t n,
                          double *rhat)
{
    rmtl__ws ws;
    rmtl__ws_init(&ws, 1);
    float *x = rmtl__ws_alloc(&ws, n * f->in_item + 1), *y = rmtl__ws_alloc(&ws, 2 * n + 2);
    int rc = x && y ? 0 : RMTL_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        rmtl__fusion_item_row(f, l->state + (r0 + i) * l->S, l->scores + (r0 + i) * l->T,
                              x + i * f->in_item);
        rhat[i] = 0.0;
    }
    for (size_t c = 0; !rc && c < f->G * f->M; c++) {
        rmtl__ws w2;
        rmtl__ws_init(&w2, 1);
        rc = rmtl__mlp_predict(&f->critic[c], &w2, n, x, f->in_item, y, 2);
        rmtl__ws_free(&w2);
        for (size_t i = 0; !rc && i < n; i++)
            rhat[i] += (double)y[2 * i] / (double)f->M;
    }
    rmtl__ws_free(&ws);
    return rc;
}

/* PL probability that the logged item at slot k (row k: shown rows come
 * first, in position order) is placed there, given rows 0..k−1 before it:
 * exp(y_k) / Σ_{j ≥ k} c_j·exp(y_j), with the max over j ≥ k taken out. */
static double rmtl__ope_slot_prob(const double *y, const double *c, size_t k, size_t n)
{
    double m = -INFINITY, sum = 0.0;
    for (size_t j = k; j < n; j++)
        m = y[j] > m ? y[j] : m;
    for (size_t j = k; j < n; j++)
        sum += c[j] * exp(y[j] - m);
    return sum > 0.0 ? exp(y[k] - m) / sum : 0.0;
}

int rmtl__fusion_ope_log(rmtl_fusion_estimate *out, const rmtl_fusion *f, const rmtl__flog *l,
                         size_t q0, size_t q1, const float *target, const rmtl_fusion *critic)
{
    double tb = f->o.explore_temperature;
    size_t L = f->o.top_l, N = q1 - q0;
    if (N == 0)
        return rmtl__error(RMTL_ESTATE, "fusion: no logged requests to evaluate");
    size_t widest = 0;
    for (size_t r = q0; r < q1; r++)
        widest = l->end[r] - l->begin[r] > widest ? l->end[r] - l->begin[r] : widest;
    size_t rows0 = l->begin[q0], nrows = l->end[q1 - 1] - rows0;
    double *wk = rmtl__mallocarray(N * L + 1, sizeof *wk), *rk = rmtl__mallocarray(N * L + 1,
                                                                                   sizeof *rk);
    double *yb = rmtl__mallocarray(widest + 1, sizeof *yb), *yt = rmtl__mallocarray(widest + 1,
                                                                                    sizeof *yt);
    double *c = rmtl__mallocarray(widest + 1, sizeof *c), *dm = rmtl__mallocarray(N + 1, sizeof *dm);
    double *work = rmtl__mallocarray(2 * L * widest + 3 * widest + L + 1, sizeof *work);
    double *rhat = critic ? rmtl__mallocarray(nrows + 1, sizeof *rhat) : NULL;
    double ex[RMTL__OPE_SLOTS];
    int rc = wk && rk && yb && yt && c && dm && work && (!critic || rhat) && L <= RMTL__OPE_SLOTS
                 ? 0
                 : rmtl__error(RMTL_ENOMEM, "fusion: out of memory for off-policy evaluation");
    if (!rc && critic)
        rc = rmtl__ope_rhat(critic, l, rows0, nrows, rhat);
    for (size_t k = 0; k < L && k < RMTL__OPE_SLOTS; k++)
        ex[k] = pow(1.0 + (double)k, -f->o.position_decay);
    for (size_t r = q0; !rc && r < q1; r++) {
        size_t b = l->begin[r], shown = l->mid[r] - b, n = l->end[r] - b, t = r - q0;
        for (size_t j = 0; j < n; j++) {
            size_t row = b + j;
            yb[j] = rmtl__fusion_formula(f->formula, f->T, l->scores + row * l->T,
                                         l->action + row * l->A) / tb;
            yt[j] = (double)target[row - rows0] / tb;
            c[j] = j < shown ? 1.0 : (double)l->weight[r];
        }
        /* slot by slot: conditional PL probabilities of the logged item,
         * each normaliser summed afresh over the items not yet placed
         * with its own max: subtracting a placed item from a running sum
         * cancels catastrophically when it held nearly all of the mass
         * (logit gaps of 40 at τ_b = 0.05 are F gaps of 2), which made
         * later slots' weights 0 or NaN (test: a peaked behaviour) */
        double w = 1.0;
        for (size_t k = 0; k < L; k++) {
            double rew = 0.0;
            if (k < shown) {
                double pb = rmtl__ope_slot_prob(yb, c, k, n), pt = rmtl__ope_slot_prob(yt, c, k, n);
                w *= pb > 0.0 ? pt / pb : 0.0;
                for (size_t i = 0; i < f->R; i++)
                    rew += f->o.reward_coef[i] * l->reward[(b + k) * l->R + i];
                if (critic)
                    rew -= ex[k] * rhat[b + k - rows0];
            } else {
                w = 0.0; /* a shorter list has nothing at this slot */
            }
            wk[t * L + k] = w;
            rk[t * L + k] = rew;
        }
        dm[t] = 0.0;
        if (critic)
            dm[t] = rmtl__pl_value(yt, c, rhat + (b - rows0), ex, n, L, NULL, work, NULL);
    }
    double est = 0.0, var = 0.0, ess_num = 0.0, ess_den = 0.0;
    double vk[RMTL__OPE_SLOTS], wbar[RMTL__OPE_SLOTS];
    for (size_t k = 0; !rc && k < L; k++) {
        double sw = 0.0, swr = 0.0, sw2 = 0.0;
        for (size_t t = 0; t < N; t++) {
            sw += wk[t * L + k];
            swr += wk[t * L + k] * rk[t * L + k];
            sw2 += wk[t * L + k] * wk[t * L + k];
        }
        wbar[k] = sw / (double)N;
        vk[k] = sw > 0.0 ? swr / sw : 0.0;
        est += vk[k];
        if (k + 1 == L) {
            ess_num = sw * sw;
            ess_den = sw2;
        }
    }
    double mean_dm = 0.0;
    for (size_t t = 0; !rc && t < N; t++)
        mean_dm += dm[t] / (double)N;
    for (size_t t = 0; !rc && t < N; t++) {
        /* influence of request t on the self-normalised estimate */
        double phi = dm[t] - mean_dm;
        for (size_t k = 0; k < L; k++)
            if (wbar[k] > 0.0)
                phi += wk[t * L + k] * (rk[t * L + k] - vk[k]) / wbar[k];
        var += phi * phi / (double)N;
    }
    if (!rc) {
        double se = sqrt(var / (double)N), v = est + mean_dm;
        out->requests = N;
        out->ess = ess_den > 0.0 ? ess_num / ess_den : 0.0;
        if (critic) {
            out->dr = v;
            out->dr_lo = v - 1.96 * se;
            out->dr_hi = v + 1.96 * se;
        } else {
            out->snips = v;
            out->snips_lo = v - 1.96 * se;
            out->snips_hi = v + 1.96 * se;
        }
    }
    void *p[] = {wk, rk, yb, yt, c, dm, work, rhat};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        rmtl__free(p[i]);
    return rc;
}

/* Both estimates: SNIPS, then DR with f's item critics (list objective). */
int rmtl__fusion_ope_both(rmtl_fusion_estimate *out, const rmtl_fusion *f, const rmtl__flog *l,
                          size_t q0, size_t q1, const float *target)
{
    int rc = rmtl__fusion_ope_log(out, f, l, q0, q1, target, NULL);
    if (!rc && f->o.list)
        rc = rmtl__fusion_ope_log(out, f, l, q0, q1, target, f);
    if (!rc && !f->o.list) {
        out->dr = out->snips;
        out->dr_lo = out->snips_lo;
        out->dr_hi = out->snips_hi;
    }
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
