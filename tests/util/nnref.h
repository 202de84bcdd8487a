/* Double-precision reference forwards of the neural-core layers, written
 * as plain loops independently of src/nn, for gradient checks. All
 * matrices contiguous row-major. */
#ifndef RMTL_TESTS_NNREF_H
#define RMTL_TESTS_NNREF_H

#include <stddef.h>

/* y (n×out) = x (n×in)·W (in×out) + b (b may be NULL). */
void ref_linear(size_t n, size_t in, size_t out, const double *x, const double *w,
                const double *b, double *y);
void ref_relu(size_t n, double *x);
void ref_sigmoid(size_t n, double *x);
void ref_softmax_rows(size_t n, size_t k, double *x);
/* 2-token attention: W is H×3H ([Q|K|V]), output n×H. */
void ref_attn(size_t n, size_t h, const double *u0, const double *u1, const double *w,
              double *y);
/* Σ_i r_i·y_i. */
double ref_dot(size_t n, const double *r, const double *y);
/* Float array converted to a freshly malloc'ed double array. */
double *ref_dup(const float *x, size_t n);

#endif
