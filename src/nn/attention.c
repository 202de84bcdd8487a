/* 2-token self-attention of AITM (see attention.h). */
#include "nn/attention.h"

#include "core/internal.h"

#include <math.h>
#include <string.h>

int rmtl__attn_init(rmtl__attn *at, rmtl__params *ps, const char *name, size_t dim,
                    rmtl__rng *rng)
{
    memset(at, 0, sizeof *at);
    if (dim == 0)
        return rmtl__error(RMTL_EINVAL, "attention '%s': dimension 0", name);
    at->dim = dim;
    return rmtl__linear_init(&at->qkv, ps, name, dim, 3 * dim, 0, rng);
}

/* Projections into p[0], p[1] (n × 3H), weights into a (n × 2), output
 * into y. */
static int rmtl__attn_run(const rmtl__attn *at, const rmtl__rt *rt, size_t n,
                          const float *const u[2], const size_t ldu[2], float *const p[2],
                          float *a, float *y, size_t ldy)
{
    size_t h = at->dim, w = 3 * h;
    for (int t = 0; t < 2; t++) {
        int rc = rmtl__linear_forward(&at->qkv, rt, n, u[t], ldu[t], p[t], w);
        if (rc)
            return rc;
    }
    float inv = 1.0f / sqrtf((float)h);
    for (size_t i = 0; i < n; i++) {
        float s[2];
        for (int t = 0; t < 2; t++) {
            const float *q = p[t] + i * w, *k = q + h;
            float dot = 0.0f;
            for (size_t j = 0; j < h; j++)
                dot += q[j] * k[j];
            s[t] = dot * inv;
        }
        /* softmax of two: a_0 = σ(s_0 − s_1), stable either way round */
        float mx = s[0] > s[1] ? s[0] : s[1];
        float e0 = expf(s[0] - mx), e1 = expf(s[1] - mx);
        float a0 = e0 / (e0 + e1), a1 = e1 / (e0 + e1);
        a[2 * i] = a0;
        a[2 * i + 1] = a1;
        const float *v0 = p[0] + i * w + 2 * h, *v1 = p[1] + i * w + 2 * h;
        float *yr = y + i * ldy;
        for (size_t j = 0; j < h; j++)
            yr[j] = a0 * v0[j] + a1 * v1[j];
    }
    return 0;
}

int rmtl__attn_forward(rmtl__attn *at, rmtl__ws *ws, size_t n, const float *u0, size_t ld0,
                       const float *u1, size_t ld1, const float **y)
{
    size_t h = at->dim;
    float *p0 = rmtl__ws_alloc(ws, n * 3 * h), *p1 = p0 ? rmtl__ws_alloc(ws, n * 3 * h) : NULL;
    float *a = p1 ? rmtl__ws_alloc(ws, n * 2) : NULL;
    float *out = a ? rmtl__ws_alloc(ws, n * h) : NULL;
    if (!out)
        return RMTL_ENOMEM;
    at->u[0] = u0;
    at->u[1] = u1;
    at->ldu[0] = ld0;
    at->ldu[1] = ld1;
    at->n = n;
    at->p[0] = p0;
    at->p[1] = p1;
    at->a = a;
    *y = out;
    return rmtl__attn_run(at, &ws->rt, n, at->u, at->ldu, at->p, a, out, h);
}

int rmtl__attn_backward(rmtl__attn *at, rmtl__ws *ws, const float *dy, size_t lddy, float *du0,
                        size_t lddu0, float *du1, size_t lddu1, int acc)
{
    size_t n = at->n, h = at->dim, w = 3 * h;
    float *dp[2];
    dp[0] = rmtl__ws_alloc(ws, n * w);
    dp[1] = dp[0] ? rmtl__ws_alloc(ws, n * w) : NULL;
    if (!dp[1])
        return RMTL_ENOMEM;
    float inv = 1.0f / sqrtf((float)h);
    for (size_t i = 0; i < n; i++) {
        const float *dr = dy + i * lddy;
        float a[2] = {at->a[2 * i], at->a[2 * i + 1]}, da[2];
        for (int t = 0; t < 2; t++) {
            const float *v = at->p[t] + i * w + 2 * h;
            float dot = 0.0f;
            for (size_t j = 0; j < h; j++)
                dot += dr[j] * v[j];
            da[t] = dot;
        }
        float mean = a[0] * da[0] + a[1] * da[1];
        for (int t = 0; t < 2; t++) {
            float ds = a[t] * (da[t] - mean) * inv;
            const float *q = at->p[t] + i * w, *k = q + h;
            float *dq = dp[t] + i * w, *dk = dq + h, *dv = dk + h;
            for (size_t j = 0; j < h; j++) {
                dq[j] = ds * k[j];
                dk[j] = ds * q[j];
                dv[j] = a[t] * dr[j];
            }
        }
    }
    float *du[2] = {du0, du1};
    size_t lddu[2] = {lddu0, lddu1};
    for (int t = 0; t < 2; t++) {
        int rc = rmtl__linear_backward(&at->qkv, &ws->rt, n, at->u[t], at->ldu[t], dp[t], w,
                                       du[t], lddu[t], acc);
        if (rc)
            return rc;
    }
    return 0;
}

int rmtl__attn_predict(const rmtl__attn *at, rmtl__ws *ws, size_t n, const float *u0,
                       size_t ld0, const float *u1, size_t ld1, float *y, size_t ldy)
{
    size_t h = at->dim;
    float *p[2];
    p[0] = rmtl__ws_alloc(ws, n * 3 * h);
    p[1] = p[0] ? rmtl__ws_alloc(ws, n * 3 * h) : NULL;
    float *a = p[1] ? rmtl__ws_alloc(ws, n * 2) : NULL;
    if (!a)
        return RMTL_ENOMEM;
    const float *u[2] = {u0, u1};
    size_t ldu[2] = {ld0, ld1};
    return rmtl__attn_run(at, &ws->rt, n, u, ldu, p, a, y, ldy);
}
