/* The shared, reference-counted meta of datasets. Atomic counts: datasets
 * that share a meta may be freed from different threads. */
#include "core/internal.h"
#include "data/dataset.h"

rmtl__dsmeta *rmtl__dsmeta_new(void)
{
    rmtl__dsmeta *m = rmtl__calloc(1, sizeof *m);
    if (!m) {
        rmtl__error(RMTL_ENOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&m->refs, 1);
    return m;
}

rmtl__dsmeta *rmtl__dsmeta_ref(rmtl__dsmeta *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void rmtl__dsmeta_unref(rmtl__dsmeta *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; m->cols && i < m->n_cols; i++)
        rmtl__dscol_free(&m->cols[i]);
    rmtl__free(m->cols);
    for (size_t i = 0; m->fields && i < m->n_cat; i++) {
        rmtl__free(m->fields[i].name);
        rmtl__intern_free(m->fields[i].values);
        rmtl__free(m->fields[i].values);
    }
    rmtl__free(m->fields);
    for (size_t i = 0; m->nums && i < m->n_num; i++)
        rmtl__free(m->nums[i].name);
    rmtl__free(m->nums);
    for (size_t i = 0; m->tasks && i < m->n_tasks; i++)
        rmtl__free(m->tasks[i]);
    rmtl__free(m->tasks);
    rmtl__free(m);
}
