/* Dense and lazy row-sparse Adam with L2 decay and global-norm clipping. */
#include "nn/adam.h"

#include "core/internal.h"
#include "nn/kernels.h"
#include "nn/par.h"

#include <math.h>

void rmtl__adam_init(rmtl__adam *opt, double lr, double weight_decay)
{
    opt->lr = lr;
    opt->beta1 = 0.9;
    opt->beta2 = 0.999;
    opt->eps = 1e-8;
    opt->weight_decay = weight_decay;
    opt->clip_norm = 0.0;
    opt->t = 0;
}

/* Σ x² in double, eight independent partial sums (a fixed order, so the
 * result is the same every run). */
static double rmtl__sumsq(const float *x, size_t n)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += (double)x[i + k] * x[i + k];
    for (; i < n; i++)
        acc[0] += (double)x[i] * x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* The items an update visits: the elements of a dense gradient, the
 * touched rows of a sparse one. */
static size_t rmtl__grad_items(const rmtl__param *p)
{
    return p->sparse ? p->n_touched : p->rows * p->cols;
}

/* Runs BODY(offset into the matrix, count) over the contiguous blocks of
 * items [b, e): one block of a dense gradient, one per touched row of a
 * sparse one. */
#define RMTL__FOR_GRAD_BLOCKS(p, b, e, off, cnt, BODY)                        \
    do {                                                                      \
        if (!(p)->sparse) {                                                   \
            size_t off = (b), cnt = (e) - (b);                                \
            BODY;                                                             \
        } else {                                                              \
            for (size_t r_ = (b); r_ < (e); r_++) {                           \
                size_t off = (p)->touched_rows[r_] * (p)->cols, cnt = (p)->cols; \
                BODY;                                                         \
            }                                                                 \
        }                                                                     \
    } while (0)

/* One weight's update; inlined into both loops below. */
static inline void
rmtl__adam_one(float *restrict w, const float *restrict g, float *restrict m,
               float *restrict v, size_t k, float c, float wd, float b1, float b2, float c1,
               float c2, float step, float sbc2, float eps)
{
    float gi = c * g[k] + wd * w[k];
    m[k] = b1 * m[k] + c1 * gi;
    v[k] = b2 * v[k] + c2 * gi * gi;
    w[k] -= step * m[k] / (sqrtf(v[k]) / sbc2 + eps);
}

static void rmtl__adam_block(const rmtl__adam *opt, float *restrict w, const float *restrict g,
                             float *restrict m, float *restrict v, size_t n, float c,
                             float step, float sbc2)
{
    /* 1 − β in double, then rounded (as PyTorch does): 1.0f − 0.999f would
     * be off by 1.3e-5 relative. */
    float b1 = (float)opt->beta1, b2 = (float)opt->beta2, wd = (float)opt->weight_decay;
    float c1 = (float)(1.0 - opt->beta1), c2 = (float)(1.0 - opt->beta2);
    float eps = (float)opt->eps;
    /* 16-wide blocks of constant length, so that gcc -O2's cheap
     * vectoriser takes them (sqrtf too: the library is built with
     * -fno-math-errno); elementwise, so the result does not depend on
     * the split. */
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (size_t k = i; k < i + 16; k++)
            rmtl__adam_one(w, g, m, v, k, c, wd, b1, b2, c1, c2, step, sbc2, eps);
    for (; i < n; i++)
        rmtl__adam_one(w, g, m, v, i, c, wd, b1, b2, c1, c2, step, sbc2, eps);
}

/* One parameter's update over a range of its blocks: elements of a dense
 * one, touched rows of a sparse one. */
typedef struct rmtl__adam_job {
    const rmtl__adam *opt;
    rmtl__param *p;
    float c, step, sbc2;
} rmtl__adam_job;

static void rmtl__adam_range(void *ctx, size_t b, size_t e)
{
    const rmtl__adam_job *j = ctx;
    rmtl__param *p = j->p;
    RMTL__FOR_GRAD_BLOCKS(p, b, e, off, cnt,
                          rmtl__adam_block(j->opt, p->w + off, p->g + off, p->m + off,
                                           p->v + off, cnt, j->c, j->step, j->sbc2));
}

int rmtl__adam_step(rmtl__adam *opt, const rmtl__rt *rt, rmtl__params *ps, double *grad_norm)
{
    /* 1. moments, so that a failed allocation changes nothing */
    for (size_t i = 0; i < ps->n; i++) {
        rmtl__param *p = ps->p[i];
        if (p->frozen || p->m)
            continue;
        size_t n = p->rows * p->cols;
        float *m = rmtl__calloc(n, sizeof(float)), *v = m ? rmtl__calloc(n, sizeof(float)) : NULL;
        if (!v) {
            rmtl__free(m);
            return rmtl__error(RMTL_ENOMEM, "adam: out of memory for the moments of '%s'",
                               p->name);
        }
        p->m = m;
        p->v = v;
    }
    /* 2. the guard and the global norm, before any weight moves */
    double ss = 0.0;
    for (size_t i = 0; i < ps->n; i++) {
        const rmtl__param *p = ps->p[i];
        if (p->frozen)
            continue;
        double s = 0.0;
        RMTL__FOR_GRAD_BLOCKS(p, 0, rmtl__grad_items(p), off, cnt,
                              s += rmtl__sumsq(p->g + off, cnt));
        if (!isfinite(s))
            return rmtl__numeric_error(p->name, "non-finite gradient");
        ss += s;
    }
    double norm = sqrt(ss);
    if (grad_norm)
        *grad_norm = norm;
    float c = 1.0f;
    if (opt->clip_norm > 0.0 && norm > opt->clip_norm)
        c = (float)(opt->clip_norm / (norm + 1e-6));
    /* 3. the update */
    opt->t++;
    ps->version++;
    double bc1 = 1.0 - pow(opt->beta1, (double)opt->t);
    double bc2 = 1.0 - pow(opt->beta2, (double)opt->t);
    float step = (float)(opt->lr / bc1), sbc2 = (float)sqrt(bc2);
    for (size_t i = 0; i < ps->n; i++) {
        rmtl__param *p = ps->p[i];
        if (p->frozen)
            continue;
        /* memory-bound: worth a second thread from about 64 KiB of weights */
        rmtl__adam_job job = {opt, p, c, step, sbc2};
        size_t grain = p->sparse ? (16384 + p->cols - 1) / p->cols : 16384;
        rmtl__par_for(rt, rmtl__grad_items(p), grain, rmtl__adam_range, &job);
    }
    return 0;
}
