/* Gradient exchange: pack, host all-reduce / row gather, unpack (gx.h). */
#include "dist/gx.h"

#include "core/internal.h"

#include <math.h>
#include <string.h>

struct rmtl_grad_sink {
    rmtl__param *p;
    float scale; /* 1/N */
    int rc;      /* first refusal, reported even if the host ignores it */
};

int rmtl__gx_set(rmtl__gx *gx, const rmtl_grad_exchange *x, const char *fn)
{
    if (!x) {
        rmtl__gx_free(gx);
        return 0;
    }
    if (x->version == 0 || x->version > RMTL_GRAD_EXCHANGE_VERSION)
        return rmtl__error(RMTL_EINVAL, "%s: exchange not initialised with "
                                        "RMTL_GRAD_EXCHANGE_INIT (version %u)",
                           fn, (unsigned)x->version);
    if (!x->allreduce)
        return rmtl__error(RMTL_EINVAL, "%s: exchange->allreduce is NULL", fn);
    gx->cb = *x;
    gx->on = 1;
    return 0;
}

void rmtl__gx_free(rmtl__gx *gx)
{
    rmtl__free(gx->buf);
    rmtl__free(gx->ids);
    rmtl__free(gx->vals);
    memset(gx, 0, sizeof *gx);
}

void rmtl__gx_fork_rng(rmtl__rng *r, uint32_t rank)
{
    if (rank == 0)
        return;
    uint64_t s = rmtl__rng_u64(r) ^ (0x9E3779B97F4A7C15u * (uint64_t)rank);
    rmtl__rng_seed(r, s, 0);
}

/* Tables travel through the dense buffer when the host gathers no rows. */
static int rmtl__gx_dense(const rmtl__gx *gx, const rmtl__param *p)
{
    return !p->sparse || !gx->cb.gather_rows;
}

static int rmtl__gx_reserve(rmtl__gx *gx, const rmtl__params *ps, size_t n)
{
    size_t rows = 0;
    for (size_t i = 0; i < ps->n; i++)
        if (!rmtl__gx_dense(gx, ps->p[i]) && ps->p[i]->rows * ps->p[i]->cols > rows)
            rows = ps->p[i]->rows * ps->p[i]->cols;
    if (n > gx->cap) {
        float *b = rmtl__mallocarray(n, sizeof(float));
        if (!b)
            return rmtl__error(RMTL_ENOMEM, "gradient exchange: out of memory");
        rmtl__free(gx->buf);
        gx->buf = b;
        gx->cap = n;
    }
    if (rows > gx->row_cap) { /* the largest table whole: allocated once */
        uint64_t *ids = rmtl__mallocarray(rows, sizeof(uint64_t));
        float *vals = ids ? rmtl__mallocarray(rows, sizeof(float)) : NULL;
        if (!vals) {
            rmtl__free(ids);
            return rmtl__error(RMTL_ENOMEM, "gradient exchange: out of memory");
        }
        rmtl__free(gx->ids);
        rmtl__free(gx->vals);
        gx->ids = ids;
        gx->vals = vals;
        gx->row_cap = rows;
    }
    return 0;
}

/* Visits the dense-buffer segments after the header: dense parameters
 * whole, then (tables without a row gather) the table and its row mask. */
static size_t rmtl__gx_size(const rmtl__gx *gx, const rmtl__params *ps)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->n; i++) {
        const rmtl__param *p = ps->p[i];
        if (!p->frozen && rmtl__gx_dense(gx, p))
            n += p->rows * p->cols + (p->sparse ? p->rows : 0);
    }
    return n;
}

static void rmtl__gx_pack(float *buf, const rmtl__gx *gx, const rmtl__params *ps, float w)
{
    for (size_t i = 0; i < ps->n; i++) {
        const rmtl__param *p = ps->p[i];
        if (p->frozen || !rmtl__gx_dense(gx, p))
            continue;
        size_t len = p->rows * p->cols;
        for (size_t j = 0; j < len; j++)
            buf[j] = w * p->g[j];
        buf += len;
        if (p->sparse) {
            for (size_t r = 0; r < p->rows; r++)
                buf[r] = p->touched[r] ? 1.0f : 0.0f;
            buf += p->rows;
        }
    }
}

static void rmtl__gx_unpack(const float *buf, const rmtl__gx *gx, rmtl__params *ps, float inv)
{
    for (size_t i = 0; i < ps->n; i++) {
        rmtl__param *p = ps->p[i];
        if (p->frozen || !rmtl__gx_dense(gx, p))
            continue;
        size_t len = p->rows * p->cols;
        for (size_t j = 0; j < len; j++)
            p->g[j] = buf[j] * inv;
        buf += len;
        if (p->sparse) {
            for (size_t r = 0; r < p->rows; r++)
                if (buf[r] > 0.0f)
                    rmtl__param_touch(p, r);
            buf += p->rows;
        }
    }
}

int rmtl_grad_sink_add(rmtl_grad_sink *sink, const uint64_t *ids, const float *values,
                       size_t n_rows)
{
    RMTL__CHECK_ARG(sink, "sink");
    if (n_rows == 0)
        return 0;
    int rc = 0;
    if (!ids || !values)
        rc = rmtl__error(RMTL_EINVAL, "rmtl_grad_sink_add: ids or values is NULL");
    rmtl__param *p = sink->p;
    for (size_t i = 0; !rc && i < n_rows; i++)
        if (ids[i] >= p->rows)
            rc = rmtl__error(RMTL_EINVAL, "rmtl_grad_sink_add: row id %llu outside the %zu "
                                          "rows of '%s'",
                             (unsigned long long)ids[i], p->rows, p->name);
    if (rc) {
        if (!sink->rc)
            sink->rc = rc;
        return rc;
    }
    size_t d = p->cols;
    for (size_t i = 0; i < n_rows; i++) {
        float *g = p->g + ids[i] * d;
        const float *v = values + i * d;
        rmtl__param_touch(p, (size_t)ids[i]);
        for (size_t j = 0; j < d; j++)
            g[j] += sink->scale * v[j];
    }
    return 0;
}

/* One table through the host's row gather: the local rows leave g (which
 * the gathered pieces, this rank's own included, then refill). */
static int rmtl__gx_rows(rmtl__gx *gx, rmtl__param *p, float w, float inv, const char *what)
{
    size_t n = p->n_touched, d = p->cols;
    for (size_t i = 0; i < n; i++) {
        size_t r = p->touched_rows[i];
        float *g = p->g + r * d;
        gx->ids[i] = r;
        for (size_t j = 0; j < d; j++) {
            gx->vals[i * d + j] = w * g[j];
            g[j] = 0.0f;
        }
        p->touched[r] = 0;
    }
    p->n_touched = 0;
    rmtl_grad_sink sink = {p, inv, 0};
    int cb = gx->cb.gather_rows(gx->ids, gx->vals, n, d, &sink, gx->cb.payload);
    gx->bytes_sparse += n * (sizeof(uint64_t) + d * sizeof(float));
    if (sink.rc)
        return rmtl__error_prefix(sink.rc, "%s: gradient exchange of '%s'", what, p->name);
    if (cb)
        return rmtl__error(RMTL_EIO, "%s: the gather_rows callback failed (%d) on '%s'", what,
                           cb, p->name);
    return 0;
}

int rmtl__gx_reduce(rmtl__gx *gx, rmtl__params *ps, size_t rows, double *scalars, size_t ns,
                    const char *what)
{
    if (!gx || !gx->on)
        return 0;
    size_t head = 1 + ns, n = head + rmtl__gx_size(gx, ps);
    int rc = rmtl__gx_reserve(gx, ps, n);
    if (rc)
        return rc;
    float w = (float)rows;
    gx->buf[0] = w;
    for (size_t k = 0; k < ns; k++)
        gx->buf[1 + k] = (float)(w * scalars[k]);
    rmtl__gx_pack(gx->buf + head, gx, ps, w);
    gx->bytes_dense = n * sizeof(float);
    gx->bytes_sparse = 0;
    int cb = gx->cb.allreduce(gx->buf, n, gx->cb.payload);
    if (cb)
        return rmtl__error(RMTL_EIO, "%s: the allreduce callback failed (%d)", what, cb);
    float total = gx->buf[0];
    if (!(total >= 1.0f) || !isfinite(total))
        return rmtl__error(RMTL_EIO, "%s: the allreduce callback returned %g rows in all "
                                     "(it must sum over the ranks)",
                           what, (double)total);
    float inv = 1.0f / total;
    for (size_t k = 0; k < ns; k++)
        scalars[k] = (double)gx->buf[1 + k] / (double)total;
    rmtl__gx_unpack(gx->buf + head, gx, ps, inv);
    for (size_t i = 0; !rc && i < ps->n; i++)
        if (!ps->p[i]->frozen && !rmtl__gx_dense(gx, ps->p[i]))
            rc = rmtl__gx_rows(gx, ps->p[i], w, inv, what);
    return rc;
}
