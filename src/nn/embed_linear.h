/*
 * The backward of a Linear that reads the embedding directly: the
 * training counterpart of the folded input layer (mtl/fold.h), with the
 * same input x = [e_1 … e_F | num·Wn + bn | u·Wu + bu], the last block
 * (`extra`: Linear(n_u → dim) of per-row scalars u, the critic's action)
 * optional.
 *
 * Field f's block of x repeats a table row whenever an id repeats, so
 * with G_f the rows of dY summed per distinct id v of the batch:
 *   dW_f  += Σ_i E[id_i]ᵀ·dY_i          = E[v]ᵀ·G_f    (d × out)
 *   dE[v] += Σ_{i: id_i = v} dY_i·W_fᵀ  = G_f·W_fᵀ     (one row per v)
 * Both products run over the batch's distinct ids instead of its rows;
 * G costs one memory-bound pass over dY, so a field is grouped only when
 * its vocabulary is at most max_vocab (the caller passes the rows of the
 * batch). The other fields take the exact products.
 *
 * A block s·Ws + bs of per-row scalars s (n_s of them) needs no product
 * over the batch at all: with S = sᵀ·dY (n_s × out) and c = 1ᵀ·dY,
 *   dW_s += Wsᵀ·S + bsᵀ·c,   dWs += S·W_sᵀ,   dbs += c·W_sᵀ,
 *   ds    = dY·(Ws·W_s)ᵀ    (n × n_s, for the caller's scalars).
 *
 * Equal to rmtl__linear_backward, rmtl__embed_backward and the extra
 * Linear's backward in turn, up to summation order (tests compare).
 */
#ifndef RMTL_NN_EMBED_LINEAR_H
#define RMTL_NN_EMBED_LINEAR_H

#include "nn/embedding.h"
#include "nn/ws.h"

/* Accumulates the gradients of l, of e (table rows of the batch's ids,
 * numerical Linear) and of extra (may be NULL; u: n × extra->in, row
 * stride ldu), skipping frozen parameters; when du is not NULL, sets du
 * (n × extra->in, row stride lddu) to dL/du. x (n × l->in, row stride
 * ldx) is the forward input; only the blocks of fields not grouped are
 * read. RMTL_ENUMERIC if dy is not finite, RMTL_ENOMEM if the workspace
 * cannot grow: then no gradient has changed. */
int rmtl__embed_linear_backward(const rmtl__embed *e, const rmtl__linear *extra,
                                const rmtl__linear *l, rmtl__ws *ws, size_t n,
                                const int32_t *cat, size_t ldc, const float *num, size_t ldn,
                                const float *u, size_t ldu, const float *x, size_t ldx,
                                const float *dy, size_t lddy, float *du, size_t lddu,
                                size_t max_vocab);

/* Whether that backward reads the blocks of x of e's fields: 0 when every
 * field is grouped (vocabulary at most max_vocab > 0), so a caller need
 * not build them. */
int rmtl__embed_linear_reads_x(const rmtl__embed *e, size_t max_vocab);

#endif
