/* Whole-model gradient checks: for every architecture and 1, 2 and 3
 * tasks, the analytic gradient of the training loss (dropout 0) against
 * finite differences of the loss, for every parameter tensor (gates,
 * attention and transfer layers included): the derivative along the
 * gradient itself (must be |g|), along a random ±1 direction, and for
 * single elements (the largest gradient and two random ones).
 *
 * The loss is piecewise smooth: ReLUs have kinks. A difference quotient
 * whose step crosses one is meaningless, so every evaluation compares the
 * on/off pattern of all ReLUs with the unperturbed one and only steps
 * that keep it are used (shorter steps, or the one-sided difference of a
 * clean side). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtl/model.h"
#include "util/mtl.h"

enum { GC_ROWS = 48 };

/* Tolerance: |a − n| <= RTOL·max(|a|, |n|) + ATOL (10·ATOL for one-sided
 * differences). The loss comes from a float forward pass (accumulated in
 * double); its rounding noise, divided by 2h, stayed below 2e-6 in central
 * differences and 4e-5 in one-sided ones (ESMM's BCE on probabilities is
 * the noisiest). Every tensor's gradient norm must stand well above that
 * (GMIN), or the check could not tell a wrong gradient from noise. */
#define GC_H 1e-3
#define GC_RTOL 1e-2
#define GC_ATOL 1e-5
#define GC_GMIN 3e-4

/* Hash of every ReLU's on/off pattern in the last training forward: the
 * loss is smooth wherever this stays the same. */
static uint64_t gc_pattern(const rmtl_model *m, size_t rows)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < m->net.mods.n; i++) {
        const rmtl__mod *md = &m->net.mods.m[i];
        if (md->kind != RMTL__MOD_MLP)
            continue;
        for (size_t l = 0; l < md->u.mlp.n_hidden; l++)
            for (size_t j = 0; j < rows * md->u.mlp.lin[l].out; j++)
                h = (h ^ (md->u.mlp.h[l][j] > 0.0f)) * 1099511628211ull;
    }
    return h;
}

/* The loss through the training pass (dropout is 0, so it equals the
 * evaluation loss; the gradients it accumulates are not used). */
static double gc_loss(rmtl_model *m, const rmtl_batch *b, uint64_t *pattern)
{
    double l = NAN;
    ck_assert_int_eq(rmtl__model_loss(m, b, 1, &l), 0);
    *pattern = gc_pattern(m, b->rows);
    return l;
}

/* The derivative of the loss along the unit vector u/|u| (u NULL: the
 * unit vector of element `at`) of parameter p, from steps that cross no
 * ReLU kink: the central difference, or where one side crosses one, the
 * one-sided 3-point difference of the other side (*one_sided = 1; its
 * rounding noise is about 4 times larger), each tried with steps of h,
 * h/2 and h/4. NAN when every try crosses a kink. */
/* The loss with p's weights moved by step·u (u NULL: element `at`). */
static double gc_at(rmtl_model *m, const rmtl_batch *b, rmtl__param *p, const float *u,
                    size_t at, const float *save, double step, uint64_t *pattern)
{
    size_t n = p->rows * p->cols;
    if (u)
        for (size_t i = 0; i < n; i++)
            p->w[i] = (float)(save[i] + step * u[i]);
    else
        p->w[at] = (float)(save[at] + step);
    double f = gc_loss(m, b, pattern);
    memcpy(p->w, save, n * sizeof *save);
    return f;
}

static double gc_numeric(rmtl_model *m, const rmtl_batch *b, rmtl__param *p, const float *u,
                         size_t at, uint64_t base, int *one_sided)
{
    size_t n = p->rows * p->cols;
    double norm = 0;
    for (size_t i = 0; u && i < n; i++)
        norm += (double)u[i] * u[i];
    norm = u ? sqrt(norm) : 1.0;
    float *save = malloc(n * sizeof *save);
    memcpy(save, p->w, n * sizeof *save);
    double q = NAN;
    *one_sided = 0;
    for (double h = GC_H; h >= GC_H / 4 && isnan(q); h /= 2) {
        double s = h / norm;
        uint64_t pp, pm, p2;
        double fp = gc_at(m, b, p, u, at, save, s, &pp);
        double fm = gc_at(m, b, p, u, at, save, -s, &pm);
        if (pp == base && pm == base) {
            q = (fp - fm) / (2.0 * h);
            break;
        }
        uint64_t p0;
        double f0 = gc_at(m, b, p, u, at, save, 0.0, &p0);
        if (pm == base) {
            double fm2 = gc_at(m, b, p, u, at, save, -2 * s, &p2);
            if (p2 == base)
                q = (3.0 * f0 - 4.0 * fm + fm2) / (2.0 * h);
        }
        if (isnan(q) && pp == base) {
            double fp2 = gc_at(m, b, p, u, at, save, 2 * s, &p2);
            if (p2 == base)
                q = (-3.0 * f0 + 4.0 * fp - fp2) / (2.0 * h);
        }
        *one_sided = !isnan(q);
    }
    free(save);
    return q;
}


static int gc_close(double a, double n, int one_sided)
{
    return fabs(a - n) <= GC_RTOL * fmax(fabs(a), fabs(n)) + GC_ATOL * (one_sided ? 10 : 1);
}

static uint64_t gc_state = 88172645463325252ull;
static double gc_rand(void)
{
    gc_state ^= gc_state << 13;
    gc_state ^= gc_state >> 7;
    gc_state ^= gc_state << 17;
    return (double)(gc_state >> 11) * 0x1.0p-53;
}

/* A model at a point where the gradient can be checked. */
typedef struct gc_case {
    rmtl_config *cfg;
    rmtl__layout lay;
    rmtl_model *m;
    mtl_data d;
    rmtl_batch b;
    float **g; /* the analytic gradient of each tensor */
    double gmin; /* smallest |g| of a tensor */
} gc_case;

static void gc_free(gc_case *c)
{
    for (size_t t = 0; c->g && t < c->m->net.ps.n; t++)
        free(c->g[t]);
    free(c->g);
    mtl_data_free(&c->d);
    rmtl_model_free(c->m);
    rmtl__layout_free(&c->lay);
    rmtl_config_free(c->cfg);
}

static void gc_setup(gc_case *c, const char *arch, size_t T, int weights, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->cfg = mtl_small_config(arch, seed);
    ck_assert_ptr_nonnull(c->cfg);
    ck_assert_int_eq(rmtl__layout_init(&c->lay, MTL_N_CAT, mtl_vocab, MTL_N_NUM, T, NULL), 0);
    ck_assert_msg(rmtl__model_create_layout(&c->m, c->cfg, &c->lay) == 0, "%s: %s", arch,
                  rmtl_last_error());
    mtl_data_make(&c->d, GC_ROWS, T, seed + 7);
    c->b = mtl_batch(&c->d, 0, GC_ROWS, weights);
    rmtl__params *ps = &c->m->net.ps;
    /* Biases start at 0, so a row whose ReLU inputs are all 0 has its next
     * pre-activations exactly at the kink, where the difference quotient
     * sees half a slope: move them off it. */
    for (size_t t = 0; t < ps->n; t++) {
        rmtl__param *p = ps->p[t];
        size_t len = strlen(p->name);
        if (len > 2 && !strcmp(p->name + len - 2, ".b"))
            for (size_t i = 0; i < p->cols; i++)
                p->w[i] = (float)(0.2 * gc_rand() - 0.1);
    }
    rmtl__params_zero_grad(ps);
    double loss, eval;
    ck_assert_int_eq(rmtl__model_loss(c->m, &c->b, 1, &loss), 0);
    ck_assert_int_eq(rmtl__model_loss(c->m, &c->b, 0, &eval), 0);
    ck_assert_msg(loss == eval, "%s: training and evaluation losses differ", arch);
    c->g = calloc(ps->n, sizeof *c->g);
    c->gmin = INFINITY;
    for (size_t t = 0; t < ps->n; t++) {
        size_t n = ps->p[t]->rows * ps->p[t]->cols;
        c->g[t] = malloc(n * sizeof **c->g);
        memcpy(c->g[t], ps->p[t]->g, n * sizeof **c->g);
        double gn = 0;
        for (size_t i = 0; i < n; i++)
            gn += (double)c->g[t][i] * c->g[t][i];
        c->gmin = fmin(c->gmin, sqrt(gn));
    }
}

/* Checks one tensor: along its gradient, one random direction, and three
 * elements (the largest gradient and two random ones). Counts elements
 * checked and skipped (every step crossed a kink). */
static void gc_tensor(gc_case *c, const char *what, size_t t, uint64_t base, size_t *checked,
                      size_t *skipped)
{
    rmtl__param *p = c->m->net.ps.p[t];
    size_t n = p->rows * p->cols;
    const float *g = c->g[t];
    double gn = 0;
    for (size_t i = 0; i < n; i++)
        gn += (double)g[i] * g[i];
    gn = sqrt(gn);
    int os;
    double along = gc_numeric(c->m, &c->b, p, g, 0, base, &os);
    ck_assert_msg(isnan(along) || gc_close(gn, along, os),
                  "%s '%s': derivative along the gradient %.9g, |g| = %.9g", what, p->name,
                  along, gn);
    float *u = malloc(n * sizeof *u);
    double a = 0, num = NAN;
    for (int tries = 0; tries < 5 && isnan(num); tries++) {
        double dot = 0;
        for (size_t i = 0; i < n; i++) {
            u[i] = gc_rand() < 0.5 ? -1.0f : 1.0f;
            dot += (double)g[i] * u[i];
        }
        a = dot / sqrt((double)n);
        num = gc_numeric(c->m, &c->b, p, u, 0, base, &os);
    }
    free(u);
    ck_assert_msg(!isnan(num), "%s '%s': every direction crosses a kink", what, p->name);
    ck_assert_msg(gc_close(a, num, os), "%s '%s': directional derivative %.9g vs %.9g", what,
                  p->name, a, num);
    size_t big = 0;
    for (size_t i = 1; i < n; i++)
        if (fabsf(g[i]) > fabsf(g[big]))
            big = i;
    size_t at[3] = {big, (size_t)(gc_rand() * n), (size_t)(gc_rand() * n)};
    for (int k = 0; k < 3; k++) {
        double e = gc_numeric(c->m, &c->b, p, NULL, at[k], base, &os);
        if (isnan(e)) {
            ++*skipped;
            continue;
        }
        ++*checked;
        ck_assert_msg(gc_close(g[at[k]], e, os), "%s '%s'[%zu]: analytic %.9g numeric %.9g",
                      what, p->name, at[k], (double)g[at[k]], e);
    }
}

/* Checks every tensor of one architecture with T tasks. A tensor whose
 * gradient is too small to tell from rounding noise (e.g. a tower behind
 * ReLUs that are off for every row) cannot be checked: such a draw of
 * weights and data is replaced by the next seed's. */
static void gc_model(const char *arch, size_t T, int weights)
{
    gc_case c;
    uint64_t seed = 100 + 10 * T;
    for (int tries = 0;; tries++, seed++) {
        gc_setup(&c, arch, T, weights, seed);
        if (c.gmin >= GC_GMIN)
            break;
        gc_free(&c);
        ck_assert_msg(tries < 10, "%s T=%zu: no seed gives every tensor a gradient", arch, T);
    }
    char what[64];
    snprintf(what, sizeof what, "%s T=%zu seed %llu", arch, T, (unsigned long long)seed);
    uint64_t base;
    gc_loss(c.m, &c.b, &base);
    size_t checked = 0, skipped = 0;
    for (size_t t = 0; t < c.m->net.ps.n; t++)
        gc_tensor(&c, what, t, base, &checked, &skipped);
    ck_assert_msg(skipped * 10 <= checked, "%s: %zu of %zu elements sit on ReLU kinks", what,
                  skipped, checked + skipped);
    gc_free(&c);
}

START_TEST(test_gradients)
{
    for (size_t T = 1; T <= 3; T++)
        gc_model(mtl_archs[_i], T, T == 2);
}
END_TEST

Suite *rmtl_test_mtl_grad_suite(void)
{
    Suite *s = suite_create("mtl_grad");
    TCase *tc = tcase_create("gradients");
    tcase_set_tags(tc, "slow"); /* finite differences: left out under valgrind */
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_gradients, 0, MTL_N_ARCH);
    suite_add_tcase(s, tc);
    return s;
}
