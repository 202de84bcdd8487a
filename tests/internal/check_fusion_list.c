/* List-aware fusion training (SPEC §4b): Plackett–Luce propensities that
 * sum to 1 over every list, Gumbel-top-l samples that follow them, the
 * PL value's and the first-slot KL's gradients against central finite
 * differences, the list actor's and item critics' parameter gradients
 * against finite differences of their own losses, and an item critic that
 * recovers known item values in a constructed world. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/fusion.h"
#include "fusion/plackett_luce.h"
#include "util/fusion_data.h"

static double urand(unsigned long long *s, double lo, double hi)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(*s >> 11) * 0x1p-53;
}

/* Every ordered list of l of the n candidates (shown first in the array
 * the log-probability reads) has a probability; they sum to 1. */
static double sum_lists(const double *z, size_t n, size_t l, size_t depth, size_t *pick,
                        double *zz)
{
    if (depth == l) {
        /* the picked ones first, in order, then the rest */
        size_t k = 0;
        for (size_t i = 0; i < l; i++)
            zz[k++] = z[pick[i]];
        for (size_t j = 0; j < n; j++) {
            int used = 0;
            for (size_t i = 0; i < l; i++)
                used |= pick[i] == j;
            if (!used)
                zz[k++] = z[j];
        }
        return exp(rmtl__pl_list_logp(zz, NULL, n, l));
    }
    double s = 0.0;
    for (size_t j = 0; j < n; j++) {
        int used = 0;
        for (size_t i = 0; i < depth; i++)
            used |= pick[i] == j;
        if (used)
            continue;
        pick[depth] = j;
        s += sum_lists(z, n, l, depth + 1, pick, zz);
    }
    return s;
}

START_TEST(test_propensities_sum_to_one)
{
    unsigned long long s = 5;
    double z[6], zz[6];
    size_t pick[6];
    for (size_t n = 1; n <= 6; n++)
        for (size_t l = 1; l <= n && l <= 4; l++) {
            for (size_t j = 0; j < n; j++)
                z[j] = urand(&s, -3, 3);
            double t = sum_lists(z, n, l, 0, pick, zz);
            ck_assert_msg(fabs(t - 1.0) < 1e-12, "n %zu l %zu: %.15g", n, l, t);
        }
    /* a multiplicity c stands for c copies of a candidate with its score */
    double zc[4] = {0.3, -0.2, 1.1, -0.7}, c[4] = {1, 1, 3, 2};
    double zd[7] = {0.3, -0.2, 1.1, 1.1, 1.1, -0.7, -0.7};
    ck_assert_double_eq_tol(rmtl__pl_list_logp(zc, c, 4, 2), rmtl__pl_list_logp(zd, NULL, 7, 2),
                            1e-12);
}
END_TEST

/* Gumbel-top-2 of z: the frequency of each ordered pair is its PL
 * probability (200,000 draws; 5 standard errors). */
START_TEST(test_gumbel_samples_follow_pl)
{
    enum { N = 4, DRAWS = 200000 };
    double z[N] = {0.5, -0.3, 1.2, 0.0}, zz[N];
    size_t count[N][N] = {{0}};
    uint64_t st = 77;
    for (int d = 0; d < DRAWS; d++) {
        double key[N];
        for (size_t j = 0; j < N; j++)
            key[j] = z[j] + rmtl__pl_gumbel(&st);
        size_t a = 0, b = 1;
        if (key[b] > key[a])
            a = 1, b = 0;
        for (size_t j = 2; j < N; j++) {
            if (key[j] > key[a])
                b = a, a = j;
            else if (key[j] > key[b])
                b = j;
        }
        count[a][b]++;
    }
    for (size_t a = 0; a < N; a++)
        for (size_t b = 0; b < N; b++) {
            if (a == b)
                continue;
            size_t k = 2;
            zz[0] = z[a];
            zz[1] = z[b];
            for (size_t j = 0; j < N; j++)
                if (j != a && j != b)
                    zz[k++] = z[j];
            double p = exp(rmtl__pl_list_logp(zz, NULL, N, 2));
            double got = (double)count[a][b] / DRAWS, se = sqrt(p * (1 - p) / DRAWS);
            ck_assert_msg(fabs(got - p) < 5 * se, "(%zu, %zu): %g vs %g", a, b, got, p);
        }
}
END_TEST

/* ∂J/∂z of the successive-softmax PL value and ∂KL/∂z against central
 * differences; l = 1 is the exact first-slot expectation and gradient
 * (e_0/τ)·π_j·(q_j − Σ π_i q_i) with τ = 1. */
START_TEST(test_pl_value_gradient)
{
    enum { N = 7, L = 3 };
    unsigned long long s = 9;
    double z[N], zb[N], c[N], q[N], e[L] = {1.0, 0.8, 0.65}, g[N], gk[N];
    double work[2 * L * N + 3 * N + L + 1];
    for (size_t j = 0; j < N; j++) {
        z[j] = urand(&s, -2, 2);
        zb[j] = urand(&s, -2, 2);
        q[j] = urand(&s, -1, 3);
        c[j] = j < 3 ? 1.0 : urand(&s, 1, 4);
    }
    for (size_t l = 1; l <= L; l++) {
        rmtl__pl_value(z, c, q, e, N, l, g, work, NULL);
        for (size_t j = 0; j < N; j++) {
            double h = 1e-6, zp[N], zm[N];
            memcpy(zp, z, sizeof z);
            memcpy(zm, z, sizeof z);
            zp[j] += h;
            zm[j] -= h;
            double num = (rmtl__pl_value(zp, c, q, e, N, l, NULL, work, NULL) -
                          rmtl__pl_value(zm, c, q, e, N, l, NULL, work, NULL)) / (2 * h);
            ck_assert_msg(fabs(num - g[j]) < 1e-7 * (1 + fabs(num)), "l %zu z[%zu]: %g vs %g",
                          l, j, g[j], num);
        }
    }
    /* l = 1: exact */
    double m = 0, sum = 0, pi[N], pq = 0;
    for (size_t j = 0; j < N; j++)
        m = z[j] > m ? z[j] : m;
    for (size_t j = 0; j < N; j++)
        sum += c[j] * exp(z[j] - m);
    for (size_t j = 0; j < N; j++) {
        pi[j] = c[j] * exp(z[j] - m) / sum;
        pq += pi[j] * q[j];
    }
    double J1 = rmtl__pl_value(z, c, q, e, N, 1, g, work, NULL);
    ck_assert_double_eq_tol(J1, e[0] * pq, 1e-12);
    for (size_t j = 0; j < N; j++)
        ck_assert_double_eq_tol(g[j], e[0] * pi[j] * (q[j] - pq), 1e-12);
    /* KL */
    double kl = rmtl__pl_first_kl(z, zb, c, N, gk);
    ck_assert(kl > 0);
    ck_assert_double_eq_tol(rmtl__pl_first_kl(z, z, c, N, NULL), 0.0, 1e-12);
    for (size_t j = 0; j < N; j++) {
        double h = 1e-6, zp[N], zm[N];
        memcpy(zp, z, sizeof z);
        memcpy(zm, z, sizeof z);
        zp[j] += h;
        zm[j] -= h;
        double num = (rmtl__pl_first_kl(zp, zb, c, N, NULL) -
                      rmtl__pl_first_kl(zm, zb, c, N, NULL)) / (2 * h);
        ck_assert_msg(fabs(num - gk[j]) < 1e-7 * (1 + fabs(num)), "kl z[%zu]: %g vs %g", j,
                      gk[j], num);
    }
}
END_TEST

/* A logged batch with candidates: each request of fx_batch_make's `shown`
 * rows shows the first 2 and logs the rest as unshown candidates of weight
 * 2.5 (next requests alike). */
typedef struct lbatch {
    fx_batch x;
    size_t *rows, *next, *cand, *next_cand;
    float *w;
} lbatch;

static void lbatch_make(lbatch *lb, const rmtl_fusion *f, unsigned long long seed)
{
    enum { SHOWN = 2, ALL = 5 };
    fx_batch_make(&lb->x, f, 2, 3, ALL, seed);
    size_t B = lb->x.b.requests;
    lb->rows = malloc(2 * B * sizeof(size_t));
    lb->next = malloc(2 * B * sizeof(size_t));
    lb->cand = malloc(2 * B * sizeof(size_t));
    lb->next_cand = malloc(2 * B * sizeof(size_t));
    lb->w = malloc(2 * B * sizeof(float));
    for (size_t r = 0; r < B; r++) {
        size_t a = lb->x.rows[2 * r], na = lb->x.next_rows[2 * r];
        int term = lb->x.next_rows[2 * r + 1] == na;
        lb->rows[2 * r] = a;
        lb->rows[2 * r + 1] = a + SHOWN;
        lb->cand[2 * r] = a + SHOWN;
        lb->cand[2 * r + 1] = a + ALL;
        lb->next[2 * r] = na;
        lb->next[2 * r + 1] = term ? na : na + SHOWN;
        lb->next_cand[2 * r] = term ? na : na + SHOWN;
        lb->next_cand[2 * r + 1] = term ? na : na + ALL;
        lb->w[2 * r] = 2.5f;
        lb->w[2 * r + 1] = 2.5f;
    }
    lb->x.b.rows = lb->rows;
    lb->x.b.next_rows = lb->next;
    lb->x.b.cand_rows = lb->cand;
    lb->x.b.next_cand_rows = lb->next_cand;
    lb->x.b.cand_weight = lb->w;
}

static void lbatch_free(lbatch *lb)
{
    fx_batch_free(&lb->x);
    free(lb->rows);
    free(lb->next);
    free(lb->cand);
    free(lb->next_cand);
    free(lb->w);
}

typedef int (*loss_fn)(rmtl_fusion *f, const rmtl_fusion_batch *b, double *loss);

static int actor_loss(rmtl_fusion *f, const rmtl_fusion_batch *b, double *loss)
{
    return rmtl__fusion_list_actor_grad(f, b, loss, NULL);
}

/* Central differences (h = 2e-4 on the float weights) of `fn`'s loss
 * times `scale` against its gradient, on a spread of the parameters of
 * `ps`. (The critics' reported loss is the mean over the G·M critics, each
 * of which follows the gradient of its own: scale G·M.) */
static void check_params_fd(rmtl_fusion *f, const rmtl_fusion_batch *b, rmtl__params *ps,
                            loss_fn fn, double scale, const char *what)
{
    double loss;
    ck_assert_msg(fn(f, b, &loss) == 0, "%s", rmtl_last_error());
    size_t total = 0;
    for (size_t i = 0; i < ps->n; i++)
        total += ps->p[i]->rows * ps->p[i]->cols;
    float *g = malloc(total * sizeof *g);
    size_t k = 0;
    for (size_t i = 0; i < ps->n; i++) {
        memcpy(g + k, ps->p[i]->g, ps->p[i]->rows * ps->p[i]->cols * sizeof *g);
        k += ps->p[i]->rows * ps->p[i]->cols;
    }
    double worst = 0.0, gmax = 0.0;
    size_t checked = 0;
    char wdesc[160] = "";
    k = 0;
    for (size_t i = 0; i < ps->n; i++) {
        size_t n = ps->p[i]->rows * ps->p[i]->cols;
        for (size_t e = 0; e < n; e += 1 + n / 7, checked++) {
            float *w = &ps->p[i]->w[e], w0 = *w;
            float h = 2e-4f; /* small: a ReLU kink within h of a row bends the difference */
            double lp, lm;
            *w = w0 + h;
            ck_assert_int_eq(fn(f, b, &lp), 0);
            *w = w0 - h;
            ck_assert_int_eq(fn(f, b, &lm), 0);
            *w = w0;
            double num = scale * (lp - lm) / (2.0 * h), an = g[k + e];
            double err = fabs(num - an) / fmax(fmax(fabs(num), fabs(an)), 1e-2);
            if (err > worst)
                snprintf(wdesc, sizeof wdesc, "%s[%zu] analytic %g numeric %g", ps->p[i]->name,
                         e, an, num);
            worst = err > worst ? err : worst;
            gmax = fabs(an) > gmax ? fabs(an) : gmax;
        }
        k += n;
    }
    ck_assert_msg(worst < 2e-2, "%s: worst relative error %g over %zu weights (%s)", what, worst,
                  checked, wdesc);
    ck_assert_msg(gmax > 1e-4, "%s: the gradient is zero", what); /* the check saw something */
    free(g);
}

/* Biases start at 0: a row whose ReLUs below are all off would sit exactly
 * on the next layer's kink, where a central difference sees half a slope.
 * Nonzero biases keep every pre-activation off it. */
static void spread_biases(rmtl__params *ps, unsigned long long *s)
{
    for (size_t i = 0; i < ps->n; i++) {
        size_t len = strlen(ps->p[i]->name);
        if (len > 2 && strcmp(ps->p[i]->name + len - 2, ".b") == 0)
            for (size_t e = 0; e < ps->p[i]->rows * ps->p[i]->cols; e++)
                ps->p[i]->w[e] = (float)urand(s, 0.05, 0.3);
    }
}

static void check_list_grads(const char *cfg)
{
    rmtl_fusion *f = fx_fusion(cfg);
    unsigned long long s = 17;
    spread_biases(&f->actor_ps, &s);
    spread_biases(&f->actor_tps, &s);
    spread_biases(&f->critic_ps, &s);
    spread_biases(&f->critic_tps, &s);
    lbatch lb;
    lbatch_make(&lb, f, 21);
    ck_assert_int_eq(rmtl__fusion_check_batch(f, &lb.x.b), 0);
    check_params_fd(f, &lb.x.b, &f->actor_ps, actor_loss, 1.0, "actor");
    check_params_fd(f, &lb.x.b, &f->critic_ps, rmtl__fusion_list_critic_grad,
                    (double)(f->G * f->M), "critics");
    lbatch_free(&lb);
    rmtl_fusion_free(f);
}

START_TEST(test_list_gradients_pair)
{
    check_list_grads(FX_SMALL_CFG_WITH("pair", " temperature: 0.5, kl_beta: 0.3, anchor: 0.2,"));
}
END_TEST

START_TEST(test_list_gradients_user)
{
    check_list_grads(FX_SMALL_CFG_WITH("user", " temperature: 0.5, kl_beta: 0.3, anchor: 0.2,"));
}
END_TEST

/* A constructed world with known item values: one item feature x, each
 * request shows 3 items at positions 0..2 and item j's reward is a click
 * with probability e_pos·v(x_j), v(x) = 0.5 + 0.4·x, e_k = (1 + k)^-0.5;
 * sessions end after one request (γ irrelevant). The immediate head must
 * recover v, not the position-biased click rate. */
START_TEST(test_critic_recovers_item_values)
{
    rmtl_fusion *f = fx_fusion(
        "model: {tasks: [click]}\n"
        "fusion: {formula: sum, critic_hidden: [16], actor_hidden: [4], critic_groups: 1,"
        " critic_ensemble: 1, reward_coef: [1], reward_group: [0], critic_lr: 0.01,"
        " position_decay: 0.5, top_l: 3,"
        " state: {user_dim: 1, item_dim: 1, context_dim: 0, scores: false}}\n"
        "runtime: {threads: 1, seed: 4}\n");
    enum { B = 128, L = 3 };
    size_t rows[2 * B], next[2 * B];
    float state[B * L * 2], scores[B * L], action[B * L], lo[B * L], hi[B * L], reward[B * L];
    unsigned long long s = 3;
    for (size_t r = 0; r < B; r++) {
        rows[2 * r] = r * L;
        rows[2 * r + 1] = (r + 1) * L;
        next[2 * r] = next[2 * r + 1] = 0;
    }
    rmtl_fusion_batch b = RMTL_FUSION_BATCH_INIT;
    b.requests = B;
    b.rows = rows;
    b.next_rows = next;
    b.n_rows = B * L;
    b.state_dim = 2;
    b.state = state;
    b.tasks = 1;
    b.scores = scores;
    b.action_dim = 1;
    b.action = action;
    b.box_lo = lo;
    b.box_hi = hi;
    b.reward_dim = 1;
    b.reward = reward;
    for (int step = 0; step < 1500; step++) {
        for (size_t i = 0; i < B * L; i++) {
            double x = urand(&s, -1, 1), e = pow(1.0 + (double)(i % L), -0.5);
            state[2 * i] = 0.0f;
            state[2 * i + 1] = (float)x;
            scores[i] = 0.5f;
            action[i] = 1.0f;
            lo[i] = 0.85f;
            hi[i] = 1.15f;
            reward[i] = urand(&s, 0, 1) < e * (0.5 + 0.4 * x) ? 1.0f : 0.0f;
        }
        double loss;
        ck_assert_int_eq(rmtl__fusion_check_batch(f, &b), 0);
        ck_assert_int_eq(rmtl__fusion_list_critic_grad(f, &b, &loss), 0);
        ck_assert_int_eq(rmtl__adam_step(&f->critic_opt, &f->ws.rt, &f->critic_ps, NULL), 0);
    }
    double worst = 0.0;
    for (int k = 0; k <= 10; k++) {
        double x = -0.9 + 0.18 * k;
        float row[3] = {0.0f, (float)x, 0.5f}, y[2];
        rmtl__ws_reset(&f->ws_net);
        ck_assert_int_eq(rmtl__mlp_predict(&f->critic[0], &f->ws_net, 1, row, 3, y, 2), 0);
        double err = fabs(y[0] - (0.5 + 0.4 * x));
        worst = err > worst ? err : worst;
    }
    ck_assert_msg(worst < 0.06, "immediate head off by %g", worst);
    rmtl_fusion_free(f);
}
END_TEST

/* Expected examination under PL (rmtl__pl_exam) against the exact
 * marginals, enumerated over every ordered list with rmtl__pl_list_logp,
 * on 5 candidates and l = 3; and a candidate of multiplicity 2 examined as
 * two identical candidates of multiplicity 1 together. */
static void exact_exam(double *exam, const double *z, size_t n, size_t l, const double *e)
{
    size_t pick[3];
    double zz[8];
    for (size_t j = 0; j < n; j++)
        exam[j] = 0.0;
    for (pick[0] = 0; pick[0] < n; pick[0]++)
        for (pick[1] = 0; pick[1] < n; pick[1]++)
            for (pick[2] = 0; pick[2] < n; pick[2]++) {
                if (pick[0] == pick[1] || pick[0] == pick[2] || pick[1] == pick[2])
                    continue;
                size_t k = 0;
                for (size_t i = 0; i < l; i++)
                    zz[k++] = z[pick[i]];
                for (size_t j = 0; j < n; j++)
                    if (j != pick[0] && j != pick[1] && j != pick[2])
                        zz[k++] = z[j];
                double p = exp(rmtl__pl_list_logp(zz, NULL, n, l));
                for (size_t i = 0; i < l; i++)
                    exam[pick[i]] += e[i] * p;
            }
}

START_TEST(test_pl_exam_exact)
{
    enum { N = 5, L = 3 };
    const double z[N] = {1.5, 0.2, -0.4, 0.9, 0.9}, e[L] = {1.0, 0.8, 0.6};
    double exact[N], mc[N], work[3 * N];
    exact_exam(exact, z, N, L, e);
    rmtl__pl_exam(mc, z, NULL, e, N, L, 20000, 3, work);
    double total = 0.0;
    for (size_t j = 0; j < N; j++) {
        ck_assert_msg(fabs(mc[j] - exact[j]) < 0.01, "candidate %zu: %g vs exact %g", j, mc[j],
                      exact[j]);
        total += mc[j];
    }
    ck_assert_double_eq_tol(total, 2.4, 1e-9); /* every sample fills the 3 slots */
    /* slot 0 is exact in every sample: one sample gives its marginal */
    const double one[L] = {1.0, 0.0, 0.0};
    double s0[N], m = 0.0;
    rmtl__pl_exam(s0, z, NULL, one, N, L, 1, 9, work);
    for (size_t j = 0; j < N; j++)
        m += exp(z[j]);
    for (size_t j = 0; j < N; j++)
        ck_assert_double_eq_tol(s0[j], exp(z[j]) / m, 1e-12);
    /* candidates 3 and 4 are alike: as one of multiplicity 2 */
    const double c[N - 1] = {1.0, 1.0, 1.0, 2.0};
    double grouped[N - 1];
    rmtl__pl_exam(grouped, z, c, e, N - 1, L, 20000, 5, work);
    for (size_t j = 0; j < 3; j++)
        ck_assert_msg(fabs(grouped[j] - exact[j]) < 0.01, "candidate %zu: %g vs %g", j,
                      grouped[j], exact[j]);
    ck_assert_msg(fabs(grouped[3] - exact[3] - exact[4]) < 0.01, "pair %g vs %g", grouped[3],
                  exact[3] + exact[4]);
    /* peaked past exp's range: logits 2000 apart rank deterministically,
     * and every slot still finds its candidate (no underflow to nothing) */
    const double zp[4] = {0.0, 4000.0, -2000.0, 2000.0};
    double peaked[4];
    rmtl__pl_exam(peaked, zp, NULL, e, 4, L, 4, 1, work);
    ck_assert_double_eq(peaked[1], e[0]);
    ck_assert_double_eq(peaked[3], e[1]);
    ck_assert_double_eq(peaked[0], e[2]);
    ck_assert_double_eq(peaked[2], 0.0);
}
END_TEST

/* Off-policy evaluation on a constructed bandit with known answer: 4
 * candidates with click and like scores p, q and values v, l = 2, a click
 * at slot k with probability e_k·v_j. The behaviour ranks by a PL sample
 * of p/τ_b (the fixed action w = (1, 0), formula sum); the target serves
 * w = (0, 1), the top 2 by q, a different ranking, whose true request
 * value is e_0·v_2 + e_1·v_1. Over 20 logs of 1,500 requests the mean
 * SNIPS estimate lies within 3 standard errors of the truth and most 95%
 * intervals cover it. */
/* The constructed bandit of the OPE tests: 4 candidates with scores p
 * (the behaviour's, PL at τ_b = 0.25) and q (the target's: it serves the
 * top 2 by q), a position-based click model with e = (1, 2^-1/2) and item
 * values v; the target's true request value is `bandit_truth`. */
#define BANDIT_CFG(extra)                                                                        \
    "model: {tasks: [click, like]}\n"                                                            \
    "fusion: {formula: sum, objective: pair, critic_groups: 1,"                                  \
    " critic_ensemble: 1, reward_coef: [1, 0], reward_group: [0, 0], top_l: 2,"                  \
    " explore_temperature: 0.25, position_decay: 0.5, weight_min: 0,"                            \
    " weight_max: 4, actor_hidden: [4], critic_hidden: [4]," extra                               \
    " state: {user_dim: 1, item_dim: 1, context_dim: 0, scores: false}}\n"                       \
    "runtime: {threads: 1, seed: 2}\n"
enum { BANDIT_N = 4, BANDIT_L = 2 };
static const double bandit_p[BANDIT_N] = {0.9, 0.6, 0.3, 0.1};
static const double bandit_q[BANDIT_N] = {0.2, 0.5, 0.9, 0.4};
static const double bandit_v[BANDIT_N] = {0.1, 0.3, 0.8, 0.6};
#define bandit_truth (bandit_v[2] + pow(2.0, -0.5) * bandit_v[1])

/* Logs `reqs` requests of the behaviour into f's log; returns the mean
 * logged request reward. */
static double bandit_log(rmtl_fusion *f, int reqs, uint64_t *noise, unsigned long long *s)
{
    enum { N = BANDIT_N, L = BANDIT_L };
    const double tb = 0.25, e[L] = {1.0, pow(2.0, -0.5)};
    double behaviour = 0.0;
    for (int r = 0; r < reqs; r++) {
        double key[N];
        size_t order[N] = {0, 1, 2, 3};
        for (size_t j = 0; j < N; j++)
            key[j] = bandit_p[j] / tb + rmtl__pl_gumbel(noise);
        for (size_t i = 0; i < N; i++) /* sort by key, descending */
            for (size_t j = i + 1; j < N; j++)
                if (key[order[j]] > key[order[i]]) {
                    size_t t = order[i];
                    order[i] = order[j];
                    order[j] = t;
                }
        float state[N * 2], scores[N * 2], action[N * 2], lo[N * 2], hi[N * 2];
        float reward[N * 2];
        for (size_t i = 0; i < N; i++) {
            size_t j = order[i];
            state[2 * i] = 0.0f;
            state[2 * i + 1] = (float)j;
            scores[2 * i] = (float)bandit_p[j];
            scores[2 * i + 1] = (float)bandit_q[j];
            action[2 * i] = 1.0f;
            action[2 * i + 1] = 0.0f;
            lo[2 * i] = lo[2 * i + 1] = 0.0f;
            hi[2 * i] = hi[2 * i + 1] = 2.0f;
            reward[2 * i] = i < L && urand(s, 0, 1) < e[i] * bandit_v[j] ? 1.0f : 0.0f;
            reward[2 * i + 1] = 0.0f;
            behaviour += i < L ? reward[2 * i] : 0.0f;
        }
        size_t idx;
        ck_assert_int_eq(rmtl__flog_add(&f->log, &idx, -1, r, N, L, 1.0f, state, scores, action,
                                        lo, hi, reward),
                         0);
    }
    return behaviour / reqs;
}

/* A fusion with config cfg (BANDIT_CFG) holding the bandit's log of reqs
 * requests, the same log whatever the config. */
static rmtl_fusion *bandit_logged(const char *cfg, int reqs)
{
    rmtl_fusion *f = fx_fusion(cfg);
    uint64_t noise = 5;
    unsigned long long s = 3;
    bandit_log(f, reqs, &noise, &s);
    return f;
}

/* The target of the bandit: weights (0, 1) serve the top 2 by q. */
static rmtl_fusion *bandit_target(void)
{
    rmtl_fusion *target = fx_fusion(BANDIT_CFG(""));
    float w01[2] = {0.0f, 1.0f};
    ck_assert_int_eq(rmtl_fusion_set_fixed(target, w01, 2), RMTL_OK);
    return target;
}

START_TEST(test_ope_unbiased_on_bandit)
{
    enum { REQ = 1500, LOGS = 20 };
    const double truth = bandit_truth;
    rmtl_fusion *target = bandit_target();
    double sum = 0.0, sum2 = 0.0, behaviour = 0.0;
    int covered = 0;
    uint64_t noise = 99;
    unsigned long long s = 7;
    for (int g = 0; g < LOGS; g++) {
        rmtl_fusion *f = fx_fusion(BANDIT_CFG(""));
        behaviour += bandit_log(f, REQ, &noise, &s) / LOGS;
        rmtl_fusion_estimate o = RMTL_FUSION_ESTIMATE_INIT;
        ck_assert_msg(rmtl_fusion_ope(&o, target, f) == RMTL_OK, "%s", rmtl_last_error());
        ck_assert_uint_eq(o.requests, REQ);
        ck_assert_double_eq(o.dr, o.snips); /* objective pair: no item critics */
        sum += o.snips;
        sum2 += o.snips * o.snips;
        covered += o.snips_lo <= truth && truth <= o.snips_hi;
        rmtl_fusion_free(f);
    }
    double mean = sum / LOGS, sd = sqrt(sum2 / LOGS - mean * mean);
    ck_assert_msg(fabs(mean - truth) < 3.0 * sd / sqrt((double)LOGS),
                  "SNIPS mean %g (sd %g) vs truth %g", mean, sd, truth);
    ck_assert_msg(covered >= 16, "%d of %d intervals cover the truth", covered, LOGS);
    /* the test means something: the target differs from the behaviour */
    ck_assert_msg(fabs(truth - behaviour) > 5.0 * sd, "truth %g behaviour %g", truth, behaviour);
    rmtl_fusion_free(target);
}
END_TEST

/* The per-request off-policy terms t (RMTL__OPE_T·reqs doubles at buf; no
 * long-term part) of the bandit's target on f's log, the critics'
 * immediate value of item i being value[i]. */
static rmtl__ope_t bandit_terms(double *buf, size_t reqs, const rmtl_fusion *f,
                                const rmtl_fusion *target, const double *value)
{
    const rmtl__flog *l = &f->log;
    float *score = malloc(l->rows * sizeof *score);
    double *rhat = malloc(l->rows * sizeof *rhat);
    ck_assert(score && rhat);
    for (size_t i = 0; i < l->rows; i++) {
        ck_assert_int_eq(rmtl_fuse_scores(&score[i], target, l->state + i * l->S, l->S,
                                          l->scores + i * l->T, l->T, NULL, 0),
                         RMTL_OK);
        rhat[i] = value[(size_t)l->state[i * l->S + 1]];
    }
    rmtl__ope_t t = {buf,            buf + reqs,     buf + 2 * reqs, buf + 3 * reqs,
                     buf + 4 * reqs, buf + 5 * reqs, NULL};
    ck_assert_int_eq(rmtl__fusion_ope_terms(t.ips, t.cv, t.et, t.dm, t.res, t.heavy, NULL, f, l,
                                            0, reqs, score, rhat, NULL),
                     0);
    free(score), free(rhat);
    return t;
}

/* Per request of f's bandit log, with item values `value` (by each row's
 * item) as the model: the doubly robust terms (dm + res), the IPS terms and
 * the switched (heavy) items' residuals. */
static void bandit_dr(double *dr, double *ips, double *heavy, size_t reqs, const rmtl_fusion *f,
                      const rmtl_fusion *target, const double *value)
{
    double *buf = malloc(RMTL__OPE_T * reqs * sizeof *buf);
    ck_assert(buf);
    rmtl__ope_t t = bandit_terms(buf, reqs, f, target, value);
    for (size_t r = 0; r < reqs; r++) {
        dr[r] = t.dm[r] + t.res[r];
        ips[r] = t.ips[r];
        heavy[r] = t.heavy[r];
    }
    free(buf);
}

/* fusion.ope_max_weight (switch-DR): an item heavier than it keeps the
 * model's term alone. With a wrong model (every value 0) no limit gives
 * the weighted rewards (the IPS terms) and a limit below every weight the
 * model's 0; with the true item values every request's model term is the
 * truth, and the estimate stays unbiased whatever the limit, while with
 * the wrong model a limit of 2 drops the heavy items' rewards: biased. */
START_TEST(test_ope_switch_dr)
{
    enum { REQ = 4000 };
    const double truth = bandit_truth, zero[BANDIT_N] = {0};
    rmtl_fusion *target = bandit_target();
    rmtl_fusion *none = bandit_logged(BANDIT_CFG(" ope_max_weight: 0,"), REQ);
    rmtl_fusion *tiny = bandit_logged(BANDIT_CFG(" ope_max_weight: 1e-9,"), REQ);
    rmtl_fusion *two = bandit_logged(BANDIT_CFG(" ope_max_weight: 2,"), REQ);
    double *dr = malloc(3 * REQ * sizeof *dr), *ips = dr + REQ, *heavy = ips + REQ;
    ck_assert(dr);
    bandit_dr(dr, ips, heavy, REQ, none, target, zero);
    for (size_t r = 0; r < REQ; r++) {
        ck_assert_double_eq(dr[r], ips[r]);
        ck_assert_double_eq(heavy[r], 0.0);
    }
    bandit_dr(dr, ips, heavy, REQ, tiny, target, zero);
    for (size_t r = 0; r < REQ; r++) {
        ck_assert_double_eq(dr[r], 0.0);
        ck_assert_double_eq_tol(heavy[r], ips[r], 1e-12); /* the gate's residuals */
    }
    bandit_dr(dr, ips, heavy, REQ, tiny, target, bandit_v);
    for (size_t r = 0; r < REQ; r++)
        ck_assert_double_eq_tol(dr[r], truth, 1e-12);
    /* unbiased with the true values, no limit or 2; biased with the wrong
       model and the limit 2 (its heavy items' rewards are lost) */
    const rmtl_fusion *fs[3] = {none, two, two};
    const double *vs[3] = {bandit_v, bandit_v, zero};
    for (int k = 0; k < 3; k++) {
        bandit_dr(dr, ips, heavy, REQ, fs[k], target, vs[k]);
        double m = 0.0, v = 0.0, ipsm = 0.0;
        for (size_t r = 0; r < REQ; r++)
            m += dr[r] / REQ, ipsm += ips[r] / REQ;
        for (size_t r = 0; r < REQ; r++)
            v += (dr[r] - m) * (dr[r] - m) / REQ;
        double se = sqrt(v / REQ);
        if (k < 2) {
            ck_assert_msg(fabs(m - truth) < 3.0 * se, "DR %g (se %g) vs truth %g, limit %s", m,
                          se, truth, k ? "2" : "none");
        } else {
            double lost = ipsm - m; /* the weighted rewards of items heavier than 2 */
            ck_assert_msg(lost > 0.1 * truth && m < truth - 10.0 * se,
                          "wrong model, limit 2: DR %g (se %g), truth %g", m, se, truth);
        }
    }
    free(dr);
    rmtl_fusion_free(none), rmtl_fusion_free(tiny), rmtl_fusion_free(two);
    rmtl_fusion_free(target);
}
END_TEST

/* The reported estimate of f's log for the bandit's target (critics'
 * values as bandit_terms), through the one summary rmtl_fusion_ope uses. */
static rmtl_fusion_estimate bandit_estimate(size_t reqs, const rmtl_fusion *f,
                                            const rmtl_fusion *target, const double *value)
{
    double *buf = malloc((RMTL__OPE_T + 1) * reqs * sizeof *buf);
    ck_assert(buf);
    rmtl__ope_t t = bandit_terms(buf, reqs, f, target, value);
    rmtl_fusion_estimate e = RMTL_FUSION_ESTIMATE_INIT;
    rmtl__ope_summary(&e, reqs, &t, 1, buf + RMTL__OPE_T * reqs);
    free(buf);
    return e;
}

/* The DR interval holds the unswitched estimate's. A wrong model (every
 * value 0) with a limit below every weight switches everything: the
 * switched estimate is exactly 0 with no spread, an interval that misses
 * the truth; the reported interval reaches to the unswitched estimate's,
 * here SNIPS's (no model), which covers it. With nothing switched the
 * interval is the estimate's own, symmetric. */
START_TEST(test_ope_interval_holds_unswitched)
{
    enum { REQ = 4000 };
    const double truth = bandit_truth, zero[BANDIT_N] = {0};
    rmtl_fusion *target = bandit_target();
    rmtl_fusion *none = bandit_logged(BANDIT_CFG(" ope_max_weight: 0,"), REQ);
    rmtl_fusion *tiny = bandit_logged(BANDIT_CFG(" ope_max_weight: 1e-9,"), REQ);
    rmtl_fusion_estimate e = bandit_estimate(REQ, tiny, target, zero);
    ck_assert_double_eq(e.dr, 0.0);
    ck_assert_msg(e.snips_lo <= truth && truth <= e.snips_hi, "SNIPS [%g, %g], truth %g",
                  e.snips_lo, e.snips_hi, truth);
    ck_assert_double_eq_tol(e.dr_lo, fmin(0.0, e.snips_lo), 1e-12);
    ck_assert_double_eq_tol(e.dr_hi, fmax(0.0, e.snips_hi), 1e-12);
    ck_assert(e.dr_lo <= truth && truth <= e.dr_hi);
    e = bandit_estimate(REQ, none, target, bandit_v);
    ck_assert(e.dr_lo < e.dr && e.dr < e.dr_hi);
    ck_assert_double_eq_tol(e.dr_hi - e.dr, e.dr - e.dr_lo, 1e-12);
    rmtl_fusion_free(none), rmtl_fusion_free(tiny), rmtl_fusion_free(target);
}
END_TEST

/* A peaked behaviour: at τ_b = 0.01 the first candidate leads the
 * second by 40 logits and the second the rest by 40, so the behaviour
 * shows the served ranking's top 2 all but always. Evaluating that served
 * ranking, every weight is 1 and SNIPS is the logged mean request reward.
 * (Subtracting the placed item from a running normaliser cancelled to
 * nothing and lost the second slot's weight: SNIPS 0.54 against 1.1.) */
START_TEST(test_ope_peaked_behaviour)
{
    const char *cfg = "model: {tasks: [click]}\n"
                      "fusion: {formula: sum, objective: pair, critic_groups: 1,"
                      " critic_ensemble: 1, reward_coef: [1], reward_group: [0], top_l: 2,"
                      " explore_temperature: 0.01, weight_min: 0, weight_max: 4,"
                      " actor_hidden: [4], critic_hidden: [4],"
                      " state: {user_dim: 1, item_dim: 1, context_dim: 0, scores: false}}\n"
                      "runtime: {threads: 1, seed: 2}\n";
    enum { N = 4, L = 2, REQ = 50 };
    rmtl_fusion *f = fx_fusion(cfg), *target = fx_fusion(cfg);
    float w1 = 1.0f;
    ck_assert_int_eq(rmtl_fusion_set_fixed(target, &w1, 1), RMTL_OK);
    double mean = 0.0;
    unsigned long long s = 11;
    for (int r = 0; r < REQ; r++) {
        float state[N * 2], scores[N] = {0.9f, 0.5f, 0.1f, 0.1f}, action[N], lo[N], hi[N];
        float reward[N];
        for (size_t i = 0; i < N; i++) {
            state[2 * i] = 0.0f;
            state[2 * i + 1] = (float)i;
            action[i] = 1.0f;
            lo[i] = 0.85f;
            hi[i] = 1.15f;
            reward[i] = i < L && urand(&s, 0, 1) < 0.5 ? 1.0f : 0.0f;
            mean += reward[i] / (double)REQ;
        }
        size_t idx;
        ck_assert_int_eq(rmtl__flog_add(&f->log, &idx, -1, r, N, L, 1.0f, state, scores, action,
                                        lo, hi, reward),
                         0);
    }
    rmtl_fusion_estimate o = RMTL_FUSION_ESTIMATE_INIT;
    ck_assert_msg(rmtl_fusion_ope(&o, target, f) == RMTL_OK, "%s", rmtl_last_error());
    ck_assert_msg(isfinite(o.snips) && fabs(o.snips - mean) < 1e-9, "SNIPS %g vs mean %g",
                  o.snips, mean);
    ck_assert_double_eq_tol(o.ess, REQ, 1e-9);
    rmtl_fusion_free(f);
    rmtl_fusion_free(target);
}
END_TEST

Suite *rmtl_test_fusion_list_suite(void)
{
    Suite *s = suite_create("fusion_list");
    TCase *tc = tcase_create("fusion_list");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_propensities_sum_to_one);
    tcase_add_test(tc, test_gumbel_samples_follow_pl);
    tcase_add_test(tc, test_pl_value_gradient);
    tcase_add_test(tc, test_list_gradients_pair);
    tcase_add_test(tc, test_list_gradients_user);
    tcase_add_test(tc, test_critic_recovers_item_values);
    tcase_add_test(tc, test_pl_exam_exact);
    tcase_add_test(tc, test_ope_unbiased_on_bandit);
    tcase_add_test(tc, test_ope_switch_dr);
    tcase_add_test(tc, test_ope_interval_holds_unswitched);
    tcase_add_test(tc, test_ope_peaked_behaviour);
    suite_add_tcase(s, tc);
    return s;
}
