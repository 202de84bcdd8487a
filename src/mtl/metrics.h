/* The one AUC kernel, shared by rmtl_auc (src/mtl/metrics.c) and MTF-GAUC
 * (src/fusion/gauc.c). */
#ifndef RMTL_MTL_METRICS_H
#define RMTL_MTL_METRICS_H

#include <stddef.h>

typedef struct rmtl__scored {
    float score;
    float label; /* 0 or 1 */
} rmtl__scored;

/* qsort comparator: ascending score (scores are not NaN). */
int rmtl__scored_cmp(const void *pa, const void *pb);

/* AUC of v[0, n) sorted by score: the Mann-Whitney statistic, a tie group
 * sharing the mean of its ranks. NaN without both labels. */
double rmtl__auc_sorted(const rmtl__scored *v, size_t n);

#endif
