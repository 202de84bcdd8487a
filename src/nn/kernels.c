/* Blocked row kernels with the fused numeric guard (see kernels.h). */
#include "nn/kernels.h"

#include "core/internal.h"

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define RMTL__INLINE static inline __attribute__((always_inline))
#else
#define RMTL__INLINE static inline
#endif

/* The library is built for baseline x86-64 (SSE2); these passes are the
 * only code of ours that competes with BLIS for time, so they get AVX2
 * and AVX-512 clones, chosen once by the loader (GNU ifunc). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define RMTL__CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RMTL__CLONES
#endif

enum { RMTL__BLK = 16 };

/* 1 when all exponent bits are set (NaN or ±Inf): adding one exponent
 * unit carries into the sign bit exactly then. */
RMTL__INLINE uint32_t rmtl__nf(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return ((u & 0x7f800000u) + 0x00800000u) >> 31;
}

/* One block; cnt is the constant RMTL__BLK in the hot loop, so the loop
 * below is vectorised, and the remainder of each row runs it with cnt <
 * 16. has_b and relu are constants at every call site. */
RMTL__INLINE uint32_t rmtl__bias_act_blk(float *restrict y, const float *restrict b, size_t cnt,
                                         const int has_b, const int relu)
{
    uint32_t bad = 0;
    for (size_t k = 0; k < cnt; k++) {
        float v = has_b ? y[k] + b[k] : y[k];
        bad |= rmtl__nf(v);
        y[k] = relu ? (v > 0.0f ? v : 0.0f) : v;
    }
    return bad;
}

RMTL__INLINE uint32_t rmtl__bias_act_rows(size_t n, size_t m, float *y, size_t ldy, const float *b,
                                          const int has_b, const int relu)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float *yr = y + i * ldy;
        const float *bb = has_b ? b : yr; /* never offset a NULL pointer */
        size_t j = 0;
        for (; j + RMTL__BLK <= m; j += RMTL__BLK)
            bad |= rmtl__bias_act_blk(yr + j, bb + j, RMTL__BLK, has_b, relu);
        bad |= rmtl__bias_act_blk(yr + j, bb + j, m - j, has_b, relu);
    }
    return bad;
}

RMTL__CLONES int rmtl__bias_act(size_t n, size_t m, float *y, size_t ldy, const float *b, int relu)
{
    uint32_t bad;
    if (b)
        bad = relu ? rmtl__bias_act_rows(n, m, y, ldy, b, 1, 1)
                   : rmtl__bias_act_rows(n, m, y, ldy, b, 1, 0);
    else
        bad = relu ? rmtl__bias_act_rows(n, m, y, ldy, NULL, 0, 1)
                   : rmtl__bias_act_rows(n, m, y, ldy, NULL, 0, 0);
    return bad != 0;
}

RMTL__INLINE uint32_t rmtl__colsum_blk(const float *restrict dy, float *restrict db, size_t cnt,
                                       const int has_db)
{
    uint32_t bad = 0;
    for (size_t k = 0; k < cnt; k++) {
        bad |= rmtl__nf(dy[k]);
        if (has_db)
            db[k] += dy[k];
    }
    return bad;
}

RMTL__INLINE uint32_t rmtl__colsum_rows(size_t n, size_t m, const float *dy, size_t lddy,
                                        float *db, const int has_db)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const float *r = dy + i * lddy;
        float *d = has_db ? db : NULL;
        size_t j = 0;
        for (; j + RMTL__BLK <= m; j += RMTL__BLK)
            bad |= rmtl__colsum_blk(r + j, has_db ? d + j : NULL, RMTL__BLK, has_db);
        bad |= rmtl__colsum_blk(r + j, has_db ? d + j : NULL, m - j, has_db);
    }
    return bad;
}

RMTL__CLONES int rmtl__colsum(size_t n, size_t m, const float *dy, size_t lddy, float *db)
{
    return (db ? rmtl__colsum_rows(n, m, dy, lddy, db, 1)
               : rmtl__colsum_rows(n, m, dy, lddy, NULL, 0)) != 0;
}

RMTL__CLONES int rmtl__nonfinite(size_t n, size_t m, const float *x, size_t ldx)
{
    return rmtl__colsum_rows(n, m, x, ldx, NULL, 0) != 0;
}

int rmtl__numeric_error(const char *param_name, const char *what)
{
    const char *dot = strrchr(param_name, '.');
    int len = dot ? (int)(dot - param_name) : (int)strlen(param_name);
    return rmtl__error(RMTL_ENUMERIC, "layer '%.*s': %s", len, param_name, what);
}

/* dz = dh·s where h > 0, else 0. The load of dh is unconditional so the
 * select vectorises; a non-finite dh under h <= 0 still yields 0, as the
 * plain branch did. */
RMTL__INLINE void rmtl__relu_grad_blk(float *restrict dz, const float *restrict h,
                                      const float *restrict dh, size_t cnt, float s)
{
    for (size_t k = 0; k < cnt; k++) {
        float v = dh[k] * s;
        dz[k] = h[k] > 0.0f ? v : 0.0f;
    }
}

RMTL__CLONES void rmtl__relu_grad(size_t n, size_t m, const float *h, size_t ldh,
                                  const float *dh, size_t lddh, float *dz, size_t lddz, float s)
{
    for (size_t i = 0; i < n; i++) {
        const float *hr = h + i * ldh, *gr = dh + i * lddh;
        float *zr = dz + i * lddz;
        size_t j = 0;
        for (; j + RMTL__BLK <= m; j += RMTL__BLK)
            rmtl__relu_grad_blk(zr + j, hr + j, gr + j, RMTL__BLK, s);
        rmtl__relu_grad_blk(zr + j, hr + j, gr + j, m - j, s);
    }
}

/* One block of rmtl__rows_sum; cnt is RMTL__BLK in the hot loop. */
RMTL__INLINE void rmtl__rows_sum_blk(float *restrict y, size_t j, size_t cnt, int add,
                                     const float *const *rows, size_t n_rows, const float *a,
                                     const float *const *scaled, size_t n_scaled)
{
    float acc[RMTL__BLK];
    for (size_t k = 0; k < cnt; k++)
        acc[k] = add ? y[k] : 0.0f;
    for (size_t r = 0; r < n_rows; r++) {
        const float *restrict x = rows[r] + j;
        for (size_t k = 0; k < cnt; k++)
            acc[k] += x[k];
    }
    for (size_t r = 0; r < n_scaled; r++) {
        const float *restrict x = scaled[r] + j;
        float c = a[r];
        for (size_t k = 0; k < cnt; k++)
            acc[k] += c * x[k];
    }
    for (size_t k = 0; k < cnt; k++)
        y[k] = acc[k];
}

RMTL__CLONES void rmtl__rows_sum(size_t m, float *y, int add, const float *const *rows,
                                 size_t n_rows, const float *a, const float *const *scaled,
                                 size_t n_scaled)
{
    size_t j = 0;
    for (; j + RMTL__BLK <= m; j += RMTL__BLK)
        rmtl__rows_sum_blk(y + j, j, RMTL__BLK, add, rows, n_rows, a, scaled, n_scaled);
    rmtl__rows_sum_blk(y + j, j, m - j, add, rows, n_rows, a, scaled, n_scaled);
}
