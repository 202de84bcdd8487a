/* MTF-GAUC: per-user AUC of a score against a binary label, weighted by
 * each user's impression count, over users with both labels. The AUC is
 * rmtl_auc's kernel (mtl/metrics.h). */
#include "core/internal.h"
#include "mtl/metrics.h"

#include <math.h>
#include <stdlib.h>

typedef struct rmtl__gauc_row {
    int64_t user;
    rmtl__scored s;
} rmtl__gauc_row;

static int rmtl__gauc_cmp(const void *pa, const void *pb)
{
    const rmtl__gauc_row *a = pa, *b = pb;
    if (a->user != b->user)
        return a->user < b->user ? -1 : 1;
    return rmtl__scored_cmp(&a->s, &b->s);
}

int rmtl_fusion_gauc(double *gauc, const int64_t *user, const float *score, const float *label,
                     size_t n)
{
    RMTL__CHECK_ARG(gauc, "gauc");
    *gauc = NAN;
    RMTL__CHECK_ARG(n == 0 || (user && score && label), "user/score/label");
    for (size_t i = 0; i < n; i++) {
        if (isnan(score[i]))
            return rmtl__error(RMTL_ENUMERIC, "rmtl_fusion_gauc: score[%zu] is NaN", i);
        if (label[i] != 0.0f && label[i] != 1.0f)
            return rmtl__error(RMTL_EINVAL, "rmtl_fusion_gauc: label[%zu] = %g is not 0 or 1", i,
                               (double)label[i]);
    }
    if (n == 0)
        return RMTL_OK;
    rmtl__gauc_row *r = rmtl__mallocarray(n, sizeof *r);
    rmtl__scored *group = rmtl__mallocarray(n, sizeof *group);
    if (!r || !group) {
        rmtl__free(r);
        rmtl__free(group);
        return rmtl__error(RMTL_ENOMEM, "rmtl_fusion_gauc: out of memory for %zu rows", n);
    }
    for (size_t i = 0; i < n; i++)
        r[i] = (rmtl__gauc_row){user[i], {score[i], label[i]}};
    qsort(r, n, sizeof *r, rmtl__gauc_cmp);
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        for (; j < n && r[j].user == r[i].user; j++)
            group[j - i] = r[j].s;
        double auc = rmtl__auc_sorted(group, j - i);
        if (!isnan(auc)) {
            num += (double)(j - i) * auc;
            den += (double)(j - i);
        }
        i = j;
    }
    rmtl__free(group);
    rmtl__free(r);
    *gauc = den > 0.0 ? num / den : NAN;
    return RMTL_OK;
}
