/*
 * Trainable parameters and the list that owns them.
 *
 * Every weight matrix of a network is one rmtl__param, created through its
 * owner's rmtl__params list; modules keep borrowed pointers (stable: the
 * list stores pointers) and the list frees everything. Anything that must
 * visit all weights (the optimizer, checkpoints by name, clone, soft target
 * updates, gradient all-reduce) iterates the list: ps->p[0..n).
 *
 * Sparse parameters (embedding tables) track which rows their gradient
 * touched since the last zero_grad, so that zeroing, the norm and the lazy
 * Adam update cost O(touched rows), not O(table).
 */
#ifndef RMTL_NN_PARAM_H
#define RMTL_NN_PARAM_H

#include "core/rng.h"

#include <stddef.h>
#include <stdint.h>

#define RMTL__NAME_MAX 64

typedef struct rmtl__param {
    char name[RMTL__NAME_MAX]; /* "<layer>.<part>", unique in its list */
    float *w, *g;              /* rows × cols, row-major; g accumulates */
    float *m, *v;              /* Adam moments; NULL until the first step */
    size_t rows, cols;
    int sparse;                /* row-sparse gradient: see touched */
    int frozen;                /* backward skips g, the optimizer skips it */
    unsigned char *touched;    /* sparse: per-row flag */
    size_t *touched_rows;      /* sparse: rows touched, in order of first touch */
    size_t n_touched;
} rmtl__param;

typedef struct rmtl__params {
    rmtl__param **p;
    size_t n, cap;
    /* Bumped by everything here that writes weights (the optimizer, copy,
     * soft update, checkpoint loading): caches derived from the weights
     * (src/mtl/fold.c) compare it to know they are current. */
    uint64_t version;
} rmtl__params;

void rmtl__params_init(rmtl__params *ps);
/* Frees every parameter and the list. Accepts a zeroed or NULL list. */
void rmtl__params_free(rmtl__params *ps);
/* Appends a zero-filled rows×cols parameter named `name` (weights and
 * gradient allocated; Adam moments later). RMTL_EINVAL for an empty shape,
 * a duplicate or too long name; RMTL_ENOMEM. *out may be NULL. */
int rmtl__params_add(rmtl__params *ps, rmtl__param **out, const char *name, size_t rows,
                     size_t cols, int sparse);
/* NULL when absent. */
rmtl__param *rmtl__params_find(const rmtl__params *ps, const char *name);
/* Total number of weights. */
size_t rmtl__params_size(const rmtl__params *ps);

/* Marks a row of a sparse parameter as touched. */
static inline void rmtl__param_touch(rmtl__param *p, size_t row)
{
    if (!p->touched[row]) {
        p->touched[row] = 1;
        p->touched_rows[p->n_touched++] = row;
    }
}

/* g = 0 (sparse: the touched rows only, then forgets them). */
void rmtl__params_zero_grad(rmtl__params *ps);
void rmtl__params_freeze(rmtl__params *ps, int frozen);

/* Weights of dst = weights of src. Both lists must hold the same names and
 * shapes in the same order (the same architecture built the same way),
 * else RMTL_EINVAL naming the first difference and nothing is changed. */
int rmtl__params_copy(rmtl__params *dst, const rmtl__params *src);
/* Soft target update dst ← τ·src + (1−τ)·dst, same matching rule. */
int rmtl__params_soft_update(rmtl__params *dst, const rmtl__params *src, float tau);

/* Xavier/Glorot uniform: U(−a, a), a = sqrt(6 / (rows + cols)). */
void rmtl__param_xavier(rmtl__param *p, rmtl__rng *rng);

#endif
