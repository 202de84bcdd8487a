/* ReLU, sigmoid and row softmax with their backward passes. */
#include "nn/activation.h"

#include <math.h>

void rmtl__relu(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void rmtl__relu_backward(size_t n, const float *y, const float *dy, float *dx, int acc)
{
    for (size_t i = 0; i < n; i++) {
        float d = y[i] > 0.0f ? dy[i] : 0.0f;
        dx[i] = acc ? dx[i] + d : d;
    }
}

void rmtl__sigmoid(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (v >= 0.0f) {
            y[i] = 1.0f / (1.0f + expf(-v));
        } else {
            float e = expf(v);
            y[i] = e / (1.0f + e);
        }
    }
}

void rmtl__sigmoid_backward(size_t n, const float *y, const float *dy, float *dx, int acc)
{
    for (size_t i = 0; i < n; i++) {
        float d = dy[i] * y[i] * (1.0f - y[i]);
        dx[i] = acc ? dx[i] + d : d;
    }
}

void rmtl__softmax_rows(size_t n, size_t k, const float *x, size_t ldx, float *y, size_t ldy)
{
    for (size_t i = 0; i < n; i++) {
        const float *xr = x + i * ldx;
        float *yr = y + i * ldy;
        float mx = xr[0];
        for (size_t j = 1; j < k; j++)
            mx = xr[j] > mx ? xr[j] : mx;
        float s = 0.0f;
        for (size_t j = 0; j < k; j++) {
            yr[j] = expf(xr[j] - mx);
            s += yr[j];
        }
        float inv = 1.0f / s;
        for (size_t j = 0; j < k; j++)
            yr[j] *= inv;
    }
}

void rmtl__softmax_rows_backward(size_t n, size_t k, const float *y, size_t ldy,
                                 const float *dy, size_t lddy, float *dx, size_t lddx, int acc)
{
    for (size_t i = 0; i < n; i++) {
        const float *yr = y + i * ldy, *dr = dy + i * lddy;
        float *xr = dx + i * lddx;
        float dot = 0.0f;
        for (size_t j = 0; j < k; j++)
            dot += yr[j] * dr[j];
        for (size_t j = 0; j < k; j++) {
            float d = yr[j] * (dr[j] - dot);
            xr[j] = acc ? xr[j] + d : d;
        }
    }
}
