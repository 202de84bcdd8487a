/* Reference critic network in double precision (qref.h). */
#include "util/qref.h"

#include "util/nnref.h"

#include <stdlib.h>
#include <string.h>

size_t qref_n_params(const qref_shape *s)
{
    return (s->n_fields > 0) + 2 * (s->n_num > 0) + 2 + 2 * (s->n_bottom + s->n_tower + 1);
}

/* y = x·W + b, then ReLU when relu. Returns the new n × out buffer. */
static double *layer(size_t n, size_t in, size_t out, const double *x, const double *w,
                     const double *b, int relu)
{
    double *y = malloc(n * out * sizeof *y);
    ref_linear(n, in, out, x, w, b, y);
    if (relu)
        ref_relu(n * out, y);
    return y;
}

void qref_forward(const qref_shape *s, double *const *p, size_t n, const int32_t *cat,
                  const double *num, const double *a, size_t lda, double *q)
{
    size_t d = s->dim, nf = s->n_fields;
    size_t width = (nf + (s->n_num > 0) + 1) * d, k = 0;
    double *x = calloc(n * width, sizeof *x);
    if (nf) {
        const double *table = p[k++];
        for (size_t i = 0; i < n; i++) {
            size_t off = 0;
            for (size_t f = 0; f < nf; f++) {
                int32_t id = cat[i * nf + f];
                size_t row = off + (id > 0 && (size_t)id < s->vocab[f] ? (size_t)id : 0);
                memcpy(x + i * width + f * d, table + row * d, d * sizeof *x);
                off += s->vocab[f];
            }
        }
    }
    size_t col = nf * d;
    if (s->n_num) {
        double *e = layer(n, s->n_num, d, num, p[k], p[k + 1], 0);
        k += 2;
        for (size_t i = 0; i < n; i++)
            memcpy(x + i * width + col, e + i * d, d * sizeof *x);
        free(e);
        col += d;
    }
    double *ai = malloc(n * sizeof *ai);
    for (size_t i = 0; i < n; i++)
        ai[i] = a[i * lda];
    double *e = layer(n, 1, d, ai, p[k], p[k + 1], 0);
    k += 2;
    for (size_t i = 0; i < n; i++)
        memcpy(x + i * width + col, e + i * d, d * sizeof *x);
    free(e);
    free(ai);
    size_t prev = width;
    for (size_t l = 0; l < s->n_bottom + s->n_tower + 1; l++) {
        int last = l == s->n_bottom + s->n_tower;
        size_t w = last ? 1 : l < s->n_bottom ? s->bottom[l] : s->tower[l - s->n_bottom];
        double *h = layer(n, prev, w, x, p[k], p[k + 1], !last);
        k += 2;
        free(x);
        x = h;
        prev = w;
    }
    for (size_t i = 0; i < n; i++)
        q[i] = x[i] > 0 ? -x[i] : 0.0;
    free(x);
}
