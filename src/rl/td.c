/* TD targets, target-policy smoothing and IPS weights (td.h). */
#include "rl/td.h"

#include <math.h>

void rmtl__td_target(size_t n, const float *r, size_t ldr, const uint8_t *done,
                     const float *q_tgt, const float *q_cur, double gamma, float *y)
{
    for (size_t i = 0; i < n; i++) {
        double m = q_tgt[i] < q_cur[i] ? q_tgt[i] : q_cur[i];
        y[i] = (float)((double)r[i * ldr] + (done[i] ? 0.0 : gamma * m));
    }
}

void rmtl__smooth_actions(rmtl__rng *rng, size_t n, const float *a, size_t lda, double sigma,
                          double clip, float *out, size_t ldo)
{
    for (size_t i = 0; i < n; i++) {
        double e = sigma * rmtl__rng_normal(rng);
        e = e < -clip ? -clip : e > clip ? clip : e;
        out[i * ldo] = (float)((double)a[i * lda] + e);
    }
}

void rmtl__ips_weights(size_t n, const float *labels, size_t ld, float *w)
{
    double pos = 0.0;
    for (size_t i = 0; i < n; i++)
        pos += labels[i * ld];
    double b1 = (double)n + 1.0, neg = (double)n - pos;
    double wp = b1 / (pos + 1.0), wn = b1 / (neg > 0.0 ? neg : 1.0);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((double)labels[i * ld] * wp + wn);
}
