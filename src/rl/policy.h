/*
 * An MTL model as the RL actor's policy π(s) = the model's T
 * probabilities: a forward pass that keeps what the backward needs, and a
 * backward from dL/dπ (the critics' action-gradients), which the model's
 * own training pass (src/mtl/net.c: loss and backward in one call) does
 * not offer. Built on the same recording graph (src/mtl/graph.h), so
 * every architecture works without code of its own.
 */
#ifndef RMTL_RL_POLICY_H
#define RMTL_RL_POLICY_H

#include "mtl/model.h"

typedef struct rmtl__policy_pass {
    rmtl__pass ps;
    const rmtl__net *net;
    const rmtl_batch *b;
    int x0, z[RMTL__TASKS_MAX];
    float *x;    /* n × D0 input rows */
    float *S, *P; /* T columns of n rows: σ(z_k) and the outputs π_k */
} rmtl__policy_pass;

/* Forward of a checked batch through m's network in training mode
 * without dropout (the reference runs its actor in evaluation mode),
 * using m's training workspace (the caller resets it first, then may take
 * buffers of its own from it) and tape. probs: n × T, row stride ldp. The
 * pass stays valid until the workspace is reset. */
int rmtl__policy_forward(rmtl__policy_pass *pp, rmtl_model *m, const rmtl_batch *b,
                         float *probs, size_t ldp);
/* Backward of that pass from dL/dπ (n × T, row stride lddp): ACCUMULATES
 * the gradient of every parameter of the network. */
int rmtl__policy_backward(rmtl__policy_pass *pp, const float *dp, size_t lddp);

#endif
