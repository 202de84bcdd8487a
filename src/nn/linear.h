/*
 * Linear layer: Y = X·W + b with W stored in×out, so that the forward and
 * both backward products are single GEMMs on row-major data:
 *   forward   Y  = X·W            (then one fused pass: + b, guard)
 *   backward  dW += Xᵀ·dY         (GEMM, beta = 1: accumulates)
 *             db += Σ_rows dY     (one pass, fused with the guard)
 *             dX  = dY·Wᵀ (+ dX)  (GEMM; beta = 1 when accumulating)
 * Transposes are GEMM flags, never copies. Like every primitive in
 * src/nn, it is a pure function of caller buffers (row strides ld*),
 * so one layer can serve any number of threads and batch layouts.
 */
#ifndef RMTL_NN_LINEAR_H
#define RMTL_NN_LINEAR_H

#include "nn/gemm.h"
#include "nn/param.h"

typedef struct rmtl__linear {
    rmtl__param *w; /* in × out, "<name>.w" */
    rmtl__param *b; /* 1 × out, "<name>.b"; NULL without bias */
    size_t in, out;
} rmtl__linear;

/* Adds "<name>.w" (Xavier-uniform from rng) and, if bias, "<name>.b"
 * (zeros) to ps. On failure the list may hold some of them (free the
 * list). */
int rmtl__linear_init(rmtl__linear *l, rmtl__params *ps, const char *name, size_t in,
                      size_t out, int bias, rmtl__rng *rng);

/* y (n×out) = x (n×in)·W + b. RMTL_ENUMERIC naming the layer if the result
 * is not finite (the message says whether the input was). */
int rmtl__linear_forward(const rmtl__linear *l, const rmtl__rt *rt, size_t n, const float *x,
                         size_t ldx, float *y, size_t ldy);
/* The same followed by ReLU, in the same pass. */
int rmtl__linear_forward_relu(const rmtl__linear *l, const rmtl__rt *rt, size_t n,
                              const float *x, size_t ldx, float *y, size_t ldy);
/* The forward from pre (n × out, row stride ldpre): x·W + b computed
 * elsewhere (the folded input layer, src/mtl/fold.c), copied to y with
 * ReLU when relu != 0 and the same guard. y may be pre itself (same
 * stride): then nothing is copied. */
int rmtl__linear_forward_pre(const rmtl__linear *l, size_t n, const float *pre, size_t ldpre,
                             float *y, size_t ldy, int relu);
/* Accumulates dW and db from x and dy (unless frozen) and, when dx is not
 * NULL, sets dx = dy·Wᵀ (acc = 0) or adds it (acc = 1). RMTL_ENUMERIC if
 * dy is not finite: then db may hold non-finite values (the optimizer
 * refuses them; zero the gradients before retrying), dW and dx are
 * untouched. */
int rmtl__linear_backward(const rmtl__linear *l, const rmtl__rt *rt, size_t n, const float *x,
                          size_t ldx, const float *dy, size_t lddy, float *dx, size_t lddx,
                          int acc);
/* The same with dx holding only the input columns [c0, c1): n × (c1 − c0)
 * values of dy·Wᵀ, row stride lddx. */
int rmtl__linear_backward_cols(const rmtl__linear *l, const rmtl__rt *rt, size_t n,
                               const float *x, size_t ldx, const float *dy, size_t lddy,
                               float *dx, size_t lddx, int acc, size_t c0, size_t c1);

#endif
