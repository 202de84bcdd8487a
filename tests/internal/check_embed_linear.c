/* The first Linear over the embedding, differentiated by distinct id and
 * by scalar block (nn/embed_linear.h), against the layer-by-layer path
 * (Linear, embedding and extra Linear backward in turn): every gradient
 * and dL/du, with some fields grouped and others not, with frozen
 * parameters, the guard on a non-finite dY, and a failing workspace. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rmtl.h"
#include "core/internal.h"
#include "nn/embed_linear.h"
#include "core/rng.h"

enum { N = 64, F = 4, NUM = 2, NU = 2, D = 5, OUT = 7 };
static const size_t vocab[F] = {3, 9, 40, 6};
#define IN ((F + 2) * D)

typedef struct fixture {
    rmtl__params ps;
    rmtl__embed e;
    rmtl__linear extra, l;
    rmtl__ws ws;
    int32_t cat[N * F];
    float num[N * NUM], u[N * NU], x[N * IN], dy[N * OUT];
} fixture;

static float val(rmtl__rng *r) { return (float)(rmtl__rng_double(r) * 2.0 - 1.0); }

static void setup_fx(fixture *fx)
{
    rmtl__rng r;
    rmtl__rng_seed(&r, 11, 0);
    rmtl__params_init(&fx->ps);
    ck_assert_int_eq(rmtl__embed_init(&fx->e, &fx->ps, "emb", vocab, F, NUM, D, &r), 0);
    ck_assert_int_eq(rmtl__linear_init(&fx->extra, &fx->ps, "extra", NU, D, 1, &r), 0);
    ck_assert_int_eq(rmtl__linear_init(&fx->l, &fx->ps, "first", IN, OUT, 1, &r), 0);
    for (size_t i = 0; i < fx->ps.n; i++) /* biases away from zero */
        for (size_t k = 0; k < fx->ps.p[i]->rows * fx->ps.p[i]->cols; k++)
            fx->ps.p[i]->w[k] += 0.1f * val(&r);
    rmtl__ws_init(&fx->ws, 1);
    for (size_t i = 0; i < N; i++) {
        for (size_t f = 0; f < F; f++) /* some ids outside the vocabulary: row 0 */
            fx->cat[i * F + f] = (int32_t)(rmtl__rng_double(&r) * (double)(vocab[f] + 2)) - 1;
        for (size_t j = 0; j < NUM; j++)
            fx->num[i * NUM + j] = val(&r);
        for (size_t j = 0; j < NU; j++)
            fx->u[i * NU + j] = val(&r);
        for (size_t j = 0; j < OUT; j++)
            fx->dy[i * OUT + j] = val(&r);
    }
    size_t ew = rmtl__embed_width(&fx->e);
    ck_assert_int_eq(rmtl__embed_forward(&fx->e, &fx->ws.rt, N, fx->cat, F, fx->num, NUM, fx->x,
                                         IN),
                     0);
    ck_assert_int_eq(rmtl__linear_forward(&fx->extra, &fx->ws.rt, N, fx->u, NU, fx->x + ew, IN),
                     0);
}

static void teardown_fx(fixture *fx)
{
    rmtl__embed_free(&fx->e);
    rmtl__params_free(&fx->ps);
    rmtl__ws_free(&fx->ws);
}

/* A fixture with the gradients of the layer-by-layer path, and its du. */
static void setup_reference(fixture *fx, float *du)
{
    setup_fx(fx);
    rmtl__params_zero_grad(&fx->ps);
    float *dx = malloc(N * IN * sizeof *dx);
    size_t ew = rmtl__embed_width(&fx->e);
    ck_assert_int_eq(
        rmtl__linear_backward(&fx->l, &fx->ws.rt, N, fx->x, IN, fx->dy, OUT, dx, IN, 0), 0);
    ck_assert_int_eq(
        rmtl__embed_backward(&fx->e, &fx->ws.rt, N, fx->cat, F, fx->num, NUM, dx, IN), 0);
    ck_assert_int_eq(
        rmtl__linear_backward(&fx->extra, &fx->ws.rt, N, fx->u, NU, dx + ew, IN, du, NU, 0), 0);
    free(dx);
}

/* The function under test on fresh gradients. */
static int run(fixture *fx, float *du, size_t max_vocab)
{
    rmtl__params_zero_grad(&fx->ps);
    rmtl__ws_reset(&fx->ws);
    return rmtl__embed_linear_backward(&fx->e, &fx->extra, &fx->l, &fx->ws, N, fx->cat, F,
                                       fx->num, NUM, fx->u, NU, fx->x, IN, fx->dy, OUT, du,
                                       du ? NU : 0, max_vocab);
}

/* Every gradient (and its touched rows) of a against b. */
static void same_grads(const rmtl__params *a, const rmtl__params *b, const char *what)
{
    for (size_t i = 0; i < a->n; i++) {
        const rmtl__param *p = a->p[i], *q = b->p[i];
        size_t m = p->rows * p->cols;
        double big = 0.0;
        for (size_t k = 0; k < m; k++)
            big = fabs(q->g[k]) > big ? fabs(q->g[k]) : big;
        for (size_t k = 0; k < m; k++)
            ck_assert_msg(fabsf(p->g[k] - q->g[k]) <= 1e-5 * (1.0 + big),
                          "%s: %s[%zu]: %.9g, reference %.9g", what, p->name, k, p->g[k],
                          q->g[k]);
        for (size_t r = 0; p->sparse && r < p->rows; r++)
            ck_assert_msg(p->touched[r] == q->touched[r], "%s: %s row %zu touched %d, ref %d",
                          what, p->name, r, p->touched[r], q->touched[r]);
    }
}

/* du against the reference's, elementwise. */
static void same_du(const float *du, const float *ref, const char *what)
{
    for (size_t k = 0; k < N * NU; k++)
        ck_assert_msg(fabsf(du[k] - ref[k]) <= 1e-5 * (1.0 + fabsf(ref[k])),
                      "%s: du[%zu]: %.9g, reference %.9g", what, k, du[k], ref[k]);
}

/* max_vocab: none grouped, the small vocabularies (fields 0 and 3, so
 * grouped and exact runs alternate), all. */
static const size_t limits[] = {0, 6, SIZE_MAX};

START_TEST(test_matches_layer_by_layer)
{
    fixture got, ref;
    float du[N * NU], du_ref[N * NU];
    setup_fx(&got);
    setup_reference(&ref, du_ref);
    for (size_t c = 0; c < sizeof limits / sizeof limits[0]; c++) {
        ck_assert_int_eq(run(&got, du, limits[c]), 0);
        same_grads(&got.ps, &ref.ps, limits[c] == 0 ? "none grouped" : "grouped");
        same_du(du, du_ref, limits[c] == 0 ? "none grouped" : "grouped");
    }
    /* grouped fields' blocks of x are not read */
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D; j++)
            got.x[i * IN + j] = got.x[i * IN + 3 * D + j] = NAN;
    ck_assert_int_eq(run(&got, NULL, 6), 0);
    same_grads(&got.ps, &ref.ps, "NaN in grouped blocks of x");
    teardown_fx(&got);
    teardown_fx(&ref);
}
END_TEST

/* Frozen parameters keep zero gradients; the others and du are still
 * right (a frozen critic differentiated for the actor freezes all). */
START_TEST(test_frozen)
{
    fixture got, ref;
    float du[N * NU], du_ref[N * NU];
    setup_fx(&got);
    setup_reference(&ref, du_ref);
    for (int which = 0; which < 3; which++) { /* all, the table, the first Linear */
        for (size_t c = 0; c < sizeof limits / sizeof limits[0]; c++) {
            rmtl__params_freeze(&got.ps, which == 0);
            if (which == 1)
                got.e.table->frozen = 1;
            if (which == 2)
                got.l.w->frozen = got.l.b->frozen = 1;
            ck_assert_int_eq(run(&got, du, limits[c]), 0);
            for (size_t i = 0; i < got.ps.n; i++) {
                const rmtl__param *p = got.ps.p[i], *q = ref.ps.p[i];
                for (size_t k = 0; k < p->rows * p->cols; k++) {
                    float want = p->frozen ? 0.0f : q->g[k];
                    ck_assert_msg(fabsf(p->g[k] - want) <= 1e-5 * (1.0 + fabsf(want)),
                                  "frozen case %d limit %zu: %s[%zu] = %g, want %g", which, c,
                                  p->name, k, p->g[k], want);
                }
            }
            same_du(du, du_ref, "frozen");
            rmtl__params_freeze(&got.ps, 0);
        }
    }
    teardown_fx(&got);
    teardown_fx(&ref);
}
END_TEST

START_TEST(test_nonfinite_dy)
{
    fixture fx;
    setup_fx(&fx);
    fx.dy[17 * OUT + 3] = NAN;
    ck_assert_int_eq(run(&fx, NULL, 6), RMTL_ENUMERIC);
    ck_assert_uint_eq(fx.e.table->n_touched, 0);
    for (size_t k = 0; k < IN * OUT; k++)
        ck_assert(fx.l.w->g[k] == 0.0f);
    teardown_fx(&fx);
}
END_TEST

/* A workspace that cannot grow: RMTL_ENOMEM before any gradient moves. */
START_TEST(test_out_of_memory)
{
    fixture fx;
    setup_fx(&fx);
    int rc = -1;
    for (size_t k = 1; k < 100 && rc != 0; k++) {
        rmtl__ws_free(&fx.ws); /* a fresh workspace allocates its chunks */
        rmtl__ws_init(&fx.ws, 1);
        rmtl__params_zero_grad(&fx.ps);
        rmtl__alloc_fail_after(k);
        rc = run(&fx, NULL, 6);
        rmtl__alloc_fail_after(0);
        if (rc == 0)
            break;
        ck_assert_int_eq(rc, RMTL_ENOMEM);
        ck_assert_uint_eq(fx.e.table->n_touched, 0);
        for (size_t i = 0; i < fx.ps.n; i++) {
            const rmtl__param *p = fx.ps.p[i];
            for (size_t j = 0; j < p->rows * p->cols; j++)
                ck_assert_msg(p->g[j] == 0.0f, "failure %zu: %s[%zu] changed", k, p->name, j);
        }
    }
    ck_assert_int_eq(rc, 0);
    teardown_fx(&fx);
}
END_TEST

Suite *rmtl_test_embed_linear_suite(void)
{
    Suite *s = suite_create("embed_linear");
    TCase *tc = tcase_create("embed_linear");
    tcase_add_test(tc, test_matches_layer_by_layer);
    tcase_add_test(tc, test_frozen);
    tcase_add_test(tc, test_nonfinite_dy);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}
