/* Softmax gate module and the gated mixture (see gate.h). */
#include "nn/gate.h"

#include "core/internal.h"
#include "nn/activation.h"

#include <string.h>

int rmtl__gate_init(rmtl__gate *gt, rmtl__params *ps, const char *name, size_t in,
                    size_t n_experts, rmtl__rng *rng)
{
    memset(gt, 0, sizeof *gt);
    if (in == 0 || n_experts == 0)
        return rmtl__error(RMTL_EINVAL, "gate '%s': empty shape %zu → %zu", name, in, n_experts);
    return rmtl__linear_init(&gt->lin, ps, name, in, n_experts, 1, rng);
}

int rmtl__gate_predict(const rmtl__gate *gt, rmtl__ws *ws, size_t n, const float *x,
                       size_t ldx, float *g, size_t ldg)
{
    int rc = rmtl__linear_forward(&gt->lin, &ws->rt, n, x, ldx, g, ldg);
    if (rc == 0)
        rmtl__softmax_rows(n, gt->lin.out, g, ldg, g, ldg);
    return rc;
}

int rmtl__gate_predict_pre(const rmtl__gate *gt, size_t n, const float *pre, size_t ldpre,
                           float *g, size_t ldg)
{
    int rc = rmtl__linear_forward_pre(&gt->lin, n, pre, ldpre, g, ldg, 0);
    if (rc == 0)
        rmtl__softmax_rows(n, gt->lin.out, g, ldg, g, ldg);
    return rc;
}

int rmtl__gate_forward(rmtl__gate *gt, rmtl__ws *ws, size_t n, const float *x, size_t ldx,
                       const float **g)
{
    size_t k = gt->lin.out;
    float *buf = rmtl__ws_alloc(ws, n * k);
    if (!buf)
        return RMTL_ENOMEM;
    gt->x = x;
    gt->ldx = ldx;
    gt->n = n;
    gt->g = buf;
    *g = buf;
    return rmtl__gate_predict(gt, ws, n, x, ldx, buf, k);
}

int rmtl__gate_backward(rmtl__gate *gt, rmtl__ws *ws, const float *dg, size_t lddg, float *dx,
                        size_t lddx, int acc)
{
    size_t n = gt->n, k = gt->lin.out;
    float *dz = rmtl__ws_alloc(ws, n * k);
    if (!dz)
        return RMTL_ENOMEM;
    rmtl__softmax_rows_backward(n, k, gt->g, k, dg, lddg, dz, k, 0);
    return rmtl__linear_backward(&gt->lin, &ws->rt, n, gt->x, gt->ldx, dz, k, dx, lddx, acc);
}

void rmtl__mix_forward(size_t n, size_t d, size_t n_experts, const float *g, size_t ldg,
                       const float *const *xs, size_t ldx, float *y, size_t ldy)
{
    for (size_t i = 0; i < n; i++) {
        float *yr = y + i * ldy;
        for (size_t e = 0; e < n_experts; e++) {
            float ge = g[i * ldg + e];
            const float *xr = xs[e] + i * ldx;
            for (size_t j = 0; j < d; j++)
                yr[j] = (e ? yr[j] : 0.0f) + ge * xr[j];
        }
    }
}

void rmtl__mix_backward(size_t n, size_t d, size_t n_experts, const float *g, size_t ldg,
                        const float *const *xs, size_t ldx, const float *dy, size_t lddy,
                        float *dg, size_t lddg, float *const *dxs, size_t lddx, int acc)
{
    for (size_t i = 0; i < n; i++) {
        const float *dr = dy + i * lddy;
        for (size_t e = 0; e < n_experts; e++) {
            const float *xr = xs[e] + i * ldx;
            float ge = g[i * ldg + e], dot = 0.0f;
            for (size_t j = 0; j < d; j++)
                dot += dr[j] * xr[j];
            dg[i * lddg + e] = dot;
            if (!dxs)
                continue;
            float *xd = dxs[e] + i * lddx;
            for (size_t j = 0; j < d; j++)
                xd[j] = (acc ? xd[j] : 0.0f) + ge * dr[j];
        }
    }
}
