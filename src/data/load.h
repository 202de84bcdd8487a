/* The CSV loader's state, shared by the simple streaming reader (load.c,
 * the reference path) and the parallel parser (csv_parallel.c): both fill
 * the same arrays with the same provisional values, and load.c finishes
 * them (vocabularies, standardisation, sessions) the same way. */
#ifndef RMTL_DATA_LOAD_H
#define RMTL_DATA_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/progress.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "data/value.h" /* rmtl__number, shared with the encoder */

typedef struct rmtl__loader {
    rmtl__csv *csv;     /* the reference reader, past the header */
    rmtl__dsmeta *meta; /* own reference */
    int training;
    int32_t *colmap; /* header column -> meta column, -1: not read */
    unsigned what;   /* RMTL__DS_* arrays this split has */
    int has_session;

    size_t rows, cap;
    int32_t *cat; /* training: provisional intern indices, -1 = missing;
                     with cat_final, vocab indices + 1, 0 = missing */
    double *num;  /* raw values, NaN = missing */
    float *labels;
    int64_t *sess, *user, *item; /* intern indices, -1 = missing */
    double *time;

    rmtl__intern *vocab; /* training: one per field */
    rmtl__intern ids[3]; /* session, user, item texts */
    uint64_t reported;   /* progress reported so far: a fallback to the
                            reference reader continues from there */
    int cat_final;       /* the parallel parser has remapped `cat` itself */
    int moments_ready;   /* ... and computed meta->nums' mean and std */
} rmtl__loader;

enum { RMTL__ID_SESSION, RMTL__ID_USER, RMTL__ID_ITEM };


/* Training: the mean and std of numerical column k over its present
 * values, in row order, into L->meta->nums[k]. */
void rmtl__num_moments_column(rmtl__loader *L, size_t k);

/* Grows the row arrays to hold `cap` rows (cap >= L->rows). */
int rmtl__loader_reserve(rmtl__loader *L, size_t cap);

/* The parallel parser returns this (and sets no message) when the input is
 * not for it: gzip, a pipe, quoted fields, bad data (the reference reader
 * then runs and names the problem). */
#define RMTL__FALLBACK 1

/* Reads the data rows of the plain CSV file `path` (or of mem[0..len) when
 * path is NULL) into L, bound and with empty arrays, using
 * options->threads threads; only rows starting in the byte range of part
 * options->part of options->parts when parts > 1. The arrays then hold
 * exactly what the reference reader would leave, or (L->cat_final,
 * L->moments_ready) the same one step further on. No thread gets fewer than
 * `min_range` bytes (0: 1 MiB; tests split small inputs with 1). 0,
 * RMTL__FALLBACK (L
 * left empty), or an error (ENOMEM, EIO, ESTATE when cancelled). */
int rmtl__csv_parallel(rmtl__loader *L, const char *path, const void *mem, size_t len,
                       const rmtl_load_options *options, size_t min_range,
                       rmtl__progress *prog);

#endif
