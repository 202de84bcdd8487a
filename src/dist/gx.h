/*
 * The gradient exchange of a training handle (public contract in
 * include/rmtl.h, "distributed training"): between a backward pass and the
 * optimiser step, a parameter list's gradients are packed, summed across
 * ranks by the host's callbacks, and unpacked as the global-batch mean.
 *
 * Weighting: each rank's gradients are means over its n local rows; the
 * dense buffer carries n, n·scalars and n·g, the host sums, and the
 * library divides by N = Σ n. Terms every rank adds identically (L2
 * anchors, the BC term) thus stay as they are: Σ n_r·t / N = t.
 */
#ifndef RMTL_DIST_GX_H
#define RMTL_DIST_GX_H

#include "nn/param.h"
#include "core/rng.h"
#include "rmtl.h"

typedef struct rmtl__gx {
    rmtl_grad_exchange cb;
    int on;
    float *buf;    /* the dense buffer */
    size_t cap;    /* floats */
    uint64_t *ids; /* one table's local rows ... */
    float *vals;   /* ... and their gradients */
    size_t row_cap; /* floats of vals (ids: rows) */
    uint64_t bytes_dense, bytes_sparse; /* of the last exchange: sent by this rank */
} rmtl__gx;

/* Copies `x` (NULL: clears and frees the buffers) after checking it;
 * `fn` names the public call in messages. */
int rmtl__gx_set(rmtl__gx *gx, const rmtl_grad_exchange *x, const char *fn);
void rmtl__gx_free(rmtl__gx *gx); /* accepts a zeroed one */

/* Replaces the gradients of ps's non-frozen parameters by their
 * row-weighted global mean, and scalars[0..ns) (local means over `rows`)
 * by theirs. No-op when gx is NULL or off. On failure (RMTL_EIO from a
 * callback, RMTL_ENOMEM, the sink's error) the gradients are undefined:
 * the caller zeroes them and skips the step. */
int rmtl__gx_reduce(rmtl__gx *gx, rmtl__params *ps, size_t rows, double *scalars, size_t ns,
                    const char *what);

/* A rank's own training stream: rank 0 keeps r; others re-seed it from
 * its next draw mixed with the rank. */
void rmtl__gx_fork_rng(rmtl__rng *r, uint32_t rank);

#endif
