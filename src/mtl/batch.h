/* Checks that a public rmtl_batch fits a model's layout before anything
 * reads it, so that bad input is an error naming the array, row and
 * column, never a crash (docs/models.md, "Batches"). */
#ifndef RMTL_MTL_BATCH_H
#define RMTL_MTL_BATCH_H

#include "mtl/layout.h"
#include "rmtl.h"

/* RMTL_EINVAL: NULL batch, unknown version, no rows, a needed array NULL,
 * a categorical id outside [0, vocab) of its field, a label other than 0
 * or 1 (training), a negative loss weight; RMTL_ENUMERIC: a non-finite
 * numerical feature or weight. Labels and weights are only checked when
 * `train` is set. */
int rmtl__batch_check(const rmtl__layout *l, const rmtl_batch *b, int train);

#endif
