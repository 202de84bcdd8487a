/*
 * The seven multi-task architectures (docs/models.md), each one wiring function
 * over the graph wrappers (graph.h): from the input variable x0 (the field
 * vectors) to one logit variable per task. docs/models.md draws them.
 */
#ifndef RMTL_MTL_ARCH_H
#define RMTL_MTL_ARCH_H

#include "mtl/graph.h"
#include "mtl/model_hp.h"

/* z[0..n_tasks) receive the logit variables (n × 1). Returns pass->rc. */
typedef int (*rmtl__wire_fn)(rmtl__pass *ps, const rmtl__mtlhp *hp, size_t n_tasks, int x0,
                             int *z);

typedef struct rmtl__arch_def {
    const char *name; /* model.arch */
    rmtl__wire_fn wire;
    int chain; /* ESMM: p_k = p_{k-1}·σ(z_k) instead of σ(z_k) */
} rmtl__arch_def;

/* The architecture called `name`, or NULL. */
const rmtl__arch_def *rmtl__arch_find(const char *name);

#endif
