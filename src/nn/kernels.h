/*
 * Row kernels shared by the layers: the passes that go with a GEMM (bias,
 * ReLU, bias-gradient column sums) with the numeric guard fused in, so a
 * layer touches its outputs once per direction. They are written in
 * 16-wide blocks so that gcc -O2's cheap vectoriser handles them; the
 * finiteness test is integer arithmetic on the exponent bits, which
 * vectorises where isfinite() would not.
 */
#ifndef RMTL_NN_KERNELS_H
#define RMTL_NN_KERNELS_H

#include <stddef.h>

/* y[i][j] = act(y[i][j] + b[j]) over an n×m block (row stride ldy); b may
 * be NULL, act is ReLU when relu != 0. Returns non-zero if any value
 * before the activation was NaN or ±Inf. */
int rmtl__bias_act(size_t n, size_t m, float *y, size_t ldy, const float *b, int relu);
/* db[j] += Σ_i dy[i][j] (db may be NULL: check only). Returns non-zero if
 * dy holds a NaN or ±Inf. */
int rmtl__colsum(size_t n, size_t m, const float *dy, size_t lddy, float *db);
/* Non-zero if the n×m block holds a NaN or ±Inf. */
int rmtl__nonfinite(size_t n, size_t m, const float *x, size_t ldx);

/* Backward of ReLU followed by inverted dropout of scale s: dz = dh·s
 * where h > 0, else 0 (h is the layer's output after both). dz may be dh
 * when the strides match. */
void rmtl__relu_grad(size_t n, size_t m, const float *h, size_t ldh, const float *dh,
                     size_t lddh, float *dz, size_t lddz, float s);

/* y[j] (+)= Σ_r rows[r][j] + Σ_s a[s]·scaled[s][j] for j < m, added to y
 * when add != 0: the gather of the folded input layer (src/mtl/fold.c),
 * one pass over y whatever the number of rows. */
void rmtl__rows_sum(size_t m, float *y, int add, const float *const *rows, size_t n_rows,
                    const float *a, const float *const *scaled, size_t n_scaled);

/* Sets the RMTL_ENUMERIC message "layer 'L': what", where L is the layer
 * owning parameter `param_name` (its name without the last ".part"), and
 * returns RMTL_ENUMERIC. */
int rmtl__numeric_error(const char *param_name, const char *what);

#endif
