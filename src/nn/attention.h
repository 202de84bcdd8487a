/*
 * AITM's 2-token self-attention (docs/models.md). For each row, the two tokens
 * u_0 (the previous task's transferred representation) and u_1 (this
 * task's own) are projected by shared Linear maps Q, K, V (H → H, no bias,
 * as in the AITM reference); each token's score is s_t = <Q_t, K_t>/√H,
 * a = softmax(s_0, s_1), and the output is a_0·V_0 + a_1·V_1.
 * Q, K and V are one Linear H → 3H ("<name>.w", columns [Q | K | V]), so
 * each token takes one GEMM each way. A module: see mlp.h.
 */
#ifndef RMTL_NN_ATTENTION_H
#define RMTL_NN_ATTENTION_H

#include "nn/linear.h"
#include "nn/ws.h"

typedef struct rmtl__attn {
    rmtl__linear qkv;
    size_t dim;
    /* the last forward() */
    const float *u[2];
    size_t ldu[2], n;
    float *p[2]; /* n × 3H projections of each token */
    float *a;    /* n × 2 attention weights */
} rmtl__attn;

int rmtl__attn_init(rmtl__attn *at, rmtl__params *ps, const char *name, size_t dim,
                    rmtl__rng *rng);
/* *y: n × H, in ws. u0 and u1 must stay valid until backward. */
int rmtl__attn_forward(rmtl__attn *at, rmtl__ws *ws, size_t n, const float *u0, size_t ld0,
                       const float *u1, size_t ld1, const float **y);
/* Accumulates the projection gradients; du0/du1 set (acc = 0) or added
 * (acc = 1), each skipped when NULL. */
int rmtl__attn_backward(rmtl__attn *at, rmtl__ws *ws, const float *dy, size_t lddy, float *du0,
                        size_t lddu0, float *du1, size_t lddu1, int acc);
int rmtl__attn_predict(const rmtl__attn *at, rmtl__ws *ws, size_t n, const float *u0,
                       size_t ld0, const float *u1, size_t ld1, float *y, size_t ldy);

#endif
