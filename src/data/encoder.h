/* rmtl_encoder: raw feature values (text, as in a CSV) -> the ids and
 * standardised floats a model reads, with a dataset's schema, vocabularies
 * and normalisation. Read-only once built, so threads share one. The
 * public calls that fill a batch live in mtl/encode.c, beside the context
 * whose buffers they fill. */
#ifndef RMTL_DATA_ENCODER_H
#define RMTL_DATA_ENCODER_H

#include <locale.h>

#include "data/dataset.h"

struct rmtl_encoder {
    rmtl__dsmeta *meta; /* own reference */
    size_t n_in;        /* columns the caller passes per row */
    int32_t *col;       /* input column -> meta column, -1: not read */
    char **name;        /* input column names; NULL entries: skipped */
    size_t n_cat, n_num;
    locale_t c_locale;  /* numbers read as in "C" whatever the host's locale */
};

/* Encodes `rows` rows into cat (rows × n_cat) and num (rows × n_num; NULL
 * when n_num is 0). The input is row-major text (`by_row[r·n_in + j]`) or,
 * when by_row is NULL, columns (`by_col[j][r]`). `fn` names the public
 * call in messages. Errors name the row and column: RMTL_EINVAL (a NULL
 * value), RMTL_EFORMAT (a malformed or too large number). */
int rmtl__encode(const rmtl_encoder *e, const char *fn, const char *const *by_row,
                 const char *const *const *by_col, size_t rows, int32_t *cat, float *num);

#endif
