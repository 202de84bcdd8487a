/*
 * The input and output layout of a multi-task model: its categorical
 * fields (vocabulary sizes, id 0 = unknown), the number of numerical
 * features and its tasks (names, in label-column order). A model is built
 * from a layout and a config; the public create takes the layout from a
 * training dataset, tests build one directly. The layout is also what a
 * checkpoint's ARCH section records (with the architecture name), so that
 * loading rebuilds exactly the same network.
 */
#ifndef RMTL_MTL_LAYOUT_H
#define RMTL_MTL_LAYOUT_H

#include <stddef.h>

#include "core/bytes.h"

/* A model has at most this many tasks (model.tasks has the same cap). */
#define RMTL__TASKS_MAX 16

typedef struct rmtl__layout {
    size_t n_cat;  /* categorical fields */
    size_t *vocab; /* n_cat ids per field, each >= 1 (id 0 included) */
    size_t n_num;  /* numerical features */
    size_t n_tasks;
    char **task;   /* n_tasks names */
} rmtl__layout;

/* Copies everything. names NULL: "task_0", "task_1", ... RMTL_EINVAL for
 * no input at all (n_cat + n_num == 0), a vocabulary of 0, no task or more
 * than RMTL__TASKS_MAX, an empty or duplicate task name; RMTL_ENOMEM. On
 * failure l is zeroed. */
int rmtl__layout_init(rmtl__layout *l, size_t n_cat, const size_t *vocab, size_t n_num,
                      size_t n_tasks, const char *const *names);
void rmtl__layout_free(rmtl__layout *l); /* accepts a zeroed layout */
int rmtl__layout_copy(rmtl__layout *dst, const rmtl__layout *src);

/* ARCH section payload: layout version, architecture name, fields,
 * vocabularies, numerical count, task names (docs/models.md). */
void rmtl__layout_write(rmtl__wbuf *w, const rmtl__layout *l, const char *arch);
/* Parses an ARCH payload into l and the architecture name into arch
 * (NUL-terminated, truncated to cap). RMTL_EFORMAT for anything malformed,
 * RMTL_EVERSION for a newer payload version, RMTL_ENOMEM. */
int rmtl__layout_read(rmtl__layout *l, char *arch, size_t cap, const void *data, size_t len);
/* RMTL_EFORMAT unless the embedding tables of l (`per_id` floats at least
 * per vocabulary id; 0 counts as 1) and the first layer's weights (one
 * float at least per numerical feature) fit in `payload` checkpoint bytes:
 * a damaged or crafted checkpoint must not make a loader allocate and
 * initialise tables that the file cannot hold (found by fuzzing: a 4.6 KB
 * critic file declaring 6e8 ids took a minute to refuse, a 4.7 KB model 2e9
 * features, a 4.6 KB critic an embedding dimension of 1e6). */
int rmtl__layout_check_fits(const rmtl__layout *l, size_t per_id, size_t payload);

#endif
