/* MTF-GAUC: per-user AUC of a score against a binary label, weighted by
 * each user's impression count, over users with both labels. */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct rmtl__gauc_row {
    int64_t user;
    float score, label;
} rmtl__gauc_row;

static int rmtl__gauc_cmp(const void *pa, const void *pb)
{
    const rmtl__gauc_row *a = pa, *b = pb;
    if (a->user != b->user)
        return a->user < b->user ? -1 : 1;
    return (a->score > b->score) - (a->score < b->score);
}

/* AUC of rows [0, n) sorted by score: the Mann-Whitney statistic with
 * average ranks for ties. NaN without both labels. */
static double rmtl__auc_sorted(const rmtl__gauc_row *r, size_t n)
{
    double pos = 0.0, rank_sum = 0.0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double npos = 0.0;
        while (j < n && r[j].score == r[i].score)
            npos += r[j++].label;
        double avg_rank = 0.5 * (double)(i + 1 + j); /* ranks i+1 .. j */
        rank_sum += npos * avg_rank;
        pos += npos;
        i = j;
    }
    double neg = (double)n - pos;
    if (pos == 0.0 || neg == 0.0)
        return NAN;
    return (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg);
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
    if (!r)
        return rmtl__error(RMTL_ENOMEM, "rmtl_fusion_gauc: out of memory for %zu rows", n);
    for (size_t i = 0; i < n; i++)
        r[i] = (rmtl__gauc_row){user[i], score[i], label[i]};
    qsort(r, n, sizeof *r, rmtl__gauc_cmp);
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && r[j].user == r[i].user)
            j++;
        double auc = rmtl__auc_sorted(r + i, j - i);
        if (!isnan(auc)) {
            num += (double)(j - i) * auc;
            den += (double)(j - i);
        }
        i = j;
    }
    rmtl__free(r);
    *gauc = den > 0.0 ? num / den : NAN;
    return RMTL_OK;
}
