/* A double-precision reference of the RMTL critic network (src/rl/qnet.h),
 * written as plain loops on top of util/nnref, for gradient checks of the
 * critics and the agent. */
#ifndef RMTL_TESTS_QREF_H
#define RMTL_TESTS_QREF_H

#include <stddef.h>
#include <stdint.h>

typedef struct qref_shape {
    size_t n_fields, n_num, dim;
    const size_t *vocab; /* n_fields */
    const size_t *bottom;
    size_t n_bottom;
    const size_t *tower; /* hidden widths before the output layer */
    size_t n_tower;
} qref_shape;

/* Number of parameter arrays, in the critic's list order: emb.table,
 * emb.num.w, emb.num.b (when n_num > 0), action.w, action.b, then w and b
 * of every bottom, tower and tower.out layer. */
size_t qref_n_params(const qref_shape *s);

/* q[i] = −ReLU(z_i) for n states (cat n × n_fields, num n × n_num) with
 * actions a[i·lda]; p holds the parameters in list order. */
void qref_forward(const qref_shape *s, double *const *p, size_t n, const int32_t *cat,
                  const double *num, const double *a, size_t lda, double *q);

#endif
