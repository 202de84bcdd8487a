/* The dataset's inside, shared by the data layer and the parts of the
 * library that read impressions (models, the session environment).
 *
 * A dataset is rows plus a shared, immutable "meta": the bound schema,
 * vocabularies and normalisation. Training splits build a meta; validation
 * splits, splits by session and datasets restored from a checkpoint share
 * or rebuild one, so every split maps text to the same ids. */
#ifndef RMTL_DATA_DATASET_H
#define RMTL_DATA_DATASET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"
#include "data/intern.h"
#include "data/schema.h"
#include "rmtl.h"

typedef struct rmtl__dsfield {
    char *name;
    size_t vocab;          /* ids 0..vocab-1; 0 = missing, unseen or rare */
    rmtl__intern *values;  /* value text of ids 1..vocab-1 (entry i is id i+1);
                              NULL when the dataset came from arrays */
} rmtl__dsfield;

typedef struct rmtl__dsnum {
    char *name;
    double mean, std; /* stored value = (raw - mean) / std */
} rmtl__dsnum;

typedef struct rmtl__dsmeta {
    atomic_size_t refs;
    int from_csv;        /* cols say how to read a CSV (else: from arrays) */
    rmtl__dscol *cols;   /* the columns read, in the training header's order */
    size_t n_cols;
    rmtl__dsfield *fields;
    size_t n_cat;
    rmtl__dsnum *nums;
    size_t n_num;
    char **tasks;
    size_t n_tasks;
} rmtl__dsmeta;

struct rmtl_dataset {
    rmtl__dsmeta *meta; /* shared, read-only */
    size_t rows;
    int32_t *cat;     /* rows × n_cat */
    float *num;       /* rows × n_num, NULL when n_num == 0 */
    float *labels;    /* rows × n_tasks in {0,1}, NULL without labels */
    int64_t *session; /* rows: see docs/data.md for how ids are chosen */
    double *time;     /* rows, NULL without a timestamp column */
    int64_t *user;    /* rows (-1 = missing), NULL without a user column */
    int64_t *item;    /* rows (-1 = missing), NULL without an item column */

    /* sessions, ordered by their first timestamp (then first row); the rows
     * of session s are sess_rows[sess_off[s] .. sess_off[s+1]), ordered by
     * timestamp, ties in file order */
    size_t n_sessions;
    size_t *sess_off;  /* n_sessions + 1 */
    size_t *sess_rows; /* rows */

    /* a dataset loaded from a cache file: arrays inside [map, map + map_len)
     * belong to the mapping (src/data/cache.c), the others to the heap */
    void *map;
    size_t map_len;
};

/* --- meta (src/data/meta.c) ------------------------------------------------ */
/* A zeroed meta holding one reference, or NULL (ENOMEM, message set). */
rmtl__dsmeta *rmtl__dsmeta_new(void);
rmtl__dsmeta *rmtl__dsmeta_ref(rmtl__dsmeta *m);
void rmtl__dsmeta_unref(rmtl__dsmeta *m);

/* --- datasets (src/data/dataset.c) ----------------------------------------- */
enum { RMTL__DS_LABELS = 1, RMTL__DS_TIME = 2, RMTL__DS_USER = 4, RMTL__DS_ITEM = 8 };

/* A dataset of `rows` rows with uninitialised arrays: cat, num (if the meta
 * has numerical features), session, and those named in `what`, and an empty
 * session index. The dataset takes its own reference to `meta`. */
int rmtl__dataset_new(rmtl_dataset **out, rmtl__dsmeta *meta, size_t rows, unsigned what);
/* (Re)builds the session index from session ids and timestamps. */
int rmtl__dataset_index_sessions(rmtl_dataset *ds);
/* The one row gather: copies the categorical, numerical and label rows
 * idx[0..n) of src into packed arrays (n × n_cat, n × n_num, n × n_tasks);
 * an array whose width is 0, and labels when NULL, are skipped. Datasets
 * of chosen rows and the model's shuffled batches are made with it. */
void rmtl__dataset_gather_rows(int32_t *cat, float *num, float *labels,
                               const rmtl_dataset *src, const size_t *idx, size_t n);
/* A new dataset of rows `idx[0..n)` of `src`, in that order, sharing its
 * meta; its session index is rebuilt. */
int rmtl__dataset_gather(rmtl_dataset **out, const rmtl_dataset *src, const size_t *idx, size_t n);

/* Session access for the RL environment: the index described above. */
static inline size_t rmtl__dataset_session_count(const rmtl_dataset *ds)
{
    return ds->n_sessions;
}
static inline const size_t *rmtl__dataset_session_rows(const rmtl_dataset *ds, size_t s,
                                                       size_t *count)
{
    *count = ds->sess_off[s + 1] - ds->sess_off[s];
    return ds->sess_rows + ds->sess_off[s];
}

/* --- cache files (src/data/cache.c) ----------------------------------------- */
/* Frees the arrays (heap ones; a mapping is unmapped). */
void rmtl__dataset_free_arrays(rmtl_dataset *ds);
/* Copies a mapped dataset's arrays to the heap and drops the mapping, so
 * they may be written (shuffling). 0 or ENOMEM (ds unchanged). */
int rmtl__dataset_unmap(rmtl_dataset *ds);

/* --- loading (src/data/load.c) --------------------------------------------- */
/* As rmtl_dataset_load_schema_string() with the CSV in memory (`csv_name`
 * labels messages). `schema` is NULL when `ref` is given. */
int rmtl__dataset_load_mem(rmtl_dataset **out, const void *csv, size_t csv_len,
                           const char *csv_name, const char *schema, size_t schema_len,
                           const char *schema_name, const rmtl_dataset *ref);

/* rmtl_dataset_load() through the simple streaming reader alone: the
 * reference the parallel parser is tested and benchmarked against. */
int rmtl__dataset_load_reference(rmtl_dataset **out, const char *csv_path,
                                 const char *schema_path, const rmtl_dataset *ref);

/* The parallel parser with ranges of at least `min_range` bytes (tests
 * split small inputs across threads with 1), from the file `csv_path` or
 * csv[0..csv_len); `schema` is schema_len bytes of YAML, or NULL with a
 * reference; `opts` NULL is the reference reader. */
int rmtl__dataset_load_ranges(rmtl_dataset **out, const char *csv_path, const void *csv,
                              size_t csv_len, const char *schema, size_t schema_len,
                              const rmtl_dataset *ref, const rmtl_load_options *opts,
                              size_t min_range);

/* --- schema serialisation (src/data/meta_io.c) ----------------------------- */
/* Appends the schema, vocabularies and normalisation of `ds` (its rows are
 * not saved) so that a checkpoint can carry them. 0 or ENOMEM. */
int rmtl__dataset_schema_save(rmtl__wbuf *w, const rmtl_dataset *ds);
/* Reads what rmtl__dataset_schema_save() wrote into a new dataset with no
 * rows, usable as the `reference` of rmtl_dataset_load() (prediction on raw
 * CSV after a model is loaded). Damaged bytes: RMTL_EFORMAT. */
int rmtl__dataset_schema_load(rmtl_dataset **out, rmtl__rbuf *r);

#endif
