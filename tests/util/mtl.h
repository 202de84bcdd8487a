/* Test helpers for multi-task models, public API only (both runners link
 * them): small configs and synthetic impressions with a learnable signal. */
#ifndef RMTL_TESTS_MTL_H
#define RMTL_TESTS_MTL_H

#include <stddef.h>
#include <stdint.h>

#include "rmtl.h"

#define MTL_N_ARCH 7
extern const char *const mtl_archs[MTL_N_ARCH];

/* embed 4, bottom [6, 5], tower [4], 3 experts, PLE 2 specific + 1 shared,
 * dropout 0, 1 thread, the given seed; NULL on failure. */
rmtl_config *mtl_small_config(const char *arch, uint64_t seed);

enum { MTL_N_CAT = 3, MTL_N_NUM = 2 };
extern const size_t mtl_vocab[MTL_N_CAT]; /* 5, 7, 4 */

/* rows impressions of MTL_N_CAT fields and MTL_N_NUM features, T ordered
 * labels (y_k <= y_{k-1}) drawn from a logistic model of the features, and
 * loss weights in [0.5, 2). */
typedef struct mtl_data {
    size_t rows, T;
    int32_t *cat;
    float *num, *labels, *weights;
} mtl_data;

void mtl_data_make(mtl_data *d, size_t rows, size_t T, uint64_t seed);
/* A model of cfg over MTL_N_CAT fields (mtl_vocab), MTL_N_NUM features and
 * T tasks named task_<k>, with the schema every created model has (a
 * checkpoint needs it); NULL on failure. */
rmtl_model *mtl_model(const rmtl_config *cfg, size_t T);
void mtl_data_free(mtl_data *d);
/* Rows [start, start + n) as a batch (weights NULL unless with_weights). */
rmtl_batch mtl_batch(const mtl_data *d, size_t start, size_t n, int with_weights);

/* Exact AUC (ties count 1/2) of one task column: stride between rows. */
double mtl_auc(const float *scores, const float *labels, size_t n, size_t stride);

#endif
