/* BCE (probabilities, logits) and MSE with per-sample weights. */
#include "nn/loss.h"

#include "core/internal.h"

#include <math.h>

enum rmtl__loss_kind { RMTL__BCE, RMTL__BCE_LOGITS, RMTL__MSE };

/* ℓ(x, y) and dℓ/dx in double. */
static double rmtl__loss_point(enum rmtl__loss_kind kind, double x, double y, double *d)
{
    switch (kind) {
    case RMTL__BCE: {
        double lo = RMTL__BCE_EPS, hi = 1.0 - (double)RMTL__BCE_EPS;
        double p = x < lo ? lo : x > hi ? hi : x;
        *d = (1.0 - y) / (1.0 - p) - y / p;
        return -(y * log(p) + (1.0 - y) * log1p(-p));
    }
    case RMTL__BCE_LOGITS: {
        double e = exp(-fabs(x));
        *d = (x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e)) - y;
        return (x > 0 ? x : 0.0) - x * y + log1p(e);
    }
    default:
        *d = 2.0 * (x - y);
        return (x - y) * (x - y);
    }
}

static int rmtl__loss(enum rmtl__loss_kind kind, double *loss, const char *name, size_t n,
                      const float *x, const float *y, const float *w, size_t ld, double scale,
                      float *dx)
{
    static const char *const what[] = {"prediction", "target", "weight"};
    /* Check everything first: a refused batch leaves dx untouched. */
    for (size_t i = 0; i < n; i++) {
        float v[3] = {x[i], y[i * ld], w ? w[i * ld] : 1.0f};
        for (int k = 0; k < 3; k++)
            if (!isfinite(v[k]))
                return rmtl__error(RMTL_ENUMERIC, "loss '%s': non-finite %s at row %zu", name,
                                   what[k], i);
    }
    double sum = 0.0, c = n ? scale / (double)n : 0.0;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i * ld] : 1.0, d;
        sum += wi * rmtl__loss_point(kind, x[i], y[i * ld], &d);
        if (dx)
            dx[i] = (float)(c * wi * d);
    }
    *loss = c * sum;
    return 0;
}

int rmtl__loss_bce(double *loss, const char *name, size_t n, const float *p, const float *y,
                   const float *w, size_t ld, double scale, float *dp)
{
    return rmtl__loss(RMTL__BCE, loss, name, n, p, y, w, ld, scale, dp);
}

int rmtl__loss_bce_logits(double *loss, const char *name, size_t n, const float *z,
                          const float *y, const float *w, size_t ld, double scale, float *dz)
{
    return rmtl__loss(RMTL__BCE_LOGITS, loss, name, n, z, y, w, ld, scale, dz);
}

int rmtl__loss_mse(double *loss, const char *name, size_t n, const float *q, const float *t,
                   const float *w, size_t ld, double scale, float *dq)
{
    return rmtl__loss(RMTL__MSE, loss, name, n, q, t, w, ld, scale, dq);
}
