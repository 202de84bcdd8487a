/* The one place that talks to BLIS: row-major float32 matrix products. */
#ifndef RMTL_NN_GEMM_H
#define RMTL_NN_GEMM_H

#include <stddef.h>

/* Threading for the BLIS calls of one handle or context (docs/architecture.md, "Threads"):
 * each owner carries its own count; nothing global is ever changed. */
typedef struct rmtl__rt {
    int threads; /* >= 1 */
} rmtl__rt;

enum { RMTL__NOTRANS = 0, RMTL__TRANS = 1 };

/* C (m×n) = alpha·op(A)·op(B) + beta·C, all row-major. op(A) is m×k, op(B)
 * is k×n; A and B are given as stored, with their row strides (lda, ldb)
 * and a transpose flag, so no transpose is ever copied. beta == 0 means C
 * is overwritten (its old contents, even NaN, are ignored). */
void rmtl__gemm(const rmtl__rt *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                float alpha, const float *a, size_t lda, const float *b, size_t ldb, float beta,
                float *c, size_t ldc);

/* Row vector times matrix: y (1×n) = x (1×k)·B (k×n, row stride ldb)
 * + beta·y, through BLIS's gemv (bli_sgemv_ex, one thread: it never
 * allocates or packs, so one product costs a pass over B). beta == 0
 * means y is overwritten. For the serving paths of small networks, where
 * rmtl__gemm with m = 1 would pack B on every call. With the skx kernel
 * set and n a multiple of 8 it computes exactly what rmtl__gemm computes
 * for one row (both run one FMA chain per output over k in order); other
 * n or kernel sets may differ in the last bits, so callers that need the
 * two to agree check it (src/fusion/serve.c). */
void rmtl__gemv_row(size_t n, size_t k, const float *x, const float *b, size_t ldb, float beta,
                    float *y);

/* Reference path with the same contract: plain loops, double accumulation.
 * Tests compare the BLIS path against it. */
void rmtl__gemm_ref(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                    const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                    size_t ldc);

/* Initialises BLIS once per process with the kernel set `requested`
 * ("auto", "skx", "zen3", "haswell", "generic"; NULL = "auto"). The first
 * call decides: BLIS fixes its kernels at initialisation. Returns 0, or
 * RMTL_ECONFIG if `requested` is unknown or needs CPU features this CPU
 * lacks. Thread-safe. */
int rmtl__blis_init(const char *requested);
/* rmtl__blis_init(NULL) unless BLIS is already initialised by us; every
 * GEMM calls it first, so no BLIS call can run on BLIS's own choice. */
void rmtl__blis_ensure(void);
/* Name of the active BLIS kernel set ("skx", "generic", ...). */
const char *rmtl__blis_arch(void);
/* What auto would choose on this CPU, or NULL to leave BLIS's own choice. */
const char *rmtl__blis_arch_auto(void);
/* What runtime.threads = 0 means: rmtl_usable_cpus() (core/cpus.c). */
int rmtl__ncores(void);

#endif
