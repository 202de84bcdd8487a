/*
 * The folded input layer: a serving cache (rmtl_model_fold_embeddings).
 *
 * Every module that reads the network input x0 = [e_1 … e_F, num·Wn + bn]
 * starts with a Linear, x0·W + b, and W is the largest matrix of most
 * networks (ESMM at the reference shape: 1024 × 512 of 1.4 M weights per
 * tower). That product is linear in each field's embedding row, so it can
 * be computed once per vocabulary entry:
 *   x0·W + b = Σ_f E_f[id_f]·W_f + num·(Wn·W_num) + (b + bn·W_num)
 * where W_f are the rows of W that field f's block meets. The cache holds,
 * for all such modules side by side (columns), the rows E_f·W_f of every
 * folded field, the rows Wn·W_num and the constant row; a prediction then
 * gathers F + 1 rows and adds num_j times the numerical rows instead of
 * streaming W. Fields are folded from the smallest vocabulary up while the
 * cache fits its budget; the others keep their product with W.
 *
 * It is computed from the weights at one moment: the network's parameter
 * list version (nn/param.h) at that moment is kept, and the evaluation
 * pass uses the cache only while the version is unchanged.
 */
#ifndef RMTL_MTL_FOLD_H
#define RMTL_MTL_FOLD_H

#include "mtl/net.h"

typedef struct rmtl__fold {
    uint64_t version; /* net->ps.version it was computed from */
    size_t width;     /* Σ first-layer widths of the folded modules */
    size_t *col;      /* per module of the network: its first column, SIZE_MAX: not folded */
    size_t *row;      /* per categorical field: its first row, SIZE_MAX: not folded */
    size_t num_row;   /* first of the n_num numerical rows */
    size_t bias_row;  /* the constant row */
    size_t rows;
    float *table;     /* rows × width */
    int need_x0;      /* a field is not folded, or a module reading x0 cannot be */
} rmtl__fold;

/* Computes the cache of net within max_bytes (threads: rt). *out is NULL
 * when not even the numerical and constant rows fit. RMTL_ENOMEM. */
int rmtl__fold_build(rmtl__fold **out, const rmtl__net *net, const rmtl__rt *rt,
                     size_t max_bytes);
void rmtl__fold_free(rmtl__fold *f); /* accepts NULL */
size_t rmtl__fold_bytes(const rmtl__fold *f);

/* net's cache if it is current, else NULL. */
const rmtl__fold *rmtl__fold_current(const rmtl__net *net);

/* The first-layer outputs of the folded modules for n rows into H (n ×
 * width): gathered rows, plus the products of the unfolded fields' blocks
 * of x0 (row stride ldx0; read only when need_x0) with their rows of W. */
void rmtl__fold_pre(const rmtl__fold *f, const rmtl__net *net, const rmtl__rt *rt, size_t n,
                    const int32_t *cat, const float *num, const float *x0, size_t ldx0,
                    float *H);

#endif
