/* Neural-core layers against double-precision references: forward values
 * (the BLIS path vs plain loops) and gradients vs central finite
 * differences, on several shapes including batch 1 and odd sizes. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/gate.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/mlp.h"
#include "nn/ws.h"
#include "util/fd.h"
#include "util/nnref.h"
#include "util/slow.h"

#define FD_TOL 1e-3  /* finite differences vs analytic */
#define FWD_TOL 1e-5 /* float layer vs double reference */

#define ASSERT_FD(vars, nv, fn, ctx)                                          \
    do {                                                                      \
        char worst_[256];                                                     \
        double err_ = fd_check(vars, nv, fn, ctx, worst_, sizeof worst_);     \
        ck_assert_msg(err_ < FD_TOL, "%s:%d: gradient error %g at %s", __func__, \
                      __LINE__, err_, worst_);                                \
    } while (0)

/* ---- Linear ------------------------------------------------------------ */

typedef struct {
    size_t n, in, out;
    int bias;
    const double *r;
} lin_ctx;

static double lin_f(double *const *v, void *vc)
{
    const lin_ctx *c = vc;
    double *y = malloc(c->n * c->out * sizeof *y);
    ref_linear(c->n, c->in, c->out, v[0], v[1], c->bias ? v[2] : NULL, y);
    double s = ref_dot(c->n * c->out, c->r, y);
    free(y);
    return s;
}

/* Copies a contiguous n×m block into one with row stride ld (padding NaN:
 * a layer that reads it would show). */
static float *pad(const float *x, size_t n, size_t m, size_t ld)
{
    float *p = malloc((n * ld + 1) * sizeof *p);
    for (size_t i = 0; i < n * ld + 1; i++)
        p[i] = NAN;
    for (size_t i = 0; i < n; i++)
        memcpy(p + i * ld, x + i * m, m * sizeof *p);
    return p;
}

static void check_linear(size_t n, size_t in, size_t out, int bias, int threads)
{
    unsigned long long seed = n * 1000 + in * 10 + out + (unsigned)bias;
    rmtl__params ps;
    rmtl__params_init(&ps);
    rmtl__rng rng;
    rmtl__rng_seed(&rng, seed, RMTL__STREAM_INIT);
    rmtl__linear l;
    ck_assert_int_eq(rmtl__linear_init(&l, &ps, "lin", in, out, bias, &rng), 0);
    if (bias)
        fd_fill(l.b->w, out, -0.5f, 0.5f, &seed);
    rmtl__rt rt = {threads};
    size_t ldx = in + 2, ldy = out + 1, lddy = out + 3, lddx = in + 1;
    float *x = malloc(n * in * sizeof *x), *r = malloc(n * out * sizeof *r);
    fd_fill(x, n * in, -1, 1, &seed);
    fd_fill(r, n * out, -1, 1, &seed);
    float *xp = pad(x, n, in, ldx), *dyp = pad(r, n, out, lddy);
    float *yp = pad(r, n, out, ldy), *dxp = pad(x, n, in, lddx);

    ck_assert_int_eq(rmtl__linear_forward(&l, &rt, n, xp, ldx, yp, ldy), 0);
    double *xd = ref_dup(x, n * in), *wd = ref_dup(l.w->w, in * out);
    double *bd = bias ? ref_dup(l.b->w, out) : NULL, *rd = ref_dup(r, n * out);
    double *yd = malloc(n * out * sizeof *yd);
    ref_linear(n, in, out, xd, wd, bd, yd);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fd_maxdiff(yp + i * ldy, yd + i * out, out) < FWD_TOL, "forward row %zu",
                      i);
    ck_assert(isnan(yp[n * ldy])); /* nothing written past the block */

    ck_assert_int_eq(rmtl__linear_backward(&l, &rt, n, xp, ldx, dyp, lddy, dxp, lddx, 0), 0);
    /* reference products: dW = xᵀ·dy, dx = dy·Wᵀ */
    double *dwd = calloc(in * out, sizeof *dwd), *dxd = calloc(n * in, sizeof *dxd);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < in; k++)
            for (size_t j = 0; j < out; j++) {
                dwd[k * out + j] += xd[i * in + k] * rd[i * out + j];
                dxd[i * in + k] += rd[i * out + j] * wd[k * out + j];
            }
    ck_assert(fd_maxdiff(l.w->g, dwd, in * out) < FWD_TOL);
    float *dx = malloc(n * in * sizeof *dx);
    for (size_t i = 0; i < n; i++) {
        ck_assert(fd_maxdiff(dxp + i * lddx, dxd + i * in, in) < FWD_TOL);
        memcpy(dx + i * in, dxp + i * lddx, in * sizeof *dx);
    }

    lin_ctx c = {n, in, out, bias, rd};
    fd_var vars[3] = {{"x", x, n * in, dx}, {"w", l.w->w, in * out, l.w->g},
                      {"b", bias ? l.b->w : NULL, bias ? out : 0, bias ? l.b->g : NULL}};
    ASSERT_FD(vars, 3, lin_f, &c);

    /* a second backward accumulates dW and, with acc, dx */
    ck_assert_int_eq(rmtl__linear_backward(&l, &rt, n, xp, ldx, dyp, lddy, dxp, lddx, 1), 0);
    for (size_t k = 0; k < in * out; k++)
        dwd[k] *= 2;
    for (size_t k = 0; k < n * in; k++)
        dxd[k] *= 2;
    ck_assert(fd_maxdiff(l.w->g, dwd, in * out) < FWD_TOL);
    for (size_t i = 0; i < n; i++)
        ck_assert(fd_maxdiff(dxp + i * lddx, dxd + i * in, in) < FWD_TOL);

    free(x), free(r), free(xp), free(dyp), free(yp), free(dxp), free(dx);
    free(xd), free(wd), free(bd), free(rd), free(yd), free(dwd), free(dxd);
    rmtl__params_free(&ps);
}

START_TEST(test_linear)
{
    static const size_t shapes[][3] = {{1, 1, 1}, {1, 5, 3}, {3, 7, 2},
                                       {4, 16, 17}, {7, 33, 9}, {2, 64, 65}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int bias = 0; bias < 2; bias++)
            check_linear(shapes[s][0], shapes[s][1], shapes[s][2], bias, 1 + (int)(s & 1));
}
END_TEST

/* ---- Embedding + numerical field ----------------------------------------- */

typedef struct {
    size_t n, nf, nnum, dim;
    const size_t *vocab;
    const int32_t *cat;
    const double *r;
} emb_ctx;

/* v: table, num.w, num.b, num input */
static double emb_f(double *const *v, void *vc)
{
    const emb_ctx *c = vc;
    size_t width = (c->nf + (c->nnum > 0)) * c->dim;
    double *y = calloc(c->n * width, sizeof *y), *z = malloc(c->n * c->dim * sizeof *z);
    for (size_t i = 0; i < c->n; i++) {
        size_t base = 0;
        for (size_t f = 0; f < c->nf; f++) {
            int32_t id = c->cat[i * c->nf + f];
            size_t row = base + (id >= 0 && (size_t)id < c->vocab[f] ? (size_t)id : 0);
            for (size_t j = 0; j < c->dim; j++)
                y[i * width + f * c->dim + j] = v[0][row * c->dim + j];
            base += c->vocab[f];
        }
    }
    if (c->nnum) {
        ref_linear(c->n, c->nnum, c->dim, v[3], v[1], v[2], z);
        for (size_t i = 0; i < c->n; i++)
            for (size_t j = 0; j < c->dim; j++)
                y[i * width + c->nf * c->dim + j] = z[i * c->dim + j];
    }
    double s = ref_dot(c->n * width, c->r, y);
    free(y), free(z);
    return s;
}

static void check_embedding(size_t n, size_t nnum)
{
    static const size_t vocab[3] = {4, 1, 6};
    const size_t nf = 3, dim = 3, total = 11;
    unsigned long long seed = 77 + n + nnum;
    rmtl__params ps;
    rmtl__params_init(&ps);
    rmtl__rng rng;
    rmtl__rng_seed(&rng, 5, RMTL__STREAM_INIT);
    rmtl__embed e;
    ck_assert_int_eq(rmtl__embed_init(&e, &ps, "emb", vocab, nf, nnum, dim, &rng), 0);
    size_t width = rmtl__embed_width(&e);
    ck_assert_uint_eq(width, (nf + (nnum > 0)) * dim);
    ck_assert_uint_eq(e.table->rows, total);
    fd_fill(e.table->w, total * dim, -1, 1, &seed); /* Xavier on 11 rows is tiny */
    int32_t *cat = malloc(n * nf * sizeof *cat);
    for (size_t i = 0; i < n * nf; i++) /* includes -1 and ids past the vocabulary */
        cat[i] = (int32_t)((i * 7 + n) % (vocab[i % nf] + 2)) - 1;
    float *num = malloc((n * nnum + 1) * sizeof *num), *r = malloc(n * width * sizeof *r);
    fd_fill(num, n * nnum, -1, 1, &seed);
    fd_fill(r, n * width, -1, 1, &seed);
    size_t ldy = width + 2;
    float *y = malloc(n * ldy * sizeof *y), *dy = pad(r, n, width, ldy);
    rmtl__rt rt = {1};
    ck_assert_int_eq(rmtl__embed_forward(&e, &rt, n, cat, nf, num, nnum, y, ldy), 0);
    ck_assert_int_eq(rmtl__embed_backward(&e, &rt, n, cat, nf, num, nnum, dy, ldy), 0);

    /* only the rows of the batch's ids are touched, each listed once */
    unsigned char used[11] = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t f = 0, base = 0; f < nf; base += vocab[f], f++) {
            int32_t id = cat[i * nf + f];
            used[base + (id >= 0 && (size_t)id < vocab[f] ? (size_t)id : 0)] = 1;
        }
    size_t n_used = 0;
    for (size_t k = 0; k < total; k++) {
        n_used += used[k];
        ck_assert_int_eq(e.table->touched[k], used[k]);
        if (!used[k])
            for (size_t j = 0; j < dim; j++)
                ck_assert(e.table->g[k * dim + j] == 0.0f);
    }
    ck_assert_uint_eq(e.table->n_touched, n_used);
    for (size_t k = 0; k < e.table->n_touched; k++)
        ck_assert(used[e.table->touched_rows[k]]);

    double *rd = ref_dup(r, n * width);
    emb_ctx c = {n, nf, nnum, dim, vocab, cat, rd};
    double *tab = ref_dup(e.table->w, total * dim);
    double *vv[4] = {tab, nnum ? ref_dup(e.num.w->w, nnum * dim) : NULL,
                     nnum ? ref_dup(e.num.b->w, dim) : NULL, ref_dup(num, n * nnum)};
    double *yd = NULL;
    { /* forward vs reference: evaluate the reference output directly */
        yd = calloc(n * width, sizeof *yd);
        for (size_t k = 0; k < n * width; k++) {
            double *basis = calloc(n * width, sizeof *basis);
            basis[k] = 1.0;
            emb_ctx ck = c;
            ck.r = basis;
            yd[k] = emb_f(vv, &ck);
            free(basis);
        }
        for (size_t i = 0; i < n; i++)
            ck_assert(fd_maxdiff(y + i * ldy, yd + i * width, width) < FWD_TOL);
    }
    fd_var vars[4] = {{"table", e.table->w, total * dim, e.table->g},
                      {"num.w", nnum ? e.num.w->w : NULL, nnum * dim, nnum ? e.num.w->g : NULL},
                      {"num.b", nnum ? e.num.b->w : NULL, nnum ? dim : 0,
                       nnum ? e.num.b->g : NULL},
                      {"num", num, n * nnum, NULL}};
    ASSERT_FD(vars, 4, emb_f, &c);

    rmtl__params_zero_grad(&ps);
    ck_assert_uint_eq(e.table->n_touched, 0);
    for (size_t k = 0; k < total * dim; k++)
        ck_assert(e.table->g[k] == 0.0f);
    for (int k = 0; k < 4; k++)
        free(vv[k]);
    free(cat), free(num), free(r), free(y), free(dy), free(rd), free(yd);
    rmtl__embed_free(&e);
    rmtl__params_free(&ps);
}

START_TEST(test_embedding)
{
    check_embedding(1, 2);
    check_embedding(5, 2);
    check_embedding(4, 0);
}
END_TEST

/* ---- ReLU, sigmoid, softmax ---------------------------------------------- */

typedef struct {
    int kind; /* 0 relu, 1 sigmoid, 2 softmax rows */
    size_t n, k;
    const double *r;
} act_ctx;

static double act_f(double *const *v, void *vc)
{
    const act_ctx *c = vc;
    size_t n = c->n * c->k;
    double *y = malloc(n * sizeof *y);
    memcpy(y, v[0], n * sizeof *y);
    if (c->kind == 0)
        ref_relu(n, y);
    else if (c->kind == 1)
        ref_sigmoid(n, y);
    else
        ref_softmax_rows(c->n, c->k, y);
    double s = ref_dot(n, c->r, y);
    free(y);
    return s;
}

START_TEST(test_activations)
{
    static const size_t shapes[][2] = {{1, 1}, {1, 5}, {3, 7}, {4, 2}};
    for (size_t s = 0; s < 4; s++)
        for (int kind = 0; kind < 3; kind++) {
            size_t rows = shapes[s][0], k = shapes[s][1], n = rows * k;
            unsigned long long seed = 11 + s * 3 + (unsigned)kind;
            float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
            float *r = malloc(n * sizeof *r), *dx = malloc(n * sizeof *dx);
            fd_fill_away(x, n, 0.05f, 3.0f, &seed);
            fd_fill(r, n, -1, 1, &seed);
            if (kind == 0) {
                rmtl__relu(n, x, y);
                rmtl__relu_backward(n, y, r, dx, 0);
            } else if (kind == 1) {
                rmtl__sigmoid(n, x, y);
                rmtl__sigmoid_backward(n, y, r, dx, 0);
            } else {
                rmtl__softmax_rows(rows, k, x, k, y, k);
                rmtl__softmax_rows_backward(rows, k, y, k, r, k, dx, k, 0);
            }
            double *yd = ref_dup(x, n), *rd = ref_dup(r, n);
            if (kind == 0)
                ref_relu(n, yd);
            else if (kind == 1)
                ref_sigmoid(n, yd);
            else
                ref_softmax_rows(rows, k, yd);
            ck_assert(fd_maxdiff(y, yd, n) < FWD_TOL);
            act_ctx c = {kind, rows, k, rd};
            fd_var var = {"x", x, n, dx};
            ASSERT_FD(&var, 1, act_f, &c);
            /* acc adds to what is there */
            float *acc = malloc(n * sizeof *acc);
            for (size_t i = 0; i < n; i++)
                acc[i] = 1.0f;
            if (kind == 0)
                rmtl__relu_backward(n, y, r, acc, 1);
            else if (kind == 1)
                rmtl__sigmoid_backward(n, y, r, acc, 1);
            else
                rmtl__softmax_rows_backward(rows, k, y, k, r, k, acc, k, 1);
            for (size_t i = 0; i < n; i++)
                ck_assert_float_eq_tol(acc[i], 1.0f + dx[i], 1e-6f);
            free(x), free(y), free(r), free(dx), free(yd), free(rd), free(acc);
        }
    /* sigmoid never overflows: large |x| give 0 and 1 */
    float big[2] = {-200.0f, 200.0f}, out[2];
    rmtl__sigmoid(2, big, out);
    ck_assert(out[0] == 0.0f && out[1] == 1.0f);
}
END_TEST

/* ---- dropout with a fixed mask -------------------------------------------- */

/* The blocked in-place form against the mask walk, around its 512-value
 * blocks and 16-wide inner blocks, odd sizes included. */
START_TEST(test_dropout_inplace_sizes)
{
    static const size_t sizes[] = {1, 2, 15, 16, 17, 511, 512, 513, 1024, 1537};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        size_t n = sizes[c];
        rmtl__rng a, b;
        rmtl__rng_seed(&a, 100 + c, RMTL__STREAM_DROPOUT);
        b = a;
        float *mask = malloc(n * sizeof *mask), *z = malloc(n * sizeof *z);
        for (size_t i = 0; i < n; i++)
            z[i] = (float)i + 1.0f;
        rmtl__dropout_mask(&a, 0.3f, n, mask);
        rmtl__dropout_inplace(&b, 0.3f, n, z);
        for (size_t i = 0; i < n; i++)
            ck_assert_msg(z[i] == ((float)i + 1.0f) * mask[i], "n=%zu at %zu", n, i);
        ck_assert(memcmp(a.s, b.s, sizeof a.s) == 0);
        free(mask), free(z);
    }
}
END_TEST

typedef struct {
    size_t n;
    const double *mask, *r;
} drop_ctx;

static double drop_f(double *const *v, void *vc)
{
    const drop_ctx *c = vc;
    double s = 0;
    for (size_t i = 0; i < c->n; i++)
        s += c->r[i] * v[0][i] * c->mask[i];
    return s;
}

START_TEST(test_dropout)
{
    const size_t n = 1001;
    const float p = 0.4f;
    rmtl__rng rng, again;
    rmtl__rng_seed(&rng, 9, RMTL__STREAM_DROPOUT);
    again = rng;
    unsigned long long seed = 3;
    float *mask = malloc(n * sizeof *mask), *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    float *r = malloc(n * sizeof *r), *dx = malloc(n * sizeof *dx);
    rmtl__dropout_mask(&rng, p, n, mask);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert(mask[i] == 0.0f || mask[i] == 1.0f / (1.0f - p));
        kept += mask[i] != 0.0f;
    }
    /* Binomial(1001, 0.6): mean 600.6, sd 15.5 */
    ck_assert_msg(kept > 540 && kept < 660, "kept %zu", kept);
    fd_fill(x, n, -1, 1, &seed);
    fd_fill(r, n, -1, 1, &seed);
    rmtl__dropout_apply(n, mask, x, y);
    rmtl__dropout_apply(n, mask, r, dx); /* backward is the same product */
    /* the in-place form draws the same mask from the same state */
    float *z = malloc(n * sizeof *z);
    memcpy(z, x, n * sizeof *z);
    rmtl__dropout_inplace(&again, p, n, z);
    for (size_t i = 0; i < n; i++) /* by value: x·0 may be −0 */
        ck_assert(z[i] == y[i]);
    ck_assert(memcmp(again.s, rng.s, sizeof rng.s) == 0);
    double *md = ref_dup(mask, n), *rd = ref_dup(r, n);
    drop_ctx c = {n, md, rd};
    fd_var var = {"x", x, n, dx};
    ASSERT_FD(&var, 1, drop_f, &c);
    /* p = 0: identity, no draws */
    rmtl__rng before = rng;
    rmtl__dropout_mask(&rng, 0.0f, n, mask);
    for (size_t i = 0; i < n; i++)
        ck_assert(mask[i] == 1.0f);
    ck_assert(memcmp(before.s, rng.s, sizeof rng.s) == 0);
    free(mask), free(x), free(y), free(r), free(dx), free(z), free(md), free(rd);
}
END_TEST

/* ---- softmax gate + gated mixture ----------------------------------------- */

typedef struct {
    size_t n, in, ne, d;
    const double *r;
} gate_ctx;

/* v: x, W, b, experts... */
static double gate_f(double *const *v, void *vc)
{
    const gate_ctx *c = vc;
    double *g = malloc(c->n * c->ne * sizeof *g), s = 0;
    ref_linear(c->n, c->in, c->ne, v[0], v[1], v[2], g);
    ref_softmax_rows(c->n, c->ne, g);
    for (size_t i = 0; i < c->n; i++)
        for (size_t j = 0; j < c->d; j++) {
            double y = 0;
            for (size_t e = 0; e < c->ne; e++)
                y += g[i * c->ne + e] * v[3 + e][i * c->d + j];
            s += c->r[i * c->d + j] * y;
        }
    free(g);
    return s;
}

static void check_gate(size_t n, size_t in, size_t ne, size_t d)
{
    unsigned long long seed = n * 31 + ne;
    rmtl__params ps;
    rmtl__params_init(&ps);
    rmtl__rng rng;
    rmtl__rng_seed(&rng, 8, RMTL__STREAM_INIT);
    rmtl__gate gt;
    ck_assert_int_eq(rmtl__gate_init(&gt, &ps, "gate", in, ne, &rng), 0);
    fd_fill(gt.lin.b->w, ne, -0.5f, 0.5f, &seed);
    rmtl__ws ws;
    rmtl__ws_init(&ws, 1);
    float *x = malloc(n * in * sizeof *x), *r = malloc(n * d * sizeof *r);
    float *dx = malloc(n * in * sizeof *dx), *y = malloc(n * d * sizeof *y);
    float *dg = malloc(n * ne * sizeof *dg), **ex = malloc(ne * sizeof *ex);
    float **dex = malloc(ne * sizeof *dex);
    fd_fill(x, n * in, -1, 1, &seed);
    fd_fill(r, n * d, -1, 1, &seed);
    for (size_t e = 0; e < ne; e++) {
        ex[e] = malloc(n * d * sizeof **ex);
        dex[e] = malloc(n * d * sizeof **dex);
        fd_fill(ex[e], n * d, -1, 1, &seed);
    }
    const float *g;
    ck_assert_int_eq(rmtl__gate_forward(&gt, &ws, n, x, in, &g), 0);
    for (size_t i = 0; i < n; i++) {
        float sum = 0;
        for (size_t e = 0; e < ne; e++)
            sum += g[i * ne + e];
        ck_assert_float_eq_tol(sum, 1.0f, 1e-6f);
    }
    float *gp = malloc(n * ne * sizeof *gp);
    ck_assert_int_eq(rmtl__gate_predict(&gt, &ws, n, x, in, gp, ne), 0);
    ck_assert(memcmp(gp, g, n * ne * sizeof *gp) == 0);
    rmtl__mix_forward(n, d, ne, g, ne, (const float *const *)ex, d, y, d);
    rmtl__mix_backward(n, d, ne, g, ne, (const float *const *)ex, d, r, d, dg, ne, dex, d, 0);
    ck_assert_int_eq(rmtl__gate_backward(&gt, &ws, dg, ne, dx, in, 0), 0);

    fd_var *vars = calloc(3 + ne, sizeof *vars);
    double **vv = calloc(3 + ne, sizeof *vv);
    vars[0] = (fd_var){"x", x, n * in, dx};
    vars[1] = (fd_var){"gate.w", gt.lin.w->w, in * ne, gt.lin.w->g};
    vars[2] = (fd_var){"gate.b", gt.lin.b->w, ne, gt.lin.b->g};
    for (size_t e = 0; e < ne; e++)
        vars[3 + e] = (fd_var){"expert", ex[e], n * d, dex[e]};
    for (size_t k = 0; k < 3 + ne; k++)
        vv[k] = ref_dup(vars[k].x, vars[k].n);
    double *rd = ref_dup(r, n * d);
    gate_ctx c = {n, in, ne, d, rd};
    /* forward value vs reference, through unit cotangents */
    for (size_t k = 0; k < n * d; k++) {
        double *basis = calloc(n * d, sizeof *basis);
        basis[k] = 1;
        gate_ctx ck = c;
        ck.r = basis;
        ck_assert(fabs(y[k] - gate_f(vv, &ck)) < FWD_TOL);
        free(basis);
    }
    ASSERT_FD(vars, 3 + ne, gate_f, &c);
    /* expert gradients accumulate across mixtures */
    rmtl__mix_backward(n, d, ne, g, ne, (const float *const *)ex, d, r, d, dg, ne, dex, d, 1);
    for (size_t e = 0; e < ne; e++)
        for (size_t k = 0; k < n * d; k++)
            ck_assert_float_eq_tol(dex[e][k], 2 * g[(k / d) * ne + e] * r[k], 1e-6f);
    for (size_t e = 0; e < ne; e++)
        free(ex[e]), free(dex[e]);
    for (size_t k = 0; k < 3 + ne; k++)
        free(vv[k]);
    free(x), free(r), free(dx), free(y), free(dg), free(ex), free(dex), free(gp), free(vars);
    free(vv), free(rd);
    rmtl__ws_free(&ws);
    rmtl__params_free(&ps);
}

START_TEST(test_gate_mixture)
{
    check_gate(1, 5, 3, 4);
    check_gate(4, 7, 2, 3);
    check_gate(3, 1, 1, 5);
    check_gate(5, 6, 8, 1);
}
END_TEST

/* ---- 2-token attention ----------------------------------------------------- */

typedef struct {
    size_t n, h;
    const double *r;
} attn_ctx;

static double attn_f(double *const *v, void *vc)
{
    const attn_ctx *c = vc;
    double *y = malloc(c->n * c->h * sizeof *y);
    ref_attn(c->n, c->h, v[0], v[1], v[2], y);
    double s = ref_dot(c->n * c->h, c->r, y);
    free(y);
    return s;
}

static void check_attn(size_t n, size_t h)
{
    unsigned long long seed = n * 13 + h;
    rmtl__params ps;
    rmtl__params_init(&ps);
    rmtl__rng rng;
    rmtl__rng_seed(&rng, 4, RMTL__STREAM_INIT);
    rmtl__attn at;
    ck_assert_int_eq(rmtl__attn_init(&at, &ps, "attn", h, &rng), 0);
    ck_assert_ptr_null(at.qkv.b);
    fd_fill(at.qkv.w->w, h * 3 * h, -1, 1, &seed); /* larger than Xavier: scores differ */
    rmtl__ws ws;
    rmtl__ws_init(&ws, 1);
    float *u0 = malloc(n * h * sizeof *u0), *u1 = malloc(n * h * sizeof *u1);
    float *r = malloc(n * h * sizeof *r), *du0 = malloc(n * h * sizeof *du0);
    float *du1 = malloc(n * h * sizeof *du1), *yp = malloc(n * h * sizeof *yp);
    fd_fill(u0, n * h, -1, 1, &seed);
    fd_fill(u1, n * h, -1, 1, &seed);
    fd_fill(r, n * h, -1, 1, &seed);
    const float *y;
    ck_assert_int_eq(rmtl__attn_forward(&at, &ws, n, u0, h, u1, h, &y), 0);
    ck_assert_int_eq(rmtl__attn_predict(&at, &ws, n, u0, h, u1, h, yp, h), 0);
    ck_assert(memcmp(y, yp, n * h * sizeof *yp) == 0);
    ck_assert_int_eq(rmtl__attn_backward(&at, &ws, r, h, du0, h, du1, h, 0), 0);
    double *vv[3] = {ref_dup(u0, n * h), ref_dup(u1, n * h), ref_dup(at.qkv.w->w, 3 * h * h)};
    double *yd = malloc(n * h * sizeof *yd), *rd = ref_dup(r, n * h);
    ref_attn(n, h, vv[0], vv[1], vv[2], yd);
    ck_assert(fd_maxdiff(y, yd, n * h) < FWD_TOL);
    attn_ctx c = {n, h, rd};
    fd_var vars[3] = {{"u0", u0, n * h, du0}, {"u1", u1, n * h, du1},
                      {"qkv", at.qkv.w->w, 3 * h * h, at.qkv.w->g}};
    ASSERT_FD(vars, 3, attn_f, &c);
    for (int k = 0; k < 3; k++)
        free(vv[k]);
    free(u0), free(u1), free(r), free(du0), free(du1), free(yp), free(yd), free(rd);
    rmtl__ws_free(&ws);
    rmtl__params_free(&ps);
}

START_TEST(test_attention)
{
    check_attn(1, 1);
    check_attn(3, 4);
    check_attn(2, 5);
    check_attn(1, 8);
}
END_TEST

/* ---- MLP ---------------------------------------------------------------- */

typedef struct {
    size_t n, in, n_hidden, n_lin;
    const size_t *w;     /* widths of all n_lin layers */
    double *const *mask; /* per hidden layer, or NULL entries (no dropout) */
    const double *r;
} mlp_ctx;

/* v: x, then w, b of each layer */
static double mlp_f(double *const *v, void *vc)
{
    const mlp_ctx *c = vc;
    size_t prev = c->in;
    double *h = malloc(c->n * prev * sizeof *h);
    memcpy(h, v[0], c->n * prev * sizeof *h);
    for (size_t i = 0; i < c->n_lin; i++) {
        double *z = malloc(c->n * c->w[i] * sizeof *z);
        ref_linear(c->n, prev, c->w[i], h, v[1 + 2 * i], v[2 + 2 * i], z);
        if (i < c->n_hidden) {
            ref_relu(c->n * c->w[i], z);
            if (c->mask[i])
                for (size_t k = 0; k < c->n * c->w[i]; k++)
                    z[k] *= c->mask[i][k];
        }
        free(h);
        h = z;
        prev = c->w[i];
    }
    double s = ref_dot(c->n * prev, c->r, h);
    free(h);
    return s;
}

static void check_mlp(size_t n, size_t in, const size_t *widths, size_t nw, size_t out,
                      float dropout, int train)
{
    unsigned long long seed = n * 101 + nw * 7 + out + (unsigned)train;
    rmtl__params ps;
    rmtl__params_init(&ps);
    rmtl__rng rng, drop;
    rmtl__rng_seed(&rng, 21, RMTL__STREAM_INIT);
    rmtl__rng_seed(&drop, 21, RMTL__STREAM_DROPOUT);
    rmtl__mlp m;
    ck_assert_int_eq(rmtl__mlp_init(&m, &ps, "mlp", in, widths, nw, out, dropout, &rng), 0);
    ck_assert_uint_eq(ps.n, 2 * m.n_lin);
    for (size_t i = 0; i < m.n_lin; i++) /* non-zero biases exercise the bias path */
        fd_fill(m.lin[i].b->w, m.lin[i].out, -0.3f, 0.3f, &seed);
    size_t o = m.out;
    rmtl__ws ws;
    rmtl__ws_init(&ws, 2);
    float *x = malloc(n * in * sizeof *x), *r = malloc(n * o * sizeof *r);
    float *dx = malloc(n * in * sizeof *dx), *yp = malloc(n * o * sizeof *yp);
    fd_fill(x, n * in, -1, 1, &seed);
    fd_fill(r, n * o, -1, 1, &seed);
    /* the masks the forward will draw, from a copy of its generator */
    rmtl__rng dcopy = drop;
    double *masks[8] = {0};
    size_t wl[8];
    for (size_t i = 0; i < m.n_lin; i++) {
        wl[i] = m.lin[i].out;
        if (i < m.n_hidden && train && dropout > 0) {
            float *mk = malloc(n * wl[i] * sizeof *mk);
            rmtl__dropout_mask(&dcopy, dropout, n * wl[i], mk);
            masks[i] = ref_dup(mk, n * wl[i]);
            free(mk);
        }
    }
    const float *y;
    ck_assert_int_eq(rmtl__mlp_forward(&m, &ws, n, x, in, train ? &drop : NULL, &y), 0);
    ck_assert_int_eq(rmtl__mlp_backward(&m, &ws, r, o, dx, in, 0), 0);
    if (!train || dropout == 0) {
        ck_assert_int_eq(rmtl__mlp_predict(&m, &ws, n, x, in, yp, o), 0);
        ck_assert(memcmp(y, yp, n * o * sizeof *yp) == 0);
    }
    size_t nv = 1 + 2 * m.n_lin;
    fd_var *vars = calloc(nv, sizeof *vars);
    double **vv = calloc(nv, sizeof *vv);
    vars[0] = (fd_var){"x", x, n * in, dx};
    for (size_t i = 0; i < ps.n; i++)
        vars[1 + i] = (fd_var){ps.p[i]->name, ps.p[i]->w, ps.p[i]->rows * ps.p[i]->cols,
                               ps.p[i]->g};
    for (size_t k = 0; k < nv; k++)
        vv[k] = ref_dup(vars[k].x, vars[k].n);
    double *rd = ref_dup(r, n * o);
    mlp_ctx c = {n, in, m.n_hidden, m.n_lin, wl, masks, rd};
    for (size_t k = 0; k < n * o; k++) { /* forward vs reference */
        double *basis = calloc(n * o, sizeof *basis);
        basis[k] = 1;
        mlp_ctx ck = c;
        ck.r = basis;
        ck_assert(fabs(y[k] - mlp_f(vv, &ck)) < FWD_TOL * fmax(1.0, fabs(y[k])));
        free(basis);
    }
    ASSERT_FD(vars, nv, mlp_f, &c);
    for (size_t k = 0; k < nv; k++)
        free(vv[k]);
    for (size_t i = 0; i < 8; i++)
        free(masks[i]);
    free(x), free(r), free(dx), free(yp), free(vars), free(vv), free(rd);
    rmtl__mlp_free(&m);
    rmtl__ws_free(&ws);
    rmtl__params_free(&ps);
}

START_TEST(test_mlp)
{
    static const size_t w2[2] = {5, 4}, w1[1] = {3}, w3[3] = {9, 1, 6};
    for (size_t n = 1; n <= 3; n += 2) {
        check_mlp(n, 6, w2, 2, 1, 0.0f, 0);
        check_mlp(n, 6, w2, 2, 1, 0.3f, 1);
        check_mlp(n, 6, w2, 2, 1, 0.3f, 0); /* evaluation: no dropout */
        check_mlp(n, 4, w1, 1, 0, 0.5f, 1); /* hidden last layer */
        check_mlp(n, 5, NULL, 0, 2, 0.0f, 1); /* a single Linear */
        check_mlp(n, 7, w3, 3, 3, 0.2f, 1);
    }
}
END_TEST

/* ---- losses ---------------------------------------------------------------- */

typedef struct {
    int kind; /* 0 bce, 1 bce on logits, 2 mse */
    size_t n, ld;
    const float *y, *w;
    double scale;
} loss_ctx;

static double loss_f(double *const *v, void *vc)
{
    const loss_ctx *c = vc;
    double s = 0;
    for (size_t i = 0; i < c->n; i++) {
        double x = v[0][i], y = c->y[i * c->ld], w = c->w ? c->w[i * c->ld] : 1, l;
        if (c->kind == 0)
            l = -(y * log(x) + (1 - y) * log(1 - x));
        else if (c->kind == 1) {
            double p = 1 / (1 + exp(-x));
            l = -(y * log(p) + (1 - y) * log(1 - p));
        } else
            l = (x - y) * (x - y);
        s += w * l;
    }
    return c->scale * s / (double)c->n;
}

static void check_loss(int kind, size_t n, int weighted)
{
    unsigned long long seed = n * 5 + (unsigned)kind * 2 + (unsigned)weighted;
    const size_t ld = 2;
    float *x = malloc(n * sizeof *x), *d = malloc(n * sizeof *d);
    float *y = malloc(n * ld * sizeof *y), *w = malloc(n * ld * sizeof *w);
    if (kind == 0)
        fd_fill(x, n, 0.05f, 0.95f, &seed);
    else
        fd_fill(x, n, -4, 4, &seed);
    fd_fill(y, n * ld, 0, 1, &seed);
    fd_fill(w, n * ld, 0.5f, 2, &seed);
    for (size_t i = 0; i < n; i++)
        if (kind != 2 && i % 3 != 2) /* hard labels, and some soft ones */
            y[i * ld + 1] = (float)(i % 2);
    double loss = 0;
    const float *wp = weighted ? w + 1 : NULL;
    int rc = kind == 0   ? rmtl__loss_bce(&loss, "t", n, x, y + 1, wp, ld, 0.5, d)
             : kind == 1 ? rmtl__loss_bce_logits(&loss, "t", n, x, y + 1, wp, ld, 0.5, d)
                         : rmtl__loss_mse(&loss, "t", n, x, y + 1, wp, ld, 0.5, d);
    ck_assert_int_eq(rc, 0);
    loss_ctx c = {kind, n, ld, y + 1, wp, 0.5};
    double *xd = ref_dup(x, n);
    double ref = loss_f(&xd, &c);
    ck_assert_msg(fabs(loss - ref) < 1e-6 * fmax(1, fabs(ref)), "loss %g vs %g", loss, ref);
    fd_var var = {"pred", x, n, d};
    ASSERT_FD(&var, 1, loss_f, &c);
    free(x), free(d), free(y), free(w), free(xd);
}

START_TEST(test_losses)
{
    for (int kind = 0; kind < 3; kind++)
        for (size_t n = 1; n <= 7; n += 3)
            for (int weighted = 0; weighted < 2; weighted++)
                check_loss(kind, n, weighted);
}
END_TEST

START_TEST(test_loss_extremes)
{
    /* probabilities at 0 and 1 are clamped: finite loss and gradient */
    float p[4] = {0.0f, 1.0f, 0.0f, 1.0f}, y[4] = {1, 0, 0, 1}, d[4];
    double loss;
    ck_assert_int_eq(rmtl__loss_bce(&loss, "t", 4, p, y, NULL, 1, 1.0, d), 0);
    double worst = -log((double)RMTL__BCE_EPS);
    ck_assert(fabs(loss - 2 * worst / 4) < 1e-3);
    for (int i = 0; i < 4; i++)
        ck_assert(isfinite(d[i]));
    ck_assert(d[0] < 0 && d[1] > 0); /* still pulls the wrong ones back */
    /* logits: no overflow for large |z|; gradient σ(z) − y */
    float z[4] = {80.0f, -80.0f, 30.0f, -30.0f}, t[4] = {0, 1, 1, 0};
    ck_assert_int_eq(rmtl__loss_bce_logits(&loss, "t", 4, z, t, NULL, 1, 4.0, d), 0);
    ck_assert(fabs(loss - 160.0) < 1e-4);
    ck_assert(fabs(d[0] - 1.0) < 1e-6 && fabs(d[1] + 1.0) < 1e-6);
    ck_assert(fabs(d[2]) < 1e-12 && fabs(d[3]) < 1e-12);
    /* d may be NULL, n may be 0 */
    ck_assert_int_eq(rmtl__loss_mse(&loss, "t", 4, z, t, NULL, 1, 1.0, NULL), 0);
    ck_assert_int_eq(rmtl__loss_mse(&loss, "t", 0, z, t, NULL, 1, 1.0, d), 0);
    ck_assert(loss == 0.0);
}
END_TEST

Suite *rmtl_test_nn_suite(void)
{
    Suite *s = suite_create("nn");
    TCase *tc = tcase_create("gradients");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_embedding);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_dropout);
    tcase_add_test(tc, test_dropout_inplace_sizes);
    tcase_add_test(tc, test_gate_mixture);
    tcase_add_test(tc, test_attention);
    tcase_add_test(tc, test_losses);
    tcase_add_test(tc, test_loss_extremes);
    suite_add_tcase(s, tc);
    TCase *slow = rmtl_slow_tcase(s, "gradients_slow", 120);
    tcase_add_test(slow, test_linear);
    tcase_add_test(slow, test_mlp);
    return s;
}
