/* Batch validation (see batch.h). */
#include "mtl/batch.h"

#include "core/internal.h"

#include <math.h>

int rmtl__batch_check(const rmtl__layout *l, const rmtl_batch *b, int train)
{
    if (!b)
        return rmtl__error(RMTL_EINVAL, "batch is NULL");
    if (b->version == 0 || b->version > RMTL_BATCH_VERSION)
        return rmtl__error(RMTL_EINVAL,
                           "batch: version %u is not one this library knows (1 to %u); "
                           "initialise batches with RMTL_BATCH_INIT",
                           (unsigned)b->version, RMTL_BATCH_VERSION);
    size_t n = b->rows, T = l->n_tasks;
    if (n == 0)
        return rmtl__error(RMTL_EINVAL, "batch: 0 rows");
    if (n > SIZE_MAX / sizeof(float) / (l->n_cat + l->n_num + T))
        return rmtl__error(RMTL_EINVAL, "batch: %zu rows is too many", n);
    if (l->n_cat && !b->cat)
        return rmtl__error(RMTL_EINVAL, "batch: cat is NULL but the model has %zu categorical "
                                        "fields",
                           l->n_cat);
    if (l->n_num && !b->num)
        return rmtl__error(RMTL_EINVAL, "batch: num is NULL but the model has %zu numerical "
                                        "features",
                           l->n_num);
    for (size_t i = 0; i < n; i++)
        for (size_t f = 0; f < l->n_cat; f++) {
            int32_t id = b->cat[i * l->n_cat + f];
            if (id < 0 || (size_t)id >= l->vocab[f])
                return rmtl__error(RMTL_EINVAL,
                                   "batch: cat[row %zu, field %zu] = %ld is outside the "
                                   "field's ids 0 to %zu (0 is the unknown id)",
                                   i, f, (long)id, l->vocab[f] - 1);
        }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < l->n_num; j++)
            if (!isfinite(b->num[i * l->n_num + j]))
                return rmtl__error(RMTL_ENUMERIC, "batch: num[row %zu, feature %zu] is %g",
                                   i, j, (double)b->num[i * l->n_num + j]);
    if (!train)
        return 0;
    if (!b->labels)
        return rmtl__error(RMTL_EINVAL, "batch: labels are NULL (training needs them)");
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < T; k++) {
            float y = b->labels[i * T + k];
            if (y != 0.0f && y != 1.0f)
                return rmtl__error(RMTL_EINVAL,
                                   "batch: labels[row %zu, task '%s'] = %g is not 0 or 1", i,
                                   l->task[k], (double)y);
        }
    for (size_t i = 0; b->weights && i < n; i++)
        for (size_t k = 0; k < T; k++) {
            float w = b->weights[i * T + k];
            if (!isfinite(w))
                return rmtl__error(RMTL_ENUMERIC, "batch: weights[row %zu, task '%s'] is %g",
                                   i, l->task[k], (double)w);
            if (w < 0.0f)
                return rmtl__error(RMTL_EINVAL,
                                   "batch: weights[row %zu, task '%s'] = %g is negative", i,
                                   l->task[k], (double)w);
        }
    return 0;
}
