/* Sessions: the candidate generator, top-l selection, behaviour sampling
 * and the leave decision. This is the simulator's hot path: nothing here
 * allocates, candidate distinctness is checked with stamps instead of
 * cleared sets, and the top l are found by partial selection. */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "sim/sim.h"

/* Proposals per batch of the candidate generator for `missing` slots:
 * about a third of the proposals are duplicates or already shown. */
#define RMTL__PROPOSALS(missing) ((missing) + (missing) / 2 + 8)

int rmtl__sess_init(rmtl__sim_sess *ss, const rmtl__sim *s)
{
    memset(ss, 0, sizeof *ss);
    size_t n = s->n, l = s->l, items = s->w.items;
    int ok = (ss->mark = rmtl__calloc(items, sizeof *ss->mark)) != NULL &&
             RMTL__SIM_ALLOC(ss->proposal, RMTL__PROPOSALS(n)) &&
             (s->w.aff || RMTL__SIM_ALLOC(ss->aff_buf, items)) && RMTL__SIM_ALLOC(ss->cand, n) &&
             RMTL__SIM_ALLOC(ss->cand_cat, n * RMTL__SIM_ICAT) &&
             RMTL__SIM_ALLOC(ss->cand_feat, n * s->w.item_dim) &&
             RMTL__SIM_ALLOC(ss->cand_price, n) && RMTL__SIM_ALLOC(ss->cand_aff, n) &&
             RMTL__SIM_ALLOC(ss->context, RMTL__SIM_CONTEXT_MAX) &&
             RMTL__SIM_ALLOC(ss->shown_idx, l) && RMTL__SIM_ALLOC(ss->shown_item, l) &&
             RMTL__SIM_ALLOC(ss->behav, l * RMTL__SIM_TASKS) && RMTL__SIM_ALLOC(ss->pair_reward, l);
    if (!ok) {
        rmtl__sess_free(ss);
        return rmtl__error(RMTL_ENOMEM, "simulator: out of memory for a session");
    }
    return 0;
}

void rmtl__sess_free(rmtl__sim_sess *ss)
{
    if (!ss)
        return;
    void *all[] = {ss->mark,       ss->proposal,  ss->aff_buf,   ss->cand,
                   ss->cand_cat,   ss->cand_feat, ss->cand_price, ss->cand_aff,
                   ss->context,    ss->shown_idx, ss->shown_item, ss->behav,
                   ss->pair_reward};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rmtl__free(all[i]);
    memset(ss, 0, sizeof *ss);
}

/* A fresh 16-bit stamp in the half of every mark selected by `shift`; on
 * wrap-around that half is cleared so an old stamp can never match. */
static void rmtl__next_stamp(uint32_t *stamp, uint32_t *mark, size_t items, int shift)
{
    if (++*stamp > 0xffffu) {
        for (size_t i = 0; i < items; i++)
            mark[i] &= ~(UINT32_C(0xffff) << shift);
        *stamp = 1;
    }
}

/* Moves the proposals that are neither candidates of this request nor
 * (unless allow_seen) shown earlier in the session into the candidates,
 * until n are there. Branch-free: a proposal is always written and kept
 * only if free. */
static void rmtl__admit(rmtl__sim_sess *ss, size_t *k, size_t n, const uint32_t *prop, size_t m,
                        int allow_seen)
{
    uint32_t req = ss->req_stamp, sess = allow_seen ? 0x10000u : ss->sess_stamp; /* never matches */
    uint32_t *mark = ss->mark, *cand = ss->cand;
    size_t kk = *k;
    for (size_t i = 0; i < m && kk < n; i++) {
        uint32_t item = prop[i], mk = mark[item];
        int free = (mk & 0xffffu) != req && (mk >> 16) != sess;
        cand[kk] = item;
        mark[item] = free ? (mk & ~UINT32_C(0xffff)) | req : mk;
        kk += (size_t)free;
    }
    *k = kk;
}

/* The candidate generator: a share of the candidates by the user's
 * interest (a category by interest, then an item by popularity inside
 * it), the rest by global popularity; distinct, and not shown before in
 * the session. Proposals come in batches (independent draws the CPU can
 * overlap) with a bounded number of batches; what is still missing then
 * comes from a scan, unseen items first. */
static void rmtl__generate(rmtl__sim_sess *ss, const rmtl__sim *s)
{
    const rmtl__sim_world *w = &s->w;
    /* Locals throughout: the proposals are uint32_t stores, which the
     * compiler must otherwise assume to overwrite the tables' fields. */
    rmtl__rng r = ss->cand_rng;
    uint32_t *prop = ss->proposal, items = w->items, ncat = w->categories;
    const uint32_t *cat_start = w->cat_start, *cat_items = w->cat_items;
    const rmtl__alias_slot *cat_pop = w->cat_pop, *pop = w->pop;
    const rmtl__alias_slot *interest = w->interest + (size_t)ss->user * ncat;
    size_t n = s->n, n_int = n - (size_t)llround((double)n * s->p.pop_mix), k = 0;
    for (int batch = 0; batch < 3 && k < n_int; batch++) {
        size_t m = RMTL__PROPOSALS(n_int - k), got = 0;
        /* Categories first, then items: two passes of independent draws. */
        for (size_t i = 0; i < m; i++)
            prop[i] = rmtl__alias_draw(interest, ncat, &r);
        for (size_t i = 0; i < m; i++) {
            uint32_t start = cat_start[prop[i]], size = cat_start[prop[i] + 1] - start;
            if (size) /* empty categories have no interest; never taken */
                prop[got++] = cat_items[start + rmtl__alias_draw(cat_pop + start, size, &r)];
        }
        rmtl__admit(ss, &k, n_int, prop, got, 0);
    }
    for (int batch = 0; batch < 3 && k < n; batch++) {
        size_t m = RMTL__PROPOSALS(n - k);
        for (size_t i = 0; i < m; i++)
            prop[i] = rmtl__alias_draw(pop, items, &r);
        rmtl__admit(ss, &k, n, prop, m, 0);
    }
    if (k < n) {
        uint32_t start = rmtl__sim_below(&r, items);
        for (int allow_seen = 0; allow_seen < 2 && k < n; allow_seen++)
            for (uint32_t j = 0; j < items && k < n; j++) {
                uint32_t item = start + j < items ? start + j : start + j - items;
                rmtl__admit(ss, &k, n, &item, 1, allow_seen);
            }
    }
    ss->cand_rng = r;
}

/* Sign-preserving log(1 + |x|): reward coefficients may be negative. */
static float rmtl__slog1p(double x) { return (float)copysign(log1p(fabs(x)), x); }

static void rmtl__context(rmtl__sim_sess *ss, const rmtl__sim *s)
{
    float f[RMTL__SIM_CONTEXT_MAX];
    double shown = ss->shown > 0 ? (double)ss->shown : 1.0;
    f[0] = (float)((double)ss->t / (double)s->p.max_requests);
    f[1] = rmtl__slog1p(ss->reward);
    f[2] = rmtl__slog1p(ss->last_reward);
    f[3] = (float)((double)ss->done_count[0] / shown);
    f[4] = s->tasks > 1 ? (float)((double)ss->done_count[1] / shown) : 0.0f;
    memcpy(ss->context, f, sizeof f);
}

/* Builds the pending request: candidates, their features and
 * affinities, and the context. */
static void rmtl__build(rmtl__sim_sess *ss, const rmtl__sim *s)
{
    const rmtl__sim_world *w = &s->w;
    size_t n = s->n, fd = w->item_dim;
    rmtl__next_stamp(&ss->req_stamp, ss->mark, w->items, 0);
    rmtl__generate(ss, s);
    for (size_t j = 0; j < n; j++) {
        size_t item = ss->cand[j];
        memcpy(ss->cand_cat + j * RMTL__SIM_ICAT, w->i_cat + item * RMTL__SIM_ICAT,
               RMTL__SIM_ICAT * sizeof(int32_t));
        memcpy(ss->cand_feat + j * fd, w->i_feat + item * fd, fd * sizeof(float));
        ss->cand_price[j] = w->price[item];
        ss->cand_aff[j] = ss->aff[item];
    }
    rmtl__context(ss, s);
}

void rmtl__sess_begin(rmtl__sim_sess *ss, const rmtl__sim *s, uint64_t seed, uint64_t index)
{
    rmtl__sim_rng_seed(&ss->cand_rng, seed, index, UINT64_C(0x43414e44)); /* "CAND" */
    rmtl__sim_rng_seed(&ss->behav_rng, seed, index, UINT64_C(0x42454841)); /* "BEHA" */
    ss->user = rmtl__alias_draw(s->w.user_pick, s->w.users, &ss->cand_rng);
    ss->index = index;
    ss->t = 0;
    ss->reward = ss->last_reward = 0.0;
    ss->satisfaction = 0.0;
    ss->shown = 0;
    memset(ss->done_count, 0, sizeof ss->done_count);
    ss->fb_done = 0;
    rmtl__next_stamp(&ss->sess_stamp, ss->mark, s->w.items, 16);
    /* The user's affinity to every item, the world's row or one product
     * per session: the truth of every candidate is then a lookup. */
    const rmtl__sim_world *w = &s->w;
    if (w->aff) {
        ss->aff = w->aff + (size_t)ss->user * w->items;
    } else {
        rmtl__gemm(&s->rt, RMTL__NOTRANS, RMTL__TRANS, 1, w->items, w->d, 1.0f,
                   w->u_lat + (size_t)ss->user * w->d, w->d, w->i_lat, w->d, 0.0f, ss->aff_buf,
                   w->items);
        ss->aff = ss->aff_buf;
    }
    ss->state = RMTL__SESS_ACTIVE;
    rmtl__build(ss, s);
}

int rmtl__sess_pending(const rmtl__sim_sess *ss)
{
    if (ss->state == RMTL__SESS_ACTIVE)
        return 0;
    return rmtl__error(RMTL_ESTATE, ss->state == RMTL__SESS_DONE
                                        ? "the session has ended; call rmtl_env_sim_reset"
                                        : "no session yet; call rmtl_env_sim_reset");
}

int rmtl__sess_check_step(const rmtl__sim_sess *ss, const rmtl__sim *s, const float *scores,
                          size_t n)
{
    int rc = rmtl__sess_pending(ss);
    if (rc)
        return rc;
    if (!scores)
        return rmtl__error(RMTL_EINVAL, "scores is NULL");
    if (n != s->n)
        return rmtl__error(RMTL_EINVAL, "%zu scores for %u candidates", n, s->n);
    for (size_t j = 0; j < n; j++)
        if (!isfinite(scores[j]))
            return rmtl__error(RMTL_ENUMERIC, "score %zu (item %u) is %g", j, ss->cand[j],
                               (double)scores[j]);
    return 0;
}

/* The indices of the l highest scores, best first; ties go to the lower
 * index. Insertion into a sorted window of l: O(n) for the usual l << n. */
static void rmtl__top_l(uint32_t *top, const float *scores, size_t n, size_t l)
{
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        float v = scores[j];
        if (m == l && !(v > scores[top[l - 1]]))
            continue;
        size_t pos = m < l ? m++ : l - 1;
        /* Strictly better moves up: an equal score keeps its lower index first. */
        while (pos > 0 && scores[top[pos - 1]] < v) {
            top[pos] = top[pos - 1];
            pos--;
        }
        top[pos] = (uint32_t)j;
    }
}

static double rmtl__leave_prob(const rmtl__sim *s, double reward, uint32_t t, double satisfaction)
{
    double base = s->p.leave_base;
    if (base <= 0.0 || base >= 1.0)
        return base;
    double z = s->leave_logit0 - s->p.leave_reward_slope * reward + s->p.fatigue * (double)t;
    if (s->p.sat_enabled)
        z -= s->p.sat_leave * satisfaction;
    return 1.0 / (1.0 + exp(-z));
}

void rmtl__sess_serve(rmtl__sim_sess *ss, const rmtl__sim *s, const float *scores)
{
    size_t l = s->l, T = s->tasks;
    rmtl__top_l(ss->shown_idx, scores, s->n, l);
    double r = 0.0;
    for (size_t k = 0; k < l; k++) {
        uint32_t j = ss->shown_idx[k], item = ss->cand[j];
        ss->shown_item[k] = item;
        float c[RMTL__SIM_TASKS], u[RMTL__SIM_TASKS];
        rmtl__sim_cond_probs(s, ss->user, item, ss->cand_aff[j], c);
        /* Always T draws per item, so one item's outcome never shifts the
         * random numbers of the next. */
        for (size_t t = 0; t < T; t++)
            u[t] = rmtl__rng_float(&ss->behav_rng);
        float *b = ss->behav + k * T;
        int click = u[0] < s->exam[k] * c[0];
        double pr = 0.0;
        for (size_t t = 0; t < T; t++) {
            int v = t == 0 ? click : click && u[t] < c[t];
            b[t] = (float)v;
            ss->done_count[t] += (uint64_t)v;
            pr += v ? s->p.reward_coef[t] : 0.0;
        }
        ss->pair_reward[k] = (float)pr;
        r += pr;
        ss->mark[item] = (ss->mark[item] & 0xffffu) | ss->sess_stamp << 16;
    }
    ss->shown += l;
    ss->reward += r;
    ss->last_reward = r;
    ss->fb_reward = r;
    ss->fb_request = ss->t;
    if (s->p.sat_enabled)
        rmtl__sim_satisfaction_step(ss, s);
    double leave = rmtl__leave_prob(s, r, ss->t, ss->satisfaction);
    ss->fb_done = rmtl__rng_double(&ss->behav_rng) < leave || ss->t + 1 >= s->p.max_requests;
    ss->t++;
    ss->state = ss->fb_done ? RMTL__SESS_DONE : RMTL__SESS_ACTIVE;
}

void rmtl__sess_advance(rmtl__sim_sess *ss, const rmtl__sim *s)
{
    if (ss->state == RMTL__SESS_ACTIVE)
        rmtl__build(ss, s);
}

void rmtl__sess_request_view(rmtl_sim_request *out, const rmtl__sim_sess *ss, const rmtl__sim *s)
{
    const rmtl__sim_world *w = &s->w;
    out->user = ss->user;
    out->request = ss->t;
    out->tasks = s->tasks;
    out->session = ss->index;
    out->n_user_cat = RMTL__SIM_UCAT;
    out->user_cat = w->u_cat + (size_t)ss->user * RMTL__SIM_UCAT;
    out->user_dim = w->user_dim;
    out->user_feat = w->u_feat + (size_t)ss->user * w->user_dim;
    out->context_dim = (size_t)s->p.context_dim;
    out->context = ss->context;
    out->n = s->n;
    out->items = ss->cand;
    out->n_item_cat = RMTL__SIM_ICAT;
    out->item_cat = ss->cand_cat;
    out->item_dim = w->item_dim;
    out->item_feat = ss->cand_feat;
    out->price = ss->cand_price;
    out->action_dim = 0;
    out->action = out->box_lo = out->box_hi = NULL;
}

void rmtl__sess_feedback_view(rmtl_sim_feedback *out, const rmtl__sim_sess *ss,
                              const rmtl__sim *s)
{
    out->request = ss->fb_request;
    out->n_shown = s->l;
    out->shown = ss->shown_idx;
    out->items = ss->shown_item;
    out->tasks = s->tasks;
    out->behaviours = ss->behav;
    out->pair_reward = ss->pair_reward;
    out->reward = ss->fb_reward;
    out->session_reward = ss->reward;
    out->done = ss->fb_done;
}
