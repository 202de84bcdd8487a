/*
 * Loops of our own across the runtime's threads.
 *
 * Between two products, BLIS's OpenMP build leaves its team of threads
 * spinning at a barrier (docs/neural-core.md); a serial loop of ours there
 * (the folded gathers, the Adam update) keeps all but one core idle. When
 * BLIS runs on OpenMP, such a loop runs as a parallel region of the
 * calling thread: libgomp hands it the same team, so no thread is created
 * that BLIS would not create anyway. Otherwise (BLIS on pthreads or
 * single-threaded, a build without OpenMP, or a call from inside the
 * host's own parallel region) the loop runs on the calling thread.
 *
 * A loop is split into contiguous ranges [begin, end) of its n items. The
 * caller's function must write disjoint memory for disjoint ranges and
 * compute each item the same way whatever the range, so results do not
 * depend on the thread count (tests compare 1 and 2 threads bit for bit).
 */
#ifndef RMTL_NN_PAR_H
#define RMTL_NN_PAR_H

#include "nn/gemm.h"

#include <stddef.h>

typedef void (*rmtl__par_fn)(void *ctx, size_t begin, size_t end);

/* Runs fn over [0, n) in at most rt->threads ranges of at least `grain`
 * items each (NULL rt: one range). */
void rmtl__par_for(const rmtl__rt *rt, size_t n, size_t grain, rmtl__par_fn fn, void *ctx);

/* The threads rmtl__par_for would use for a large loop: rt->threads when
 * loops run on BLIS's team, else 1. */
int rmtl__par_threads(const rmtl__rt *rt);

#endif
