/* Double-precision reference layers (see nnref.h). */
#include "util/nnref.h"

#include <math.h>
#include <stdlib.h>

void ref_linear(size_t n, size_t in, size_t out, const double *x, const double *w,
                const double *b, double *y)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < out; j++) {
            double s = b ? b[j] : 0.0;
            for (size_t k = 0; k < in; k++)
                s += x[i * in + k] * w[k * out + j];
            y[i * out + j] = s;
        }
}

void ref_relu(size_t n, double *x)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0 ? x[i] : 0;
}

void ref_sigmoid(size_t n, double *x)
{
    for (size_t i = 0; i < n; i++)
        x[i] = 1.0 / (1.0 + exp(-x[i]));
}

void ref_softmax_rows(size_t n, size_t k, double *x)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < k; j++)
            s += exp(x[i * k + j]);
        for (size_t j = 0; j < k; j++)
            x[i * k + j] = exp(x[i * k + j]) / s;
    }
}

void ref_attn(size_t n, size_t h, const double *u0, const double *u1, const double *w,
              double *y)
{
    double *p0 = malloc(n * 3 * h * sizeof *p0), *p1 = malloc(n * 3 * h * sizeof *p1);
    ref_linear(n, h, 3 * h, u0, w, NULL, p0);
    ref_linear(n, h, 3 * h, u1, w, NULL, p1);
    for (size_t i = 0; i < n; i++) {
        const double *p[2] = {p0 + i * 3 * h, p1 + i * 3 * h};
        double s[2];
        for (int t = 0; t < 2; t++) {
            s[t] = 0;
            for (size_t j = 0; j < h; j++)
                s[t] += p[t][j] * p[t][h + j];
            s[t] /= sqrt((double)h);
        }
        double a0 = exp(s[0]) / (exp(s[0]) + exp(s[1])), a1 = 1.0 - a0;
        for (size_t j = 0; j < h; j++)
            y[i * h + j] = a0 * p[0][2 * h + j] + a1 * p[1][2 * h + j];
    }
    free(p0);
    free(p1);
}

double ref_dot(size_t n, const double *r, const double *y)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += r[i] * y[i];
    return s;
}

double *ref_dup(const float *x, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}
