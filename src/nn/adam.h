/*
 * Adam over a parameter list (PyTorch semantics, so results compare with
 * the reference work):
 *   g ← c·g + λ·w            clip coefficient c (global norm), L2 decay λ
 *   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
 *   w ← w − lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + ε)
 * Weight decay is the coupled L2 form of torch.optim.Adam(weight_decay=),
 * which the reference used (SPEC: 1e-6), not AdamW's decoupled form.
 *
 * Sparse parameters (embedding tables) get LAZY Adam: only the rows the
 * batch touched are updated, moments and L2 decay included; untouched rows
 * keep weights and moments as they are (TensorFlow's LazyAdam). The bias
 * corrections use the global step t.
 *
 * A step refuses non-finite gradients before it touches anything:
 * RMTL_ENUMERIC naming the layer, weights and moments unchanged. Frozen
 * parameters are skipped. The step leaves the gradients in place; call
 * rmtl__params_zero_grad() before the next backward.
 */
#ifndef RMTL_NN_ADAM_H
#define RMTL_NN_ADAM_H

#include "nn/gemm.h"
#include "nn/param.h"

#include <stdint.h>

typedef struct rmtl__adam {
    double lr, beta1, beta2, eps;
    double weight_decay; /* L2, coupled */
    double clip_norm;    /* > 0: clip the global gradient norm to this */
    uint64_t t;         /* steps taken (checkpointed with the moments) */
} rmtl__adam;

/* lr, weight decay; β1 0.9, β2 0.999, ε 1e-8, no clipping, t 0. */
void rmtl__adam_init(rmtl__adam *opt, double lr, double weight_decay);
/* One update of every non-frozen parameter of ps. Allocates the moments
 * of parameters that have none (first step). *grad_norm (may be NULL):
 * the global L2 norm of the gradients before clipping. The update runs
 * across rt's threads (nn/par.h; NULL: one), with the same result. */
int rmtl__adam_step(rmtl__adam *opt, const rmtl__rt *rt, rmtl__params *ps, double *grad_norm);

#endif
