/* Parameter list: ownership, generic iteration helpers, initialisation. */
#include "nn/param.h"

#include "core/internal.h"

#include <math.h>
#include <string.h>

void rmtl__params_init(rmtl__params *ps) { memset(ps, 0, sizeof *ps); }

static void rmtl__param_free(rmtl__param *p)
{
    if (!p)
        return;
    rmtl__free(p->w);
    rmtl__free(p->g);
    rmtl__free(p->m);
    rmtl__free(p->v);
    rmtl__free(p->touched);
    rmtl__free(p->touched_rows);
    rmtl__free(p);
}

void rmtl__params_free(rmtl__params *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++)
        rmtl__param_free(ps->p[i]);
    rmtl__free(ps->p);
    memset(ps, 0, sizeof *ps);
}

rmtl__param *rmtl__params_find(const rmtl__params *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (!strcmp(ps->p[i]->name, name))
            return ps->p[i];
    return NULL;
}

int rmtl__params_add(rmtl__params *ps, rmtl__param **out, const char *name, size_t rows,
                     size_t cols, int sparse)
{
    if (out)
        *out = NULL;
    if (!name || strlen(name) >= RMTL__NAME_MAX)
        return rmtl__error(RMTL_EINVAL, "parameter name '%s' is longer than %d characters",
                           name ? name : "(null)", RMTL__NAME_MAX - 1);
    if (rows == 0 || cols == 0)
        return rmtl__error(RMTL_EINVAL, "parameter '%s': empty shape %zu×%zu", name, rows,
                           cols);
    if (rmtl__params_find(ps, name))
        return rmtl__error(RMTL_EINVAL, "parameter '%s' defined twice", name);
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 16;
        rmtl__param **np = rmtl__realloc(ps->p, cap * sizeof *np);
        if (!np)
            return rmtl__error(RMTL_ENOMEM, "parameter '%s': out of memory", name);
        ps->p = np;
        ps->cap = cap;
    }
    rmtl__param *p = rmtl__calloc(1, sizeof *p);
    int ok = p != NULL && rows <= SIZE_MAX / cols;
    if (ok) {
        memcpy(p->name, name, strlen(name) + 1);
        p->rows = rows;
        p->cols = cols;
        p->sparse = sparse != 0;
        p->w = rmtl__calloc(rows * cols, sizeof(float));
        p->g = p->w ? rmtl__calloc(rows * cols, sizeof(float)) : NULL;
        ok = p->g != NULL;
        if (ok && sparse) {
            p->touched = rmtl__calloc(rows, 1);
            p->touched_rows = p->touched ? rmtl__mallocarray(rows, sizeof(size_t)) : NULL;
            ok = p->touched_rows != NULL;
        }
    }
    if (!ok) {
        rmtl__param_free(p);
        return rmtl__error(RMTL_ENOMEM, "parameter '%s' (%zu×%zu): out of memory", name, rows,
                           cols);
    }
    ps->p[ps->n++] = p;
    if (out)
        *out = p;
    return 0;
}

size_t rmtl__params_size(const rmtl__params *ps)
{
    size_t total = 0;
    for (size_t i = 0; i < ps->n; i++)
        total += ps->p[i]->rows * ps->p[i]->cols;
    return total;
}

void rmtl__params_zero_grad(rmtl__params *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        rmtl__param *p = ps->p[i];
        if (!p->sparse) {
            memset(p->g, 0, p->rows * p->cols * sizeof(float));
            continue;
        }
        for (size_t k = 0; k < p->n_touched; k++) {
            size_t r = p->touched_rows[k];
            memset(p->g + r * p->cols, 0, p->cols * sizeof(float));
            p->touched[r] = 0;
        }
        p->n_touched = 0;
    }
}

void rmtl__params_freeze(rmtl__params *ps, int frozen)
{
    for (size_t i = 0; i < ps->n; i++)
        ps->p[i]->frozen = frozen != 0;
}

static int rmtl__params_match(const rmtl__params *dst, const rmtl__params *src)
{
    if (dst->n != src->n)
        return rmtl__error(RMTL_EINVAL, "parameter lists differ: %zu vs %zu parameters",
                           dst->n, src->n);
    for (size_t i = 0; i < dst->n; i++) {
        const rmtl__param *a = dst->p[i], *b = src->p[i];
        if (strcmp(a->name, b->name) || a->rows != b->rows || a->cols != b->cols)
            return rmtl__error(RMTL_EINVAL,
                               "parameter %zu differs: '%s' %zu×%zu vs '%s' %zu×%zu", i,
                               a->name, a->rows, a->cols, b->name, b->rows, b->cols);
    }
    return 0;
}

int rmtl__params_copy(rmtl__params *dst, const rmtl__params *src)
{
    int rc = rmtl__params_match(dst, src);
    if (rc)
        return rc;
    dst->version++;
    for (size_t i = 0; i < dst->n; i++)
        memcpy(dst->p[i]->w, src->p[i]->w, dst->p[i]->rows * dst->p[i]->cols * sizeof(float));
    return 0;
}

int rmtl__params_soft_update(rmtl__params *dst, const rmtl__params *src, float tau)
{
    int rc = rmtl__params_match(dst, src);
    if (rc)
        return rc;
    float keep = 1.0f - tau;
    dst->version++;
    for (size_t i = 0; i < dst->n; i++) {
        float *restrict d = dst->p[i]->w;
        const float *restrict s = src->p[i]->w;
        size_t n = dst->p[i]->rows * dst->p[i]->cols;
        for (size_t k = 0; k < n; k++)
            d[k] = tau * s[k] + keep * d[k];
    }
    return 0;
}

void rmtl__param_xavier(rmtl__param *p, rmtl__rng *rng)
{
    double a = sqrt(6.0 / (double)(p->rows + p->cols));
    size_t n = p->rows * p->cols;
    for (size_t k = 0; k < n; k++)
        p->w[k] = (float)((2.0 * rmtl__rng_double(rng) - 1.0) * a);
}
