/* Serving: rmtl_fuse_scores (one pair), rmtl_fuse_scores_batch and
 * rmtl_fusion_explore (a request's candidates). All read the handle only.
 * Inputs are checked in full before anything is computed and results are
 * staged, so a failing call writes nothing. */
#include "fusion/ctx.h"
#include "fusion/fusion.h"
#include "fusion/plackett_luce.h"

#include "core/internal.h"

#include <math.h>
#include <string.h>

/* RMTL_ENUMERIC naming the first NaN/Inf of an n × m block, else 0. */
static int rmtl__fuse_finite(const char *fn, const char *what, const float *x, size_t n,
                             size_t m)
{
    for (size_t i = 0; i < n * m; i++)
        if (!isfinite(x[i])) {
            if (n > 1)
                return rmtl__error(RMTL_ENUMERIC, "%s: %s[%zu][%zu] is %s", fn, what, i / m,
                                   i % m, isnan(x[i]) ? "NaN" : "infinite");
            return rmtl__error(RMTL_ENUMERIC, "%s: %s[%zu] is %s", fn, what, i,
                               isnan(x[i]) ? "NaN" : "infinite");
        }
    return 0;
}

/* Finite and in [0, 1]. */
static int rmtl__fuse_scores_ok(const char *fn, const float *p, size_t n, size_t T)
{
    int rc = rmtl__fuse_finite(fn, "scores", p, n, T);
    if (rc)
        return rc;
    for (size_t i = 0; i < n * T; i++)
        if (!(p[i] >= 0.0f && p[i] <= 1.0f)) {
            if (n > 1)
                return rmtl__error(RMTL_EINVAL, "%s: scores[%zu][%zu] = %g is outside [0, 1]",
                                   fn, i / T, i % T, (double)p[i]);
            return rmtl__error(RMTL_EINVAL, "%s: scores[%zu] = %g is outside [0, 1]", fn, i,
                               (double)p[i]);
        }
    return 0;
}

int rmtl_fuse_scores(float *fused, const rmtl_fusion *f, const float *state, size_t state_len,
                     const float *scores, size_t n_scores, float *action, size_t action_capacity)
{
    static const char fn[] = "rmtl_fuse_scores";
    RMTL__CHECK_ARG(fused, "fused");
    RMTL__CHECK_ARG(f, "f");
    if (state_len != f->state_dim)
        return rmtl__error(RMTL_EINVAL, "%s: state has %zu features, the fusion expects %zu "
                           "(user %zu + item %zu + context %zu)", fn, state_len, f->state_dim,
                           f->user_dim, f->item_dim, f->ctx_dim);
    RMTL__CHECK_ARG(state || state_len == 0, "state");
    static const float none[1]; /* an empty state may be NULL: never copy from NULL */
    if (!state)
        state = none;
    if (n_scores != f->T)
        return rmtl__error(RMTL_EINVAL, "%s: %zu scores, the fusion has %zu tasks", fn,
                           n_scores, f->T);
    RMTL__CHECK_ARG(scores, "scores");
    if (action && action_capacity < f->A)
        return rmtl__error(RMTL_EINVAL, "%s: action_capacity %zu is below the action "
                           "dimension %zu", fn, action_capacity, f->A);
    int rc = rmtl__fuse_finite(fn, "state", state, 1, state_len);
    if (!rc)
        rc = rmtl__fuse_scores_ok(fn, scores, 1, f->T);
    if (rc)
        return rc;
    float a[RMTL__FUSE_ACT_MAX];
    if (f->fixed) {
        memcpy(a, f->fixed_action, f->A * sizeof *a);
    } else {
        _Alignas(64) float u[RMTL__FUSE_WIDTH_MAX];
        _Alignas(64) float pair[RMTL__FUSE_WIDTH_MAX];
        _Alignas(64) float z[RMTL__FUSE_ACT_MAX];
        rmtl__fserve_request(&f->serve, state, state + f->user_dim + f->item_dim, u);
        if (f->in_pair) {
            memcpy(pair, state + f->user_dim, f->item_dim * sizeof *pair);
            memcpy(pair + f->item_dim, scores, f->score_in * sizeof *pair);
        }
        rc = rmtl__fserve_one(&f->serve, u, pair, z);
        if (rc)
            return rmtl__error_prefix(rc, "%s", fn);
        rmtl__fusion_squash(f, z, a);
    }
    *fused = rmtl__fusion_formula(f->formula, f->T, scores, a);
    if (action)
        memcpy(action, a, f->A * sizeof *a);
    return RMTL_OK;
}

static int rmtl__fuse_check_request(const char *fn, const rmtl_fusion *f,
                                    const rmtl_fusion_request *req)
{
    if (req->version != RMTL_FUSION_REQUEST_VERSION)
        return rmtl__error(RMTL_EINVAL, "%s: unknown request version %u", fn,
                           (unsigned)req->version);
    if (req->user_dim != f->user_dim || req->item_dim != f->item_dim ||
        req->context_dim != f->ctx_dim)
        return rmtl__error(RMTL_EINVAL, "%s: request has user/item/context dims %zu/%zu/%zu, "
                           "the fusion expects %zu/%zu/%zu", fn, req->user_dim, req->item_dim,
                           req->context_dim, f->user_dim, f->item_dim, f->ctx_dim);
    if (req->tasks != f->T)
        return rmtl__error(RMTL_EINVAL, "%s: request has %zu tasks, the fusion has %zu", fn,
                           req->tasks, f->T);
    if (req->n == 0)
        return 0;
    RMTL__CHECK_ARG(req->user || !f->user_dim, "req->user");
    RMTL__CHECK_ARG(req->context || !f->ctx_dim, "req->context");
    RMTL__CHECK_ARG(req->items || !f->item_dim, "req->items");
    RMTL__CHECK_ARG(req->scores, "req->scores");
    if (req->n > SIZE_MAX / RMTL__FUSE_WIDTH_MAX)
        return rmtl__error(RMTL_EINVAL, "%s: %zu candidates is too many", fn, req->n);
    int rc = rmtl__fuse_finite(fn, "user", req->user, 1, f->user_dim);
    if (!rc)
        rc = rmtl__fuse_finite(fn, "context", req->context, 1, f->ctx_dim);
    if (!rc)
        rc = rmtl__fuse_finite(fn, "items", req->items, req->n, f->item_dim);
    if (!rc)
        rc = rmtl__fuse_scores_ok(fn, req->scores, req->n, f->T);
    return rc;
}

/* Uniform in [−rho, rho) from a splitmix64 state. */
static float rmtl__fuse_noise(uint64_t *state, float rho)
{
    double u = (double)(rmtl__splitmix64(state) >> 11) * 0x1p-53;
    return (float)((2.0 * u - 1.0) * rho);
}

/* Exploration (noise != NULL): a ← clip(a + U(−ρ, ρ)), box ← a ∓ ρ. */
static void rmtl__fuse_explore_one(const rmtl_fusion *f, uint64_t *noise, float *a, float *lo,
                                   float *hi)
{
    for (size_t k = 0; k < f->A; k++) {
        lo[k] = a[k] - f->rho;
        hi[k] = a[k] + f->rho;
        float v = a[k] + rmtl__fuse_noise(noise, f->rho);
        a[k] = v < f->lo[k] ? f->lo[k] : v > f->hi[k] ? f->hi[k] : v;
    }
}

/* Actions of every candidate into act (n × A) for the deployed actor at
 * pair granularity, in blocks of GEMMs. */
static int rmtl__fuse_actor_rows(const rmtl_fusion *f, rmtl__ws *ws,
                                 const rmtl_fusion_request *req, float *act)
{
    const rmtl__fserve *s = &f->serve;
    size_t n = req->n, blk = n < RMTL__FUSE_BLOCK ? n : RMTL__FUSE_BLOCK;
    size_t ld = rmtl__fserve_out_ld(s);
    float *u = rmtl__ws_alloc(ws, s->width[0]);
    float *x = rmtl__ws_alloc(ws, blk * (f->in_pair ? f->in_pair : 1));
    float *z = rmtl__ws_alloc(ws, blk * ld);
    float *tmp = rmtl__ws_alloc(ws, rmtl__fserve_tmp(s, blk));
    if (!u || !x || !z || !tmp)
        return RMTL_ENOMEM;
    rmtl__fserve_request(s, req->user, req->context, u);
    for (size_t r0 = 0; r0 < n; r0 += blk) {
        size_t m = n - r0 < blk ? n - r0 : blk;
        for (size_t r = 0; r < m; r++) {
            float *xr = x + r * f->in_pair;
            memcpy(xr, req->items + (r0 + r) * f->item_dim, f->item_dim * sizeof *xr);
            memcpy(xr + f->item_dim, req->scores + (r0 + r) * f->T, f->score_in * sizeof *xr);
        }
        int rc = rmtl__fserve_rows(s, &ws->rt, m, u, x, z, tmp);
        if (rc)
            return rc;
        for (size_t r = 0; r < m; r++)
            rmtl__fusion_squash(f, z + r * ld, act + (r0 + r) * f->A);
    }
    return 0;
}

/* The batched path shared by rmtl_fuse_scores_batch and
 * rmtl_fusion_explore: stages everything in the context's workspace and
 * writes the outputs (fused: n; act, lo, hi: n × A, each may be NULL) only
 * once all succeeded. */
static int rmtl__fuse_batch(const char *fn, const rmtl_fusion *f, rmtl_ctx *ctx,
                            const rmtl_fusion_request *req, uint64_t *noise, float *fused,
                            float *act_out, float *lo_out, float *hi_out)
{
    size_t n = req->n, A = f->A;
    /* zero-width parts may be NULL: never copy from NULL */
    static const float none[1];
    rmtl_fusion_request nn = *req;
    nn.user = nn.user ? nn.user : none;
    nn.context = nn.context ? nn.context : none;
    nn.items = nn.items ? nn.items : none;
    req = &nn;
    rmtl_ctx *own = NULL;
    if (!ctx) {
        int rc = rmtl_ctx_create(&own, 1);
        if (rc)
            return rmtl__error_prefix(rc, "%s", fn);
        ctx = own;
    }
    rmtl__ws *ws = rmtl__ctx_ws(ctx);
    rmtl__ws_reset(ws);
    float *res = rmtl__ws_alloc(ws, n), *act = rmtl__ws_alloc(ws, n * A);
    float *lo = noise ? rmtl__ws_alloc(ws, n * A) : NULL;
    float *hi = noise ? rmtl__ws_alloc(ws, n * A) : NULL;
    int rc = res && act && (!noise || (lo && hi)) ? 0 : RMTL_ENOMEM;
    if (!rc && !f->fixed && f->gran == RMTL_FUSION_PAIR) {
        rc = rmtl__fuse_actor_rows(f, ws, req, act);
    } else if (!rc) {
        /* one action for the request: fixed, or the user-level actor */
        if (f->fixed) {
            memcpy(act, f->fixed_action, A * sizeof *act);
        } else {
            _Alignas(64) float u[RMTL__FUSE_WIDTH_MAX];
            _Alignas(64) float z[RMTL__FUSE_ACT_MAX];
            rmtl__fserve_request(&f->serve, req->user, req->context, u);
            rc = rmtl__fserve_one(&f->serve, u, NULL, z);
            if (!rc)
                rmtl__fusion_squash(f, z, act);
        }
        for (size_t r = 1; !rc && r < n; r++)
            memcpy(act + r * A, act, A * sizeof *act);
    }
    /* exploration: one draw per pair, or per request at user granularity;
     * Plackett–Luce exploration keeps the actions and perturbs the ranking */
    int pl = f->o.explore_pl;
    size_t draws = f->gran == RMTL_FUSION_PAIR ? n : 1;
    for (size_t r = 0; !rc && noise && pl && r < n; r++)
        for (size_t k = 0; k < A; k++) {
            lo[r * A + k] = act[r * A + k] - f->rho;
            hi[r * A + k] = act[r * A + k] + f->rho;
        }
    for (size_t r = 0; !rc && noise && !pl && r < n; r++) {
        if (r < draws)
            rmtl__fuse_explore_one(f, noise, act + r * A, lo + r * A, hi + r * A);
        else {
            memcpy(act + r * A, act, A * sizeof *act);
            memcpy(lo + r * A, lo, A * sizeof *lo);
            memcpy(hi + r * A, hi, A * sizeof *hi);
        }
    }
    for (size_t r = 0; !rc && r < n; r++)
        res[r] = rmtl__fusion_formula(f->formula, f->T, req->scores + r * f->T, act + r * A);
    /* F_b/τ_b + Gumbel: its top l is a PL sample of softmax(F_b/τ_b) */
    for (size_t r = 0; !rc && noise && pl && r < n; r++)
        res[r] = (float)((double)res[r] / f->o.explore_temperature + rmtl__pl_gumbel(noise));
    if (!rc) {
        memcpy(fused, res, n * sizeof *res);
        if (act_out)
            memcpy(act_out, act, n * A * sizeof *act);
        if (lo_out) {
            memcpy(lo_out, lo, n * A * sizeof *lo);
            memcpy(hi_out, hi, n * A * sizeof *hi);
        }
    }
    rmtl_ctx_free(own);
    return rc ? rmtl__error_prefix(rc, "%s", fn) : RMTL_OK;
}

int rmtl_fuse_scores_batch(const rmtl_fusion *f, rmtl_ctx *ctx, const rmtl_fusion_request *req,
                           float *fused, size_t capacity, float *actions, size_t actions_capacity)
{
    static const char fn[] = "rmtl_fuse_scores_batch";
    RMTL__CHECK_ARG(f, "f");
    RMTL__CHECK_ARG(req, "req");
    RMTL__CHECK_ARG(fused, "fused");
    int rc = rmtl__fuse_check_request(fn, f, req);
    if (rc)
        return rc;
    if (capacity < req->n)
        return rmtl__error(RMTL_EINVAL, "%s: capacity %zu is below the %zu candidates", fn,
                           capacity, req->n);
    if (actions && actions_capacity / f->A < req->n)
        return rmtl__error(RMTL_EINVAL, "%s: actions_capacity %zu is below %zu candidates × "
                           "%zu", fn, actions_capacity, req->n, f->A);
    if (req->n == 0)
        return RMTL_OK;
    return rmtl__fuse_batch(fn, f, ctx, req, NULL, fused, actions, NULL, NULL);
}

int rmtl_fusion_explore(const rmtl_fusion *f, rmtl_ctx *ctx, const rmtl_fusion_request *req,
                        uint64_t *noise_state, float *fused, float *actions, float *box_lo,
                        float *box_hi, size_t capacity)
{
    static const char fn[] = "rmtl_fusion_explore";
    RMTL__CHECK_ARG(f, "f");
    RMTL__CHECK_ARG(req, "req");
    RMTL__CHECK_ARG(noise_state, "noise_state");
    RMTL__CHECK_ARG(fused, "fused");
    RMTL__CHECK_ARG(actions, "actions");
    RMTL__CHECK_ARG(box_lo, "box_lo");
    RMTL__CHECK_ARG(box_hi, "box_hi");
    int rc = rmtl__fuse_check_request(fn, f, req);
    if (rc)
        return rc;
    if (capacity < req->n)
        return rmtl__error(RMTL_EINVAL, "%s: capacity %zu is below the %zu candidates", fn,
                           capacity, req->n);
    if (req->n == 0)
        return RMTL_OK;
    return rmtl__fuse_batch(fn, f, ctx, req, noise_state, fused, actions, box_lo, box_hi);
}
