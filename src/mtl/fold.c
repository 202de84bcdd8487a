/* The folded input layer (see fold.h). */
#include "mtl/fold.h"

#include "nn/kernels.h"
#include "nn/par.h"

#include <string.h>

/* The Linear that a module applies to its input first, or NULL. */
static const rmtl__linear *rmtl__first_linear(const rmtl__mod *m)
{
    switch (m->kind) {
    case RMTL__MOD_MLP:
        return &m->u.mlp.lin[0];
    case RMTL__MOD_LINEAR:
        return &m->u.lin;
    case RMTL__MOD_GATE:
        return &m->u.gate.lin;
    default:
        return NULL;
    }
}

void rmtl__fold_free(rmtl__fold *f)
{
    if (!f)
        return;
    rmtl__free(f->lin);
    rmtl__free(f->col);
    rmtl__free(f->row);
    rmtl__free(f->table);
    rmtl__free(f);
}

size_t rmtl__fold_bytes(const rmtl__fold *f)
{
    return f ? f->rows * f->width * sizeof(float) : 0;
}

size_t rmtl__fold_fields(const rmtl__fold *f)
{
    size_t k = 0;
    for (size_t i = 0; f && i < f->emb->n_fields; i++)
        k += f->row[i] != SIZE_MAX;
    return k;
}

const rmtl__fold *rmtl__fold_valid(const rmtl__fold *f, uint64_t version)
{
    return f && f->version == version ? f : NULL;
}

int rmtl__fold_keep(rmtl__fold **slot, uint64_t version, size_t max_vocab)
{
    rmtl__fold *f = *slot;
    if (max_vocab && rmtl__fold_valid(f, version) && f->max_vocab == max_vocab)
        return 1;
    if (max_vocab)
        return 0;
    rmtl__fold_free(f);
    *slot = NULL;
    return 1;
}

rmtl__fold *rmtl__fold_useful(rmtl__fold *f)
{
    if (f && rmtl__fold_fields(f) == 0) {
        rmtl__fold_free(f);
        return NULL;
    }
    return f;
}

int rmtl__fold_refresh(rmtl__net *net, const rmtl__rt *rt, size_t max_vocab)
{
    if (rmtl__fold_keep(&net->fold, net->ps.version, max_vocab))
        return 0;
    rmtl__fold *f = NULL, *old = net->fold;
    net->fold = NULL;
    int rc = rmtl__fold_build(&f, net, rt, SIZE_MAX, max_vocab, old);
    net->fold = rmtl__fold_useful(f);
    return rc;
}

const rmtl__fold *rmtl__fold_current(const rmtl__net *net)
{
    return rmtl__fold_valid(net->fold, net->ps.version);
}

/* Chooses the columns of the modules and the folded fields (smallest
 * vocabularies first, each at most max_vocab, within max_bytes). 0 with
 * f->rows == 0 when not even the fixed rows fit. */
static int rmtl__fold_plan(rmtl__fold *f, const rmtl__linear *const *lin, size_t max_bytes)
{
    const rmtl__embed *e = f->emb;
    size_t F = e->n_fields, M = f->n_lin;
    f->lin = rmtl__malloc((M ? M : 1) * sizeof *f->lin);
    f->col = rmtl__malloc((M ? M : 1) * sizeof *f->col);
    f->row = rmtl__malloc((F ? F : 1) * sizeof *f->row);
    if (!f->lin || !f->col || !f->row)
        return rmtl__error(RMTL_ENOMEM, "folded input layer: out of memory");
    for (size_t i = 0; i < M; i++) {
        f->lin[i] = lin[i];
        f->col[i] = lin[i] ? f->width : SIZE_MAX;
        f->width += lin[i] ? lin[i]->out : 0;
    }
    size_t row_bytes = f->width * sizeof(float);
    if (row_bytes == 0)
        return 0;
    size_t budget = max_bytes / row_bytes; /* rows */
    size_t fixed = e->n_num + (f->extra ? f->extra->in : 0) + 1;
    if (budget < fixed)
        return 0;
    budget -= fixed;
    for (size_t k = 0; k < F; k++)
        f->row[k] = SIZE_MAX;
    size_t rows = 0;
    for (;;) { /* the smallest unfolded vocabulary that still fits */
        size_t best = SIZE_MAX, best_v = SIZE_MAX;
        for (size_t k = 0; k < F; k++) {
            size_t v = rmtl__embed_vocab(e, k);
            if (f->row[k] == SIZE_MAX && v < best_v && v <= f->max_vocab && v <= budget - rows)
                best = k, best_v = v;
        }
        if (best == SIZE_MAX)
            break;
        f->row[best] = rows;
        rows += best_v;
    }
    for (size_t k = 0; k < F; k++)
        f->need_x0 |= f->row[k] == SIZE_MAX;
    f->num_row = rows;
    f->extra_row = rows + e->n_num;
    f->bias_row = f->extra_row + (f->extra ? f->extra->in : 0);
    f->rows = rows + fixed;
    return 0;
}

/* The rows (Linear(n_in → d) weights)·(its d rows of W at x0 column xcol)
 * into the table from row r, and its bias times them added to `bias`. */
static void rmtl__fold_block(rmtl__fold *f, const rmtl__rt *rt, const rmtl__linear *in,
                             size_t xcol, const rmtl__linear *l, size_t col, size_t r, float *bias)
{
    size_t d = in->out, o = l->out, W = f->width;
    const float *w = l->w->w + xcol * o;
    rmtl__gemm(rt, RMTL__NOTRANS, RMTL__NOTRANS, in->in, o, d, 1.0f, in->w->w, d, w, o, 0.0f,
               f->table + r * W + col, W);
    if (in->b)
        rmtl__gemv_row(o, d, in->b->w, w, o, 1.0f, bias);
}

/* Module l's columns of the table: the folded fields' E_f·W_f, the
 * numerical and extra blocks' rows, and the constant row. */
static void rmtl__fold_module(rmtl__fold *f, const rmtl__rt *rt, const rmtl__linear *l,
                              size_t col)
{
    const rmtl__embed *e = f->emb;
    size_t d = e->dim, o = l->out, W = f->width, fe = e->n_fields * d;
    const float *w = l->w->w;
    for (size_t k = 0; k < e->n_fields; k++) {
        if (f->row[k] == SIZE_MAX)
            continue;
        size_t v = rmtl__embed_vocab(e, k);
        rmtl__gemm(rt, RMTL__NOTRANS, RMTL__NOTRANS, v, o, d, 1.0f,
                   e->table->w + e->offset[k] * d, d, w + k * d * o, o, 0.0f,
                   f->table + f->row[k] * W + col, W);
    }
    float *bias = f->table + f->bias_row * W + col;
    if (l->b)
        memcpy(bias, l->b->w, o * sizeof *bias);
    else
        memset(bias, 0, o * sizeof *bias);
    if (e->n_num)
        rmtl__fold_block(f, rt, &e->num, fe, l, col, f->num_row, bias);
    if (f->extra)
        rmtl__fold_block(f, rt, f->extra, fe + (e->n_num ? d : 0), l, col, f->extra_row, bias);
}

int rmtl__fold_make(rmtl__fold **out, const rmtl__embed *emb, const rmtl__linear *extra,
                    const rmtl__linear *const *lin, size_t n_lin, int need_x0,
                    const rmtl__rt *rt, size_t max_bytes, size_t max_vocab, uint64_t version,
                    rmtl__fold *reuse)
{
    *out = NULL;
    rmtl__fold *f = rmtl__calloc(1, sizeof *f);
    int rc = f ? 0 : rmtl__error(RMTL_ENOMEM, "folded input layer: out of memory");
    if (!rc) {
        f->emb = emb;
        f->extra = extra;
        f->n_lin = n_lin;
        f->max_vocab = max_vocab;
        f->need_x0 = need_x0;
        rc = rmtl__fold_plan(f, lin, max_bytes);
    }
    size_t bytes = rmtl__fold_bytes(f);
    if (!rc && bytes && reuse && reuse->table_bytes >= bytes) {
        f->table = reuse->table;
        f->table_bytes = reuse->table_bytes;
        reuse->table = NULL;
    } else if (!rc && bytes) {
        f->table = rmtl__malloc(bytes);
        f->table_bytes = bytes;
        if (!f->table)
            rc = rmtl__error(RMTL_ENOMEM, "folded input layer: out of memory for %zu bytes",
                             bytes);
    }
    rmtl__fold_free(reuse);
    if (rc || bytes == 0) {
        rmtl__fold_free(f);
        return rc;
    }
    for (size_t i = 0; i < n_lin; i++)
        if (lin[i])
            rmtl__fold_module(f, rt, lin[i], f->col[i]);
    f->version = version;
    *out = f;
    return 0;
}

int rmtl__fold_build(rmtl__fold **out, const rmtl__net *net, const rmtl__rt *rt,
                     size_t max_bytes, size_t max_vocab, rmtl__fold *reuse)
{
    *out = NULL;
    size_t M = net->mods.n;
    const rmtl__linear **lin = rmtl__malloc((M ? M : 1) * sizeof *lin);
    if (!lin) {
        rmtl__fold_free(reuse);
        return rmtl__error(RMTL_ENOMEM, "folded input layer: out of memory");
    }
    int need_x0 = 0;
    for (size_t i = 0; i < M; i++) {
        const rmtl__mod *m = &net->mods.m[i];
        lin[i] = m->on_input ? rmtl__first_linear(m) : NULL;
        need_x0 |= m->on_input && !lin[i];
    }
    int rc = rmtl__fold_make(out, &net->emb, NULL, lin, M, need_x0, rt, max_bytes, max_vocab,
                             net->ps.version, reuse);
    rmtl__free(lin);
    return rc;
}

/* The gathers of rows [begin, end): per row, the sum of its rows of the
 * table (one per folded field, the constant row, and the numerical and
 * extra rows scaled by their values). */
typedef struct rmtl__fold_job {
    const rmtl__fold *f;
    const int32_t *cat;
    const float *num, *u;
    size_t ldu;
    float *H;
} rmtl__fold_job;

static void rmtl__fold_gather(void *ctx, size_t begin, size_t end)
{
    /* the rows of one output row go to the kernel in chunks of pointers */
    enum { CHUNK = 32 };
    const rmtl__fold_job *j = ctx;
    const rmtl__fold *f = j->f;
    const rmtl__embed *e = f->emb;
    size_t F = e->n_fields, W = f->width, nu = f->extra ? f->extra->in : 0;
    const float *T = f->table;
    const float *rows[CHUNK], *scaled[CHUNK];
    float a[CHUNK];
    for (size_t i = begin; i < end; i++) {
        float *h = j->H + i * W;
        size_t nr = 0, ns = 0;
        int add = 0;
        rows[nr++] = T + f->bias_row * W;
        for (size_t k = 0; k < F; k++) {
            if (f->row[k] == SIZE_MAX)
                continue;
            size_t r = f->row[k] + rmtl__embed_row(e, k, j->cat[i * F + k]) - e->offset[k];
            rows[nr++] = T + r * W;
            if (nr == CHUNK) {
                rmtl__rows_sum(W, h, add, rows, nr, NULL, NULL, 0);
                add = 1, nr = 0;
            }
        }
        for (size_t c = 0; c < e->n_num + nu; c++) {
            a[ns] = c < e->n_num ? j->num[i * e->n_num + c] : j->u[i * j->ldu + c - e->n_num];
            scaled[ns++] = T + (f->num_row + c) * W; /* the extra rows follow */
            if (ns == CHUNK) {
                rmtl__rows_sum(W, h, add, rows, nr, a, scaled, ns);
                add = 1, nr = ns = 0;
            }
        }
        if (nr || ns)
            rmtl__rows_sum(W, h, add, rows, nr, a, scaled, ns);
    }
}

void rmtl__fold_rows(const rmtl__fold *f, const rmtl__rt *rt, size_t n, const int32_t *cat,
                     const float *num, const float *u, size_t ldu, const float *x0,
                     size_t ldx0, float *H)
{
    rmtl__fold_job job = {f, cat, num, u, ldu, H};
    /* a row costs about F + 1 + n_num row reads of `width` floats */
    rmtl__par_for(rt, n, 64, rmtl__fold_gather, &job);
    const rmtl__embed *e = f->emb;
    size_t F = e->n_fields, W = f->width, d = e->dim;
    if (!f->need_x0)
        return;
    /* each run of unfolded fields: one product with its rows of W */
    for (size_t k0 = 0; k0 < F;) {
        if (f->row[k0] != SIZE_MAX) {
            k0++;
            continue;
        }
        size_t k1 = k0;
        while (k1 < F && f->row[k1] == SIZE_MAX)
            k1++;
        for (size_t i = 0; i < f->n_lin; i++) {
            const rmtl__linear *l = f->lin[i];
            if (!l)
                continue;
            size_t o = l->out, kk = (k1 - k0) * d;
            const float *w = l->w->w + k0 * d * o;
            if (n == 1)
                rmtl__gemv_row(o, kk, x0 + k0 * d, w, o, 1.0f, H + f->col[i]);
            else
                rmtl__gemm(rt, RMTL__NOTRANS, RMTL__NOTRANS, n, o, kk, 1.0f, x0 + k0 * d, ldx0,
                           w, o, 1.0f, H + f->col[i], W);
        }
        k0 = k1;
    }
}

void rmtl__fold_pre(const rmtl__fold *f, const rmtl__rt *rt, size_t n, const int32_t *cat,
                    const float *num, const float *x0, size_t ldx0, float *H)
{
    rmtl__fold_rows(f, rt, n, cat, num, NULL, 0, x0, ldx0, H);
}
