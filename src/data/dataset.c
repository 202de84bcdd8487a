/* rmtl_dataset: lifecycle, shape, batches, shuffling and the session index. */
#include "data/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/rng.h"

/* --- lifecycle --------------------------------------------------------------- */

void rmtl_dataset_free(rmtl_dataset *ds)
{
    if (!ds)
        return;
    rmtl__dsmeta_unref(ds->meta);
    rmtl__dataset_free_arrays(ds); /* heap arrays, or a cache file's mapping */
    rmtl__free(ds);
}

static void *rmtl__rows_alloc(int *failed, size_t rows, size_t width, size_t size)
{
    if (*failed || width == 0)
        return NULL;
    void *p = width > SIZE_MAX / (rows ? rows : 1) ? NULL : rmtl__mallocarray(rows * width, size);
    if (!p)
        *failed = 1;
    return p;
}

int rmtl__dataset_new(rmtl_dataset **out, rmtl__dsmeta *meta, size_t rows, unsigned what)
{
    *out = NULL;
    rmtl_dataset *ds = rmtl__calloc(1, sizeof *ds);
    if (!ds)
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    ds->meta = rmtl__dsmeta_ref(meta);
    ds->rows = rows;
    int failed = 0;
    ds->cat = rmtl__rows_alloc(&failed, rows, meta->n_cat ? meta->n_cat : 1, sizeof *ds->cat);
    ds->num = rmtl__rows_alloc(&failed, rows, meta->n_num, sizeof *ds->num);
    ds->session = rmtl__rows_alloc(&failed, rows, 1, sizeof *ds->session);
    if (what & RMTL__DS_LABELS)
        ds->labels = rmtl__rows_alloc(&failed, rows, meta->n_tasks, sizeof *ds->labels);
    if (what & RMTL__DS_TIME)
        ds->time = rmtl__rows_alloc(&failed, rows, 1, sizeof *ds->time);
    if (what & RMTL__DS_USER)
        ds->user = rmtl__rows_alloc(&failed, rows, 1, sizeof *ds->user);
    if (what & RMTL__DS_ITEM)
        ds->item = rmtl__rows_alloc(&failed, rows, 1, sizeof *ds->item);
    if (!failed)
        ds->sess_off = rmtl__calloc(1, sizeof *ds->sess_off); /* valid empty index */
    if (failed || !ds->sess_off) {
        rmtl_dataset_free(ds);
        return rmtl__error(RMTL_ENOMEM, "out of memory for a dataset of %zu rows", rows);
    }
    *out = ds;
    return 0;
}

static unsigned rmtl__dataset_what(const rmtl_dataset *ds)
{
    return (ds->labels ? RMTL__DS_LABELS : 0) | (ds->time ? RMTL__DS_TIME : 0) |
           (ds->user ? RMTL__DS_USER : 0) | (ds->item ? RMTL__DS_ITEM : 0);
}

void rmtl__dataset_gather_rows(int32_t *cat, float *num, float *labels,
                               const rmtl_dataset *src, const size_t *idx, size_t n)
{
    size_t nc = src->meta->n_cat, nn = src->meta->n_num, nt = src->meta->n_tasks;
    for (size_t i = 0; i < n; i++) {
        size_t r = idx[i];
        if (nc)
            memcpy(cat + i * nc, src->cat + r * nc, nc * sizeof *cat);
        if (nn)
            memcpy(num + i * nn, src->num + r * nn, nn * sizeof *num);
        if (labels)
            memcpy(labels + i * nt, src->labels + r * nt, nt * sizeof *labels);
    }
}

/* Copies rows idx[0..n) of src into dst (same meta and arrays). */
static void rmtl__gather_rows(rmtl_dataset *dst, const rmtl_dataset *src, const size_t *idx,
                              size_t n)
{
    rmtl__dataset_gather_rows(dst->cat, dst->num, dst->labels, src, idx, n);
    for (size_t i = 0; i < n; i++) {
        size_t r = idx[i];
        dst->session[i] = src->session[r];
        if (dst->time)
            dst->time[i] = src->time[r];
        if (dst->user)
            dst->user[i] = src->user[r];
        if (dst->item)
            dst->item[i] = src->item[r];
    }
}

int rmtl__dataset_gather(rmtl_dataset **out, const rmtl_dataset *src, const size_t *idx, size_t n)
{
    rmtl_dataset *ds;
    int rc = rmtl__dataset_new(&ds, src->meta, n, rmtl__dataset_what(src));
    if (rc)
        return *out = NULL, rc;
    rmtl__gather_rows(ds, src, idx, n);
    if ((rc = rmtl__dataset_index_sessions(ds))) {
        rmtl_dataset_free(ds);
        return *out = NULL, rc;
    }
    *out = ds;
    return 0;
}

/* --- session index ----------------------------------------------------------- */

typedef struct rmtl__skey {
    int64_t sid;
    double t;
    size_t row;
} rmtl__skey;

typedef struct rmtl__sgroup {
    double t;
    size_t first_row, begin, end;
} rmtl__sgroup;

static int rmtl__cmp_skey(const void *pa, const void *pb)
{
    const rmtl__skey *a = pa, *b = pb;
    if (a->sid != b->sid)
        return a->sid < b->sid ? -1 : 1;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

static int rmtl__cmp_sgroup(const void *pa, const void *pb)
{
    const rmtl__sgroup *a = pa, *b = pb;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->first_row < b->first_row ? -1 : a->first_row > b->first_row;
}

/* Without timestamps and with session ids that never decrease (each row
 * its own session, or a log sorted by session), the sessions are the runs
 * of equal ids in row order: the index needs no sort and no scratch (the
 * sort's keys, groups and merge buffer are ~80 bytes a row). */
static int rmtl__index_runs(rmtl_dataset *ds)
{
    size_t n = ds->rows, ng = 0;
    for (size_t i = 0; i < n; i++)
        ng += i == 0 || ds->session[i] != ds->session[i - 1];
    size_t *off = rmtl__mallocarray(ng + 1, sizeof *off);
    size_t *rows = rmtl__mallocarray(n ? n : 1, sizeof *rows);
    if (!off || !rows) {
        rmtl__free(off);
        rmtl__free(rows);
        return rmtl__error(RMTL_ENOMEM, "out of memory indexing sessions");
    }
    for (size_t i = 0, g = 0; i < n; i++) {
        if (i == 0 || ds->session[i] != ds->session[i - 1])
            off[g++] = i;
        rows[i] = i;
    }
    off[ng] = n;
    rmtl__free(ds->sess_off);
    rmtl__free(ds->sess_rows);
    ds->sess_off = off, ds->sess_rows = rows, ds->n_sessions = ng;
    return 0;
}

int rmtl__dataset_index_sessions(rmtl_dataset *ds)
{
    size_t n = ds->rows;
    int runs = !ds->time;
    for (size_t i = 1; i < n && runs; i++)
        runs = ds->session[i] >= ds->session[i - 1];
    if (runs)
        return rmtl__index_runs(ds);
    rmtl__skey *keys = rmtl__mallocarray(n, sizeof *keys);
    rmtl__sgroup *groups = rmtl__mallocarray(n, sizeof *groups);
    size_t *rows = rmtl__mallocarray(n, sizeof *rows);
    size_t *off = NULL;
    if (!keys || !groups || !rows)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        keys[i] = (rmtl__skey){ds->session[i], ds->time ? ds->time[i] : 0.0, i};
    if (n > 1)
        qsort(keys, n, sizeof *keys, rmtl__cmp_skey);
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || keys[i].sid != keys[i - 1].sid)
            groups[ng++] = (rmtl__sgroup){keys[i].t, keys[i].row, i, i};
        rmtl__sgroup *g = &groups[ng - 1];
        g->end = i + 1;
        if (keys[i].row < g->first_row)
            g->first_row = keys[i].row;
    }
    if (ng > 1)
        qsort(groups, ng, sizeof *groups, rmtl__cmp_sgroup);
    if (!(off = rmtl__mallocarray(ng + 1, sizeof *off)))
        goto nomem;
    size_t k = 0;
    for (size_t g = 0; g < ng; g++) {
        off[g] = k;
        for (size_t i = groups[g].begin; i < groups[g].end; i++)
            rows[k++] = keys[i].row;
    }
    off[ng] = k;
    rmtl__free(keys);
    rmtl__free(groups);
    rmtl__free(ds->sess_off);
    rmtl__free(ds->sess_rows);
    ds->sess_off = off, ds->sess_rows = rows, ds->n_sessions = ng;
    return 0;
nomem:
    rmtl__free(keys);
    rmtl__free(groups);
    rmtl__free(rows);
    return rmtl__error(RMTL_ENOMEM, "out of memory indexing sessions");
}

/* --- shape ------------------------------------------------------------------- */

size_t rmtl_dataset_rows(const rmtl_dataset *ds) { return ds ? ds->rows : 0; }
size_t rmtl_dataset_n_cat(const rmtl_dataset *ds) { return ds ? ds->meta->n_cat : 0; }
size_t rmtl_dataset_n_num(const rmtl_dataset *ds) { return ds ? ds->meta->n_num : 0; }
size_t rmtl_dataset_n_tasks(const rmtl_dataset *ds) { return ds ? ds->meta->n_tasks : 0; }
size_t rmtl_dataset_n_sessions(const rmtl_dataset *ds) { return ds ? ds->n_sessions : 0; }
int rmtl_dataset_has_labels(const rmtl_dataset *ds) { return ds && ds->labels ? 1 : 0; }

size_t rmtl_dataset_vocab_size(const rmtl_dataset *ds, size_t field)
{
    return ds && field < ds->meta->n_cat ? ds->meta->fields[field].vocab : 0;
}

const char *rmtl_dataset_field_name(const rmtl_dataset *ds, size_t field)
{
    return ds && field < ds->meta->n_cat ? ds->meta->fields[field].name : NULL;
}

const char *rmtl_dataset_num_name(const rmtl_dataset *ds, size_t index)
{
    return ds && index < ds->meta->n_num ? ds->meta->nums[index].name : NULL;
}

const char *rmtl_dataset_task_name(const rmtl_dataset *ds, size_t task)
{
    return ds && task < ds->meta->n_tasks ? ds->meta->tasks[task] : NULL;
}

int rmtl_dataset_batch(rmtl_batch *out, const rmtl_dataset *ds, size_t start, size_t count)
{
    RMTL__CHECK_ARG(out, "out");
    RMTL__CHECK_ARG(ds, "ds");
    if (out->version < 1)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_dataset_batch: the batch has version %u: initialise it with "
                           "RMTL_BATCH_INIT",
                           (unsigned)out->version);
    if (start > ds->rows)
        return rmtl__error(RMTL_EINVAL, "rmtl_dataset_batch: start %zu is past the %zu rows",
                           start, ds->rows);
    size_t n = count < ds->rows - start ? count : ds->rows - start;
    const rmtl__dsmeta *m = ds->meta;
    out->rows = n;
    out->cat = ds->cat + start * m->n_cat;
    out->num = ds->num ? ds->num + start * m->n_num : NULL;
    out->labels = ds->labels ? ds->labels + start * m->n_tasks : NULL;
    out->weights = NULL;
    out->session = ds->session + start;
    return 0;
}

/* --- shuffling --------------------------------------------------------------- */

int rmtl_dataset_shuffle(rmtl_dataset *ds, uint64_t seed)
{
    RMTL__CHECK_ARG(ds, "ds");
    int rc = rmtl__dataset_unmap(ds); /* a mapped cache is read-only */
    if (rc)
        return rc;
    size_t n = ds->rows;
    size_t *perm = rmtl__mallocarray(n, sizeof *perm);
    size_t *inv = rmtl__mallocarray(n, sizeof *inv);
    size_t *sess_rows = rmtl__mallocarray(n, sizeof *sess_rows);
    rmtl_dataset *tmp = NULL;
    if (!perm || !inv || !sess_rows) {
        rc = rmtl__error(RMTL_ENOMEM, "out of memory shuffling %zu rows", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    rmtl__shuffle_seeded(perm, n, seed);
    if ((rc = rmtl__dataset_new(&tmp, ds->meta, n, rmtl__dataset_what(ds))))
        goto done;
    rmtl__gather_rows(tmp, ds, perm, n);
    /* the session index keeps its order; only row numbers move */
    for (size_t i = 0; i < n; i++)
        inv[perm[i]] = i;
    for (size_t i = 0; i < n; i++)
        sess_rows[i] = inv[ds->sess_rows[i]];
    rmtl__free(ds->sess_rows);
    ds->sess_rows = sess_rows;
    sess_rows = NULL;
#define RMTL__SWAP(f)                                                                     \
    do {                                                                                  \
        void *t_ = (void *)ds->f;                                                         \
        ds->f = tmp->f;                                                                   \
        tmp->f = t_;                                                                      \
    } while (0)
    RMTL__SWAP(cat);
    RMTL__SWAP(num);
    RMTL__SWAP(labels);
    RMTL__SWAP(session);
    RMTL__SWAP(time);
    RMTL__SWAP(user);
    RMTL__SWAP(item);
#undef RMTL__SWAP
done:
    rmtl_dataset_free(tmp);
    rmtl__free(perm);
    rmtl__free(inv);
    rmtl__free(sess_rows);
    return rc;
}

/* --- from arrays ------------------------------------------------------------- */

static char *rmtl__indexed_name(const char *prefix, size_t i)
{
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%s_%zu", prefix, i);
    return rmtl__strdup(tmp);
}

static int rmtl__validate_arrays(size_t rows, size_t n_cat, const size_t *vocab_sizes,
                                 const int32_t *cat, size_t n_num, const float *num,
                                 size_t n_tasks, const float *labels)
{
    static const char fn[] = "rmtl_dataset_from_arrays";
    if (rows == 0)
        return rmtl__error(RMTL_EINVAL, "%s: rows must be at least 1", fn);
    if (n_tasks == 0)
        return rmtl__error(RMTL_EINVAL, "%s: n_tasks must be at least 1", fn);
    if (n_cat + n_num == 0)
        return rmtl__error(RMTL_EINVAL, "%s: no features (n_cat and n_num are 0)", fn);
    if (n_cat && (!vocab_sizes || !cat))
        return rmtl__error(RMTL_EINVAL, "%s: n_cat is %zu but %s is NULL", fn, n_cat,
                           vocab_sizes ? "cat" : "vocab_sizes");
    if (n_num && !num)
        return rmtl__error(RMTL_EINVAL, "%s: n_num is %zu but num is NULL", fn, n_num);
    size_t widest = n_cat > n_num ? n_cat : n_num;
    widest = widest > n_tasks ? widest : n_tasks;
    if (widest > SIZE_MAX / 8 / rows)
        return rmtl__error(RMTL_EINVAL, "%s: %zu rows × %zu columns is too large", fn, rows,
                           widest);
    for (size_t f = 0; f < n_cat; f++)
        if (vocab_sizes[f] < 1 || vocab_sizes[f] > INT32_MAX)
            return rmtl__error(RMTL_EINVAL, "%s: vocab_sizes[%zu] = %zu is outside [1, 2^31-1]",
                               fn, f, vocab_sizes[f]);
    for (size_t r = 0; r < rows; r++) {
        for (size_t f = 0; f < n_cat; f++) {
            int32_t id = cat[r * n_cat + f];
            if (id < 0 || (size_t)id >= vocab_sizes[f])
                return rmtl__error(RMTL_EINVAL,
                                   "%s: cat[row %zu, field %zu] = %d is outside [0, %zu)", fn, r,
                                   f, (int)id, vocab_sizes[f]);
        }
        for (size_t k = 0; k < n_num; k++)
            if (!isfinite(num[r * n_num + k]))
                return rmtl__error(RMTL_ENUMERIC, "%s: num[row %zu, column %zu] is %g", fn, r, k,
                                   (double)num[r * n_num + k]);
        for (size_t t = 0; labels && t < n_tasks; t++) {
            float y = labels[r * n_tasks + t];
            if (y != 0.0f && y != 1.0f)
                return rmtl__error(RMTL_EINVAL, "%s: labels[row %zu, task %zu] = %g is not 0 or 1",
                                   fn, r, t, (double)y);
        }
    }
    return 0;
}

/* The meta of host-fed data: names and vocabulary sizes, no CSV binding. */
static int rmtl__arrays_meta(rmtl__dsmeta **out, size_t n_cat, const size_t *vocab_sizes,
                             size_t n_num, size_t n_tasks)
{
    rmtl__dsmeta *m = rmtl__dsmeta_new();
    if (!m)
        return RMTL_ENOMEM;
    m->fields = rmtl__calloc(n_cat, sizeof *m->fields);
    m->nums = rmtl__calloc(n_num, sizeof *m->nums);
    m->tasks = rmtl__calloc(n_tasks, sizeof *m->tasks);
    int failed = !m->fields || !m->nums || !m->tasks;
    if (!failed) {
        m->n_cat = n_cat, m->n_num = n_num, m->n_tasks = n_tasks;
        for (size_t f = 0; f < n_cat && !failed; f++) {
            m->fields[f].vocab = vocab_sizes[f];
            failed = !(m->fields[f].name = rmtl__indexed_name("cat", f));
        }
        for (size_t k = 0; k < n_num && !failed; k++) {
            m->nums[k].mean = 0.0, m->nums[k].std = 1.0;
            failed = !(m->nums[k].name = rmtl__indexed_name("num", k));
        }
        for (size_t t = 0; t < n_tasks && !failed; t++)
            failed = !(m->tasks[t] = rmtl__indexed_name("task", t));
    }
    if (failed) {
        rmtl__dsmeta_unref(m);
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    }
    *out = m;
    return 0;
}

int rmtl_dataset_from_arrays(rmtl_dataset **out, size_t rows, size_t n_cat,
                             const size_t *vocab_sizes, const int32_t *cat, size_t n_num,
                             const float *num, size_t n_tasks, const float *labels,
                             const int64_t *session)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    int rc = rmtl__validate_arrays(rows, n_cat, vocab_sizes, cat, n_num, num, n_tasks, labels);
    rmtl__dsmeta *m = NULL;
    if (rc || (rc = rmtl__arrays_meta(&m, n_cat, vocab_sizes, n_num, n_tasks)))
        return rc;
    rmtl_dataset *ds;
    rc = rmtl__dataset_new(&ds, m, rows, labels ? RMTL__DS_LABELS : 0);
    rmtl__dsmeta_unref(m);
    if (rc)
        return rc;
    if (n_cat)
        memcpy(ds->cat, cat, rows * n_cat * sizeof *cat);
    if (n_num)
        memcpy(ds->num, num, rows * n_num * sizeof *num);
    if (labels)
        memcpy(ds->labels, labels, rows * n_tasks * sizeof *labels);
    for (size_t r = 0; r < rows; r++)
        ds->session[r] = session ? session[r] : (int64_t)r;
    if ((rc = rmtl__dataset_index_sessions(ds))) {
        rmtl_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return 0;
}
