/* Linear layer: three GEMMs and two fused row passes (see linear.h). */
#include "nn/linear.h"

#include "core/internal.h"
#include "nn/kernels.h"

#include <stdio.h>
#include <string.h>

int rmtl__linear_init(rmtl__linear *l, rmtl__params *ps, const char *name, size_t in,
                      size_t out, int bias, rmtl__rng *rng)
{
    char pname[RMTL__NAME_MAX + 8];
    l->w = l->b = NULL;
    l->in = in;
    l->out = out;
    snprintf(pname, sizeof pname, "%s.w", name);
    int rc = rmtl__params_add(ps, &l->w, pname, in, out, 0);
    if (rc)
        return rc;
    rmtl__param_xavier(l->w, rng);
    if (bias) {
        snprintf(pname, sizeof pname, "%s.b", name);
        rc = rmtl__params_add(ps, &l->b, pname, 1, out, 0);
    }
    return rc;
}

static int rmtl__linear_fwd(const rmtl__linear *l, const rmtl__rt *rt, size_t n, const float *x,
                            size_t ldx, float *y, size_t ldy, int relu)
{
    if (n == 0)
        return 0;
    /* One row (serving latency): gemv reads W once; gemm would pack it. */
    if (n == 1)
        rmtl__gemv_row(l->out, l->in, x, l->w->w, l->out, 0.0f, y);
    else
        rmtl__gemm(rt, RMTL__NOTRANS, RMTL__NOTRANS, n, l->out, l->in, 1.0f, x, ldx, l->w->w,
                   l->out, 0.0f, y, ldy);
    if (rmtl__bias_act(n, l->out, y, ldy, l->b ? l->b->w : NULL, relu))
        return rmtl__numeric_error(l->w->name, rmtl__nonfinite(n, l->in, x, ldx)
                                                   ? "non-finite input"
                                                   : "non-finite output");
    return 0;
}

int rmtl__linear_forward(const rmtl__linear *l, const rmtl__rt *rt, size_t n, const float *x,
                         size_t ldx, float *y, size_t ldy)
{
    return rmtl__linear_fwd(l, rt, n, x, ldx, y, ldy, 0);
}

int rmtl__linear_forward_relu(const rmtl__linear *l, const rmtl__rt *rt, size_t n,
                              const float *x, size_t ldx, float *y, size_t ldy)
{
    return rmtl__linear_fwd(l, rt, n, x, ldx, y, ldy, 1);
}

int rmtl__linear_forward_pre(const rmtl__linear *l, size_t n, const float *pre, size_t ldpre,
                             float *y, size_t ldy, int relu)
{
    if (y != pre)
        for (size_t i = 0; i < n; i++)
            memcpy(y + i * ldy, pre + i * ldpre, l->out * sizeof *y);
    if (rmtl__bias_act(n, l->out, y, ldy, NULL, relu))
        return rmtl__numeric_error(l->w->name, "non-finite output");
    return 0;
}

int rmtl__linear_backward(const rmtl__linear *l, const rmtl__rt *rt, size_t n, const float *x,
                          size_t ldx, const float *dy, size_t lddy, float *dx, size_t lddx,
                          int acc)
{
    return rmtl__linear_backward_cols(l, rt, n, x, ldx, dy, lddy, dx, lddx, acc, 0, l->in);
}

int rmtl__linear_backward_cols(const rmtl__linear *l, const rmtl__rt *rt, size_t n,
                               const float *x, size_t ldx, const float *dy, size_t lddy,
                               float *dx, size_t lddx, int acc, size_t c0, size_t c1)
{
    int learn = !l->w->frozen;
    if (n == 0)
        return 0;
    /* The guard shares the pass that the bias gradient needs anyway, and
     * runs before the GEMMs. */
    if (rmtl__colsum(n, l->out, dy, lddy, l->b && learn ? l->b->g : NULL))
        return rmtl__numeric_error(l->w->name, "non-finite gradient");
    if (learn)
        rmtl__gemm(rt, RMTL__TRANS, RMTL__NOTRANS, l->in, l->out, n, 1.0f, x, ldx, dy, lddy,
                   1.0f, l->w->g, l->out);
    if (dx && c1 > c0)
        rmtl__gemm(rt, RMTL__NOTRANS, RMTL__TRANS, n, c1 - c0, l->out, 1.0f, dy, lddy,
                   l->w->w + c0 * l->out, l->out, acc ? 1.0f : 0.0f, dx, lddx);
    return 0;
}
