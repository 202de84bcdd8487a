/* BLIS calls (bli_sgemm_ex with a per-call rntm_t) and the reference GEMM. */
#include "nn/gemm.h"

#include <blis.h>

void rmtl__gemm(const rmtl__rt *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                float alpha, const float *a, size_t lda, const float *b, size_t ldb, float beta,
                float *c, size_t ldc)
{
    /* A fresh rntm_t on the stack per call: BLIS may write to it, and
     * serving threads share handles, so nothing here is shared. */
    rmtl__blis_ensure();
    rntm_t rntm;
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads(rt && rt->threads > 0 ? rt->threads : 1, &rntm);
    if (m == 0 || n == 0)
        return;
    if (k == 0) {
        /* BLIS treats k == 0 as C = beta·C; keep our beta == 0 contract. */
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    bli_sgemm_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k,
                 &alpha, (float *)a, (inc_t)lda, 1, (float *)b, (inc_t)ldb, 1, &beta, c,
                 (inc_t)ldc, 1, NULL, &rntm);
}

void rmtl__gemv_row(size_t n, size_t k, const float *x, const float *b, size_t ldb, float beta,
                    float *y)
{
    rmtl__blis_ensure();
    if (n == 0)
        return;
    if (k == 0) {
        for (size_t j = 0; j < n; j++)
            y[j] = beta == 0.0f ? 0.0f : beta * y[j];
        return;
    }
    rntm_t rntm;
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads(1, &rntm);
    float one = 1.0f;
    /* y = Bᵀ·x with B stored k×n row-major: transposed operand, no copy */
    bli_sgemv_ex(BLIS_TRANSPOSE, BLIS_NO_CONJUGATE, (dim_t)k, (dim_t)n, &one, (float *)b,
                 (inc_t)ldb, 1, (float *)x, 1, &beta, y, 1, NULL, &rntm);
}

void rmtl__gemm_ref(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                    const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                    size_t ldc)
{
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t p = 0; p < k; p++) {
                double av = trans_a ? a[p * lda + i] : a[i * lda + p];
                double bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            double old = beta == 0.0f ? 0.0 : (double)beta * c[i * ldc + j];
            c[i * ldc + j] = (float)(alpha * s + old);
        }
    }
}
