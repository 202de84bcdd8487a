/* Central finite differences in double precision and test data. */
#include "util/fd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

double fd_check(const fd_var *vars, size_t nv, fd_fn f, void *ctx, char *worst, size_t cap)
{
    const double h = 1e-6;
    double **v = calloc(nv, sizeof *v), max_err = 0.0;
    for (size_t k = 0; k < nv; k++) {
        v[k] = malloc((vars[k].n ? vars[k].n : 1) * sizeof **v);
        for (size_t i = 0; i < vars[k].n; i++)
            v[k][i] = vars[k].x[i];
    }
    if (cap)
        worst[0] = '\0';
    for (size_t k = 0; k < nv; k++) {
        if (!vars[k].grad)
            continue;
        for (size_t i = 0; i < vars[k].n; i++) {
            double x0 = v[k][i];
            v[k][i] = x0 + h;
            double fp = f(v, ctx);
            v[k][i] = x0 - h;
            double fm = f(v, ctx);
            v[k][i] = x0;
            double num = (fp - fm) / (2 * h), ana = vars[k].grad[i];
            double scale = fmax(fmax(fabs(num), fabs(ana)), 1e-3);
            double err = fabs(num - ana) / scale;
            if (!(err <= max_err)) { /* NaN counts as worst */
                max_err = isnan(err) ? INFINITY : err;
                snprintf(worst, cap, "%s[%zu]: analytic %.9g, numeric %.9g", vars[k].name, i,
                         ana, num);
            }
        }
    }
    for (size_t k = 0; k < nv; k++)
        free(v[k]);
    free(v);
    return max_err;
}

static double fd_next(unsigned long long *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) * 0x1.0p-53;
}

void fd_fill(float *x, size_t n, float lo, float hi, unsigned long long *seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * fd_next(seed));
}

void fd_fill_away(float *x, size_t n, float lo, float hi, unsigned long long *seed)
{
    for (size_t i = 0; i < n; i++) {
        float m = (float)(lo + (hi - lo) * fd_next(seed));
        x[i] = fd_next(seed) < 0.5 ? -m : m;
    }
}

double fd_maxdiff(const float *a, const double *b, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]) / fmax(fabs(b[i]), 1.0);
        if (!(d <= worst))
            worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}
