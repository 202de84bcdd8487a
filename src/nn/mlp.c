/* MLP composition over Linear layers with fused ReLU/dropout (see mlp.h). */
#include "nn/mlp.h"

#include "nn/kernels.h"

#include "core/internal.h"
#include "nn/dropout.h"

#include <stdio.h>
#include <string.h>

int rmtl__mlp_init(rmtl__mlp *m, rmtl__params *ps, const char *name, size_t in,
                   const size_t *widths, size_t n_widths, size_t out, float dropout,
                   rmtl__rng *rng)
{
    memset(m, 0, sizeof *m);
    if (in == 0 || (n_widths == 0 && out == 0))
        return rmtl__error(RMTL_EINVAL, "mlp '%s': needs an input width and at least one layer",
                           name);
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return rmtl__error(RMTL_EINVAL, "mlp '%s': dropout %g is not in [0, 1)", name,
                           (double)dropout);
    for (size_t i = 0; i < n_widths; i++)
        if (widths[i] == 0)
            return rmtl__error(RMTL_EINVAL, "mlp '%s': layer %zu has width 0", name, i);
    m->n_hidden = n_widths;
    m->n_lin = n_widths + (out > 0);
    m->in = in;
    m->out = out > 0 ? out : widths[n_widths - 1];
    m->dropout = dropout;
    m->lin = rmtl__calloc(m->n_lin, sizeof *m->lin);
    m->h = rmtl__calloc(m->n_lin, sizeof *m->h);
    if (!m->lin || !m->h) {
        rmtl__mlp_free(m);
        return rmtl__error(RMTL_ENOMEM, "mlp '%s': out of memory", name);
    }
    size_t prev = in;
    for (size_t i = 0; i < m->n_lin; i++) {
        char lname[RMTL__NAME_MAX + 24];
        size_t w = i < n_widths ? widths[i] : out;
        if (i < n_widths)
            snprintf(lname, sizeof lname, "%s.%zu", name, i);
        else
            snprintf(lname, sizeof lname, "%s.out", name);
        int rc = rmtl__linear_init(&m->lin[i], ps, lname, prev, w, 1, rng);
        if (rc) {
            rmtl__mlp_free(m);
            return rc;
        }
        prev = w;
    }
    return 0;
}

void rmtl__mlp_free(rmtl__mlp *m)
{
    if (!m)
        return;
    rmtl__free(m->lin);
    rmtl__free(m->h);
    memset(m, 0, sizeof *m);
}

/* One layer of the forward pass: Linear (or pre, its output computed
 * elsewhere), and for hidden layers ReLU and (training) dropout. */
static int rmtl__mlp_layer(const rmtl__mlp *m, size_t i, const rmtl__rt *rt, size_t n,
                           const float *x, size_t ldx, const float *pre, size_t ldpre, float *y,
                           size_t ldy, rmtl__rng *drop)
{
    const rmtl__linear *l = &m->lin[i];
    int hidden = i < m->n_hidden;
    int rc = pre      ? rmtl__linear_forward_pre(l, n, pre, ldpre, y, ldy, hidden)
             : hidden ? rmtl__linear_forward_relu(l, rt, n, x, ldx, y, ldy)
                      : rmtl__linear_forward(l, rt, n, x, ldx, y, ldy);
    if (rc == 0 && hidden && drop && m->dropout > 0.0f)
        rmtl__dropout_inplace(drop, m->dropout, n * l->out, y); /* ldy == out here */
    return rc;
}

/* Where layer 0's output goes when it comes from pre: over pre itself
 * when the strides allow (one pass instead of a copy), else NULL. */
static float *rmtl__mlp_over_pre(const rmtl__mlp *m, float *pre, size_t ldpre)
{
    return pre && ldpre == m->lin[0].out ? pre : NULL;
}

int rmtl__mlp_forward_pre(rmtl__mlp *m, rmtl__ws *ws, size_t n, const float *x, size_t ldx,
                          float *pre, size_t ldpre, rmtl__rng *dropout_rng, const float **y)
{
    m->x = x;
    m->ldx = ldx;
    m->n = n;
    m->train = dropout_rng != NULL;
    const float *in = x;
    size_t ldin = ldx;
    for (size_t i = 0; i < m->n_lin; i++) {
        size_t w = m->lin[i].out;
        float *h = i ? NULL : rmtl__mlp_over_pre(m, pre, ldpre);
        h = h ? h : rmtl__ws_alloc(ws, n * w);
        if (!h)
            return RMTL_ENOMEM;
        int rc = rmtl__mlp_layer(m, i, &ws->rt, n, in, ldin, i ? NULL : pre, ldpre, h, w,
                                 dropout_rng);
        if (rc)
            return rc;
        m->h[i] = h;
        in = h;
        ldin = w;
    }
    *y = in;
    return 0;
}

int rmtl__mlp_forward(rmtl__mlp *m, rmtl__ws *ws, size_t n, const float *x, size_t ldx,
                      rmtl__rng *dropout_rng, const float **y)
{
    return rmtl__mlp_forward_pre(m, ws, n, x, ldx, NULL, 0, dropout_rng, y);
}

int rmtl__mlp_backward(rmtl__mlp *m, rmtl__ws *ws, const float *dy, size_t lddy, float *dx,
                       size_t lddx, int acc)
{
    return rmtl__mlp_backward_cols(m, ws, dy, lddy, dx, lddx, acc, 0, m->in);
}

int rmtl__mlp_backward_upper(rmtl__mlp *m, rmtl__ws *ws, const float *dy, size_t lddy,
                             const float **g0, size_t *ldg0)
{
    size_t n = m->n;
    float s = m->train && m->dropout > 0.0f ? 1.0f / (1.0f - m->dropout) : 1.0f;
    const float *g = dy; /* gradient w.r.t. the output of layer i */
    size_t ldg = lddy;
    float *gbuf = NULL;  /* writable copy of g, once below the top layer */
    for (size_t i = m->n_lin; i-- > 0;) {
        const rmtl__linear *l = &m->lin[i];
        if (i < m->n_hidden) {
            float *dz = gbuf ? gbuf : rmtl__ws_alloc(ws, n * l->out);
            if (!dz)
                return RMTL_ENOMEM;
            rmtl__relu_grad(n, l->out, m->h[i], l->out, g, ldg, dz, l->out, s);
            g = dz;
            ldg = l->out;
        }
        if (i == 0)
            break;
        float *dxi = gbuf = rmtl__ws_alloc(ws, n * l->in);
        if (!dxi)
            return RMTL_ENOMEM;
        int rc = rmtl__linear_backward(l, &ws->rt, n, m->h[i - 1], m->lin[i - 1].out, g, ldg,
                                       dxi, l->in, 0);
        if (rc)
            return rc;
        g = dxi;
        ldg = l->in;
    }
    *g0 = g;
    *ldg0 = ldg;
    return 0;
}

int rmtl__mlp_backward_cols(rmtl__mlp *m, rmtl__ws *ws, const float *dy, size_t lddy,
                            float *dx, size_t lddx, int acc, size_t c0, size_t c1)
{
    const float *g;
    size_t ldg;
    int rc = rmtl__mlp_backward_upper(m, ws, dy, lddy, &g, &ldg);
    return rc ? rc
              : rmtl__linear_backward_cols(&m->lin[0], &ws->rt, m->n, m->x, m->ldx, g, ldg, dx,
                                           lddx, acc, c0, c1);
}

/* Evaluation pass; with pre, layer 0's Linear is already done (bias
 * included) and only its activation remains. */
static int rmtl__mlp_eval(const rmtl__mlp *m, rmtl__ws *ws, size_t n, const float *x,
                          size_t ldx, float *pre, size_t ldpre, float *y, size_t ldy)
{
    size_t maxw = 0;
    for (size_t i = 0; i + 1 < m->n_lin; i++)
        maxw = m->lin[i].out > maxw ? m->lin[i].out : maxw;
    float *buf[2] = {NULL, NULL};
    if (m->n_lin > 1) {
        buf[0] = rmtl__ws_alloc(ws, n * maxw);
        buf[1] = m->n_lin > 2 ? rmtl__ws_alloc(ws, n * maxw) : buf[0];
        if (!buf[0] || !buf[1])
            return RMTL_ENOMEM;
    }
    const float *in = x;
    size_t ldin = ldx;
    for (size_t i = 0; i < m->n_lin; i++) {
        int last = i + 1 == m->n_lin;
        float *out = last ? y : i ? buf[i & 1] : rmtl__mlp_over_pre(m, pre, ldpre);
        out = out ? out : buf[i & 1];
        size_t ldout = last ? ldy : m->lin[i].out;
        int rc = rmtl__mlp_layer(m, i, &ws->rt, n, in, ldin, i ? NULL : pre, ldpre, out, ldout,
                                 NULL);
        if (rc)
            return rc;
        in = out;
        ldin = ldout;
    }
    return 0;
}

int rmtl__mlp_predict(const rmtl__mlp *m, rmtl__ws *ws, size_t n, const float *x, size_t ldx,
                      float *y, size_t ldy)
{
    return rmtl__mlp_eval(m, ws, n, x, ldx, NULL, 0, y, ldy);
}

int rmtl__mlp_predict_pre(const rmtl__mlp *m, rmtl__ws *ws, size_t n, float *pre, size_t ldpre,
                          float *y, size_t ldy)
{
    return rmtl__mlp_eval(m, ws, n, NULL, 0, pre, ldpre, y, ldy);
}
