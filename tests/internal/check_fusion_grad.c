/* Fusion training against double-precision references: the critics' TD
 * gradient (pair-level aggregation, trust-box discount φ, γ, terminal
 * requests, target networks) and the actor's gradient (group means, the
 * ensemble std penalty, the trust-box penalty, the tanh squash), both by
 * central finite differences; and the box functions' values. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fusion/fusion.h"
#include "util/fd.h"
#include "util/fusion_data.h"
#include "util/nnref.h"

#define FD_TOL 1e-3

/* ---- a double-precision MLP over borrowed (possibly perturbed) weights --- */

typedef struct dnet {
    const rmtl__mlp *m; /* shapes */
    const double *w[RMTL__FUSE_LAYERS_MAX], *b[RMTL__FUSE_LAYERS_MAX];
} dnet;

/* y (n × out) of the MLP: ReLU after every layer but the last. */
static void dnet_forward(const dnet *d, size_t n, const double *x, double *y)
{
    size_t maxw = 0;
    for (size_t l = 0; l < d->m->n_lin; l++)
        maxw = d->m->lin[l].out > maxw ? d->m->lin[l].out : maxw;
    double *a = malloc(n * maxw * sizeof *a), *b = malloc(n * maxw * sizeof *b);
    const double *in = x;
    for (size_t l = 0; l < d->m->n_lin; l++) {
        const rmtl__linear *L = &d->m->lin[l];
        double *out = l + 1 == d->m->n_lin ? y : (l & 1 ? b : a);
        ref_linear(n, L->in, L->out, in, d->w[l], d->b[l], out);
        if (l + 1 < d->m->n_lin)
            ref_relu(n * L->out, out);
        in = out;
    }
    free(a);
    free(b);
}

/* Double copies of a network's float weights (fixed in a check). */
typedef struct dcopy {
    dnet net;
    double *mem;
} dcopy;

static void dcopy_make(dcopy *c, const rmtl__mlp *m)
{
    size_t total = 0;
    for (size_t l = 0; l < m->n_lin; l++)
        total += (m->lin[l].in + 1) * m->lin[l].out;
    c->mem = malloc(total * sizeof *c->mem);
    c->net.m = m;
    double *at = c->mem;
    for (size_t l = 0; l < m->n_lin; l++) {
        const rmtl__linear *L = &m->lin[l];
        for (size_t i = 0; i < L->in * L->out; i++)
            at[i] = L->w->w[i];
        c->net.w[l] = at;
        at += L->in * L->out;
        for (size_t i = 0; i < L->out; i++)
            at[i] = L->b->w[i];
        c->net.b[l] = at;
        at += L->out;
    }
}

/* fd variables for every weight of a network, and the dnet reading them
 * from the checker's perturbed arrays v[first + 2l], v[first + 2l + 1]. */
static size_t net_vars(const rmtl__mlp *m, fd_var *vars, size_t first)
{
    for (size_t l = 0; l < m->n_lin; l++) {
        const rmtl__linear *L = &m->lin[l];
        vars[first + 2 * l] = (fd_var){L->w->name, L->w->w, L->in * L->out, L->w->g};
        vars[first + 2 * l + 1] = (fd_var){L->b->name, L->b->w, L->out, L->b->g};
    }
    return 2 * m->n_lin;
}

/* The unperturbed variables as the checker passes them. */
static double **vars_dup(const fd_var *vars, size_t nv)
{
    double **v = calloc(nv, sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t k = 0; k < nv; k++) {
        v[k] = calloc(vars[k].n + 1, sizeof **v);
        ck_assert_ptr_nonnull(v[k]);
        for (size_t i = 0; i < vars[k].n; i++)
            v[k][i] = vars[k].x[i];
    }
    return v;
}

static void vars_free(double **v, size_t nv)
{
    for (size_t k = 0; k < nv; k++)
        free(v[k]);
    free(v);
}

static dnet net_from(const rmtl__mlp *m, double *const *v, size_t first)
{
    dnet d = {m, {0}, {0}};
    for (size_t l = 0; l < m->n_lin; l++) {
        d.w[l] = v[first + 2 * l];
        d.b[l] = v[first + 2 * l + 1];
    }
    return d;
}

/* ---- the problem, fixed for a check --------------------------------- */

typedef struct prob {
    rmtl_fusion *f;
    fx_batch x;
    size_t B, nc, nn;       /* requests, current units, next units */
    size_t *c_row, *c_req;  /* current units: row, request */
    size_t *n_row, *n_req;  /* next units */
    double *xc, *xn;        /* actor input rows (in_act) of the units */
} prob;

/* Units as in train.c: every shown pair (pair granularity) or the first
 * row of each request (user granularity). */
static size_t units(const prob *p, const size_t *range, size_t *row, size_t *req)
{
    size_t k = 0;
    for (size_t r = 0; r < p->B; r++) {
        size_t s0 = range[2 * r], s1 = range[2 * r + 1];
        if (p->f->gran == RMTL_FUSION_USER && s1 > s0)
            s1 = s0 + 1;
        for (size_t j = s0; j < s1; j++, k++) {
            if (row) {
                row[k] = j;
                req[k] = r;
            }
        }
    }
    return k;
}

static double *input_rows(const prob *p, const size_t *row, size_t n)
{
    const rmtl_fusion *f = p->f;
    double *x = malloc((n * f->in_act + 1) * sizeof *x);
    float *tmp = malloc(f->in_act * sizeof *tmp);
    for (size_t k = 0; k < n; k++) {
        rmtl__fusion_state_row(f, p->x.state + row[k] * f->state_dim, p->x.scores + row[k] * f->T,
                               tmp);
        for (size_t i = 0; i < f->in_act; i++)
            x[k * f->in_act + i] = tmp[i];
    }
    free(tmp);
    return x;
}

static void prob_make(prob *p, const char *gran_cfg)
{
    p->f = fx_fusion(gran_cfg);
    fx_batch_make(&p->x, p->f, 2, 3, 3, 17); /* 6 requests of 3 pairs, 2 terminal */
    /* make the targets differ from the online networks */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rmtl_fusion_train_step(p->f, &p->x.b, NULL), RMTL_OK);
    /* biases away from 0, so that no unit sits on ReLU's kink (a unit
     * that was dead in training keeps a bias of exactly 0) */
    unsigned long long seed = 23;
    rmtl__params *lists[2] = {&p->f->actor_ps, &p->f->critic_ps};
    for (int l = 0; l < 2; l++)
        for (size_t k = 0; k < lists[l]->n; k++)
            if (lists[l]->p[k]->rows == 1)
                fd_fill_away(lists[l]->p[k]->w, lists[l]->p[k]->cols, 0.05f, 0.3f, &seed);
    p->B = p->x.b.requests;
    p->nc = units(p, p->x.rows, NULL, NULL);
    p->nn = units(p, p->x.next_rows, NULL, NULL);
    p->c_row = malloc((p->nc + 1) * sizeof(size_t));
    p->c_req = malloc((p->nc + 1) * sizeof(size_t));
    p->n_row = malloc((p->nn + 1) * sizeof(size_t));
    p->n_req = malloc((p->nn + 1) * sizeof(size_t));
    units(p, p->x.rows, p->c_row, p->c_req);
    units(p, p->x.next_rows, p->n_row, p->n_req);
    p->xc = input_rows(p, p->c_row, p->nc);
    p->xn = input_rows(p, p->n_row, p->nn);
}

static void prob_free(prob *p)
{
    free(p->c_row);
    free(p->c_req);
    free(p->n_row);
    free(p->n_req);
    free(p->xc);
    free(p->xn);
    fx_batch_free(&p->x);
    rmtl_fusion_free(p->f);
}

static void squash_d(const rmtl_fusion *f, const double *z, double *a)
{
    for (size_t k = 0; k < f->A; k++)
        a[k] = f->lo[k] + (f->hi[k] - f->lo[k]) * 0.5 * (tanh(z[k]) + 1.0);
}

static double penalty_d(const rmtl_fusion *f, const double *a, const float *lo, const float *hi,
                        size_t *outside)
{
    double d = 0;
    for (size_t k = 0; k < f->A; k++) {
        double dist = fmax(0.0, fmax(lo[k] - a[k], a[k] - hi[k]));
        if (dist > 0)
            ++*outside;
        d += exp(f->o.box_beta * dist) - 1.0;
    }
    return d;
}

static double discount_d(const rmtl_fusion *f, const double *a, const float *lo,
                         const float *hi)
{
    double s = 0;
    for (size_t k = 0; k < f->A; k++) {
        double dist = fmax(0.0, fmax(lo[k] - a[k], a[k] - hi[k]));
        s += dist * dist;
    }
    return exp(-f->o.box_beta * sqrt(s));
}

/* Q of n units: [x; a] rows through a critic. */
static void q_d(const dnet *c, const rmtl_fusion *f, size_t n, const double *x,
                const double *a, double *q)
{
    size_t C = f->in_crit;
    double *in = malloc(n * C * sizeof *in);
    for (size_t k = 0; k < n; k++) {
        memcpy(in + k * C, x + k * f->in_act, f->in_act * sizeof *in);
        memcpy(in + k * C + f->in_act, a + k * f->A, f->A * sizeof *in);
    }
    dnet_forward(c, n, in, q);
    free(in);
}

/* ---- critics ------------------------------------------------------------ */

typedef struct cctx {
    prob *p;
    double *y; /* G·M × B TD targets, from the target networks */
    double *ac; /* nc × A logged actions */
} cctx;

static double critic_f(double *const *v, void *vc)
{
    cctx *c = vc;
    rmtl_fusion *f = c->p->f;
    size_t B = c->p->B, nc = c->p->nc, per = 2 * f->critic[0].n_lin;
    double total = 0, *q = malloc(nc * sizeof *q), *sq = malloc(B * sizeof *sq);
    for (size_t i = 0; i < f->G * f->M; i++) {
        dnet d = net_from(&f->critic[i], v, i * per);
        q_d(&d, f, nc, c->p->xc, c->ac, q);
        memset(sq, 0, B * sizeof *sq);
        for (size_t k = 0; k < nc; k++)
            sq[c->p->c_req[k]] += q[k];
        for (size_t r = 0; r < B; r++)
            total += (sq[r] - c->y[i * B + r]) * (sq[r] - c->y[i * B + r]) / (double)B;
    }
    free(q);
    free(sq);
    return total;
}

static void check_critic_grad(const char *cfg)
{
    prob p;
    prob_make(&p, cfg);
    rmtl_fusion *f = p.f;
    size_t A = f->A, B = p.B, nq = f->G * f->M;
    /* a' = μ'(s') of the next units; give half of them a trust box around
     * a' (φ = 1) and leave the others' random boxes (mostly φ < 1) */
    dcopy at;
    dcopy_make(&at, &f->actor_t);
    double *zn = malloc((p.nn * A + 1) * sizeof *zn), *an = malloc((p.nn * A + 1) * sizeof *an);
    dnet_forward(&at.net, p.nn, p.xn, zn);
    for (size_t k = 0; k < p.nn; k++)
        squash_d(f, zn + k * A, an + k * A);
    for (size_t k = 0; k < p.nn; k += 2)
        for (size_t j = 0; j < A; j++) {
            p.x.box_lo[p.n_row[k] * A + j] = (float)(an[k * A + j] - 0.05);
            p.x.box_hi[p.n_row[k] * A + j] = (float)(an[k * A + j] + 0.05);
        }
    size_t inside = 0, outside = 0;
    double *phi = malloc((p.nn + 1) * sizeof *phi);
    for (size_t k = 0; k < p.nn; k++) {
        size_t row = p.n_row[k] * A;
        phi[k] = discount_d(f, an + k * A, p.x.box_lo + row, p.x.box_hi + row);
        inside += phi[k] == 1.0;
        outside += phi[k] < 0.999;
    }
    ck_assert_uint_gt(inside, 0);
    ck_assert_uint_gt(outside, 0);
    /* targets y = R_g + γ Σ φ Q'(s', a') from double copies */
    cctx c = {&p, malloc(nq * B * sizeof(double)), malloc(p.nc * A * sizeof(double))};
    for (size_t k = 0; k < p.nc; k++)
        for (size_t j = 0; j < A; j++)
            c.ac[k * A + j] = p.x.action[p.c_row[k] * A + j];
    double *qn = malloc((p.nn + 1) * sizeof *qn);
    size_t terminal = 0;
    for (size_t i = 0; i < nq; i++) {
        size_t g = i / f->M;
        for (size_t r = 0; r < B; r++) {
            double R = 0;
            for (size_t j = p.x.rows[2 * r]; j < p.x.rows[2 * r + 1]; j++)
                for (size_t k = 0; k < f->R; k++)
                    if (f->o.reward_group[k] == g)
                        R += f->o.reward_coef[k] * p.x.reward[j * f->R + k];
            c.y[i * B + r] = R;
            terminal += i == 0 && p.x.next_rows[2 * r] == p.x.next_rows[2 * r + 1];
        }
        dcopy ct;
        dcopy_make(&ct, &f->critic_t[i]);
        q_d(&ct.net, f, p.nn, p.xn, an, qn);
        for (size_t k = 0; k < p.nn; k++)
            c.y[i * B + p.n_req[k]] += f->o.gamma * phi[k] * qn[k];
        free(ct.mem);
    }
    ck_assert_uint_gt(terminal, 0);
    double loss = 0;
    ck_assert_int_eq(rmtl__fusion_check_batch(f, &p.x.b), 0);
    ck_assert_msg(rmtl__fusion_critic_grad(f, &p.x.b, &loss) == 0, "%s", rmtl_last_error());
    size_t per = 2 * f->critic[0].n_lin;
    fd_var *vars = calloc(nq * per, sizeof *vars);
    for (size_t i = 0; i < nq; i++)
        net_vars(&f->critic[i], vars, i * per);
    /* the value: the library's mean TD loss is the reference's sum / (q·m) */
    double **v = vars_dup(vars, nq * per);
    double ref = critic_f(v, &c) / (double)nq;
    ck_assert_double_eq_tol(loss, ref, 1e-4 * (1 + fabs(ref)));
    vars_free(v, nq * per);
    char worst[256];
    double err = fd_check(vars, nq * per, critic_f, &c, worst, sizeof worst);
    ck_assert_msg(err < FD_TOL, "critic gradient error %g at %s", err, worst);
    free(vars);
    free(qn);
    free(c.y);
    free(c.ac);
    free(phi);
    free(zn);
    free(an);
    free(at.mem);
    prob_free(&p);
}

START_TEST(test_critic_gradient_pair) { check_critic_grad(FX_SMALL_CFG_WITH("pair", " objective: pair,")); }
END_TEST

START_TEST(test_critic_gradient_user) { check_critic_grad(FX_SMALL_CFG_WITH("user", " objective: pair,")); }
END_TEST

/* ---- actor --------------------------------------------------------------- */

typedef struct actx {
    prob *p;
    dcopy *crit; /* G·M double copies of the critics */
    size_t outside, inside;
} actx;

static double actor_f(double *const *v, void *vc)
{
    actx *c = vc;
    prob *p = c->p;
    rmtl_fusion *f = p->f;
    size_t n = p->nc, A = f->A, M = f->M;
    dnet act = net_from(&f->actor, v, 0);
    double *z = malloc(n * A * sizeof *z), *a = malloc(n * A * sizeof *a);
    double *q = malloc(f->G * M * n * sizeof *q);
    dnet_forward(&act, n, p->xc, z);
    for (size_t k = 0; k < n; k++)
        squash_d(f, z + k * A, a + k * A);
    for (size_t i = 0; i < f->G * M; i++)
        q_d(&c->crit[i].net, f, n, p->xc, a, q + i * n);
    double L = 0;
    c->outside = 0;
    for (size_t k = 0; k < n; k++) {
        for (size_t g = 0; g < f->G; g++) {
            double mean = 0, var = 0;
            for (size_t m = 0; m < M; m++)
                mean += q[(g * M + m) * n + k] / (double)M;
            for (size_t m = 0; m < M; m++)
                var += pow(q[(g * M + m) * n + k] - mean, 2);
            L += -mean + f->o.kappa * sqrt(var / (double)M + 1e-8);
        }
        size_t row = p->c_row[k] * A;
        L += f->o.eta * penalty_d(f, a + k * A, p->x.box_lo + row, p->x.box_hi + row, &c->outside);
    }
    c->inside = n * A - c->outside;
    free(z);
    free(a);
    free(q);
    return L / (double)n;
}

static void check_actor_grad(const char *cfg)
{
    prob p;
    prob_make(&p, cfg);
    rmtl_fusion *f = p.f;
    size_t A = f->A, nq = f->G * f->M;
    actx c = {&p, calloc(nq, sizeof(dcopy)), 0, 0};
    for (size_t i = 0; i < nq; i++)
        dcopy_make(&c.crit[i], &f->critic[i]);
    /* keep every action at least 0.01 from its box's faces (the penalty
     * has a kink there): move boxes, some onto the action */
    dcopy ac;
    dcopy_make(&ac, &f->actor);
    double *z = malloc(p.nc * A * sizeof *z), *a = malloc(p.nc * A * sizeof *a);
    dnet_forward(&ac.net, p.nc, p.xc, z);
    for (size_t k = 0; k < p.nc; k++) {
        squash_d(f, z + k * A, a + k * A);
        for (size_t j = 0; j < A; j++) {
            size_t i = p.c_row[k] * A + j;
            if ((k + j) % 3 == 0) { /* inside */
                p.x.box_lo[i] = (float)(a[k * A + j] - 0.1);
                p.x.box_hi[i] = (float)(a[k * A + j] + 0.1);
            } else { /* outside, below or above */
                double d = ((k + j) % 3 == 1 ? 1 : -1) * (0.05 + 0.01 * (double)j);
                p.x.box_lo[i] = (float)(a[k * A + j] + d - 0.1);
                p.x.box_hi[i] = (float)(a[k * A + j] + d + 0.1);
                if (d > 0)
                    p.x.box_lo[i] = (float)(a[k * A + j] + d);
                else
                    p.x.box_hi[i] = (float)(a[k * A + j] + d);
            }
        }
    }
    double loss = 0;
    rmtl_fusion_stats st = RMTL_FUSION_STATS_INIT;
    ck_assert_msg(rmtl__fusion_actor_grad(f, &p.x.b, &loss, &st) == 0, "%s", rmtl_last_error());
    fd_var vars[2 * RMTL__FUSE_LAYERS_MAX];
    size_t nv = net_vars(&f->actor, vars, 0);
    char worst[256];
    double err = fd_check(vars, nv, actor_f, &c, worst, sizeof worst);
    ck_assert_msg(err < FD_TOL, "actor gradient error %g at %s", err, worst);
    /* the value too, and both penalty regimes were exercised */
    double **v = vars_dup(vars, nv);
    double ref = actor_f(v, &c);
    ck_assert_double_eq_tol(loss, ref, 1e-4 * (1 + fabs(ref)));
    ck_assert_uint_gt(c.outside, 0);
    ck_assert_uint_gt(c.inside, 0);
    ck_assert(st.penalty > 0 && st.q_std > 0);
    vars_free(v, nv);
    for (size_t i = 0; i < nq; i++)
        free(c.crit[i].mem);
    free(c.crit);
    free(ac.mem);
    free(z);
    free(a);
    prob_free(&p);
}

START_TEST(test_actor_gradient_pair) { check_actor_grad(FX_SMALL_CFG_WITH("pair", " objective: pair,")); }
END_TEST

START_TEST(test_actor_gradient_user) { check_actor_grad(FX_SMALL_CFG_WITH("user", " objective: pair,")); }
END_TEST

START_TEST(test_box_functions)
{
    const float lo[3] = {0, 0, 0}, hi[3] = {1, 1, 1};
    const float in[3] = {0.2f, 1.0f, 0.0f}, out[3] = {1.25f, -0.5f, 0.5f};
    float g[3] = {0, 0, 0};
    ck_assert_double_eq(rmtl__fusion_box_penalty(3, in, lo, hi, 5, g, 1), 0);
    ck_assert_double_eq(rmtl__fusion_box_discount(3, in, lo, hi, 5), 1);
    ck_assert(g[0] == 0 && g[1] == 0 && g[2] == 0);
    double d = rmtl__fusion_box_penalty(3, out, lo, hi, 2, g, 0.5f);
    ck_assert_double_eq_tol(d, (exp(2 * 0.25) - 1) + (exp(2 * 0.5) - 1), 1e-6);
    ck_assert_double_eq_tol(g[0], 0.5 * 2 * exp(0.5), 1e-6);
    ck_assert_double_eq_tol(g[1], -0.5 * 2 * exp(1.0), 1e-6);
    ck_assert_float_eq(g[2], 0);
    ck_assert_double_eq_tol(rmtl__fusion_box_discount(3, out, lo, hi, 2),
                            exp(-2 * sqrt(0.25 * 0.25 + 0.5 * 0.5)), 1e-7);
    /* β = 0: no penalty, no discount */
    ck_assert_double_eq(rmtl__fusion_box_penalty(3, out, lo, hi, 0, NULL, 1), 0);
    ck_assert_double_eq(rmtl__fusion_box_discount(3, out, lo, hi, 0), 1);
}
END_TEST

Suite *rmtl_test_fusion_grad_suite(void)
{
    Suite *s = suite_create("fusion_grad");
    TCase *tc = tcase_create("fusion_grad");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_box_functions);
    tcase_add_test(tc, test_critic_gradient_pair);
    tcase_add_test(tc, test_critic_gradient_user);
    tcase_add_test(tc, test_actor_gradient_pair);
    tcase_add_test(tc, test_actor_gradient_user);
    suite_add_tcase(s, tc);
    return s;
}
