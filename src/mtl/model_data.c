/* The dataset side of rmtl_model: creation from a training dataset, the
 * schema it keeps (and its DATA section), training epochs and evaluation. */
#include "mtl/model.h"

#include "core/internal.h"
#include "core/progress.h"
#include "core/rng.h"
#include "data/dataset.h"

#include <math.h>
#include <string.h>

/* --- schema -------------------------------------------------------------- */

/* A dataset without rows sharing ds's schema, vocabularies and
 * normalisation (immutable and reference-counted: a copy in effect). */
static int rmtl__schema_of(rmtl_dataset **out, const rmtl_dataset *ds)
{
    return rmtl__dataset_new(out, ds->meta, 0, 0);
}

int rmtl__model_copy_schema(rmtl_model *dst, const rmtl_model *src)
{
    return rmtl__schema_of(&dst->schema, src->schema);
}

void rmtl__model_free_schema(rmtl_model *m)
{
    rmtl_dataset_free(m->schema);
    m->schema = NULL;
}

const rmtl_dataset *rmtl_model_schema(const rmtl_model *m) { return m ? m->schema : NULL; }

int rmtl__model_schema_save(rmtl__wbuf *w, const rmtl_model *m)
{
    return rmtl__dataset_schema_save(w, m->schema);
}

/* 0 when ds has the model's fields, vocabularies, numerical features and
 * tasks; else `code` naming the first difference. */
static int rmtl__layout_match(const rmtl__layout *l, const rmtl_dataset *ds, int code,
                              const char *what)
{
    if (rmtl_dataset_n_cat(ds) != l->n_cat || rmtl_dataset_n_num(ds) != l->n_num ||
        rmtl_dataset_n_tasks(ds) != l->n_tasks)
        return rmtl__error(code,
                           "%s has %zu categorical fields, %zu numerical features and %zu "
                           "tasks; the model %zu, %zu and %zu",
                           what, rmtl_dataset_n_cat(ds), rmtl_dataset_n_num(ds),
                           rmtl_dataset_n_tasks(ds), l->n_cat, l->n_num, l->n_tasks);
    for (size_t f = 0; f < l->n_cat; f++)
        if (rmtl_dataset_vocab_size(ds, f) != l->vocab[f])
            return rmtl__error(code, "%s: field '%s' has %zu ids, the model %zu", what,
                               rmtl_dataset_field_name(ds, f), rmtl_dataset_vocab_size(ds, f),
                               l->vocab[f]);
    for (size_t k = 0; k < l->n_tasks; k++)
        if (strcmp(rmtl_dataset_task_name(ds, k), l->task[k]))
            return rmtl__error(code, "%s: task %zu is '%s', the model's is '%s'", what, k,
                               rmtl_dataset_task_name(ds, k), l->task[k]);
    return 0;
}

int rmtl__model_schema_load(rmtl_model *m, const void *data, size_t len)
{
    rmtl__rbuf r;
    rmtl__rbuf_init(&r, data, len);
    int rc = rmtl__dataset_schema_load(&m->schema, &r);
    if (!rc && (r.failed || rmtl__rbuf_left(&r)))
        rc = rmtl__error(RMTL_EFORMAT, "%zu bytes after the schema", rmtl__rbuf_left(&r));
    if (!rc)
        rc = rmtl__layout_match(&m->lay, m->schema, RMTL_EFORMAT, "the schema");
    if (rc == RMTL_EFORMAT)
        rc = rmtl__error_prefix(rc, "checkpoint section 'DATA'");
    return rc;
}

/* --- creation ------------------------------------------------------------ */

int rmtl_model_create(rmtl_model **out, const rmtl_config *cfg, const rmtl_dataset *train)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(train, "train");
    size_t n_cat = rmtl_dataset_n_cat(train), n_tasks = rmtl_dataset_n_tasks(train);
    if (n_tasks > RMTL__TASKS_MAX)
        return rmtl__error(RMTL_EINVAL, "rmtl_model_create: the dataset has %zu tasks; a model "
                                        "has at most %d",
                           n_tasks, RMTL__TASKS_MAX);
    size_t *vocab = rmtl__mallocarray(n_cat ? n_cat : 1, sizeof *vocab);
    if (!vocab)
        return rmtl__error(RMTL_ENOMEM, "rmtl_model_create: out of memory");
    const char *names[RMTL__TASKS_MAX];
    for (size_t f = 0; f < n_cat; f++)
        vocab[f] = rmtl_dataset_vocab_size(train, f);
    for (size_t k = 0; k < n_tasks; k++)
        names[k] = rmtl_dataset_task_name(train, k);
    rmtl__layout lay;
    int rc = rmtl__layout_init(&lay, n_cat, vocab, rmtl_dataset_n_num(train), n_tasks, names);
    rmtl__free(vocab);
    if (rc)
        return rmtl__error_prefix(rc, "rmtl_model_create");
    rmtl_model *m;
    rc = rmtl__model_create_layout(&m, cfg, &lay);
    rmtl__layout_free(&lay);
    if (!rc && (rc = rmtl__schema_of(&m->schema, train)))
        rmtl_model_free(m);
    if (!rc)
        *out = m;
    return rc;
}

/* --- training epochs ----------------------------------------------------- */

/* rmtl_dataset rows usable with model m: the same layout, and labels when
 * they are needed. */
static int rmtl__check_data(const rmtl_model *m, const rmtl_dataset *ds, const char *fn,
                            int need_labels)
{
    int rc = rmtl__layout_match(&m->lay, ds, RMTL_EINVAL, "the dataset");
    if (rc)
        return rmtl__error_prefix(rc, "%s", fn);
    if (ds->rows == 0)
        return rmtl__error(RMTL_EINVAL, "%s: the dataset has no rows", fn);
    if (need_labels && !ds->labels)
        return rmtl__error(RMTL_EINVAL, "%s: the dataset has no labels", fn);
    return 0;
}

/* The rows of one shuffled batch, gathered into caller buffers. */
typedef struct rmtl__gather {
    int32_t *cat;
    float *num, *labels;
} rmtl__gather;

static void rmtl__gather_batch(rmtl_batch *b, const rmtl__gather *g, const rmtl_dataset *ds,
                               const size_t *rows, size_t n)
{
    size_t nn = ds->meta->n_num;
    rmtl__dataset_gather_rows(g->cat, g->num, g->labels, ds, rows, n);
    b->rows = n;
    b->cat = g->cat;
    b->num = nn ? g->num : NULL;
    b->labels = g->labels;
}

int rmtl_model_train_epoch(double *mean_loss, rmtl_model *m, const rmtl_dataset *train,
                           rmtl_progress_fn fn, void *payload)
{
    if (mean_loss)
        *mean_loss = NAN;
    RMTL__CHECK_ARG(m, "m");
    RMTL__CHECK_ARG(train, "train");
    int rc = rmtl__check_data(m, train, "rmtl_model_train_epoch", 1);
    if (rc)
        return rc;
    size_t rows = train->rows, bs = m->hp.batch_size < rows ? m->hp.batch_size : rows;
    size_t *perm = NULL;
    rmtl__gather g = {NULL, NULL, NULL};
    if (m->hp.shuffle) {
        /* one permutation per epoch from the model's own stream */
        perm = rmtl__mallocarray(rows, sizeof *perm);
        g.cat = rmtl__mallocarray(bs * (m->lay.n_cat ? m->lay.n_cat : 1), sizeof *g.cat);
        g.num = rmtl__mallocarray(bs * (m->lay.n_num ? m->lay.n_num : 1), sizeof *g.num);
        g.labels = rmtl__mallocarray(bs * m->lay.n_tasks, sizeof *g.labels);
        if (!perm || !g.cat || !g.num || !g.labels) {
            rc = rmtl__error(RMTL_ENOMEM, "rmtl_model_train_epoch: out of memory");
            goto done;
        }
        for (size_t i = 0; i < rows; i++)
            perm[i] = i;
        rmtl__rng_shuffle(&m->shuffle, perm, rows);
    }
    rmtl__progress prog;
    rmtl__progress_start(&prog, fn, payload, "rmtl_model_train_epoch", rows);
    double total = 0.0;
    for (size_t at = 0; at < rows && !rc; at += bs) {
        size_t n = rows - at < bs ? rows - at : bs;
        rmtl_batch b = RMTL_BATCH_INIT;
        if (perm)
            rmtl__gather_batch(&b, &g, train, perm + at, n);
        else
            rc = rmtl_dataset_batch(&b, train, at, n);
        double loss = 0.0;
        if (!rc)
            rc = rmtl_model_train_step(m, &b, &loss);
        if (rc)
            break;
        total += loss * (double)n;
        rc = rmtl__progress_report(&prog, at + n, total / (double)(at + n), 0);
    }
    if (!rc && mean_loss)
        *mean_loss = total / (double)rows;
done:
    rmtl__free(perm);
    rmtl__free(g.cat);
    rmtl__free(g.num);
    rmtl__free(g.labels);
    return rc;
}

/* --- evaluation ---------------------------------------------------------- */

int rmtl_model_evaluate(const rmtl_model *m, rmtl_ctx *ctx, const rmtl_dataset *ds,
                        double *auc, double *logloss, double *session_logloss,
                        size_t capacity)
{
    RMTL__CHECK_ARG(m, "m");
    RMTL__CHECK_ARG(ds, "ds");
    size_t T = m->lay.n_tasks;
    if ((auc || logloss || session_logloss) && capacity < T)
        return rmtl__error(RMTL_EINVAL, "rmtl_model_evaluate: capacity %zu < %zu tasks",
                           capacity, T);
    int rc = rmtl__check_data(m, ds, "rmtl_model_evaluate", 1);
    if (rc)
        return rc;
    size_t rows = ds->rows, bs = m->hp.batch_size;
    float *p = rmtl__mallocarray(rows, T * sizeof *p);
    rmtl_ctx *tmp = NULL;
    if (!p)
        return rmtl__error(RMTL_ENOMEM, "rmtl_model_evaluate: out of memory for %zu rows",
                           rows);
    if (!ctx && !(rc = rmtl_ctx_create(&tmp, 1)))
        ctx = tmp;
    for (size_t at = 0; at < rows && !rc; at += bs) {
        rmtl_batch b = RMTL_BATCH_INIT;
        rc = rmtl_dataset_batch(&b, ds, at, bs);
        if (!rc)
            rc = rmtl_model_predict(m, ctx, &b, p + at * T, (rows - at) * T);
    }
    for (size_t k = 0; k < T && !rc; k++) {
        const float *y = ds->labels + k;
        size_t pos = 0;
        for (size_t i = 0; i < rows; i++)
            pos += y[i * T] == 1.0f;
        if (auc)
            auc[k] = NAN; /* undefined with one class */
        if (auc && pos > 0 && pos < rows)
            rc = rmtl_auc(&auc[k], p + k, y, rows, T);
        if (!rc && logloss)
            rc = rmtl_logloss(&logloss[k], p + k, y, rows, T);
        if (!rc && session_logloss)
            rc = rmtl_session_logloss(&session_logloss[k], p + k, y, rows, T, ds->session);
    }
    rmtl_ctx_free(tmp);
    rmtl__free(p);
    return rc;
}
