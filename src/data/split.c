/* Splitting a dataset by whole sessions (train/validation/test). */
#include <math.h>

#include "core/internal.h"
#include "data/dataset.h"
#include "core/rng.h"

/* Rows of the sessions assigned to `part`, in the dataset's row order. */
static int rmtl__split_part(rmtl_dataset **out, const rmtl_dataset *ds, const unsigned char *part,
                            unsigned char which, size_t *idx)
{
    size_t n = 0;
    for (size_t r = 0; r < ds->rows; r++)
        if (part[r] == which)
            idx[n++] = r;
    return rmtl__dataset_gather(out, ds, idx, n);
}

int rmtl_dataset_split_sessions(rmtl_dataset **train, rmtl_dataset **val, rmtl_dataset **test,
                                const rmtl_dataset *ds, double train_frac, double val_frac,
                                uint64_t seed)
{
    rmtl_dataset **outs[3] = {train, val, test};
    for (int i = 0; i < 3; i++)
        if (outs[i])
            *outs[i] = NULL;
    RMTL__CHECK_ARG(ds, "ds");
    if (!(train_frac >= 0.0 && val_frac >= 0.0 && train_frac + val_frac <= 1.0 + 1e-9))
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_dataset_split_sessions: fractions %g + %g must be >= 0 and sum "
                           "to at most 1",
                           train_frac, val_frac);
    size_t S = ds->n_sessions;
    size_t n_train = (size_t)floor(train_frac * (double)S + 0.5);
    n_train = n_train > S ? S : n_train;
    size_t n_val = (size_t)floor(val_frac * (double)S + 0.5);
    n_val = n_val > S - n_train ? S - n_train : n_val;

    size_t *order = rmtl__mallocarray(S, sizeof *order);
    size_t *idx = rmtl__mallocarray(ds->rows, sizeof *idx);
    unsigned char *part = rmtl__malloc(ds->rows ? ds->rows : 1);
    int rc = 0;
    if (!order || !idx || !part) {
        rc = rmtl__error(RMTL_ENOMEM, "out of memory splitting %zu sessions", S);
        goto done;
    }
    for (size_t s = 0; s < S; s++)
        order[s] = s;
    rmtl__shuffle_seeded(order, S, seed);
    for (size_t k = 0; k < S; k++) {
        size_t s = order[k];
        unsigned char which = k < n_train ? 0 : k < n_train + n_val ? 1 : 2;
        for (size_t i = ds->sess_off[s]; i < ds->sess_off[s + 1]; i++)
            part[ds->sess_rows[i]] = which;
    }
    for (unsigned char w = 0; w < 3 && !rc; w++)
        if (outs[w])
            rc = rmtl__split_part(outs[w], ds, part, w, idx);
    if (rc)
        for (int i = 0; i < 3; i++)
            if (outs[i]) {
                rmtl_dataset_free(*outs[i]);
                *outs[i] = NULL;
            }
done:
    rmtl__free(order);
    rmtl__free(idx);
    rmtl__free(part);
    return rc;
}
