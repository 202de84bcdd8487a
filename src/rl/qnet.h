/*
 * The critic network of one task (docs/rmtl.md):
 *   x = [ embed(s) | Linear(1 → E)(a) ]          (F+1 field vectors + 1)
 *   z = tower(bottom(x))                          (bottom: hidden layers only;
 *                                                   tower: hidden layers + Linear(→1))
 *   Q = −ReLU(z) ≤ 0                              (rewards are ≤ 0 too)
 *
 * Parameter names: "emb.table", "emb.num.{w,b}" (the same layout as a
 * model's input layer, so the critic's embedding can start as a copy of
 * the actor's), "action.{w,b}", "bottom.<i>.{w,b}", "tower.<i>.{w,b}",
 * "tower.out.{w,b}". A target network is a second qnet built with the same
 * shape, so rmtl__params_copy / _soft_update pair them.
 *
 * Like the nn modules: forward() keeps what backward() needs (one pass in
 * flight); predict() is const and keeps nothing.
 */
#ifndef RMTL_RL_QNET_H
#define RMTL_RL_QNET_H

#include "nn/embedding.h"
#include "nn/mlp.h"
#include "nn/ws.h"

#include <stdint.h>

typedef struct rmtl__qnet_shape {
    const size_t *vocab; /* n_fields vocabulary sizes (id 0 included) */
    size_t n_fields, n_num, dim;
    const size_t *bottom; /* hidden widths, n_bottom >= 1 */
    size_t n_bottom;
    const size_t *tower;  /* hidden widths before the output layer, may be 0 */
    size_t n_tower;
    float dropout;
} rmtl__qnet_shape;

typedef struct rmtl__qnet {
    rmtl__params ps;
    rmtl__embed emb;
    rmtl__linear act;
    rmtl__mlp bottom, tower;
    size_t emb_width, width; /* width = emb_width + dim */
    /* the last forward() */
    size_t n;
    const int32_t *cat;
    size_t ldc;
    const float *num;
    size_t ldn;
    const float *a;
    size_t lda;
    float *x;       /* n × width, in the workspace; NULL when not needed */
    size_t group;   /* its group_vocab */
    const float *z; /* n pre-activations, in the workspace */
    struct rmtl__fold *fold; /* bottom layer 0 folded (mtl/fold.h), or NULL */
} rmtl__qnet;

/* Builds the network with Xavier weights from rng. On failure everything
 * is freed (the qnet is zeroed). */
int rmtl__qnet_init(rmtl__qnet *q, const rmtl__qnet_shape *shape, rmtl__rng *rng);
/* Accepts a zeroed qnet. */
void rmtl__qnet_free(rmtl__qnet *q);

/* Copies the embedding table and numerical Linear of `src` (an actor's
 * input layer) into the critic's. RMTL_EINVAL naming the part whose shape
 * differs; nothing is changed then. */
int rmtl__qnet_load_embed(rmtl__qnet *q, const rmtl__embed *src);

/* Keeps a folded first bottom layer (mtl/fold.h) for the current weights,
 * folding the fields of at most max_vocab ids, for the passes that follow
 * until the weights change: rebuilt when they have changed since, or when
 * max_vocab differs (so the result depends only on the weights and
 * max_vocab, never on when the cache was built); max_vocab 0 drops it.
 * Without a cache, or with rows strided otherwise than ldc = n_fields and
 * ldn = n_num, the passes take the exact path. RMTL_ENOMEM (the qnet then
 * has no cache and stays usable). */
int rmtl__qnet_refold(rmtl__qnet *q, const rmtl__rt *rt, size_t max_vocab);

/* Training forward of n states with one action each: a[i·lda] is the
 * action of row i. dropout_rng NULL: evaluation mode (kept for backward
 * all the same). q_out: n values. The inputs must stay valid until
 * backward. group_vocab > 0: the backward differentiates the first bottom
 * layer by rmtl__embed_linear_backward (nn/embed_linear.h), grouping the
 * fields whose vocabulary is at most group_vocab; with the first layer
 * folded too (rmtl__qnet_refold) and every field grouped, the pass never
 * builds the embedded input. 0: the plain layer-by-layer path that tests
 * compare it with. */
int rmtl__qnet_forward(rmtl__qnet *q, rmtl__ws *ws, size_t n, const int32_t *cat, size_t ldc,
                       const float *num, size_t ldn, const float *a, size_t lda,
                       rmtl__rng *dropout_rng, size_t group_vocab, float *q_out);
/* Backward of the last forward from dL/dQ (n values). param_grads != 0
 * accumulates every parameter's gradient; 0 leaves the parameters alone
 * (a frozen critic differentiated for the actor). da (may be NULL): dL/da
 * is written to da[i·ldda]. */
int rmtl__qnet_backward(rmtl__qnet *q, rmtl__ws *ws, const float *dq, float *da, size_t ldda,
                        int param_grads);
/* Evaluation-mode Q of n rows into q_out, nothing kept. */
int rmtl__qnet_predict(const rmtl__qnet *q, rmtl__ws *ws, size_t n, const int32_t *cat,
                       size_t ldc, const float *num, size_t ldn, const float *a, size_t lda,
                       float *q_out);

#endif
