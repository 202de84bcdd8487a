/*
 * Input layer: one embedding table for F categorical fields (field f owns
 * rows [offset[f], offset[f+1]); its row 0 is the unknown/rare id, and any
 * id outside [0, vocab[f]) reads it), plus Linear(n_num → E) of the
 * numerical features as one more field vector. Output row: the F + 1 (or F
 * without numerical features) vectors of E values, concatenated.
 *
 * The table is one sparse parameter: backward adds into the rows of the
 * batch's ids only and records them as touched (param.h), so zeroing and
 * the lazy Adam update cost O(touched rows).
 */
#ifndef RMTL_NN_EMBEDDING_H
#define RMTL_NN_EMBEDDING_H

#include "nn/linear.h"

#include <stdint.h>

typedef struct rmtl__embed {
    rmtl__param *table; /* Σ vocab × dim, "<name>.table" */
    size_t n_fields, n_num, dim;
    size_t *offset;     /* n_fields + 1 */
    rmtl__linear num;   /* "<name>.num", when n_num > 0 */
} rmtl__embed;

/* vocab[f] >= 1 rows per field (row 0 included). Xavier-uniform table.
 * On failure the module is freed; the list may hold some parameters. */
int rmtl__embed_init(rmtl__embed *e, rmtl__params *ps, const char *name, const size_t *vocab,
                     size_t n_fields, size_t n_num, size_t dim, rmtl__rng *rng);
void rmtl__embed_free(rmtl__embed *e);
/* Field f's vocabulary: its rows of the table (row 0 included). */
static inline size_t rmtl__embed_vocab(const rmtl__embed *e, size_t f)
{
    return e->offset[f + 1] - e->offset[f];
}
/* The table row of id in field f (row 0 for an id outside the vocabulary). */
static inline size_t rmtl__embed_row(const rmtl__embed *e, size_t f, int32_t id)
{
    size_t vocab = rmtl__embed_vocab(e, f);
    return e->offset[f] + (id > 0 && (size_t)id < vocab ? (size_t)id : 0);
}
/* Width of an output row. */
size_t rmtl__embed_width(const rmtl__embed *e);

/* y (n × width): cat is n × n_fields ids (row stride ldc), num n × n_num
 * (stride ldn; unused without numerical features). RMTL_ENUMERIC naming
 * "<name>.num" for non-finite numerical features. */
int rmtl__embed_forward(const rmtl__embed *e, const rmtl__rt *rt, size_t n, const int32_t *cat,
                        size_t ldc, const float *num, size_t ldn, float *y, size_t ldy);
/* For a caller that skips embed_forward (a folded input layer,
 * mtl/fold.h), whose numerical Linear would refuse a non-finite output:
 * RMTL_ENUMERIC naming that Linear if a value of num is not finite. */
int rmtl__embed_check_num(const rmtl__embed *e, size_t n, const float *num, size_t ldn);
/* Accumulates the gradients of the rows used and of the numerical Linear.
 * RMTL_ENUMERIC naming the layer if dy is not finite; then nothing was
 * accumulated into the table. */
int rmtl__embed_backward(const rmtl__embed *e, const rmtl__rt *rt, size_t n, const int32_t *cat,
                         size_t ldc, const float *num, size_t ldn, const float *dy,
                         size_t lddy);
/* The table part of that for fields [f0, f1) only: dx (n × (f1 − f0)·dim,
 * row stride lddx) holds their blocks. No guard: the caller's. */
void rmtl__embed_scatter(const rmtl__embed *e, size_t n, const int32_t *cat, size_t ldc,
                         size_t f0, size_t f1, const float *dx, size_t lddx);

#endif
