/* Evaluation metrics: exact AUC, log-loss and session log-loss (docs/models.md). */
#include <math.h>
#include <stdlib.h>

#include "core/internal.h"
#include "mtl/metrics.h"

#define RMTL__P_MIN 1e-7

int rmtl__scored_cmp(const void *pa, const void *pb)
{
    float a = ((const rmtl__scored *)pa)->score, b = ((const rmtl__scored *)pb)->score;
    return (a > b) - (a < b);
}

double rmtl__auc_sorted(const rmtl__scored *v, size_t n)
{
    double pos = 0.0, rank_sum = 0.0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double tied_pos = 0.0;
        while (j < n && v[j].score == v[i].score)
            tied_pos += v[j++].label;
        rank_sum += tied_pos * ((double)(i + 1) + (double)j) / 2.0; /* ranks i+1 .. j */
        pos += tied_pos;
        i = j;
    }
    double neg = (double)n - pos;
    if (pos == 0.0 || neg == 0.0)
        return NAN;
    return (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg);
}

/* Common argument checks; `binary` asks for labels exactly 0 or 1. */
static int rmtl__metric_args(const char *fn, const double *out, const float *scores,
                             const float *labels, size_t n, size_t stride, int binary)
{
    if (!out || !scores || !labels)
        return rmtl__error(RMTL_EINVAL, "%s: NULL %s", fn,
                           !out ? "out" : !scores ? "scores" : "labels");
    if (n == 0 || stride == 0)
        return rmtl__error(RMTL_EINVAL, "%s: %s is 0", fn, n == 0 ? "n" : "stride");
    if (n > SIZE_MAX / stride)
        return rmtl__error(RMTL_EINVAL, "%s: n × stride overflows", fn);
    for (size_t i = 0; i < n; i++) {
        float p = scores[i * stride], y = labels[i * stride];
        if (isnan(p))
            return rmtl__error(RMTL_ENUMERIC, "%s: score of row %zu is NaN", fn, i);
        if (binary ? (y != 0.0f && y != 1.0f) : !(y >= 0.0f && y <= 1.0f))
            return rmtl__error(RMTL_EINVAL, "%s: label of row %zu is %g, not %s", fn, i,
                               (double)y, binary ? "0 or 1" : "in [0, 1]");
    }
    return 0;
}

int rmtl_auc(double *out, const float *scores, const float *labels, size_t n, size_t stride)
{
    int rc = rmtl__metric_args("rmtl_auc", out, scores, labels, n, stride, 1);
    if (rc)
        return rc;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += labels[i * stride] == 1.0f;
    if (pos == 0 || pos == n)
        return rmtl__error(RMTL_EINVAL, "rmtl_auc: undefined: all %zu labels are %d", n,
                           pos ? 1 : 0);
    rmtl__scored *v = rmtl__mallocarray(n, sizeof *v);
    if (!v)
        return rmtl__error(RMTL_ENOMEM, "rmtl_auc: out of memory for %zu rows", n);
    for (size_t i = 0; i < n; i++)
        v[i] = (rmtl__scored){scores[i * stride], labels[i * stride]};
    qsort(v, n, sizeof *v, rmtl__scored_cmp);
    *out = rmtl__auc_sorted(v, n);
    rmtl__free(v);
    return 0;
}

static double rmtl__bce(float score, float label)
{
    double p = score;
    p = p < RMTL__P_MIN ? RMTL__P_MIN : p > 1.0 - RMTL__P_MIN ? 1.0 - RMTL__P_MIN : p;
    return -((double)label * log(p) + (1.0 - (double)label) * log(1.0 - p));
}

int rmtl_logloss(double *out, const float *scores, const float *labels, size_t n, size_t stride)
{
    int rc = rmtl__metric_args("rmtl_logloss", out, scores, labels, n, stride, 0);
    if (rc)
        return rc;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += rmtl__bce(scores[i * stride], labels[i * stride]);
    *out = sum / (double)n;
    return 0;
}

typedef struct rmtl__sess_row {
    int64_t sid;
    size_t row;
} rmtl__sess_row;

static int rmtl__cmp_sess_row(const void *pa, const void *pb)
{
    const rmtl__sess_row *a = pa, *b = pb;
    if (a->sid != b->sid)
        return a->sid < b->sid ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

int rmtl_session_logloss(double *out, const float *scores, const float *labels, size_t n,
                         size_t stride, const int64_t *session_ids)
{
    int rc = rmtl__metric_args("rmtl_session_logloss", out, scores, labels, n, stride, 0);
    if (rc)
        return rc;
    if (!session_ids)
        return rmtl__error(RMTL_EINVAL, "rmtl_session_logloss: NULL session_ids");
    rmtl__sess_row *v = rmtl__mallocarray(n, sizeof *v);
    if (!v)
        return rmtl__error(RMTL_ENOMEM, "rmtl_session_logloss: out of memory for %zu rows", n);
    for (size_t i = 0; i < n; i++)
        v[i] = (rmtl__sess_row){session_ids[i], i};
    /* grouping by sorting (session, row) keeps the summation order fixed */
    qsort(v, n, sizeof *v, rmtl__cmp_sess_row);
    double total = 0.0;
    size_t sessions = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double sum = 0.0;
        for (; j < n && v[j].sid == v[i].sid; j++)
            sum += rmtl__bce(scores[v[j].row * stride], labels[v[j].row * stride]);
        total += sum / (double)(j - i);
        sessions++;
        i = j;
    }
    *out = total / (double)sessions;
    rmtl__free(v);
    return 0;
}
