/* Pearson correlation of two samples, for tests that check how much an
 * observable tells about a hidden quantity. */
#ifndef RMTL_TEST_CORR_H
#define RMTL_TEST_CORR_H

#include <math.h>
#include <stddef.h>

static inline double rmtl_test_corr(const double *x, const double *y, size_t n)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++)
        mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    for (size_t i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxy / sqrt(sxx * syy);
}

#endif
