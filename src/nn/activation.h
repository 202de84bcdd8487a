/*
 * Elementwise activations and the row softmax. Forward functions may run
 * in place (y == x). Backward functions take the forward OUTPUT y (enough
 * for all three, so callers keep one buffer) and write dx = f'·dy, or add
 * it when acc != 0; dx may alias dy when acc == 0.
 */
#ifndef RMTL_NN_ACTIVATION_H
#define RMTL_NN_ACTIVATION_H

#include <stddef.h>

void rmtl__relu(size_t n, const float *x, float *y);
void rmtl__relu_backward(size_t n, const float *y, const float *dy, float *dx, int acc);

/* Numerically stable: never evaluates exp of a positive number. */
void rmtl__sigmoid(size_t n, const float *x, float *y);
void rmtl__sigmoid_backward(size_t n, const float *y, const float *dy, float *dx, int acc);

/* Softmax of each of the n rows of k values (max-subtracted). */
void rmtl__softmax_rows(size_t n, size_t k, const float *x, size_t ldx, float *y, size_t ldy);
/* dx = y ⊙ (dy − Σ_j y_j·dy_j) per row. */
void rmtl__softmax_rows_backward(size_t n, size_t k, const float *y, size_t ldy,
                                 const float *dy, size_t lddy, float *dx, size_t lddx, int acc);

#endif
