/* The embedding's first Linear, backward by distinct id and by scalar
 * block (embed_linear.h). */
#include "nn/embed_linear.h"

#include "core/internal.h"
#include "nn/kernels.h"

#include <string.h>

/* One grouped field: its distinct table rows and their sums of dY. */
typedef struct rmtl__group {
    size_t f, u;   /* field, distinct ids */
    size_t *rows;  /* u table rows, in order of first appearance */
    float *G;      /* u × out: dY summed per id */
} rmtl__group;

/* Field f is differentiated by distinct id (the rule of embed_linear.h). */
static int rmtl__grouped(const rmtl__embed *e, size_t f, size_t max_vocab)
{
    return rmtl__embed_vocab(e, f) <= max_vocab;
}

int rmtl__embed_linear_reads_x(const rmtl__embed *e, size_t max_vocab)
{
    for (size_t f = 0; f < e->n_fields; f++)
        if (!rmtl__grouped(e, f, max_vocab))
            return 1;
    return max_vocab == 0;
}

/* Floats of workspace for n items of type T, rounded up. */
#define RMTL__WS_ITEMS(ws, n, T) ((T *)rmtl__ws_alloc((ws), ((n) * sizeof(T) + 3) / 4))

/* Distinct ids of the field (their index in rows through mark, the size
 * of its vocabulary) and G, in one pass over the batch. */
static void rmtl__group_make(const rmtl__embed *e, rmtl__group *g, size_t n, const int32_t *cat,
                             size_t ldc, int32_t *mark, const float *dy, size_t lddy, size_t out)
{
    size_t base = e->offset[g->f], vocab = rmtl__embed_vocab(e, g->f);
    for (size_t v = 0; v < vocab; v++)
        mark[v] = -1;
    g->u = 0;
    for (size_t i = 0; i < n; i++) {
        size_t r = rmtl__embed_row(e, g->f, cat[i * ldc + g->f]);
        int fresh = mark[r - base] < 0; /* the id's first row sets its sum */
        if (fresh) {
            mark[r - base] = (int32_t)g->u;
            g->rows[g->u++] = r;
        }
        const float *y = dy + i * lddy;
        rmtl__rows_sum(out, g->G + (size_t)mark[r - base] * out, !fresh, &y, 1, NULL, NULL, 0);
    }
}

/* dW_f and dE for a grouped field (Eu, dE: u × d workspace). */
static void rmtl__group_grads(const rmtl__embed *e, const rmtl__linear *l, const rmtl__rt *rt,
                              const rmtl__group *g, float *Eu, float *dE)
{
    size_t d = e->dim, out = l->out;
    rmtl__param *t = e->table, *w = l->w;
    const float *Wf = w->w + g->f * d * out;
    if (!w->frozen) {
        for (size_t v = 0; v < g->u; v++)
            memcpy(Eu + v * d, t->w + g->rows[v] * d, d * sizeof(float));
        rmtl__gemm(rt, RMTL__TRANS, RMTL__NOTRANS, d, out, g->u, 1.0f, Eu, d, g->G, out, 1.0f,
                   w->g + g->f * d * out, out);
    }
    if (t->frozen)
        return;
    rmtl__gemm(rt, RMTL__NOTRANS, RMTL__TRANS, g->u, d, out, 1.0f, g->G, out, Wf, out, 0.0f, dE,
               d);
    for (size_t v = 0; v < g->u; v++) {
        float *restrict gr = t->g + g->rows[v] * d;
        const float *restrict s = dE + v * d;
        for (size_t j = 0; j < d; j++)
            gr[j] += s[j];
        rmtl__param_touch(t, g->rows[v]);
    }
}

/* The block s·Ws + bs (s: n × in->in, row stride lds) at x column col;
 * c = 1ᵀ·dY; S, M: in->in × out workspace. */
static void rmtl__scalar_grads(const rmtl__linear *in, const rmtl__linear *l,
                               const rmtl__rt *rt, size_t n, const float *s, size_t lds,
                               size_t col, const float *dy, size_t lddy, const float *c,
                               float *S, float *M, float *ds, size_t ldds)
{
    size_t ns = in->in, d = in->out, out = l->out;
    const float *Wb = l->w->w + col * out; /* the block's d rows of W */
    rmtl__gemm(rt, RMTL__TRANS, RMTL__NOTRANS, ns, out, n, 1.0f, s, lds, dy, lddy, 0.0f, S, out);
    if (!l->w->frozen) {
        float *g = l->w->g + col * out;
        rmtl__gemm(rt, RMTL__TRANS, RMTL__NOTRANS, d, out, ns, 1.0f, in->w->w, d, S, out, 1.0f, g,
                   out);
        if (in->b)
            rmtl__gemm(rt, RMTL__TRANS, RMTL__NOTRANS, d, out, 1, 1.0f, in->b->w, d, c, out, 1.0f,
                       g, out);
    }
    if (!in->w->frozen) {
        rmtl__gemm(rt, RMTL__NOTRANS, RMTL__TRANS, ns, d, out, 1.0f, S, out, Wb, out, 1.0f,
                   in->w->g, d);
        if (in->b)
            rmtl__gemm(rt, RMTL__NOTRANS, RMTL__TRANS, 1, d, out, 1.0f, c, out, Wb, out, 1.0f,
                       in->b->g, d);
    }
    if (ds) {
        rmtl__gemm(rt, RMTL__NOTRANS, RMTL__NOTRANS, ns, out, d, 1.0f, in->w->w, d, Wb, out, 0.0f,
                   M, out);
        rmtl__gemm(rt, RMTL__NOTRANS, RMTL__TRANS, n, ns, out, 1.0f, dy, lddy, M, out, 0.0f, ds,
                   ldds);
    }
}

int rmtl__embed_linear_backward(const rmtl__embed *e, const rmtl__linear *extra,
                                const rmtl__linear *l, rmtl__ws *ws, size_t n,
                                const int32_t *cat, size_t ldc, const float *num, size_t ldn,
                                const float *u, size_t ldu, const float *x, size_t ldx,
                                const float *dy, size_t lddy, float *du, size_t lddu,
                                size_t max_vocab)
{
    size_t F = e->n_fields, d = e->dim, out = l->out;
    size_t ns = e->n_num > (extra ? extra->in : 0) ? e->n_num : (extra ? extra->in : 0);
    if (n == 0)
        return 0;
    rmtl__param *t = e->table, *w = l->w;
    int table = t && !t->frozen;
    /* the plan: the grouped fields, and the widest run of exact ones */
    rmtl__group *g = RMTL__WS_ITEMS(ws, F ? F : 1, rmtl__group);
    if (!g)
        return RMTL_ENOMEM;
    size_t n_g = 0, maxv = 0, run = 0, maxrun = 0;
    for (size_t f = 0; f < F; f++) {
        if (rmtl__grouped(e, f, max_vocab)) {
            size_t vocab = rmtl__embed_vocab(e, f);
            g[n_g++].f = f;
            maxv = vocab > maxv ? vocab : maxv;
            run = 0;
        } else {
            maxrun = ++run > maxrun ? run : maxrun;
        }
    }
    /* every buffer before any gradient moves, so that RMTL_ENOMEM changes
     * nothing */
    int grouping = n_g && (table || !w->frozen);
    float *c = rmtl__ws_alloc(ws, out), *S = rmtl__ws_alloc(ws, (ns ? ns : 1) * out);
    float *M = rmtl__ws_alloc(ws, (ns ? ns : 1) * out);
    float *dx = table && maxrun ? rmtl__ws_alloc(ws, n * maxrun * d) : NULL;
    int32_t *mark = grouping ? RMTL__WS_ITEMS(ws, maxv, int32_t) : NULL;
    size_t umax = 0;
    int ok = c && S && M && (dx || !table || !maxrun) && (mark || !grouping);
    for (size_t k = 0; ok && grouping && k < n_g; k++) {
        size_t vocab = rmtl__embed_vocab(e, g[k].f), cap = vocab < n ? vocab : n;
        umax = cap > umax ? cap : umax;
        g[k].rows = RMTL__WS_ITEMS(ws, cap, size_t);
        g[k].G = rmtl__ws_alloc(ws, cap * out);
        ok = g[k].rows && g[k].G;
    }
    float *Eu = ok && grouping ? rmtl__ws_alloc(ws, umax * d) : NULL;
    float *dE = Eu ? rmtl__ws_alloc(ws, umax * d) : NULL;
    if (!ok || (grouping && !dE))
        return RMTL_ENOMEM;
    memset(c, 0, out * sizeof *c);
    if (rmtl__colsum(n, out, dy, lddy, c))
        return rmtl__numeric_error(w->name, "non-finite gradient");
    if (l->b && !l->b->frozen)
        for (size_t j = 0; j < out; j++)
            l->b->g[j] += c[j];
    /* runs [f0, f1) of exact fields: the products over the batch */
    for (size_t f0 = 0; f0 < F;) {
        if (rmtl__grouped(e, f0, max_vocab)) {
            f0++;
            continue;
        }
        size_t f1 = f0 + 1;
        while (f1 < F && !rmtl__grouped(e, f1, max_vocab))
            f1++;
        size_t k = (f1 - f0) * d;
        if (!w->frozen)
            rmtl__gemm(&ws->rt, RMTL__TRANS, RMTL__NOTRANS, k, out, n, 1.0f, x + f0 * d, ldx, dy,
                       lddy, 1.0f, w->g + f0 * d * out, out);
        if (table) {
            rmtl__gemm(&ws->rt, RMTL__NOTRANS, RMTL__TRANS, n, k, out, 1.0f, dy, lddy,
                       w->w + f0 * d * out, out, 0.0f, dx, k);
            rmtl__embed_scatter(e, n, cat, ldc, f0, f1, dx, k);
        }
        f0 = f1;
    }
    for (size_t k = 0; grouping && k < n_g; k++) { /* each G is read while still in cache */
        rmtl__group_make(e, &g[k], n, cat, ldc, mark, dy, lddy, out);
        rmtl__group_grads(e, l, &ws->rt, &g[k], Eu, dE);
    }
    /* the scalar blocks */
    size_t col = F * d;
    if (e->n_num) {
        rmtl__scalar_grads(&e->num, l, &ws->rt, n, num, ldn, col, dy, lddy, c, S, M, NULL, 0);
        col += d;
    }
    if (extra)
        rmtl__scalar_grads(extra, l, &ws->rt, n, u, ldu, col, dy, lddy, c, S, M, du, lddu);
    return 0;
}
