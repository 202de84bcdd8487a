/* Training machinery of the neural core: Adam (dense and lazy sparse),
 * determinism, allocation-free steps, the numeric guard, failure paths,
 * parameter-list operations and the workspace. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "nn/adam.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/gate.h"
#include "nn/loss.h"
#include "nn/mlp.h"
#include "nn/ws.h"
#include "util/fd.h"
#include "util/slow.h"

/* ---- a small model trained end to end -------------------------------------- */

enum { TOY_F = 2, TOY_NUM = 3, TOY_E = 8, TOY_MAXB = 96 };

typedef struct toy {
    rmtl__params ps;
    rmtl__embed emb;
    rmtl__mlp mlp;
    rmtl__adam opt;
    rmtl__ws ws;
    rmtl__rng drop;
    int32_t cat[TOY_MAXB * TOY_F];
    float num[TOY_MAXB * TOY_NUM], label[TOY_MAXB];
} toy;

static void toy_free(toy *t)
{
    rmtl__mlp_free(&t->mlp);
    rmtl__embed_free(&t->emb);
    rmtl__ws_free(&t->ws);
    rmtl__params_free(&t->ps);
}

static int toy_init(toy *t, int threads, uint64_t seed)
{
    static const size_t vocab[TOY_F] = {50, 30}, widths[2] = {32, 16};
    memset(t, 0, sizeof *t);
    rmtl__params_init(&t->ps);
    rmtl__ws_init(&t->ws, threads);
    rmtl__rng init;
    rmtl__rng_seed(&init, seed, RMTL__STREAM_INIT);
    rmtl__rng_seed(&t->drop, seed, RMTL__STREAM_DROPOUT);
    rmtl__adam_init(&t->opt, 1e-2, 1e-6);
    int rc = rmtl__embed_init(&t->emb, &t->ps, "toy.emb", vocab, TOY_F, TOY_NUM, TOY_E, &init);
    if (!rc)
        rc = rmtl__mlp_init(&t->mlp, &t->ps, "toy.mlp", rmtl__embed_width(&t->emb), widths, 2,
                            1, 0.2f, &init);
    rmtl__rng data;
    rmtl__rng_seed(&data, 1234, RMTL__STREAM_SAMPLE);
    for (size_t i = 0; i < TOY_MAXB; i++) {
        for (size_t f = 0; f < TOY_F; f++)
            t->cat[i * TOY_F + f] = (int32_t)rmtl__rng_below(&data, vocab[f] / 2);
        for (size_t k = 0; k < TOY_NUM; k++)
            t->num[i * TOY_NUM + k] = (float)rmtl__rng_normal(&data);
        t->label[i] = (float)(t->cat[i * TOY_F] % 3 == 0 || t->num[i * TOY_NUM] > 0.5f);
    }
    return rc;
}

/* One training step on the first n rows: forward, BCE on logits,
 * backward, Adam, zero_grad. */
static int toy_step(toy *t, size_t n, double *loss)
{
    rmtl__ws *ws = &t->ws;
    rmtl__ws_reset(ws);
    size_t d0 = rmtl__embed_width(&t->emb);
    float *x = rmtl__ws_alloc(ws, n * d0), *dx = rmtl__ws_alloc(ws, n * d0);
    float *dz = rmtl__ws_alloc(ws, n);
    if (!x || !dx || !dz)
        return RMTL_ENOMEM;
    const float *z;
    int rc = rmtl__embed_forward(&t->emb, &ws->rt, n, t->cat, TOY_F, t->num, TOY_NUM, x, d0);
    if (!rc)
        rc = rmtl__mlp_forward(&t->mlp, ws, n, x, d0, &t->drop, &z);
    if (!rc)
        rc = rmtl__loss_bce_logits(loss, "toy", n, z, t->label, NULL, 1, 1.0, dz);
    if (!rc)
        rc = rmtl__mlp_backward(&t->mlp, ws, dz, 1, dx, d0, 0);
    if (!rc)
        rc = rmtl__embed_backward(&t->emb, &ws->rt, n, t->cat, TOY_F, t->num, TOY_NUM, dx, d0);
    if (!rc)
        rc = rmtl__adam_step(&t->opt, NULL, &t->ps, NULL);
    rmtl__params_zero_grad(&t->ps);
    return rc;
}

/* All weights, concatenated (caller frees). */
static float *toy_weights(const toy *t, size_t *len)
{
    *len = rmtl__params_size(&t->ps);
    float *w = malloc(*len * sizeof *w), *p = w;
    for (size_t i = 0; i < t->ps.n; i++) {
        size_t k = t->ps.p[i]->rows * t->ps.p[i]->cols;
        memcpy(p, t->ps.p[i]->w, k * sizeof *p);
        p += k;
    }
    return w;
}

static float *toy_train(int threads, int steps, size_t *len, double *first, double *last)
{
    toy t;
    ck_assert_int_eq(toy_init(&t, threads, 99), 0);
    for (int s = 0; s < steps; s++) {
        double loss;
        ck_assert_int_eq(toy_step(&t, 64, &loss), 0);
        if (s == 0)
            *first = loss;
        *last = loss;
    }
    float *w = toy_weights(&t, len);
    toy_free(&t);
    return w;
}

START_TEST(test_determinism)
{
    size_t len1, len2, len3, len4, len0;
    double f1, l1, f2, l2, f3, l3;
    float *a = toy_train(1, 100, &len1, &f1, &l1), *b = toy_train(1, 100, &len2, &f2, &l2);
    ck_assert_uint_eq(len1, len2);
    ck_assert_msg(memcmp(a, b, len1 * sizeof *a) == 0, "1 thread: runs differ");
    ck_assert_msg(l1 < 0.8 * f1, "did not learn: loss %g → %g", f1, l1);
    float *c = toy_train(2, 100, &len3, &f3, &l3), *d = toy_train(2, 100, &len4, &f3, &l3);
    ck_assert_msg(memcmp(c, d, len3 * sizeof *c) == 0, "2 threads: runs differ");
    /* and training moved the weights */
    float *init = toy_train(1, 0, &len0, &f3, &l3);
    ck_assert(memcmp(a, init, len0 * sizeof *a) != 0);
    free(a), free(b), free(c), free(d), free(init);
}
END_TEST

START_TEST(test_no_allocation_in_steps)
{
    toy t;
    double loss;
    ck_assert_int_eq(toy_init(&t, 2, 5), 0);
    ck_assert_int_eq(toy_step(&t, 64, &loss), 0);
    rmtl__alloc_fail_after(0);
    for (int s = 2; s <= 20; s++)
        ck_assert_int_eq(toy_step(&t, 64, &loss), 0);
    ck_assert_uint_eq(rmtl__alloc_fail_after(0), 0);
    /* smaller batches fit in what is there */
    ck_assert_int_eq(toy_step(&t, 17, &loss), 0);
    ck_assert_uint_eq(rmtl__alloc_fail_after(0), 0);
    /* a larger batch grows the workspace once, then steps are free again */
    ck_assert_int_eq(toy_step(&t, 96, &loss), 0);
    ck_assert_uint_gt(rmtl__alloc_fail_after(0), 0);
    for (int s = 0; s < 5; s++)
        ck_assert_int_eq(toy_step(&t, 96, &loss), 0);
    ck_assert_uint_eq(rmtl__alloc_fail_after(0), 0);
    toy_free(&t);
}
END_TEST

/* ---- Adam ------------------------------------------------------------------ */

START_TEST(test_adam_reference)
{
    rmtl__params ps;
    rmtl__params_init(&ps);
    rmtl__param *p;
    ck_assert_int_eq(rmtl__params_add(&ps, &p, "p.w", 1, 3, 0), 0);
    const float w0[3] = {0.5f, -1.0f, 2.0f}, g1[3] = {0.1f, -0.2f, 0.3f};
    const float g2[3] = {-0.05f, 0.4f, 0.0f};
    memcpy(p->w, w0, sizeof w0);
    rmtl__adam opt;
    rmtl__adam_init(&opt, 0.01, 0.1);
    memcpy(p->g, g1, sizeof g1);
    double norm;
    ck_assert_int_eq(rmtl__adam_step(&opt, NULL, &ps, &norm), 0);
    ck_assert(fabs(norm - sqrt(0.01 + 0.04 + 0.09)) < 1e-7);
    /* Step 1 by hand: g' = g + 0.1·w = (0.15, −0.3, 0.5); m̂ = g', v̂ = g'², so
     * each weight moves by lr·sign(g') = 0.01 (ε is negligible). */
    const double s1[3] = {0.49, -0.99, 1.99};
    for (int i = 0; i < 3; i++)
        ck_assert_msg(fabs(p->w[i] - s1[i]) < 1e-6, "step 1 w[%d] = %.9g", i, p->w[i]);
    /* Step 2 from the formula in double (m = 0.9m + 0.1g', v = 0.999v +
     * 0.001g'², w −= 0.01/(1−0.9²)·m/(sqrt(v)/sqrt(1−0.999²) + 1e-8)). */
    memcpy(p->g, g2, sizeof g2);
    ck_assert_int_eq(rmtl__adam_step(&opt, NULL, &ps, NULL), 0);
    const double w2[3] = {0.483349201, -0.990542954, 1.98102189};
    const double m2[3] = {0.0134, 0.0031, 0.0649};
    const double v2[3] = {2.24785e-05, 0.000180511, 0.000289351};
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(fabs(p->w[i] - w2[i]) < 2e-6, "step 2 w[%d] = %.9g", i, p->w[i]);
        ck_assert(fabs(p->m[i] - m2[i]) < 1e-6 * 0.07);
        ck_assert_msg(fabs(p->v[i] - v2[i]) < 1e-5 * v2[i], "v[%d] = %.9g", i, p->v[i]);
    }
    ck_assert_uint_eq(opt.t, 2);
    rmtl__params_free(&ps);
}
END_TEST

START_TEST(test_adam_clip_and_frozen)
{
    rmtl__params a, b;
    rmtl__params_init(&a);
    rmtl__params_init(&b);
    rmtl__param *pa, *pb, *fa;
    ck_assert_int_eq(rmtl__params_add(&a, &pa, "x.w", 2, 3, 0), 0);
    ck_assert_int_eq(rmtl__params_add(&a, &fa, "frozen.w", 1, 2, 0), 0);
    ck_assert_int_eq(rmtl__params_add(&b, &pb, "x.w", 2, 3, 0), 0);
    unsigned long long seed = 1;
    fd_fill(pa->w, 6, -1, 1, &seed);
    memcpy(pb->w, pa->w, 6 * sizeof(float));
    fd_fill(pa->g, 6, -3, 3, &seed);
    fa->g[0] = 5.0f; /* a frozen parameter's gradient counts for nothing */
    fa->frozen = 1;
    double norm = 0;
    for (int i = 0; i < 6; i++)
        norm += (double)pa->g[i] * pa->g[i];
    norm = sqrt(norm);
    float c = (float)(0.5 / (norm + 1e-6));
    for (int i = 0; i < 6; i++)
        pb->g[i] = c * pa->g[i];
    rmtl__adam oa, ob;
    rmtl__adam_init(&oa, 0.1, 0.0);
    rmtl__adam_init(&ob, 0.1, 0.0);
    oa.clip_norm = 0.5;
    for (int s = 0; s < 3; s++) {
        double got;
        ck_assert_int_eq(rmtl__adam_step(&oa, NULL, &a, &got), 0);
        ck_assert(fabs(got - norm) < 1e-6 * norm);
        ck_assert_int_eq(rmtl__adam_step(&ob, NULL, &b, NULL), 0);
        for (int i = 0; i < 6; i++)
            ck_assert_float_eq_tol(pa->w[i], pb->w[i], 1e-6f);
    }
    ck_assert(fa->w[0] == 0.0f && fa->m == NULL);
    rmtl__params_free(&a);
    rmtl__params_free(&b);
}
END_TEST

START_TEST(test_lazy_adam_touches_only_rows_used)
{
    rmtl__params ps;
    rmtl__params_init(&ps);
    rmtl__param *t;
    ck_assert_int_eq(rmtl__params_add(&ps, &t, "emb.table", 10, 4, 1), 0);
    unsigned long long seed = 2;
    fd_fill(t->w, 40, -1, 1, &seed);
    float before[40];
    memcpy(before, t->w, sizeof before);
    rmtl__adam opt;
    rmtl__adam_init(&opt, 0.01, 1e-6);
    /* step 1 touches rows 2 and 5 */
    for (size_t r = 2; r <= 5; r += 3) {
        rmtl__param_touch(t, r);
        rmtl__param_touch(t, r); /* listed once */
        for (int j = 0; j < 4; j++)
            t->g[r * 4 + j] = 0.5f - (float)j * 0.3f;
    }
    ck_assert_uint_eq(t->n_touched, 2);
    ck_assert_int_eq(rmtl__adam_step(&opt, NULL, &ps, NULL), 0);
    for (size_t r = 0; r < 10; r++) {
        int used = r == 2 || r == 5;
        ck_assert_int_eq(memcmp(t->w + r * 4, before + r * 4, 16) != 0, used);
        for (int j = 0; j < 4; j++)
            ck_assert(used || (t->m[r * 4 + j] == 0.0f && t->v[r * 4 + j] == 0.0f));
    }
    rmtl__params_zero_grad(&ps);
    ck_assert_uint_eq(t->n_touched, 0);
    /* step 2 touches row 7 only: rows 2 and 5 keep weights and moments even
     * though their moments are non-zero (dense Adam would move them) */
    float after1[40], m1[40];
    memcpy(after1, t->w, sizeof after1);
    memcpy(m1, t->m, sizeof m1);
    rmtl__param_touch(t, 7);
    t->g[7 * 4] = 1.0f;
    ck_assert_int_eq(rmtl__adam_step(&opt, NULL, &ps, NULL), 0);
    for (size_t r = 0; r < 10; r++) {
        int used = r == 7;
        ck_assert_int_eq(memcmp(t->w + r * 4, after1 + r * 4, 16) != 0, used);
        ck_assert_int_eq(memcmp(t->m + r * 4, m1 + r * 4, 16) != 0, used);
    }
    rmtl__params_free(&ps);
}
END_TEST

/* ---- numeric guard ------------------------------------------------------------ */

/* Every weight and Adam moment of the list, for before/after comparisons. */
static float *snapshot(const rmtl__params *ps, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->n; i++)
        n += 3 * ps->p[i]->rows * ps->p[i]->cols;
    float *s = calloc(n, sizeof *s), *q = s;
    for (size_t i = 0; i < ps->n; i++) {
        size_t k = ps->p[i]->rows * ps->p[i]->cols;
        memcpy(q, ps->p[i]->w, k * sizeof *q);
        if (ps->p[i]->m) {
            memcpy(q + k, ps->p[i]->m, k * sizeof *q);
            memcpy(q + 2 * k, ps->p[i]->v, k * sizeof *q);
        }
        q += 3 * k;
    }
    *len = n;
    return s;
}

START_TEST(test_guard_input)
{
    toy t;
    double loss;
    ck_assert_int_eq(toy_init(&t, 1, 3), 0);
    ck_assert_int_eq(toy_step(&t, 32, &loss), 0);
    size_t n0, n1;
    float *before = snapshot(&t.ps, &n0);
    t.num[5 * TOY_NUM + 1] = NAN;
    ck_assert_int_eq(toy_step(&t, 32, &loss), RMTL_ENUMERIC);
    ck_assert_str_eq(rmtl_last_error(), "layer 'toy.emb.num': non-finite input");
    float *after = snapshot(&t.ps, &n1);
    ck_assert(memcmp(before, after, n0 * sizeof *before) == 0);
    t.num[5 * TOY_NUM + 1] = INFINITY;
    ck_assert_int_eq(toy_step(&t, 32, &loss), RMTL_ENUMERIC);
    ck_assert_str_eq(rmtl_last_error(), "layer 'toy.emb.num': non-finite input");
    t.num[5 * TOY_NUM + 1] = 0.0f;
    ck_assert_int_eq(toy_step(&t, 32, &loss), 0); /* recovers */
    free(before), free(after);
    toy_free(&t);
}
END_TEST

START_TEST(test_guard_gradient)
{
    toy t;
    double loss;
    ck_assert_int_eq(toy_init(&t, 1, 4), 0);
    ck_assert_int_eq(toy_step(&t, 32, &loss), 0);
    size_t n0, n1;
    float *before = snapshot(&t.ps, &n0);
    uint64_t steps = t.opt.t;
    /* a NaN in one gradient: the step refuses before touching anything */
    rmtl__param *p = rmtl__params_find(&t.ps, "toy.mlp.1.w");
    ck_assert_ptr_nonnull(p);
    p->g[7] = NAN;
    ck_assert_int_eq(rmtl__adam_step(&t.opt, NULL, &t.ps, NULL), RMTL_ENUMERIC);
    ck_assert_str_eq(rmtl_last_error(), "layer 'toy.mlp.1': non-finite gradient");
    float *after = snapshot(&t.ps, &n1);
    ck_assert(memcmp(before, after, n0 * sizeof *before) == 0);
    ck_assert_uint_eq(t.opt.t, steps);
    free(after);
    rmtl__params_zero_grad(&t.ps);
    /* the same for an embedding row */
    rmtl__param *tab = t.emb.table;
    rmtl__param_touch(tab, 3);
    tab->g[3 * TOY_E + 1] = -INFINITY;
    ck_assert_int_eq(rmtl__adam_step(&t.opt, NULL, &t.ps, NULL), RMTL_ENUMERIC);
    ck_assert_str_eq(rmtl_last_error(), "layer 'toy.emb': non-finite gradient");
    after = snapshot(&t.ps, &n1);
    ck_assert(memcmp(before, after, n0 * sizeof *before) == 0);
    free(after);
    rmtl__params_zero_grad(&t.ps);
    /* a non-finite upstream gradient is caught by the layer it enters */
    size_t n = 4, d0 = rmtl__embed_width(&t.emb);
    float *dy = calloc(n * d0, sizeof *dy);
    dy[2 * d0 + 1] = NAN;
    ck_assert_int_eq(rmtl__embed_backward(&t.emb, &t.ws.rt, n, t.cat, TOY_F, t.num, TOY_NUM, dy,
                                          d0),
                     RMTL_ENUMERIC);
    ck_assert_str_eq(rmtl_last_error(), "layer 'toy.emb': non-finite gradient");
    ck_assert_uint_eq(tab->n_touched, 0);
    dy[2 * d0 + 1] = 0.0f;
    dy[3 * d0 + d0 - 1] = INFINITY; /* in the numerical field */
    ck_assert_int_eq(rmtl__embed_backward(&t.emb, &t.ws.rt, n, t.cat, TOY_F, t.num, TOY_NUM, dy,
                                          d0),
                     RMTL_ENUMERIC);
    ck_assert_str_eq(rmtl_last_error(), "layer 'toy.emb.num': non-finite gradient");
    rmtl__params_zero_grad(&t.ps);
    float *dz = calloc(n, sizeof *dz), *dx = calloc(n * d0, sizeof *dx);
    const float *z;
    rmtl__ws_reset(&t.ws);
    float *x = rmtl__ws_alloc(&t.ws, n * d0);
    ck_assert_int_eq(rmtl__embed_forward(&t.emb, &t.ws.rt, n, t.cat, TOY_F, t.num, TOY_NUM, x, d0),
                     0);
    ck_assert_int_eq(rmtl__mlp_forward(&t.mlp, &t.ws, n, x, d0, NULL, &z), 0);
    dz[1] = INFINITY;
    rmtl__param *w = rmtl__params_find(&t.ps, "toy.mlp.out.w");
    float *g0 = malloc(w->cols * w->rows * sizeof *g0);
    memcpy(g0, w->g, w->cols * w->rows * sizeof *g0);
    ck_assert_int_eq(rmtl__mlp_backward(&t.mlp, &t.ws, dz, 1, dx, d0, 0), RMTL_ENUMERIC);
    ck_assert_str_eq(rmtl_last_error(), "layer 'toy.mlp.out': non-finite gradient");
    ck_assert(memcmp(g0, w->g, w->cols * w->rows * sizeof *g0) == 0);
    /* and the loss names itself */
    double loss2;
    float bad[2] = {0.5f, NAN}, y[2] = {1, 0};
    ck_assert_int_eq(rmtl__loss_bce(&loss2, "ctr", 2, bad, y, NULL, 1, 1.0, dz), RMTL_ENUMERIC);
    ck_assert_str_eq(rmtl_last_error(), "loss 'ctr': non-finite prediction at row 1");
    bad[1] = 0.5f;
    y[0] = NAN;
    ck_assert_int_eq(rmtl__loss_mse(&loss2, "q", 2, bad, y, NULL, 1, 1.0, dz), RMTL_ENUMERIC);
    ck_assert_str_eq(rmtl_last_error(), "loss 'q': non-finite target at row 0");
    free(before), free(dy), free(dz), free(dx), free(g0);
    toy_free(&t);
}
END_TEST

/* ---- allocation failures: ENOMEM, no leak, nothing half-built used ---------- */

static int build_all(int threads)
{
    static const size_t vocab[2] = {5, 7}, widths[2] = {6, 4};
    rmtl__params ps;
    rmtl__params_init(&ps);
    rmtl__rng rng;
    rmtl__rng_seed(&rng, 1, RMTL__STREAM_INIT);
    rmtl__ws ws;
    rmtl__ws_init(&ws, threads);
    rmtl__embed e;
    rmtl__mlp m;
    rmtl__gate g;
    rmtl__attn a;
    memset(&m, 0, sizeof m);
    int rc = rmtl__embed_init(&e, &ps, "e", vocab, 2, 1, 3, &rng);
    if (!rc)
        rc = rmtl__mlp_init(&m, &ps, "m", 9, widths, 2, 2, 0.1f, &rng);
    if (!rc)
        rc = rmtl__gate_init(&g, &ps, "g", 9, 3, &rng);
    if (!rc)
        rc = rmtl__attn_init(&a, &ps, "a", 4, &rng);
    if (!rc) {
        int32_t cat[6] = {1, 2, 3, 4, 0, 6};
        float num[3] = {0.1f, 0.2f, 0.3f}, dy[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        const float *y, *gy;
        float *x = rmtl__ws_alloc(&ws, 27), *dx = rmtl__ws_alloc(&ws, 27);
        rc = x && dx ? 0 : RMTL_ENOMEM;
        if (!rc)
            rc = rmtl__embed_forward(&e, &ws.rt, 3, cat, 2, num, 1, x, 9);
        if (!rc)
            rc = rmtl__mlp_forward(&m, &ws, 3, x, 9, &rng, &y);
        if (!rc)
            rc = rmtl__gate_forward(&g, &ws, 3, x, 9, &gy);
        if (!rc)
            rc = rmtl__mlp_backward(&m, &ws, dy, 2, dx, 9, 0);
        if (!rc)
            rc = rmtl__gate_backward(&g, &ws, dy, 3, dx, 9, 1);
        if (!rc)
            rc = rmtl__attn_forward(&a, &ws, 2, x, 9, x + 4, 9, &y);
        if (!rc)
            rc = rmtl__attn_backward(&a, &ws, dy, 4, dx, 9, NULL, 0, 1);
        if (!rc)
            rc = rmtl__embed_backward(&e, &ws.rt, 3, cat, 2, num, 1, dx, 9);
        rmtl__adam opt;
        rmtl__adam_init(&opt, 1e-3, 1e-6);
        if (!rc)
            rc = rmtl__adam_step(&opt, NULL, &ps, NULL);
    }
    rmtl__mlp_free(&m);
    rmtl__embed_free(&e);
    rmtl__ws_free(&ws);
    rmtl__params_free(&ps);
    return rc;
}

START_TEST(test_allocation_failures)
{
    size_t k = 1;
    int rc;
    for (; k < 1000; k++) {
        rmtl__alloc_fail_after(k);
        rc = build_all(1);
        if (rc == 0)
            break;
        ck_assert_int_eq(rc, RMTL_ENOMEM);
        ck_assert(strstr(rmtl_last_error(), "out of memory") != NULL);
    }
    rmtl__alloc_fail_after(0);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_gt(k, 10);
}
END_TEST

/* ---- parameter list and workspace ---------------------------------------------- */

START_TEST(test_params_ops)
{
    rmtl__params a, b, c;
    rmtl__params_init(&a);
    rmtl__params_init(&b);
    rmtl__params_init(&c);
    rmtl__param *pa, *pb;
    ck_assert_int_eq(rmtl__params_add(&a, &pa, "l.w", 2, 2, 0), 0);
    ck_assert_int_eq(rmtl__params_add(&a, NULL, "l.w", 1, 1, 0), RMTL_EINVAL);
    ck_assert(strstr(rmtl_last_error(), "'l.w' defined twice"));
    ck_assert_int_eq(rmtl__params_add(&a, NULL, "e", 0, 3, 0), RMTL_EINVAL);
    char longname[100];
    memset(longname, 'x', 99);
    longname[99] = '\0';
    ck_assert_int_eq(rmtl__params_add(&a, NULL, longname, 1, 1, 0), RMTL_EINVAL);
    ck_assert_uint_eq(a.n, 1);
    ck_assert_ptr_eq(rmtl__params_find(&a, "l.w"), pa);
    ck_assert_ptr_null(rmtl__params_find(&a, "l.b"));
    ck_assert_int_eq(rmtl__params_add(&b, &pb, "l.w", 2, 2, 0), 0);
    ck_assert_int_eq(rmtl__params_add(&c, NULL, "l.w", 4, 1, 0), 0);
    for (int i = 0; i < 4; i++)
        pa->w[i] = (float)i, pb->w[i] = 10.0f;
    ck_assert_int_eq(rmtl__params_soft_update(&b, &a, 0.25f), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq_tol(pb->w[i], 0.25f * (float)i + 7.5f, 1e-6f);
    ck_assert_int_eq(rmtl__params_copy(&b, &a), 0);
    ck_assert(memcmp(pa->w, pb->w, 4 * sizeof(float)) == 0);
    ck_assert_int_eq(rmtl__params_copy(&c, &a), RMTL_EINVAL); /* 4×1 vs 2×2 */
    ck_assert_int_eq(c.p[0]->w[0], 0.0f);
    ck_assert_uint_eq(rmtl__params_size(&a), 4);
    /* frozen: no gradient accumulates */
    rmtl__linear l = {pa, NULL, 2, 2};
    float x[2] = {1, 2}, dy[2] = {3, 4};
    rmtl__params_freeze(&a, 1);
    rmtl__rt rt = {1};
    ck_assert_int_eq(rmtl__linear_backward(&l, &rt, 1, x, 2, dy, 2, NULL, 0, 0), 0);
    for (int i = 0; i < 4; i++)
        ck_assert(pa->g[i] == 0.0f);
    rmtl__params_freeze(&a, 0);
    ck_assert_int_eq(rmtl__linear_backward(&l, &rt, 1, x, 2, dy, 2, NULL, 0, 0), 0);
    ck_assert(pa->g[3] == 8.0f);
    rmtl__params_free(&a);
    rmtl__params_free(&b);
    rmtl__params_free(&c);
    rmtl__params_free(NULL);
}
END_TEST

START_TEST(test_workspace)
{
    rmtl__ws ws;
    rmtl__ws_init(&ws, 0);
    ck_assert_int_eq(ws.rt.threads, 1);
    float *p[4];
    size_t sizes[4] = {3, 5000, 1, 20000};
    for (int i = 0; i < 4; i++) {
        p[i] = rmtl__ws_alloc(&ws, sizes[i]);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert_uint_eq((uintptr_t)p[i] % 64, 0);
        for (size_t k = 0; k < sizes[i]; k++) /* ASan: the whole block is ours */
            p[i][k] = (float)i;
    }
    for (int i = 0; i < 4; i++)
        ck_assert(p[i][0] == (float)i && p[i][sizes[i] - 1] == (float)i);
    size_t cap = rmtl__ws_capacity(&ws);
    rmtl__ws_reset(&ws);
    rmtl__alloc_fail_after(0);
    for (int i = 0; i < 4; i++) /* the same requests land in the same places */
        ck_assert_ptr_eq(rmtl__ws_alloc(&ws, sizes[i]), p[i]);
    ck_assert_uint_eq(rmtl__alloc_fail_after(0), 0);
    ck_assert_uint_eq(rmtl__ws_capacity(&ws), cap);
    rmtl__alloc_fail_after(1);
    ck_assert_ptr_null(rmtl__ws_alloc(&ws, 1u << 20));
    rmtl__alloc_fail_after(0);
    ck_assert(strstr(rmtl_last_error(), "workspace: out of memory"));
    rmtl__ws_free(&ws);
    rmtl__ws_free(&ws);
}
END_TEST

Suite *rmtl_test_nn_train_suite(void)
{
    Suite *s = suite_create("nn_train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_adam_reference);
    tcase_add_test(tc, test_adam_clip_and_frozen);
    tcase_add_test(tc, test_lazy_adam_touches_only_rows_used);
    tcase_add_test(tc, test_guard_input);
    tcase_add_test(tc, test_guard_gradient);
    tcase_add_test(tc, test_allocation_failures);
    tcase_add_test(tc, test_params_ops);
    tcase_add_test(tc, test_workspace);
    suite_add_tcase(s, tc);
    TCase *slow = rmtl_slow_tcase(s, "train_slow", 120);
    tcase_add_test(slow, test_determinism);
    tcase_add_test(slow, test_no_allocation_in_steps);
    return s;
}
