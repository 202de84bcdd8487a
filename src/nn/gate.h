/*
 * Mixture-of-experts pieces: the softmax gate g = softmax(x·W + b)
 * (Linear(D → E)) and the gated mixture y = Σ_e g[:,e] ⊙ expert_e, with
 * their backward passes. OMoE uses one gate, MMoE one per task, PLE one
 * per task and level over its own and the shared experts: experts are
 * passed as arrays of pointers, so any subset mixes without copies.
 * The gate is a module (see mlp.h for the forward/backward/predict rule);
 * the mixture is a pure function.
 */
#ifndef RMTL_NN_GATE_H
#define RMTL_NN_GATE_H

#include "nn/linear.h"
#include "nn/ws.h"

typedef struct rmtl__gate {
    rmtl__linear lin; /* D → n_experts, "<name>.w", "<name>.b" */
    /* the last forward() */
    const float *x;
    size_t ldx, n;
    float *g; /* n × n_experts */
} rmtl__gate;

int rmtl__gate_init(rmtl__gate *gt, rmtl__params *ps, const char *name, size_t in,
                    size_t n_experts, rmtl__rng *rng);
/* *g: n × n_experts gate weights (rows sum to 1), in ws. */
int rmtl__gate_forward(rmtl__gate *gt, rmtl__ws *ws, size_t n, const float *x, size_t ldx,
                       const float **g);
/* From dg (n × n_experts, gradient w.r.t. the gate weights): accumulates
 * the Linear's gradients and sets/adds dx (NULL: skipped). */
int rmtl__gate_backward(rmtl__gate *gt, rmtl__ws *ws, const float *dg, size_t lddg, float *dx,
                        size_t lddx, int acc);
int rmtl__gate_predict(const rmtl__gate *gt, rmtl__ws *ws, size_t n, const float *x,
                       size_t ldx, float *g, size_t ldg);
/* The same from pre (n × n_experts, row stride ldpre): the gate Linear's
 * output computed elsewhere (the folded input layer, src/mtl/fold.c). */
int rmtl__gate_predict_pre(const rmtl__gate *gt, size_t n, const float *pre, size_t ldpre,
                           float *g, size_t ldg);

/* y (n×d) = Σ_e g[:,e] ⊙ xs[e], every expert output n×d with row stride
 * ldx. */
void rmtl__mix_forward(size_t n, size_t d, size_t n_experts, const float *g, size_t ldg,
                       const float *const *xs, size_t ldx, float *y, size_t ldy);
/* dg[:,e] = <dy, xs[e]> per row (overwritten); dxs[e] = g[:,e]·dy, set
 * (acc = 0) or added (acc = 1) — experts shared by several mixtures
 * accumulate. dxs may be NULL (no expert gradients). */
void rmtl__mix_backward(size_t n, size_t d, size_t n_experts, const float *g, size_t ldg,
                        const float *const *xs, size_t ldx, const float *dy, size_t lddy,
                        float *dg, size_t lddg, float *const *dxs, size_t lddx, int acc);

#endif
