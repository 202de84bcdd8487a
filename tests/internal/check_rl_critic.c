/* RMTL critics: the Q network against a double-precision reference
 * (values, finite-difference gradients of every parameter and the
 * action), the TD arithmetic against hand-computed numbers, a whole critic
 * update against the reference loss and gradient, the actor's
 * action-gradient, soft updates, and allocation failures. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "env/denv.h"
#include "mtl/fold.h"
#include "rl/critic.h"
#include "rl/replay.h"
#include "rl/td.h"
#include "util/fd.h"
#include "util/nnref.h"
#include "util/qref.h"

#define FD_TOL 1e-3
#define FWD_TOL 1e-5

static const size_t VOCAB[2] = {4, 3};
static const size_t BOTTOM[2] = {5, 4};
static const size_t TOWER[1] = {3};
static const qref_shape QS = {2, 2, 3, VOCAB, BOTTOM, 2, TOWER, 1};
/* The critics' input layout: the same 2 fields, 2 numerical values, 2 tasks. */
static char *TASKS[2] = {"ctr", "cvr"};
static const rmtl__layout LAY = {2, (size_t *)VOCAB, 2, 2, TASKS};

/* ids include 0 (unknown) and out-of-range values, which read row 0 */
static const int32_t CAT[5 * 2] = {1, 2, 3, 0, 0, 1, 7, -1, 2, 2};

static void fill_num(float *num, size_t n, unsigned long long *seed)
{
    fd_fill(num, n * 2, -1, 1, seed);
}

/* Non-zero biases, and a positive output bias so most rows have z > 0
 * (Q = −ReLU(z) would otherwise be flat). */
static void spread_biases(rmtl__qnet *q, unsigned long long *seed)
{
    for (size_t i = 0; i < q->ps.n; i++) {
        rmtl__param *p = q->ps.p[i];
        size_t len = strlen(p->name);
        if (len > 2 && !strcmp(p->name + len - 2, ".b"))
            fd_fill(p->w, p->cols, -0.3f, 0.3f, seed);
    }
    rmtl__params_find(&q->ps, "tower.out.b")->w[0] = 0.4f;
}

static double **dup_params(const rmtl__params *ps)
{
    double **v = calloc(ps->n, sizeof *v);
    for (size_t i = 0; i < ps->n; i++)
        v[i] = ref_dup(ps->p[i]->w, ps->p[i]->rows * ps->p[i]->cols);
    return v;
}

static void free_dups(double **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- the Q network ----------------------------------------------------------- */

typedef struct {
    size_t n, np;
    const double *num, *r;
} qf_ctx;

/* Σ r_i·Q_i; v[0..np) are the parameters, v[np] the actions. */
static double qnet_f(double *const *v, void *vc)
{
    const qf_ctx *c = vc;
    double *q = malloc(c->n * sizeof *q);
    qref_forward(&QS, v, c->n, CAT, c->num, v[c->np], 1, q);
    double s = ref_dot(c->n, c->r, q);
    free(q);
    return s;
}

static void init_qnet(rmtl__qnet *q, float dropout, uint64_t seed)
{
    rmtl__qnet_shape shape = {VOCAB, 2, 2, 3, BOTTOM, 2, TOWER, 1, dropout};
    rmtl__rng rng;
    rmtl__rng_seed(&rng, seed, RMTL__STREAM_INIT);
    ck_assert_int_eq(rmtl__qnet_init(q, &shape, &rng), 0);
}

/* The folded first bottom layer (mtl/fold.h) per loop index: none, both
 * fields, field 1 alone (vocabulary 3; field 0 keeps its product). */
static const size_t FOLD_VOCAB[3] = {0, SIZE_MAX, 3};

static void fold_qnet(rmtl__qnet *q, rmtl__ws *ws, int i)
{
    ck_assert_int_eq(rmtl__qnet_refold(q, &ws->rt, FOLD_VOCAB[i]), 0);
    ck_assert_int_eq(q->fold != NULL, i > 0);
    if (i)
        ck_assert_int_eq(q->fold->need_x0, i == 2);
}

START_TEST(test_qnet_gradients)
{
    const size_t n = 5;
    unsigned long long seed = 7;
    rmtl__qnet q;
    init_qnet(&q, 0.0f, 3);
    ck_assert_uint_eq(q.ps.n, qref_n_params(&QS));
    ck_assert_uint_eq(q.width, 4 * 3);
    spread_biases(&q, &seed);
    rmtl__ws ws;
    rmtl__ws_init(&ws, 1);
    fold_qnet(&q, &ws, _i);
    float num[10], a[5], r[5], qv[5], qp[5], da[5], da2[5];
    fill_num(num, n, &seed);
    fd_fill(a, n, 0, 1, &seed);
    fd_fill(r, n, -1, 1, &seed);
    ck_assert_int_eq(rmtl__qnet_forward(&q, &ws, n, CAT, 2, num, 2, a, 1, NULL, 0, qv), 0);
    ck_assert_int_eq(rmtl__qnet_backward(&q, &ws, r, da, 1, 1), 0);
    /* forward values against the reference; both signs of z occur */
    double **pv = dup_params(&q.ps);
    double *numd = ref_dup(num, 2 * n), *ad = ref_dup(a, n), *rd = ref_dup(r, n), qr[5];
    qref_forward(&QS, pv, n, CAT, numd, ad, 1, qr);
    int zero = 0, neg = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(fabs(qv[i] - qr[i]) < FWD_TOL, "row %zu: %g vs %g", i, qv[i], qr[i]);
        ck_assert(qv[i] <= 0.0f);
        zero += qv[i] == 0.0f;
        neg += qv[i] < 0.0f;
    }
    ck_assert_int_gt(neg, 2);
    /* predict gives the same numbers */
    rmtl__ws_reset(&ws);
    ck_assert_int_eq(rmtl__qnet_predict(&q, &ws, n, CAT, 2, num, 2, a, 1, qp), 0);
    ck_assert(memcmp(qv, qp, sizeof qv) == 0);
    /* finite differences over every parameter and the actions */
    size_t nv = q.ps.n + 1;
    fd_var *vars = calloc(nv, sizeof *vars);
    double **vv = calloc(nv, sizeof *vv);
    for (size_t i = 0; i < q.ps.n; i++) {
        rmtl__param *p = q.ps.p[i];
        vars[i] = (fd_var){p->name, p->w, p->rows * p->cols, p->g};
        vv[i] = pv[i];
    }
    vars[q.ps.n] = (fd_var){"action", a, n, da};
    qf_ctx c = {n, q.ps.n, numd, rd};
    char worst[256];
    double err = fd_check(vars, nv, qnet_f, &c, worst, sizeof worst);
    ck_assert_msg(err < FD_TOL, "critic gradient error %g at %s", err, worst);
    /* without parameter gradients: the same action gradient, no g touched */
    rmtl__params_zero_grad(&q.ps);
    rmtl__ws_reset(&ws);
    ck_assert_int_eq(rmtl__qnet_forward(&q, &ws, n, CAT, 2, num, 2, a, 1, NULL, 0, qv), 0);
    ck_assert_int_eq(rmtl__qnet_backward(&q, &ws, r, da2, 1, 0), 0);
    ck_assert(memcmp(da, da2, sizeof da) == 0);
    for (size_t i = 0; i < q.ps.n; i++) {
        rmtl__param *p = q.ps.p[i];
        ck_assert(!p->frozen);
        for (size_t k = 0; k < p->rows * p->cols; k++)
            ck_assert_float_eq(p->g[k], 0.0f);
    }
    if (_i) { /* the passes read the cache (a poked constant row shows) until it is stale */
        rmtl__fold *f = q.fold;
        for (size_t j = 0; j < f->width; j++)
            f->table[f->bias_row * f->width + j] += 1.0f;
        rmtl__ws_reset(&ws);
        ck_assert_int_eq(rmtl__qnet_predict(&q, &ws, n, CAT, 2, num, 2, a, 1, qp), 0);
        ck_assert(memcmp(qv, qp, sizeof qv) != 0);
        rmtl__ws_reset(&ws);
        ck_assert_int_eq(rmtl__qnet_forward(&q, &ws, n, CAT, 2, num, 2, a, 1, NULL, 0, qp), 0);
        ck_assert(memcmp(qv, qp, sizeof qv) != 0);
        q.ps.version++;
        rmtl__ws_reset(&ws);
        ck_assert_int_eq(rmtl__qnet_predict(&q, &ws, n, CAT, 2, num, 2, a, 1, qp), 0);
        for (size_t i = 0; i < n; i++)
            ck_assert(fabs(qp[i] - qr[i]) < FWD_TOL);
    }
    free(vars);
    free(vv);
    free_dups(pv, q.ps.n);
    free(numd), free(ad), free(rd);
    (void)zero;
    rmtl__ws_free(&ws);
    rmtl__qnet_free(&q);
}
END_TEST

START_TEST(test_qnet_dropout_and_state)
{
    rmtl__qnet q;
    init_qnet(&q, 0.5f, 4);
    unsigned long long seed = 9;
    spread_biases(&q, &seed);
    rmtl__ws ws;
    rmtl__ws_init(&ws, 1);
    fold_qnet(&q, &ws, _i);
    float num[10], a[5], q1[5], q2[5], dq[5] = {1, 1, 1, 1, 1};
    fill_num(num, 5, &seed);
    fd_fill(a, 5, 0, 1, &seed);
    /* backward before any forward is refused */
    ck_assert_int_eq(rmtl__qnet_backward(&q, &ws, dq, NULL, 0, 1), RMTL_ESTATE);
    rmtl__rng drop;
    rmtl__rng_seed(&drop, 1, RMTL__STREAM_DROPOUT);
    ck_assert_int_eq(rmtl__qnet_forward(&q, &ws, 5, CAT, 2, num, 2, a, 1, &drop, 0, q1), 0);
    ck_assert_int_eq(rmtl__qnet_predict(&q, &ws, 5, CAT, 2, num, 2, a, 1, q2), 0);
    ck_assert(memcmp(q1, q2, sizeof q1) != 0); /* training mode drops units */
    /* a NaN feature is refused by name */
    num[3] = NAN;
    ck_assert_int_eq(rmtl__qnet_predict(&q, &ws, 5, CAT, 2, num, 2, a, 1, q2), RMTL_ENUMERIC);
    ck_assert(strstr(rmtl_last_error(), "emb.num") != NULL);
    rmtl__ws_free(&ws);
    rmtl__qnet_free(&q);
}
END_TEST

START_TEST(test_qnet_load_embed)
{
    rmtl__qnet q;
    init_qnet(&q, 0.0f, 5);
    rmtl__params ps;
    rmtl__params_init(&ps);
    rmtl__rng rng;
    rmtl__rng_seed(&rng, 99, RMTL__STREAM_INIT);
    rmtl__embed e;
    ck_assert_int_eq(rmtl__embed_init(&e, &ps, "actor.emb", VOCAB, 2, 2, 3, &rng), 0);
    ck_assert_int_eq(rmtl__qnet_load_embed(&q, &e), 0);
    ck_assert(memcmp(q.emb.table->w, e.table->w, 7 * 3 * sizeof(float)) == 0);
    ck_assert(memcmp(q.emb.num.w->w, e.num.w->w, 2 * 3 * sizeof(float)) == 0);
    ck_assert(memcmp(q.emb.num.b->w, e.num.b->w, 3 * sizeof(float)) == 0);
    /* another vocabulary is refused and changes nothing */
    rmtl__embed e2;
    const size_t v2[2] = {4, 4};
    ck_assert_int_eq(rmtl__embed_init(&e2, &ps, "other", v2, 2, 2, 3, &rng), 0);
    float before = q.emb.table->w[0];
    ck_assert_int_eq(rmtl__qnet_load_embed(&q, &e2), RMTL_EINVAL);
    ck_assert(strstr(rmtl_last_error(), "input layer") != NULL);
    ck_assert_float_eq(q.emb.table->w[0], before);
    rmtl__embed_free(&e);
    rmtl__embed_free(&e2);
    rmtl__params_free(&ps);
    rmtl__qnet_free(&q);
}
END_TEST

/* ---- TD arithmetic -------------------------------------------------------------- */

START_TEST(test_rewards)
{
    enum { BCE = 0, ABS = 1 }; /* enum rmtl__reward; the reward is the env's (env/denv.h) */
    ck_assert(fabsf(rmtl__reward(BCE, 0.8f, 1.0f) - (-0.22314355f)) < 1e-6f);
    ck_assert(fabsf(rmtl__reward(BCE, 0.8f, 0.0f) - (-1.6094379f)) < 1e-6f);
    ck_assert(fabsf(rmtl__reward(BCE, 0.25f, 0.0f) - (-0.28768207f)) < 1e-6f);
    /* the logs' arguments are clamped at 1e-4: log(1e-4) = −9.2103404 */
    ck_assert(fabsf(rmtl__reward(BCE, 0.0f, 1.0f) - (-9.2103404f)) < 1e-5f);
    ck_assert(fabsf(rmtl__reward(BCE, 1.0f, 0.0f) - (-9.2103404f)) < 1e-5f);
    /* perfect predictions earn 0 */
    ck_assert_float_eq(rmtl__reward(BCE, 1.0f, 1.0f), 0.0f);
    ck_assert_float_eq(rmtl__reward(BCE, 0.0f, 0.0f), 0.0f);
    ck_assert(fabsf(rmtl__reward(ABS, 0.3f, 1.0f) - (-0.7f)) < 1e-7f);
    ck_assert(fabsf(rmtl__reward(ABS, 0.3f, 0.0f) - (-0.3f)) < 1e-7f);
}
END_TEST

START_TEST(test_td_target)
{
    /* rewards in column 1 of a 3-row × 2-task matrix */
    const float r[6] = {9, -0.5f, 9, -1.0f, 9, -0.25f};
    const uint8_t done[3] = {0, 1, 0};
    const float qt[3] = {-1.0f, -4.0f, -3.0f}, qc[3] = {-2.0f, -1.0f, -0.5f};
    float y[3];
    rmtl__td_target(3, r + 1, 2, done, qt, qc, 0.9, y);
    ck_assert(fabsf(y[0] - (-0.5f + 0.9f * -2.0f)) < 1e-6f); /* min picks Q */
    ck_assert_float_eq(y[1], -1.0f);                           /* done: no bootstrap */
    ck_assert(fabsf(y[2] - (-0.25f + 0.9f * -3.0f)) < 1e-6f); /* min picks Q' */
}
END_TEST

START_TEST(test_smoothing)
{
    const float a[4] = {0.1f, 0.5f, 0.9f, 0.0f};
    float out[4];
    rmtl__rng rng, copy;
    rmtl__rng_seed(&rng, 11, RMTL__STREAM_NOISE);
    copy = rng;
    /* small σ: never clipped, exactly a + σ·N */
    rmtl__smooth_actions(&rng, 4, a, 1, 1e-3, 0.5, out, 1);
    for (int i = 0; i < 4; i++) {
        double e = 1e-3 * rmtl__rng_normal(&copy);
        ck_assert_float_eq(out[i], (float)(a[i] + e));
    }
    /* huge σ: every draw is clipped to exactly ±c */
    rmtl__smooth_actions(&rng, 4, a, 1, 1e6, 0.5, out, 1);
    for (int i = 0; i < 4; i++) {
        double e = 1e6 * rmtl__rng_normal(&copy);
        ck_assert_float_eq(out[i], (float)(a[i] + (e > 0 ? 0.5 : -0.5)));
    }
    /* strided in and out (one task's column of a 2-task matrix) */
    float a2[4] = {0.2f, 0.7f, 0.3f, 0.6f}, o2[4] = {-1, -1, -1, -1};
    rmtl__smooth_actions(&rng, 2, a2 + 1, 2, 0.0, 0.5, o2 + 1, 2);
    ck_assert_float_eq(o2[1], 0.7f);
    ck_assert_float_eq(o2[3], 0.6f);
    ck_assert_float_eq(o2[0], -1.0f);
}
END_TEST

START_TEST(test_ips_weights)
{
    const float y[8] = {1, 0, 0, 0, 0, 0, 1, 0}; /* column 0 of 4 rows × 2 */
    float w[4];
    rmtl__ips_weights(4, y, 2, w); /* n_pos = 2: (5/3 + 5/2), 5/2 */
    ck_assert(fabsf(w[0] - 25.0f / 6.0f) < 1e-6f);
    ck_assert(fabsf(w[1] - 2.5f) < 1e-6f);
    ck_assert(fabsf(w[2] - 2.5f) < 1e-6f);
    ck_assert(fabsf(w[3] - 25.0f / 6.0f) < 1e-6f);
    const float all[3] = {1, 1, 1};
    rmtl__ips_weights(3, all, 1, w); /* n − n_pos = 0 reads as 1: 4/4 + 4/1 */
    for (int i = 0; i < 3; i++)
        ck_assert(fabsf(w[i] - 5.0f) < 1e-6f);
    const float none[2] = {0, 0};
    rmtl__ips_weights(2, none, 1, w); /* 3/2 each */
    ck_assert(fabsf(w[0] - 1.5f) < 1e-6f && fabsf(w[1] - 1.5f) < 1e-6f);
}
END_TEST

/* ---- the critic update ------------------------------------------------------------ */

static void test_hp(rmtl__rlhp *hp, int ips)
{
    rmtl_config *cfg;
    ck_assert_int_eq(rmtl_config_create(&cfg), 0);
    ck_assert_int_eq(rmtl_config_set(cfg, "rl.critic.bottom", "[5, 4]"), 0);
    ck_assert_int_eq(rmtl_config_set(cfg, "rl.critic.tower", "[3]"), 0);
    ck_assert_int_eq(rmtl_config_set_int(cfg, "model.embed_dim", 3), 0);
    ck_assert_int_eq(rmtl_config_set_double(cfg, "model.dropout", 0.0), 0);
    ck_assert_int_eq(rmtl_config_set_double(cfg, "rl.policy_noise", 0.0), 0);
    ck_assert_int_eq(rmtl_config_set_bool(cfg, "rl.ips", ips), 0);
    ck_assert_int_eq(rmtl_config_set_int(cfg, "runtime.threads", 1), 0);
    ck_assert_int_eq(rmtl__rlhp_from_config(hp, cfg), 0);
    rmtl_config_free(cfg);
}

/* n transitions of 2 tasks over the fixed CAT ids (s' uses them reversed). */
typedef struct {
    int32_t ncat[10];
    float num[10], nnum[10], act[10], rew[10], lab[10], next_a[10];
    uint8_t done[5];
    rmtl_transitions t;
} tbatch;

static void make_batch(tbatch *b, unsigned long long seed)
{
    for (int i = 0; i < 10; i++)
        b->ncat[i] = CAT[9 - i];
    fill_num(b->num, 5, &seed);
    fill_num(b->nnum, 5, &seed);
    fd_fill(b->act, 10, 0, 1, &seed);
    fd_fill(b->rew, 10, -2, 0, &seed);
    fd_fill(b->next_a, 10, 0, 1, &seed);
    const float lab[10] = {1, 0, 0, 0, 1, 1, 0, 0, 0, 1};
    memcpy(b->lab, lab, sizeof lab);
    const uint8_t done[5] = {0, 0, 1, 0, 1};
    memcpy(b->done, done, sizeof done);
    rmtl_transitions t = RMTL_TRANSITIONS_INIT;
    t.rows = 5;
    t.cat = CAT;
    t.num = b->num;
    t.action = b->act;
    t.next_cat = b->ncat;
    t.next_num = b->nnum;
    t.reward = b->rew;
    t.done = b->done;
    t.labels = b->lab;
    b->t = t;
}

typedef struct {
    size_t n, np, task;
    const tbatch *b;
    const double *num, *act, *y, *w;
} closs_ctx;

/* mean_i w_i·(Q(s_i, a_ik) − y_i)², y fixed */
static double closs_f(double *const *v, void *vc)
{
    const closs_ctx *c = vc;
    double q[5], s = 0.0;
    qref_forward(&QS, v, c->n, CAT, c->num, c->act + c->task, 2, q);
    for (size_t i = 0; i < c->n; i++)
        s += c->w[i] * (q[i] - c->y[i]) * (q[i] - c->y[i]);
    return s / (double)c->n;
}

static void check_critic_update(size_t task, int ips, int fold)
{
    rmtl__rlhp hp;
    test_hp(&hp, ips);
    rmtl_critic *c;
    ck_assert_int_eq(rmtl__critic_new(&c, &hp, &LAY, 3, task, NULL), 0);
    c->fold = fold;
    unsigned long long seed = 31 + task;
    spread_biases(&c->net, &seed);
    /* a target that differs from the critic, so min() has work to do */
    ck_assert_int_eq(rmtl__params_copy(&c->target.ps, &c->net.ps), 0);
    rmtl__params_find(&c->target.ps, "tower.out.b")->w[0] = 0.9f;
    tbatch b;
    make_batch(&b, 5 + task);
    ck_assert_int_eq(rmtl__transitions_check(&b.t, 2, 2, 2, "test"), 0);
    /* the reference, from the weights before the step */
    double **pv = dup_params(&c->net.ps), **tv = dup_params(&c->target.ps);
    double *num = ref_dup(b.num, 10), *nnum = ref_dup(b.nnum, 10), *act = ref_dup(b.act, 10);
    double *na = ref_dup(b.next_a, 10);
    double qt[5], qc[5], y[5], w[5];
    int32_t ncat[10];
    memcpy(ncat, b.ncat, sizeof ncat);
    qref_forward(&QS, tv, 5, ncat, nnum, na + task, 2, qt);
    qref_forward(&QS, pv, 5, ncat, nnum, na + task, 2, qc);
    double npos = 0;
    for (int i = 0; i < 5; i++)
        npos += b.lab[2 * i + task];
    for (int i = 0; i < 5; i++) {
        double m = fmin(qt[i], qc[i]);
        y[i] = b.rew[2 * i + task] + (b.done[i] ? 0.0 : 0.9 * m);
        w[i] = ips ? b.lab[2 * i + task] * 6.0 / (npos + 1) + 6.0 / (5 - npos) : 1.0;
    }
    closs_ctx cc = {5, c->net.ps.n, task, &b, num, act, y, w};
    double want = closs_f(pv, &cc), loss = -1;
    /* the step keeps the gradients it applied (nn/adam.h) */
    rmtl__param *out_b = rmtl__params_find(&c->net.ps, "tower.out.b");
    float ob = out_b->w[0];
    ck_assert_int_eq(rmtl__critic_update_from(c, &b.t, b.next_a, 2, &loss), 0);
    ck_assert_msg(fabs(loss - want) < 1e-5 * fmax(1, fabs(want)), "loss %g, reference %g", loss,
                  want);
    ck_assert_uint_eq(c->updates, 1);
    ck_assert(out_b->w[0] != ob); /* Adam moved the weights */
    /* gradient at the old weights: put them back for the checker */
    fd_var *vars = calloc(c->net.ps.n, sizeof *vars);
    float **old = calloc(c->net.ps.n, sizeof *old);
    for (size_t i = 0; i < c->net.ps.n; i++) {
        rmtl__param *p = c->net.ps.p[i];
        size_t len = p->rows * p->cols;
        old[i] = malloc(len * sizeof(float));
        for (size_t k = 0; k < len; k++)
            old[i][k] = (float)pv[i][k];
        vars[i] = (fd_var){p->name, old[i], len, p->g};
    }
    char worst[256];
    double err = fd_check(vars, c->net.ps.n, closs_f, &cc, worst, sizeof worst);
    ck_assert_msg(err < FD_TOL, "critic loss gradient error %g at %s", err, worst);
    for (size_t i = 0; i < c->net.ps.n; i++)
        free(old[i]);
    free(old), free(vars);
    free_dups(pv, c->net.ps.n);
    free_dups(tv, c->target.ps.n);
    free(num), free(nnum), free(act), free(na);
    rmtl_critic_free(c);
}

START_TEST(test_critic_update)
{
    /* _i: RMTL__FOLD_AUTO, _OFF, _ALL (the batch of 5 folds both fields) */
    check_critic_update(0, 0, _i);
    check_critic_update(1, 1, _i);
}
END_TEST

typedef struct {
    size_t n, np;
    const double *num, *w;
} agrad_ctx;

/* −(1/n)·Σ w_i·Q(s_i, π_i): the actor's loss term of one task */
static double agrad_f(double *const *v, void *vc)
{
    const agrad_ctx *c = vc;
    double q[5], s = 0.0;
    qref_forward(&QS, v, c->n, CAT, c->num, v[c->np], 1, q);
    for (size_t i = 0; i < c->n; i++)
        s -= c->w[i] * q[i];
    return s / (double)c->n;
}

START_TEST(test_critic_action_grad)
{
    rmtl__rlhp hp;
    test_hp(&hp, 0);
    rmtl_critic *c;
    ck_assert_int_eq(rmtl__critic_new(&c, &hp, &LAY, 3, 1, NULL), 0);
    c->fold = _i;
    unsigned long long seed = 77;
    spread_biases(&c->net, &seed);
    float num[10], pi[10], w[10], g[10] = {0};
    fill_num(num, 5, &seed);
    fd_fill(pi, 10, 0, 1, &seed);
    fd_fill(w, 10, 0.5f, 3, &seed);
    double qsum;
    /* π and w of task 1 are column 1 of 5 × 2 matrices; so is the gradient */
    ck_assert_int_eq(rmtl__critic_action_grad(c, 5, CAT, num, pi + 1, 2, w + 1, 2, g + 1, 2,
                                              &qsum),
                     0);
    for (size_t i = 0; i < c->net.ps.n; i++) /* the critic learns nothing here */
        for (size_t k = 0; k < c->net.ps.p[i]->rows * c->net.ps.p[i]->cols; k++)
            ck_assert_float_eq(c->net.ps.p[i]->g[k], 0.0f);
    double **pv = dup_params(&c->net.ps);
    double *numd = ref_dup(num, 10), wd[5], pid[5], q[5], qs = 0;
    for (int i = 0; i < 5; i++) {
        wd[i] = w[2 * i + 1];
        pid[i] = pi[2 * i + 1];
    }
    qref_forward(&QS, pv, 5, CAT, numd, pid, 1, q);
    for (int i = 0; i < 5; i++)
        qs += wd[i] * q[i];
    ck_assert(fabs(qsum - qs) < 1e-5);
    size_t np = c->net.ps.n;
    double **vv = calloc(np + 1, sizeof *vv);
    memcpy(vv, pv, np * sizeof *vv);
    fd_var *vars = calloc(np + 1, sizeof *vars);
    for (size_t i = 0; i < np; i++)
        vars[i] = (fd_var){c->net.ps.p[i]->name, c->net.ps.p[i]->w,
                           c->net.ps.p[i]->rows * c->net.ps.p[i]->cols, NULL};
    float pic[5], gc[5];
    for (int i = 0; i < 5; i++) {
        pic[i] = pi[2 * i + 1];
        gc[i] = g[2 * i + 1];
        ck_assert_float_eq(g[2 * i], 0.0f); /* the other column is untouched */
    }
    vars[np] = (fd_var){"pi", pic, 5, gc};
    agrad_ctx ac = {5, np, numd, wd};
    char worst[256];
    double err = fd_check(vars, np + 1, agrad_f, &ac, worst, sizeof worst);
    ck_assert_msg(err < FD_TOL, "action gradient error %g at %s", err, worst);
    free(vv), free(vars), free(numd);
    free_dups(pv, np);
    rmtl_critic_free(c);
}
END_TEST

/* The caches follow the weights: the critic's is rebuilt after its own
 * step, the target's is kept until a soft update moves the target; and
 * the folded critic trains like the exact one up to rounding. */
START_TEST(test_critic_fold_cache)
{
    rmtl__rlhp hp;
    test_hp(&hp, 0);
    rmtl_critic *c[2];
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(rmtl__critic_new(&c[k], &hp, &LAY, 3, 0, NULL), 0);
        c[k]->fold = k ? RMTL__FOLD_ALL : RMTL__FOLD_OFF;
    }
    tbatch b;
    make_batch(&b, 17);
    const rmtl__fold *tf = NULL;
    const float *net_table = NULL, *target_table = NULL;
    for (int step = 0; step < 4; step++) {
        double l[2];
        for (int k = 0; k < 2; k++)
            ck_assert_int_eq(rmtl__critic_update_from(c[k], &b.t, b.next_a, 2, &l[k]), 0);
        ck_assert_msg(fabs(l[0] - l[1]) <= 1e-5 * fabs(l[0]), "step %d: loss %.9g folded, %.9g "
                      "exact", step, l[1], l[0]);
        ck_assert_ptr_null(c[0]->net.fold);
        ck_assert_ptr_null(c[0]->target.fold);
        /* every field folded and grouped: no embedded input was built */
        ck_assert_ptr_nonnull(c[0]->net.x);
        ck_assert_ptr_null(c[1]->net.x);
        /* built before the step, so stale after it */
        ck_assert_ptr_nonnull(c[1]->net.fold);
        ck_assert_uint_ne(c[1]->net.fold->version, c[1]->net.ps.version);
        const rmtl__fold *t = c[1]->target.fold;
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_eq(t->version, c[1]->target.ps.version);
        if (step == 1)
            ck_assert_ptr_eq(t, tf); /* no soft update in between: kept */
        tf = t;
        /* a rebuild reuses the old table's memory (no fresh pages) */
        if (step > 0)
            ck_assert_ptr_eq(c[1]->net.fold->table, net_table);
        if (step == 2)
            ck_assert_ptr_eq(t->table, target_table);
        net_table = c[1]->net.fold->table;
        target_table = t->table;
        if (step == 1)
            for (int k = 0; k < 2; k++)
                ck_assert_int_eq(rmtl_critic_soft_update(c[k]), 0);
    }
    for (size_t i = 0; i < c[0]->net.ps.n; i++) {
        const rmtl__param *p = c[0]->net.ps.p[i], *q = c[1]->net.ps.p[i];
        for (size_t j = 0; j < p->rows * p->cols; j++)
            ck_assert_msg(fabsf(p->w[j] - q->w[j]) <= 1e-5f, "%s[%zu]: %.9g exact, %.9g folded",
                          p->name, j, (double)p->w[j], (double)q->w[j]);
    }
    for (int k = 0; k < 2; k++)
        rmtl_critic_free(c[k]);
}
END_TEST

START_TEST(test_critic_alloc_failures)
{
    rmtl__rlhp hp;
    test_hp(&hp, 1);
    tbatch b;
    make_batch(&b, 3);
    int rc = -1;
    size_t k;
    for (k = 1; k < 1000; k++) {
        rmtl_critic *c = NULL;
        rmtl__alloc_fail_after(k);
        rc = rmtl__critic_new(&c, &hp, &LAY, 3, 0, NULL);
        if (rc == 0) {
            double loss;
            rc = rmtl__critic_update_from(c, &b.t, b.next_a, 2, &loss);
        }
        rmtl__alloc_fail_after(0);
        if (rc)
            ck_assert_int_eq(rc, RMTL_ENOMEM);
        rmtl_critic_free(c);
        if (rc == 0)
            break;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_gt(k, 10);
}
END_TEST

Suite *rmtl_test_rl_critic_suite(void)
{
    Suite *s = suite_create("rl_critic");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_qnet_gradients, 0, 3);
    tcase_add_loop_test(tc, test_qnet_dropout_and_state, 0, 3);
    tcase_add_test(tc, test_qnet_load_embed);
    tcase_add_test(tc, test_rewards);
    tcase_add_test(tc, test_td_target);
    tcase_add_test(tc, test_smoothing);
    tcase_add_test(tc, test_ips_weights);
    tcase_add_loop_test(tc, test_critic_update, RMTL__FOLD_AUTO, RMTL__FOLD_ALL + 1);
    tcase_add_loop_test(tc, test_critic_action_grad, RMTL__FOLD_AUTO, RMTL__FOLD_ALL + 1);
    tcase_add_test(tc, test_critic_fold_cache);
    tcase_add_test(tc, test_critic_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}
