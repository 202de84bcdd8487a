/*
 * Fusion in the session simulator: progressive-training rounds
 * (explore → train offline → deploy), evaluation, MTF-GAUC on the offline
 * log, and the cross-entropy-method baseline. Everything here goes
 * through the public simulator and fusion calls.
 */
#include "fusion/fusion.h"

#include "core/internal.h"
#include "core/progress.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Buffers for serving one simulator request at a time. */
typedef struct rmtl__fsim {
    const rmtl_fusion *f;
    const rmtl_env *env;
    rmtl_fusion_scorer_fn scorer;
    void *payload;
    rmtl_ctx *ctx;
    size_t n; /* candidates */
    float *scores, *fused, *act, *lo, *hi, *items, *user, *context;
    size_t *unshown;     /* candidate indices not shown at a step */
    unsigned char *mark;
} rmtl__fsim;

static void rmtl__fsim_free(rmtl__fsim *s)
{
    void *p[] = {s->scores, s->fused, s->act, s->lo, s->hi, s->items, s->user, s->context,
                 s->unshown, s->mark};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        rmtl__free(p[i]);
    rmtl_ctx_free(s->ctx);
    memset(s, 0, sizeof *s);
}

/* Checks that env fits f and sizes the buffers. */
static int rmtl__fsim_init(rmtl__fsim *s, const char *fn, const rmtl_fusion *f,
                           const rmtl_env *env, const rmtl_fusion_sim_opts *o, size_t *sessions)
{
    memset(s, 0, sizeof *s);
    rmtl_sim_info in = RMTL_SIM_INFO_INIT;
    int rc = rmtl_env_sim_info(&in, env);
    if (rc)
        return rmtl__error_prefix(rc, "%s", fn);
    if (o->version != RMTL_FUSION_SIM_OPTS_VERSION)
        return rmtl__error(RMTL_EINVAL, "%s: unknown options version %u", fn, (unsigned)o->version);
    if (in.user_dim != f->user_dim || in.item_dim != f->item_dim || in.context_dim != f->ctx_dim)
        return rmtl__error(RMTL_EINVAL, "%s: the simulator's user/item/context dims %zu/%zu/%zu "
                           "differ from the fusion's %zu/%zu/%zu", fn, in.user_dim, in.item_dim,
                           in.context_dim, f->user_dim, f->item_dim, f->ctx_dim);
    if (in.tasks != f->R)
        return rmtl__error(RMTL_EINVAL, "%s: the simulator has %u behaviours, the fusion %zu "
                           "reward parts (fusion.reward_coef)", fn, (unsigned)in.tasks, f->R);
    if (!o->scorer && f->T > in.tasks)
        return rmtl__error(RMTL_EINVAL, "%s: the fusion has %zu tasks but the simulator's true "
                           "probabilities only %u: pass a scorer", fn, f->T, (unsigned)in.tasks);
    *sessions = o->sessions ? o->sessions : in.sessions;
    size_t n = in.candidates, A = f->A;
    s->f = f;
    s->env = env;
    s->scorer = o->scorer;
    s->payload = o->scorer_payload;
    s->n = n;
    s->scores = rmtl__mallocarray(n, f->T * sizeof(float));
    s->fused = rmtl__mallocarray(n, sizeof(float));
    s->act = rmtl__mallocarray(n, A * sizeof(float));
    s->lo = rmtl__mallocarray(n, A * sizeof(float));
    s->hi = rmtl__mallocarray(n, A * sizeof(float));
    s->items = rmtl__mallocarray(n, (f->item_dim + 1) * sizeof(float));
    s->user = rmtl__mallocarray(f->user_dim + 1, sizeof(float));
    s->context = rmtl__mallocarray(f->ctx_dim + 1, sizeof(float));
    s->unshown = rmtl__mallocarray(n + 1, sizeof(size_t));
    s->mark = rmtl__mallocarray(n + 1, 1);
    if (!s->scores || !s->fused || !s->act || !s->lo || !s->hi || !s->items || !s->user ||
        !s->context || !s->unshown || !s->mark) {
        rmtl__fsim_free(s);
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", fn);
    }
    rc = rmtl_ctx_create(&s->ctx, 1);
    if (rc)
        rmtl__fsim_free(s);
    return rc;
}

/* The T scores of every candidate: the host's scorer, or the true
 * marginals of the first T behaviours. */
static int rmtl__fsim_scores(rmtl__fsim *s, const rmtl_sim_request *req)
{
    size_t T = s->f->T;
    if (req->n > s->n)
        return rmtl__error(RMTL_ERROR, "fusion: request of %zu candidates, expected %zu", req->n,
                           s->n);
    if (s->scorer) {
        int rc = s->scorer(s->scores, s->n * T, req, s->payload);
        return rc > 0 ? RMTL_ERROR : rc;
    }
    for (size_t i = 0; i < req->n; i++) {
        float p[RMTL_SIM_MAX_TASKS];
        int rc = rmtl_env_sim_true_probs(s->env, req->user, req->items[i], p, RMTL_SIM_MAX_TASKS);
        if (rc)
            return rc;
        memcpy(s->scores + i * T, p, T * sizeof *p);
    }
    return 0;
}

static rmtl_fusion_request rmtl__fsim_request(const rmtl__fsim *s, const rmtl_sim_request *req)
{
    rmtl_fusion_request q = RMTL_FUSION_REQUEST_INIT;
    q.n = req->n;
    q.user_dim = req->user_dim;
    q.user = req->user_feat;
    q.context_dim = req->context_dim;
    q.context = req->context;
    q.item_dim = req->item_dim;
    q.items = req->item_feat;
    q.tasks = s->f->T;
    q.scores = s->scores;
    return q;
}

/* --- evaluation ---------------------------------------------------------- */

static int rmtl__fsim_policy(float *scores, const rmtl_sim_request *req, void *payload)
{
    rmtl__fsim *s = payload;
    int rc = rmtl__fsim_scores(s, req);
    if (rc)
        return rc;
    rmtl_fusion_request q = rmtl__fsim_request(s, req);
    return rmtl_fuse_scores_batch(s->f, s->ctx, &q, scores, req->n, NULL, 0);
}

int rmtl_fusion_evaluate(rmtl_sim_stats *out, const rmtl_fusion *f, rmtl_env *env,
                         const rmtl_fusion_sim_opts *opts)
{
    static const char fn[] = "rmtl_fusion_evaluate";
    RMTL__CHECK_ARG(out, "out");
    RMTL__CHECK_ARG(f, "f");
    RMTL__CHECK_ARG(opts, "opts");
    rmtl__fsim s;
    size_t sessions;
    int rc = rmtl__fsim_init(&s, fn, f, env, opts, &sessions);
    if (rc)
        return rc;
    rc = rmtl_env_sim_evaluate(out, env, sessions, opts->seed, rmtl__fsim_policy, &s);
    rmtl__fsim_free(&s);
    return rc ? rmtl__error_prefix(rc, "%s", fn) : RMTL_OK;
}

/* --- progressive training -------------------------------------------------- */

/* Running session statistics (mean and sample std by Welford). */
typedef struct rmtl__fsim_acc {
    size_t n;
    double rm, rs, lm, ls;
} rmtl__fsim_acc;

static void rmtl__acc_add(rmtl__fsim_acc *a, double reward, double length)
{
    a->n++;
    double dr = reward - a->rm, dl = length - a->lm;
    a->rm += dr / (double)a->n;
    a->lm += dl / (double)a->n;
    a->rs += dr * (reward - a->rm);
    a->ls += dl * (length - a->lm);
}

/* Plays one session with the behaviour policy and logs its requests. */
static int rmtl__fsim_session(rmtl__fsim *s, rmtl_fusion *f, rmtl_env *env, rmtl_sim_stats *st,
                              rmtl__fsim_acc *acc, float *rows)
{
    size_t S = f->state_dim, T = f->T, A = f->A, R = f->R, U = f->user_dim, I = f->item_dim;
    int rc = rmtl_env_sim_reset(env);
    if (rc)
        return rc;
    int64_t prev = -1;
    size_t length = 0;
    rmtl_sim_feedback fb = RMTL_SIM_FEEDBACK_INIT;
    do {
        rmtl_sim_request req = RMTL_SIM_REQUEST_INIT;
        if ((rc = rmtl_env_sim_request(&req, env)) || (rc = rmtl__fsim_scores(s, &req)))
            return rc;
        /* the request's arrays die at the step: keep what the log needs */
        memcpy(s->user, req.user_feat, U * sizeof(float));
        memcpy(s->context, req.context, f->ctx_dim * sizeof(float));
        memcpy(s->items, req.item_feat, req.n * I * sizeof(float));
        rmtl_fusion_request q = rmtl__fsim_request(s, &req);
        int64_t user = req.user;
        if ((rc = rmtl_fusion_explore(f, s->ctx, &q, &f->noise, s->fused, s->act, s->lo, s->hi,
                                      s->n)) ||
            (rc = rmtl_env_sim_step(&fb, env, s->fused, req.n)))
            return rc;
        /* the shown pairs, then (list objective) a uniform sample of m of
         * the unshown candidates, in the log's column blocks */
        size_t l = fb.n_shown, nu = req.n - l, m = 0;
        if (f->o.list && nu) {
            size_t *idx = s->unshown, w = 0;
            for (size_t c = 0; c < req.n; c++)
                s->mark[c] = 0;
            for (size_t j = 0; j < l; j++)
                s->mark[fb.shown[j]] = 1;
            for (size_t c = 0; c < req.n; c++)
                if (!s->mark[c])
                    idx[w++] = c;
            m = f->o.log_candidates && f->o.log_candidates < nu ? f->o.log_candidates : nu;
            for (size_t j = 0; j < m && m < nu; j++) { /* partial Fisher–Yates */
                size_t r = j + (size_t)(rmtl__splitmix64(&f->noise) % (nu - j));
                size_t t = idx[j];
                idx[j] = idx[r];
                idx[r] = t;
            }
        }
        size_t nr = l + m;
        float *bs = rows, *bp = bs + nr * S, *ba = bp + nr * T, *bl = ba + nr * A;
        float *bh = bl + nr * A, *br = bh + nr * A;
        memset(br, 0, nr * R * sizeof *br);
        for (size_t j = 0; j < nr; j++) {
            size_t c = j < l ? fb.shown[j] : s->unshown[j - l];
            float *st_row = bs + j * S;
            memcpy(st_row, s->user, U * sizeof(float));
            memcpy(st_row + U, s->items + c * I, I * sizeof(float));
            memcpy(st_row + U + I, s->context, f->ctx_dim * sizeof(float));
            memcpy(bp + j * T, s->scores + c * T, T * sizeof(float));
            memcpy(ba + j * A, s->act + c * A, A * sizeof(float));
            memcpy(bl + j * A, s->lo + c * A, A * sizeof(float));
            memcpy(bh + j * A, s->hi + c * A, A * sizeof(float));
            if (j >= l)
                continue;
            memcpy(br + j * R, fb.behaviours + j * fb.tasks, R * sizeof(float));
            for (size_t k = 0; k < R; k++)
                st->rate[k] += fb.behaviours[j * fb.tasks + k];
        }
        size_t k;
        float weight = m ? (float)((double)nu / (double)m) : 1.0f;
        if ((rc = rmtl__flog_add(&f->log, &k, prev, user, nr, l, weight, bs, bp, ba, bl, bh, br)))
            return rc;
        prev = (int64_t)k;
        length++;
        st->requests++;
        st->impressions += l;
    } while (!fb.done);
    st->sessions++;
    rmtl__acc_add(acc, fb.session_reward, (double)length);
    return 0;
}

/* Off-policy estimates, on requests q0..q1-1 of the log, of the actor
 * under training (a) and of the served policy that explored them (b),
 * and the gate's paired long-term gain of a over b (st). */
static int rmtl__fsim_gate(rmtl_fusion *f, size_t q0, size_t q1, rmtl_fusion_round_stats *st)
{
    rmtl_fusion_estimate *a = &st->ope_new, *b = &st->ope_deployed;
    const rmtl__flog *l = &f->log;
    size_t r0 = l->begin[q0], n = l->end[q1 - 1] - r0, A = f->A, in = f->in_act;
    float *ta = rmtl__mallocarray(n + 1, sizeof *ta), *tb = rmtl__mallocarray(n + 1, sizeof *tb);
    float *x = rmtl__mallocarray(n + 1, in * sizeof *x), *z = rmtl__mallocarray(n + 1,
                                                                                  A * sizeof *z);
    int rc = ta && tb && x && z ? 0 : rmtl__error(RMTL_ENOMEM, "fusion: out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        size_t row = r0 + i;
        rmtl__fusion_state_row(f, l->state + row * l->S, l->scores + row * l->T, x + i * in);
        rc = rmtl_fuse_scores(&tb[i], f, l->state + row * l->S, l->S, l->scores + row * l->T,
                              l->T, NULL, 0);
    }
    if (!rc) {
        /* at user granularity the actor input is the request part only,
         * the same for every row of a request */
        rmtl__ws ws;
        rmtl__ws_init(&ws, f->o.rt.threads);
        rc = rmtl__mlp_predict(&f->actor, &ws, n, x, in, z, A);
        rmtl__ws_free(&ws);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        float a_i[RMTL__FUSE_ACT_MAX];
        rmtl__fusion_squash(f, z + i * A, a_i);
        ta[i] = rmtl__fusion_formula(f->formula, f->T, l->scores + (r0 + i) * l->T, a_i);
    }
    if (!rc)
        rc = rmtl__fusion_ope_gain(&st->gate_gain, &st->gate_gain_lo, &st->gate_gain_hi,
                                   &st->gate_base, a, b, f, l, q0, q1, ta, tb);
    void *p[] = {ta, tb, x, z};
    for (size_t i = 0; i < 4; i++)
        rmtl__free(p[i]);
    return rc;
}

/* rmtl_fusion_round(): sessions explored, then training steps, count as
 * the units of progress. */
static int rmtl__fusion_round(rmtl_fusion_round_stats *out, rmtl_fusion *f, rmtl_env *env,
                              const rmtl_fusion_sim_opts *opts, const char *fn,
                              rmtl_progress_fn pfn, void *payload)
{
    RMTL__CHECK_ARG(f, "f");
    RMTL__CHECK_ARG(opts, "opts");
    if (out && (out->version < 1 || out->version > RMTL_FUSION_ROUND_STATS_VERSION))
        return rmtl__error(RMTL_EINVAL, "%s: unknown stats version %u", fn, (unsigned)out->version);
    size_t q0 = f->log.reqs;
    rmtl__fsim s;
    size_t sessions;
    int rc = rmtl__fsim_init(&s, fn, f, env, opts, &sessions);
    if (rc)
        return rc;
    rmtl_sim_info in = RMTL_SIM_INFO_INIT;
    rmtl_env_sim_info(&in, env);
    if (in.top_l != f->o.top_l) {
        rmtl__fsim_free(&s);
        return rmtl__error(RMTL_EINVAL, "%s: the simulator shows %zu items per request "
                           "(sim.top_l), the fusion expects %zu (fusion.top_l)", fn, in.top_l,
                           f->o.top_l);
    }
    size_t w = f->state_dim + f->T + 3 * f->A + f->R;
    float *rows = rmtl__mallocarray(in.candidates + 1, w * sizeof(float));
    if (!rows) {
        rmtl__fsim_free(&s);
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", fn);
    }
    rmtl_fusion_round_stats st = RMTL_FUSION_ROUND_STATS_INIT;
    rmtl__fsim_acc acc = {0, 0, 0, 0, 0};
    rmtl__progress prog;
    rmtl__progress_start(&prog, pfn, payload, fn, (uint64_t)sessions + opts->train_steps);
    int cancelled = 0;
    for (size_t i = 0; !rc && i < sessions; i++)
        if (!(rc = rmtl__fsim_session(&s, f, env, &st.explore, &acc, rows)))
            cancelled = rc = rmtl__progress_report(&prog, i + 1, NAN, 0);
    rmtl__free(rows);
    rmtl__fsim_free(&s);
    /* an untrained actor starts as the fixed weights that explored (the
     * deployed baseline), so the first deploy is a step from it */
    if (!rc && f->o.warm_start && f->fixed && f->steps == 0)
        rc = rmtl__fusion_actor_from_fixed(f);
    double loss = 0.0;
    for (size_t i = 0; !rc && i < opts->train_steps; i++) {
        rmtl_fusion_batch b;
        if (!(rc = rmtl__flog_sample(&f->log, &f->rng, f->o.batch_size, &b)))
            rc = rmtl_fusion_train_step(f, &b, &st.train);
        loss += st.train.critic_loss;
        if (!rc)
            cancelled = rc = rmtl__progress_report(&prog, sessions + i + 1, loss / (double)(i + 1), 0);
    }
    int deploy = 1;
    if (!rc && f->o.ope_gate && f->o.explore_pl && f->log.reqs > q0) {
        rc = rmtl__fsim_gate(f, q0, f->log.reqs, &st);
        /* non-inferiority: deploy unless the new actor may lose more
         * than the margin of the deployed value (margin 0: superiority) */
        deploy = !rc && st.gate_gain_lo > -f->o.gate_margin * fabs(st.gate_base);
        st.gated = 1;
    }
    if (!rc && deploy)
        rc = rmtl_fusion_deploy(f);
    st.deployed = !rc && deploy;
    if (rc)
        return cancelled ? rc : rmtl__error_prefix(rc, "%s", fn);
    st.explore.reward_mean = acc.rm;
    st.explore.length_mean = acc.lm;
    st.explore.reward_std = acc.n > 1 ? sqrt(acc.rs / (double)(acc.n - 1)) : 0.0;
    st.explore.length_std = acc.n > 1 ? sqrt(acc.ls / (double)(acc.n - 1)) : 0.0;
    for (size_t k = 0; k < f->R && k < RMTL_SIM_MAX_TASKS; k++)
        st.explore.rate[k] = st.explore.impressions ? st.explore.rate[k] /
                                                          (double)st.explore.impressions : 0.0;
    st.log_requests = f->log.reqs;
    st.log_rows = f->log.shown;
    if (out) {
        uint32_t v = out->version;
        memcpy(out, &st, v == 1   ? offsetof(rmtl_fusion_round_stats, deployed)
                         : v == 2 ? offsetof(rmtl_fusion_round_stats, gate_gain)
                                  : sizeof st);
        out->version = v;
    }
    return RMTL_OK;
}

int rmtl_fusion_round(rmtl_fusion_round_stats *out, rmtl_fusion *f, rmtl_env *env,
                      const rmtl_fusion_sim_opts *opts, rmtl_progress_fn fn, void *payload)
{
    return rmtl__fusion_round(out, f, env, opts, "rmtl_fusion_round", fn, payload);
}

/* --- MTF-GAUC on the offline log --------------------------------------------- */

int rmtl_fusion_log_gauc(double *gauc, const rmtl_fusion *f, const rmtl_fusion *logged)
{
    static const char fn[] = "rmtl_fusion_log_gauc";
    RMTL__CHECK_ARG(gauc, "gauc");
    *gauc = NAN;
    RMTL__CHECK_ARG(f, "f");
    RMTL__CHECK_ARG(logged, "logged");
    const rmtl__flog *l = &logged->log;
    if (l->rows == 0)
        return rmtl__error(RMTL_ESTATE, "%s: the log is empty (no rmtl_fusion_round yet)", fn);
    if (l->S != f->state_dim || l->T != f->T)
        return rmtl__error(RMTL_EINVAL, "%s: the log has state %zu and %zu tasks, the fusion "
                           "%zu and %zu", fn, l->S, l->T, f->state_dim, f->T);
    /* the impressions: the shown rows of every request */
    float *score = rmtl__mallocarray(l->rows, sizeof *score);
    float *label = rmtl__mallocarray(l->rows, sizeof *label);
    int64_t *user = rmtl__mallocarray(l->rows, sizeof *user);
    int rc = score && label && user ? 0 : rmtl__error(RMTL_ENOMEM, "%s: out of memory", fn);
    size_t n = 0;
    for (size_t r = 0; !rc && r < l->reqs; r++)
        for (size_t i = l->begin[r]; !rc && i < l->mid[r]; i++, n++) {
            rc = rmtl_fuse_scores(&score[n], f, l->state + i * l->S, l->S, l->scores + i * l->T,
                                  l->T, NULL, 0);
            label[n] = l->reward[i * l->R] > 0.5f ? 1.0f : 0.0f;
            user[n] = l->user[i];
        }
    if (!rc)
        rc = rmtl_fusion_gauc(gauc, user, score, label, n);
    rmtl__free(score);
    rmtl__free(label);
    rmtl__free(user);
    return rc;
}

/* --- the cross-entropy-method baseline --------------------------------------- */

typedef struct rmtl__cem_cand {
    double reward;
    float a[RMTL__FUSE_ACT_MAX];
} rmtl__cem_cand;

static int rmtl__cem_cmp(const void *pa, const void *pb)
{
    const rmtl__cem_cand *a = pa, *b = pb;
    return (a->reward < b->reward) - (a->reward > b->reward); /* best first */
}

int rmtl_fusion_cem(double *best_reward, rmtl_fusion *f, rmtl_env *env,
                    const rmtl_fusion_cem_opts *opts)
{
    static const char fn[] = "rmtl_fusion_cem";
    RMTL__CHECK_ARG(f, "f");
    RMTL__CHECK_ARG(opts, "opts");
    if (opts->version != RMTL_FUSION_CEM_OPTS_VERSION)
        return rmtl__error(RMTL_EINVAL, "%s: unknown options version %u", fn,
                           (unsigned)opts->version);
    if (opts->iterations == 0 || opts->elite == 0 || opts->elite > opts->population ||
        opts->population > 4096)
        return rmtl__error(RMTL_EINVAL, "%s: needs iterations >= 1 and 1 <= elite <= population "
                           "<= 4096 (got %zu, %zu, %zu)", fn, opts->iterations, opts->elite,
                           opts->population);
    size_t A = f->A;
    double mean[RMTL__FUSE_ACT_MAX], sd[RMTL__FUSE_ACT_MAX];
    for (size_t k = 0; k < A; k++) {
        mean[k] = 0.5 * ((double)f->lo[k] + f->hi[k]);
        sd[k] = 0.25 * ((double)f->hi[k] - f->lo[k]);
    }
    rmtl__cem_cand *c = rmtl__mallocarray(opts->population, sizeof *c);
    if (!c)
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", fn);
    int rc = 0;
    for (size_t it = 0; !rc && it < opts->iterations; it++) {
        rmtl_fusion_sim_opts ev = opts->eval;
        ev.seed = opts->eval.seed + it;
        for (size_t i = 0; !rc && i < opts->population; i++) {
            for (size_t k = 0; k < A; k++) {
                double v = mean[k] + sd[k] * rmtl__rng_normal(&f->rng);
                v = v < f->lo[k] ? f->lo[k] : v > f->hi[k] ? f->hi[k] : v;
                c[i].a[k] = (float)v; /* v within float bounds rounds within them */
            }
            rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
            if (!(rc = rmtl_fusion_set_fixed(f, c[i].a, A)) &&
                !(rc = rmtl_fusion_evaluate(&st, f, env, &ev)))
                c[i].reward = st.reward_mean;
        }
        if (rc)
            break;
        qsort(c, opts->population, sizeof *c, rmtl__cem_cmp);
        for (size_t k = 0; k < A; k++) {
            double m = 0, v = 0;
            for (size_t e = 0; e < opts->elite; e++)
                m += c[e].a[k] / (double)opts->elite;
            for (size_t e = 0; e < opts->elite; e++)
                v += (c[e].a[k] - m) * (c[e].a[k] - m) / (double)opts->elite;
            /* a floor of 1% of the range keeps the search from collapsing
             * before the last iteration (ours) */
            double floor = 0.01 * ((double)f->hi[k] - f->lo[k]);
            mean[k] = m;
            sd[k] = sqrt(v) > floor ? sqrt(v) : floor;
        }
        if (best_reward)
            *best_reward = c[0].reward;
    }
    rmtl__free(c);
    if (!rc) {
        float a[RMTL__FUSE_ACT_MAX];
        for (size_t k = 0; k < A; k++)
            a[k] = (float)mean[k];
        rc = rmtl_fusion_set_fixed(f, a, A);
    }
    return rc ? rmtl__error_prefix(rc, "%s", fn) : RMTL_OK;
}
