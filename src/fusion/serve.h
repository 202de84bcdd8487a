/*
 * The deployed fusion policy: a read-only copy of the actor laid out for
 * serving, and its two forward paths.
 *
 * Layout. Every layer's width is padded to a multiple of 8 with zero
 * weights and biases (a padded hidden unit is ReLU(0) = 0 and its outgoing
 * weights are 0, so the outputs do not change). The first layer's rows are
 * [user; context | item; scores]: the request part u = [user; context]·W0
 * + b0 is computed once per request (rmtl__fserve_request), and each pair
 * adds its own part: h0 = ReLU([item; scores]·W0_pair + u).
 *
 * Two paths, one result. rmtl__fserve_rows runs a block of pairs through
 * GEMMs (the batched call); rmtl__fserve_one runs one pair through
 * row-vector products (the single-pair call: a GEMM with m = 1 would pack
 * the weights on every call). Everything else — the order of the
 * additions, the bias/ReLU passes, the squash, the formula — is the same
 * code. BLIS's gemv and gemm compute each output as one FMA chain over k
 * in the same order when the output width is a multiple of 8 (the reason
 * for the padding), so the paths agree bit for bit; rmtl__fserve_build
 * checks this on the deployed weights and, should a BLIS build differ,
 * makes the single path use rmtl__gemm with m = 1 instead (exact, slower).
 */
#ifndef RMTL_FUSION_SERVE_H
#define RMTL_FUSION_SERVE_H

#include <stddef.h>

#include "nn/mlp.h"
#include "nn/ws.h"

#define RMTL__FUSE_ACT_MAX 32      /* action dim: 2 × 16 tasks */
#define RMTL__FUSE_WIDTH_MAX 2048  /* widest actor layer and pair input served on the stack */
#define RMTL__FUSE_LAYERS_MAX 9    /* 8 hidden layers + the output layer */
#define RMTL__FUSE_BLOCK 256       /* pairs per GEMM block of the batched path */

typedef struct rmtl__fserve {
    size_t n_lin;                      /* layers, the output layer included */
    size_t in_user, in_ctx, in_pair;   /* input parts */
    size_t width[RMTL__FUSE_LAYERS_MAX]; /* padded output widths */
    const float *w[RMTL__FUSE_LAYERS_MAX], *b[RMTL__FUSE_LAYERS_MAX];
    float *mem;                        /* owns every w and b */
    int gemv_exact;                    /* single path through rmtl__gemv_row */
} rmtl__fserve;

/* Builds s from the actor MLP (input in_user + in_ctx + in_pair wide, in
 * that order), then checks the single path against the batched one. On
 * failure s is unchanged. */
int rmtl__fserve_build(rmtl__fserve *s, const rmtl__mlp *actor, size_t in_user, size_t in_ctx,
                       size_t in_pair);
void rmtl__fserve_free(rmtl__fserve *s); /* accepts a zeroed one */
/* Padded width of the last layer: the row stride of rmtl__fserve_rows's z. */
size_t rmtl__fserve_out_ld(const rmtl__fserve *s);

/* u (width[0] floats) = [user; context]·W0 + b0. */
void rmtl__fserve_request(const rmtl__fserve *s, const float *user, const float *ctx, float *u);
/* The output-layer values z (out_ld floats) of one pair from its request
 * part u and pair input (in_pair floats). Stack buffers only.
 * RMTL_ENUMERIC on overflow. */
int rmtl__fserve_one(const rmtl__fserve *s, const float *u, const float *pair, float *z);
/* The same for n pairs: x is n × in_pair (row stride in_pair), z is n ×
 * out_ld; tmp holds rmtl__fserve_tmp(s, n) floats of scratch. */
int rmtl__fserve_rows(const rmtl__fserve *s, const rmtl__rt *rt, size_t n, const float *u,
                      const float *x, float *z, float *tmp);
size_t rmtl__fserve_tmp(const rmtl__fserve *s, size_t n);

#endif
