/* The encoder (see encoder.h): binding the caller's columns to a schema,
 * then text -> ids and standardised values by the loader's own rules
 * (data/value.h), so encoding a row gives the bits loading it would. */
#include <float.h>
#include <string.h>

#include "core/internal.h"
#include "data/encoder.h"
#include "data/value.h"

static int rmtl__is_feature(const rmtl__dscol *c)
{
    return c->field >= 0 || c->num >= 0;
}

void rmtl_encoder_free(rmtl_encoder *e)
{
    if (!e)
        return;
    for (size_t j = 0; e->name && j < e->n_in; j++)
        rmtl__free(e->name[j]);
    rmtl__free(e->name);
    rmtl__free(e->col);
    if (e->c_locale)
        freelocale(e->c_locale);
    rmtl__dsmeta_unref(e->meta);
    rmtl__free(e);
}

static int64_t rmtl__meta_find(const rmtl__dsmeta *m, const char *name)
{
    for (size_t k = 0; k < m->n_cols; k++)
        if (!strcmp(m->cols[k].name, name))
            return (int64_t)k;
    return -1;
}

/* Input column j reads meta column k: features once each, every feature
 * somewhere; other schema columns (labels, ids) are accepted and skipped. */
static int rmtl__encoder_bind(rmtl_encoder *e, const char *const *columns)
{
    const rmtl__dsmeta *m = e->meta;
    for (size_t j = 0; j < e->n_in; j++) {
        e->col[j] = -1;
        if (!columns[j])
            continue;
        if (!(e->name[j] = rmtl__strdup(columns[j])))
            return rmtl__error(RMTL_ENOMEM, "out of memory");
        int64_t k = rmtl__meta_find(m, columns[j]);
        if (k < 0)
            return rmtl__error(RMTL_EINVAL,
                               "columns[%zu] '%s' is not a column of the schema (%zu "
                               "categorical and %zu numerical features)",
                               j, columns[j], m->n_cat, m->n_num);
        if (!rmtl__is_feature(&m->cols[k]))
            continue;
        for (size_t i = 0; i < j; i++)
            if (e->col[i] == (int32_t)k)
                return rmtl__error(RMTL_EINVAL, "columns[%zu] and columns[%zu] are both '%s'",
                                   i, j, columns[j]);
        e->col[j] = (int32_t)k;
    }
    for (size_t k = 0; k < m->n_cols; k++) {
        if (!rmtl__is_feature(&m->cols[k]))
            continue;
        size_t j = 0;
        while (j < e->n_in && e->col[j] != (int32_t)k)
            j++;
        if (j == e->n_in)
            return rmtl__error(RMTL_EINVAL, "feature column '%s' (%s) is not among the columns",
                               m->cols[k].name, rmtl__role_name(m->cols[k].role));
    }
    return 0;
}

int rmtl_encoder_create(rmtl_encoder **out, const rmtl_dataset *schema,
                        const char *const *columns, size_t n_columns)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(schema, "schema");
    RMTL__CHECK_ARG(columns || n_columns == 0, "columns");
    const rmtl__dsmeta *m = schema->meta;
    if (!m->from_csv)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_encoder_create: the schema was built from arrays: it has no "
                           "vocabularies or normalisation to encode text with");
    rmtl_encoder *e = rmtl__calloc(1, sizeof *e);
    if (!e)
        return rmtl__error(RMTL_ENOMEM, "rmtl_encoder_create: out of memory");
    e->meta = rmtl__dsmeta_ref(schema->meta);
    e->n_cat = m->n_cat;
    e->n_num = m->n_num;
    size_t n = n_columns;
    if (!columns) /* the features, in the schema's column order */
        for (size_t k = 0; k < m->n_cols; k++)
            n += (size_t)rmtl__is_feature(&m->cols[k]);
    const char **dflt = columns ? NULL : rmtl__calloc(n ? n : 1, sizeof *dflt);
    for (size_t k = 0, j = 0; dflt && k < m->n_cols; k++)
        if (rmtl__is_feature(&m->cols[k]))
            dflt[j++] = m->cols[k].name;
    e->n_in = n;
    e->col = rmtl__calloc(n ? n : 1, sizeof *e->col);
    e->name = rmtl__calloc(n ? n : 1, sizeof *e->name);
    e->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    int rc = !e->col || !e->name || !e->c_locale || (!columns && !dflt)
                 ? rmtl__error(RMTL_ENOMEM, "out of memory")
                 : rmtl__encoder_bind(e, columns ? columns : dflt);
    rmtl__free(dflt);
    if (rc) {
        rmtl_encoder_free(e);
        return rmtl__error_prefix(rc, "rmtl_encoder_create");
    }
    *out = e;
    return 0;
}

size_t rmtl_encoder_n_columns(const rmtl_encoder *e)
{
    return e ? e->n_in : 0;
}

const char *rmtl_encoder_column_name(const rmtl_encoder *e, size_t i)
{
    return e && i < e->n_in ? e->name[i] : NULL;
}

/* One cell: input column j, row r, text s. */
static int rmtl__encode_cell(const rmtl_encoder *e, const char *fn, size_t j, size_t r,
                             const char *s, int32_t *cat, float *num)
{
    const rmtl__dscol *c = &e->meta->cols[e->col[j]];
    if (!s)
        return rmtl__error(RMTL_EINVAL,
                           "%s: row %zu, column '%s': NULL value (a missing value is one of "
                           "the schema's missing texts, e.g. \"\")",
                           fn, r, c->name);
    /* trimmed of spaces and tabs, as the CSV reader trims its fields */
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    int missing = rmtl__strset_has(&c->missing, s, len);
    if (c->field >= 0) {
        cat[c->field] =
            missing ? 0 : (int32_t)(rmtl__intern_find(e->meta->fields[c->field].values, s, len) + 1);
        return 0;
    }
    double x = NAN;
    if (!missing && rmtl__number(&x, s, len))
        return rmtl__error(RMTL_EFORMAT, "%s: row %zu, column '%s': '%s' is not a finite number",
                           fn, r, c->name, RMTL__SHOW(s, len));
    const rmtl__dsnum *st = &e->meta->nums[c->num];
    double z = rmtl__standardise(c, st, x);
    if (!(fabs(z) <= FLT_MAX))
        return rmtl__error(RMTL_EFORMAT,
                           "%s: row %zu, column '%s': %s is too large to standardise (mean %g, "
                           "std %g)",
                           fn, r, c->name, RMTL__SHOW(s, len), st->mean, st->std);
    num[c->num] = (float)z;
    return 0;
}

int rmtl__encode(const rmtl_encoder *e, const char *fn, const char *const *by_row,
                 const char *const *const *by_col, size_t rows, int32_t *cat, float *num)
{
    for (size_t j = 0; by_col && j < e->n_in; j++)
        if (e->col[j] >= 0 && !by_col[j] && rows)
            return rmtl__error(RMTL_EINVAL, "%s: column %zu ('%s') is NULL", fn, j, e->name[j]);
    locale_t old = uselocale(e->c_locale);
    int rc = 0;
    for (size_t r = 0; r < rows && !rc; r++)
        for (size_t j = 0; j < e->n_in && !rc; j++)
            if (e->col[j] >= 0)
                rc = rmtl__encode_cell(e, fn, j, r, by_row ? by_row[r * e->n_in + j] : by_col[j][r],
                                       cat + r * e->n_cat, num ? num + r * e->n_num : NULL);
    uselocale(old);
    return rc;
}
