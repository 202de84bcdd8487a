/*
 * Losses over n samples, returning the weighted mean and its gradient:
 *   loss = scale · (1/n) · Σ_i w_i · ℓ_i,   d_i = scale · w_i · ℓ'_i / n
 * (the mean is over n, not Σw: SPEC's mean_batch(w · ℓ)). Predictions p
 * and the gradient d are contiguous; targets y and weights w (NULL: all 1)
 * share the row stride ld, so one task's column of an n × T label matrix
 * is read in place. d may be NULL (evaluation). RMTL_ENUMERIC naming the
 * loss `name` for a non-finite prediction, target or weight.
 */
#ifndef RMTL_NN_LOSS_H
#define RMTL_NN_LOSS_H

#include <stddef.h>

/* Probabilities are clamped to [eps, 1 − eps] before the logs. */
#define RMTL__BCE_EPS 1e-7f

/* Binary cross-entropy on probabilities. The gradient is the derivative at
 * the clamped probability (straight through the clamp), so a confidently
 * wrong prediction still learns. */
int rmtl__loss_bce(double *loss, const char *name, size_t n, const float *p, const float *y,
                   const float *w, size_t ld, double scale, float *dp);
/* The same on logits z (p = σ(z)): max(z,0) − z·y + log(1 + e^−|z|),
 * gradient σ(z) − y; no clamp needed. */
int rmtl__loss_bce_logits(double *loss, const char *name, size_t n, const float *z,
                          const float *y, const float *w, size_t ld, double scale, float *dz);
/* Squared error (q − t)², for critics. */
int rmtl__loss_mse(double *loss, const char *name, size_t n, const float *q, const float *t,
                   const float *w, size_t ld, double scale, float *dq);

#endif
