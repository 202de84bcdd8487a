/* Test helpers for the neural core: a central finite-difference gradient
 * checker over double-precision reference functions, and random data. */
#ifndef RMTL_TESTS_FD_H
#define RMTL_TESTS_FD_H

#include <stddef.h>

/* One differentiable input of a reference function: its value (float, as
 * the layer saw it) and the layer's analytic gradient. */
typedef struct fd_var {
    const char *name;
    const float *x;
    size_t n;
    const float *grad;
} fd_var;

/* Scalar function of the variables, evaluated in double: v[k] holds
 * vars[k] converted to double (and perturbed by the checker). */
typedef double (*fd_fn)(double *const *v, void *ctx);

/* Compares every analytic gradient element with the central difference
 * (f(x+h) − f(x−h))/2h, h = 1e-6, and returns the largest error
 * |a − n| / max(|a|, |n|, 1e-3). A description of the worst element goes
 * to `worst`. */
double fd_check(const fd_var *vars, size_t nv, fd_fn f, void *ctx, char *worst, size_t cap);

/* Deterministic test data: uniform in [lo, hi). */
void fd_fill(float *x, size_t n, float lo, float hi, unsigned long long *seed);
/* Values in ±[lo, hi): away from ReLU's kink at 0. */
void fd_fill_away(float *x, size_t n, float lo, float hi, unsigned long long *seed);
/* Largest |a − b| / max(|b|, 1) over n values, b in double. */
double fd_maxdiff(const float *a, const double *b, size_t n);

#endif
