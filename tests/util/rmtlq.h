/* One RMTL quality run (docs/rmtl.md, "Quality experiment"), public API
 * only: shared by bench/rmtl_quality.c (the 40-run sweep) and the fast
 * regression test in tests/check_rmtl_quality.c. */
#ifndef RMTL_TESTS_RMTLQ_H
#define RMTL_TESTS_RMTLQ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rmtl.h"

#define RMTLQ_MAX_TASKS 16

/* Field `col` of a CSV line (no quoting: logs of numbers and ids) into
 * key (at most cap - 1 characters); "" past the line's last field. */
void rmtlq_csv_field(char *key, size_t cap, const char *line, int col);
/* The index of the column `name` in a CSV header line, or -1. */
int rmtlq_csv_column(const char *header, const char *name);

/* Splits the CSV `src` by whole sessions (the values of column `session`)
 * with `seed`: sessions in order of first appearance are shuffled
 * (SplitMix64 + Fisher–Yates), the first round(f_train·S) go to `out[0]`,
 * the next round(f_val·S) to `out[1]`, the rest to `out[2]`; every file
 * gets the header. Rows keep their file order. Returns RMTL_OK, RMTL_EIO
 * or RMTL_EFORMAT (no such column, a line longer than 64 KiB). */
int rmtlq_split_csv(const char *src, const char *session, double f_train, double f_val,
                    uint64_t seed, const char *const out[3]);

typedef struct rmtlq_opts {
    long fill;        /* random-action transitions in the replay buffer  */
    long updates;     /* agent updates                                   */
    long ft_epochs;   /* most fine-tuning epochs                         */
    long ft_patience; /* fine-tuning epochs without validation gain      */
    long ft_batch;    /* fine-tuning batch (0: train.batch_size)         */
    double ft_lr;     /* fine-tuning learning rate (0: optim.lr)         */
    int control;      /* also fine-tune with plain BCE (same selection)  */
    FILE *log;        /* progress lines (NULL: none)                     */
} rmtlq_opts;

typedef struct rmtlq_result {
    size_t T;
    double val_base[RMTLQ_MAX_TASKS], val_rmtl[RMTLQ_MAX_TASKS];
    double base[RMTLQ_MAX_TASKS], rmtl[RMTLQ_MAX_TASKS], bce[RMTLQ_MAX_TASKS]; /* test AUC */
    int pre_epochs;  /* pre-training epochs run                          */
    int rmtl_epoch;  /* fine-tuning epoch kept; 0: the base model kept   */
    int bce_epoch;   /* the same for the BCE control (-1: not run)       */
    /* the RMTL weights 1 − λ·Q_k(s, ŷ_k) of fine-tuning epoch 1, per task:
     * mean, standard deviation, smallest and largest */
    double w_mean[RMTLQ_MAX_TASKS], w_std[RMTLQ_MAX_TASKS];
    double w_min[RMTLQ_MAX_TASKS], w_max[RMTLQ_MAX_TASKS];
    double seconds;
} rmtlq_result;

/* Pre-trains a model of `cfg` on `train` (early stopping on validation mean
 * AUC, train.epochs / train.patience), trains an agent on the training
 * sessions, fine-tunes the pre-trained model with the RMTL loss (model
 * selection on validation only: see rmtlq.c) and evaluates on `test`.
 * `train` is shuffled in place. */
int rmtlq_run(rmtlq_result *out, const rmtl_config *cfg, rmtl_dataset *train,
              const rmtl_dataset *val, const rmtl_dataset *test, const rmtlq_opts *o);

#endif
