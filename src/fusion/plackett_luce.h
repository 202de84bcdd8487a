/*
 * Plackett–Luce (PL) ranking distributions over the candidates of one
 * request (SPEC §4b, docs/fusion.md "List-aware training"): the behaviour
 * policy's Gumbel-top-l sample and its log-probability, and the actor's
 * expected examination-weighted value of the top l with its gradient.
 *
 * Candidates carry a multiplicity c_j >= 1: a logged sample of m of the
 * n − l unshown candidates stands for all of them with c = (n − l)/m (a
 * shown candidate has c = 1), so every normaliser Σ_j c_j·exp(z_j) is an
 * unbiased estimate of the one over all n candidates.
 */
#ifndef RMTL_FUSION_PLACKETT_LUCE_H
#define RMTL_FUSION_PLACKETT_LUCE_H

#include <stddef.h>
#include <stdint.h>

/* Gumbel(0, 1) from a splitmix64 state: z/τ + Gumbel ranks as a PL sample. */
double rmtl__pl_gumbel(uint64_t *state);

/* log P(the first `l` candidates, in order, are the top l | scores z, c):
 * candidates 0..l-1 are the shown list best first (c = 1 each), the rest
 * (n − l of them) the logged unshown ones with multiplicities c (NULL: 1).
 * Σ_k [z_k − log Σ_{j not yet placed} c_j·exp(z_j)]. */
double rmtl__pl_list_logp(const double *z, const double *c, size_t n, size_t l);

/* The successive-softmax relaxation of the expected value of a PL ranking
 * (exact for l = 1): slot k draws j with P_k(j) = c_j·u_j·exp(z_j) / S_k,
 * u starts at 1 and u_j ← u_j·(1 − P_k(j)/c_j) after each slot, and
 *   J = Σ_{k<l} e_k · Σ_j P_k(j)·q_j.
 * Returns J; gz (may be NULL) receives ∂J/∂z_j (set, not added). `work`
 * holds 2·l·n + 3·n + l doubles. slot0 (may be NULL) receives P_0 (n values). */
double rmtl__pl_value(const double *z, const double *c, const double *q, const double *e,
                      size_t n, size_t l, double *gz, double *work, double *slot0);

/* Expected examination of every candidate under PL(z, c) over the top l:
 * exam[j] = Σ_{k<l} e_k·P(a copy of j is placed at slot k), all of j's c_j
 * copies together. Monte Carlo over `samples` prefixes drawn from the PL
 * (splitmix64 `seed`), Rao–Blackwellised: each sampled prefix adds every
 * candidate's exact conditional probability at each slot, so slot 0 is
 * exact and later slots average over prefixes only. `work` holds 3·n
 * doubles. Safe for peaked distributions: a slot whose candidates left all
 * lie hundreds of logits below the placed ones is renormalised by their
 * own max. */
void rmtl__pl_exam(double *exam, const double *z, const double *c, const double *e, size_t n,
                   size_t l, size_t samples, uint64_t seed, double *work);

/* KL(π ‖ π_b) of the first-slot distributions π = softmax(z + log c),
 * π_b = softmax(zb + log c); gz (may be NULL) receives ∂KL/∂z (set). */
double rmtl__pl_first_kl(const double *z, const double *zb, const double *c, size_t n,
                         double *gz);

#endif
