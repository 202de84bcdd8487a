/* Embedding table gather/scatter and the numerical-feature field. */
#include "nn/embedding.h"

#include "core/internal.h"
#include "nn/kernels.h"

#include <stdio.h>
#include <string.h>

int rmtl__embed_init(rmtl__embed *e, rmtl__params *ps, const char *name, const size_t *vocab,
                     size_t n_fields, size_t n_num, size_t dim, rmtl__rng *rng)
{
    memset(e, 0, sizeof *e);
    if (dim == 0 || n_fields + n_num == 0)
        return rmtl__error(RMTL_EINVAL, "embedding '%s': no fields or dimension 0", name);
    e->offset = rmtl__calloc(n_fields + 1, sizeof *e->offset);
    if (!e->offset)
        return rmtl__error(RMTL_ENOMEM, "embedding '%s': out of memory", name);
    e->n_fields = n_fields;
    e->n_num = n_num;
    e->dim = dim;
    int rc = 0;
    for (size_t f = 0; f < n_fields && !rc; f++) {
        if (vocab[f] == 0 || vocab[f] > SIZE_MAX / 2 - e->offset[f])
            rc = rmtl__error(RMTL_EINVAL, "embedding '%s': field %zu has vocabulary size %zu",
                             name, f, vocab[f]);
        else
            e->offset[f + 1] = e->offset[f] + vocab[f];
    }
    char pname[RMTL__NAME_MAX + 8];
    if (!rc && n_fields) {
        snprintf(pname, sizeof pname, "%s.table", name);
        rc = rmtl__params_add(ps, &e->table, pname, e->offset[n_fields], dim, 1);
        if (!rc)
            rmtl__param_xavier(e->table, rng);
    }
    if (!rc && n_num) {
        snprintf(pname, sizeof pname, "%s.num", name);
        rc = rmtl__linear_init(&e->num, ps, pname, n_num, dim, 1, rng);
    }
    if (rc)
        rmtl__embed_free(e);
    return rc;
}

void rmtl__embed_free(rmtl__embed *e)
{
    if (!e)
        return;
    rmtl__free(e->offset);
    memset(e, 0, sizeof *e);
}

size_t rmtl__embed_width(const rmtl__embed *e) { return (e->n_fields + (e->n_num > 0)) * e->dim; }

int rmtl__embed_forward(const rmtl__embed *e, const rmtl__rt *rt, size_t n, const int32_t *cat,
                        size_t ldc, const float *num, size_t ldn, float *y, size_t ldy)
{
    size_t d = e->dim, fe = e->n_fields * d;
    for (size_t i = 0; i < n; i++)
        for (size_t f = 0; f < e->n_fields; f++)
            memcpy(y + i * ldy + f * d, e->table->w + rmtl__embed_row(e, f, cat[i * ldc + f]) * d,
                   d * sizeof(float));
    return e->n_num ? rmtl__linear_forward(&e->num, rt, n, num, ldn, y + fe, ldy) : 0;
}

int rmtl__embed_check_num(const rmtl__embed *e, size_t n, const float *num, size_t ldn)
{
    if (e->n_num && rmtl__nonfinite(n, e->n_num, num, ldn))
        return rmtl__numeric_error(e->num.w->name, "non-finite input");
    return 0;
}

void rmtl__embed_scatter(const rmtl__embed *e, size_t n, const int32_t *cat, size_t ldc,
                         size_t f0, size_t f1, const float *dx, size_t lddx)
{
    size_t d = e->dim;
    rmtl__param *t = e->table;
    for (size_t i = 0; i < n && !t->frozen; i++)
        for (size_t f = f0; f < f1; f++) {
            size_t r = rmtl__embed_row(e, f, cat[i * ldc + f]);
            float *restrict g = t->g + r * d;
            const float *restrict s = dx + i * lddx + (f - f0) * d;
            for (size_t j = 0; j < d; j++)
                g[j] += s[j];
            rmtl__param_touch(t, r);
        }
}

int rmtl__embed_backward(const rmtl__embed *e, const rmtl__rt *rt, size_t n, const int32_t *cat,
                         size_t ldc, const float *num, size_t ldn, const float *dy,
                         size_t lddy)
{
    size_t fe = e->n_fields * e->dim;
    if (e->n_fields) {
        if (rmtl__nonfinite(n, fe, dy, lddy))
            return rmtl__numeric_error(e->table->name, "non-finite gradient");
        rmtl__embed_scatter(e, n, cat, ldc, 0, e->n_fields, dy, lddy);
    }
    return e->n_num ? rmtl__linear_backward(&e->num, rt, n, num, ldn, dy + fe, lddy, NULL, 0, 0)
                    : 0;
}
