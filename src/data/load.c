/* CSV + schema (training) or CSV + reference dataset -> rmtl_dataset.
 *
 * One streaming pass: categorical text is interned per field (counting, on
 * a training load) and numerical values kept as doubles with running
 * moments; the vocabularies (frequency threshold) and the standardisation
 * are applied once the whole split has been seen. */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/progress.h"
#include "core/yamlu.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "data/load.h"
#include "data/value.h"

static void rmtl__loader_free(rmtl__loader *L)
{
    rmtl__dsmeta *m = L->meta;
    for (size_t f = 0; L->vocab && m && f < m->n_cat; f++)
        rmtl__intern_free(&L->vocab[f]);
    rmtl__free(L->vocab);
    for (int i = 0; i < 3; i++)
        rmtl__intern_free(&L->ids[i]);
    rmtl__free(L->colmap);
    rmtl__free(L->cat);
    rmtl__free(L->num);
    rmtl__free(L->labels);
    rmtl__free(L->sess);
    rmtl__free(L->user);
    rmtl__free(L->item);
    rmtl__free(L->time);
    rmtl__dsmeta_unref(m);
}

/* --- binding the header ------------------------------------------------------- */

static int rmtl__find_header(const rmtl__csv *csv, const char *name, size_t *j)
{
    int64_t i = rmtl__csv_find(csv, name);
    *j = i < 0 ? 0 : (size_t)i;
    return i >= 0;
}

static int rmtl__is_field(const rmtl__dscol *c)
{
    return c->role == RMTL__ROLE_CAT ||
           ((c->role == RMTL__ROLE_USER || c->role == RMTL__ROLE_ITEM) && c->feature);
}

static unsigned rmtl__role_array(int role)
{
    return role == RMTL__ROLE_TIME   ? RMTL__DS_TIME
           : role == RMTL__ROLE_USER ? RMTL__DS_USER
           : role == RMTL__ROLE_ITEM ? RMTL__DS_ITEM
                                     : 0;
}

/* Fills the meta's field, numerical and task lists from its columns. */
static int rmtl__meta_lists(rmtl__dsmeta *m, size_t n_tasks)
{
    size_t n_cat = 0, n_num = 0;
    for (size_t k = 0; k < m->n_cols; k++) {
        rmtl__dscol *c = &m->cols[k];
        if (rmtl__is_field(c))
            c->field = (int32_t)n_cat++;
        if (c->role == RMTL__ROLE_NUM)
            c->num = (int32_t)n_num++;
    }
    m->fields = rmtl__calloc(n_cat, sizeof *m->fields);
    m->nums = rmtl__calloc(n_num, sizeof *m->nums);
    m->tasks = rmtl__calloc(n_tasks, sizeof *m->tasks);
    if (!m->fields || !m->nums || !m->tasks)
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    m->n_cat = n_cat, m->n_num = n_num, m->n_tasks = n_tasks;
    for (size_t k = 0; k < m->n_cols; k++) {
        const rmtl__dscol *c = &m->cols[k];
        char **slot = c->field >= 0                ? &m->fields[c->field].name
                      : c->num >= 0                ? &m->nums[c->num].name
                      : c->role == RMTL__ROLE_LABEL ? &m->tasks[c->task]
                                                   : NULL;
        if (slot && !(*slot = rmtl__strdup(c->name)))
            return rmtl__error(RMTL_ENOMEM, "out of memory");
    }
    return 0;
}

static int rmtl__bind_schema(rmtl__loader *L, const rmtl__schema *s)
{
    rmtl__csv *csv = L->csv;
    size_t nh = rmtl__csv_ncols(csv), j;
    for (j = 0; j < nh; j++)
        L->colmap[j] = -1; /* first: the listed schema column of each header column */
    for (size_t i = 0; i < s->n_cols; i++) {
        if (!rmtl__find_header(csv, s->cols[i].name, &j))
            return rmtl__error(RMTL_ECONFIG, "%s:%zu:%zu: column '%s' is not in the header of %s",
                               s->name, s->cols[i].line, s->cols[i].col, s->cols[i].name,
                               rmtl__csv_name(csv));
        L->colmap[j] = (int32_t)i;
    }
    rmtl__dsmeta *m = L->meta = rmtl__dsmeta_new();
    if (!m)
        return RMTL_ENOMEM;
    m->from_csv = 1;
    if (!(m->cols = rmtl__calloc(nh, sizeof *m->cols)))
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    for (j = 0; j < nh; j++) {
        const char *name = rmtl__csv_colname(csv, j);
        const rmtl__dscol *sc = L->colmap[j] >= 0 ? &s->cols[L->colmap[j]] : NULL;
        L->colmap[j] = -1; /* from here: the meta column */
        int role = sc ? sc->role : s->default_role;
        if (role < 0)
            return rmtl__error(RMTL_ECONFIG,
                               "%s: column '%s' of %s has no role: list it under 'columns' or "
                               "set 'default'",
                               s->name, name, rmtl__csv_name(csv));
        if (role == RMTL__ROLE_IGNORE)
            continue;
        rmtl__dscol *c = &m->cols[m->n_cols];
        int rc;
        if (sc) {
            rc = rmtl__dscol_copy(c, sc);
        } else {
            *c = (rmtl__dscol){.role = role, .field = -1, .num = -1, .task = -1,
                               .min_count = s->min_count};
            rc = (c->name = rmtl__strdup(name)) ? rmtl__strset_copy(&c->missing, &s->missing)
                                               : rmtl__error(RMTL_ENOMEM, "out of memory");
        }
        if (rc)
            return rc;
        L->colmap[j] = (int32_t)m->n_cols++;
        if (role == RMTL__ROLE_SESSION)
            L->has_session = 1;
        L->what |= rmtl__role_array(role);
    }
    L->what |= RMTL__DS_LABELS;
    return rmtl__meta_lists(m, s->n_tasks);
}

static int rmtl__bind_reference(rmtl__loader *L, const rmtl_dataset *ref)
{
    rmtl__csv *csv = L->csv;
    rmtl__dsmeta *m = L->meta = rmtl__dsmeta_ref(ref->meta);
    if (!m->from_csv)
        return rmtl__error(RMTL_EINVAL,
                           "%s: the reference dataset was built from arrays: it has no schema "
                           "to read a CSV with",
                           rmtl__csv_name(csv));
    for (size_t j = 0; j < rmtl__csv_ncols(csv); j++)
        L->colmap[j] = -1;
    const char *absent_label = NULL, *present_label = NULL;
    for (size_t k = 0; k < m->n_cols; k++) {
        const rmtl__dscol *c = &m->cols[k];
        size_t j;
        if (!rmtl__find_header(csv, c->name, &j)) {
            if (rmtl__is_field(c) || c->role == RMTL__ROLE_NUM)
                return rmtl__error(RMTL_EFORMAT,
                                   "%s: column '%s' (%s in the reference schema) is missing "
                                   "from the header",
                                   rmtl__csv_name(csv), c->name, rmtl__role_name(c->role));
            if (c->role == RMTL__ROLE_LABEL)
                absent_label = c->name;
            continue;
        }
        L->colmap[j] = (int32_t)k;
        if (c->role == RMTL__ROLE_LABEL)
            present_label = c->name;
        if (c->role == RMTL__ROLE_SESSION)
            L->has_session = 1;
        L->what |= rmtl__role_array(c->role);
    }
    if (absent_label && present_label)
        return rmtl__error(RMTL_EFORMAT,
                           "%s: label column '%s' is missing from the header ('%s' is there: "
                           "give all labels or none)",
                           rmtl__csv_name(csv), absent_label, present_label);
    if (present_label || m->n_tasks == 0)
        L->what |= RMTL__DS_LABELS;
    return 0;
}

/* --- rows ------------------------------------------------------------------- */

int rmtl__loader_reserve(rmtl__loader *L, size_t cap)
{
    const rmtl__dsmeta *m = L->meta;
    size_t wide = m->n_cat > m->n_num ? m->n_cat : m->n_num;
    wide = wide > m->n_tasks ? wide : m->n_tasks;
    if (cap > SIZE_MAX / 8 / (wide + 1))
        return rmtl__error(RMTL_ENOMEM, "%s: too many rows", rmtl__csv_name(L->csv));
#define RMTL__GROW(arr, width)                                                   \
    do {                                                                         \
        void *p_ = rmtl__realloc(L->arr, cap * (width) * sizeof *L->arr);        \
        if (!p_)                                                                 \
            return rmtl__error(RMTL_ENOMEM, "%s:%zu: out of memory (%zu rows)",  \
                               rmtl__csv_name(L->csv), rmtl__csv_line(L->csv),   \
                               L->rows);                                         \
        L->arr = p_;                                                             \
    } while (0)
    RMTL__GROW(cat, m->n_cat ? m->n_cat : 1);
    if (m->n_num)
        RMTL__GROW(num, m->n_num);
    if (L->what & RMTL__DS_LABELS)
        RMTL__GROW(labels, m->n_tasks ? m->n_tasks : 1);
    RMTL__GROW(sess, 1);
    if (L->what & RMTL__DS_TIME)
        RMTL__GROW(time, 1);
    if (L->what & RMTL__DS_USER)
        RMTL__GROW(user, 1);
    if (L->what & RMTL__DS_ITEM)
        RMTL__GROW(item, 1);
#undef RMTL__GROW
    L->cap = cap;
    return 0;
}

static int rmtl__cat_cell(rmtl__loader *L, size_t j, const rmtl__dscol *c, const char *s,
                          size_t len, int missing, int32_t *cell)
{
    if (missing) {
        *cell = L->training ? -1 : 0;
        return 0;
    }
    if (!L->training) {
        int64_t e = rmtl__intern_find(L->meta->fields[c->field].values, s, len);
        *cell = (int32_t)(e + 1); /* unseen -> 0 */
        return 0;
    }
    size_t idx;
    int rc = rmtl__intern_add(&L->vocab[c->field], s, len, &idx);
    if (rc)
        return rc;
    if (idx >= INT32_MAX - 1)
        return rmtl__csv_error(L->csv, RMTL_EFORMAT, j, "more than 2^31 distinct values");
    *cell = (int32_t)idx;
    return 0;
}

static int rmtl__label_cell(rmtl__loader *L, size_t j, const rmtl__dscol *c, const char *s,
                            size_t len, int missing, float *cell)
{
    if (c->rule == RMTL__RULE_THRESHOLD) {
        double v;
        if (missing)
            return rmtl__csv_error(L->csv, RMTL_EFORMAT, j, "missing label");
        if (rmtl__number(&v, s, len))
            return rmtl__csv_error(L->csv, RMTL_EFORMAT, j,
                                   "label '%s' is not a number (rule: value > %g)",
                                   RMTL__SHOW(s, len), c->threshold);
        *cell = v > c->threshold ? 1.0f : 0.0f;
        return 0;
    }
    if (rmtl__strset_has(&c->positive, s, len))
        return *cell = 1.0f, 0;
    if (c->negative.n && rmtl__strset_has(&c->negative, s, len))
        return *cell = 0.0f, 0;
    if (missing)
        return rmtl__csv_error(L->csv, RMTL_EFORMAT, j, "missing label");
    if (c->negative.n)
        return rmtl__csv_error(L->csv, RMTL_EFORMAT, j,
                               "label '%s' is neither positive ('%s'%s) nor negative ('%s'%s)",
                               RMTL__SHOW(s, len), c->positive.v[0],
                               c->positive.n > 1 ? ", ..." : "", c->negative.v[0],
                               c->negative.n > 1 ? ", ..." : "");
    return *cell = 0.0f, 0;
}

static int rmtl__id_cell(rmtl__loader *L, int which, const char *s, size_t len, int missing,
                         int64_t *cell)
{
    size_t idx;
    if (missing)
        return *cell = -1, 0;
    int rc = rmtl__intern_add(&L->ids[which], s, len, &idx);
    *cell = (int64_t)idx;
    return rc;
}

static int rmtl__num_cell(rmtl__loader *L, size_t j, const rmtl__dscol *c, const char *s,
                          size_t len, int missing, double *cell)
{
    if (missing)
        return *cell = NAN, 0;
    if (rmtl__number(cell, s, len))
        return rmtl__csv_error(L->csv, RMTL_EFORMAT, j, "'%s' is not a finite number",
                               RMTL__SHOW(s, len));
    if (!L->training) {
        const rmtl__dsnum *st = &L->meta->nums[c->num];
        if (!(fabs((*cell - st->mean) / st->std) <= FLT_MAX))
            return rmtl__csv_error(L->csv, RMTL_EFORMAT, j,
                                   "%s is too large to standardise (mean %g, std %g)",
                                   RMTL__SHOW(s, len), st->mean, st->std);
    }
    return 0;
}

static int rmtl__read_row(rmtl__loader *L)
{
    const rmtl__dsmeta *m = L->meta;
    size_t r = L->rows;
    int32_t *cat = L->cat + r * m->n_cat;
    double *num = L->num ? L->num + r * m->n_num : NULL;
    float *lab = L->labels ? L->labels + r * m->n_tasks : NULL;
    L->sess[r] = (int64_t)r;
    for (size_t j = 0, nh = rmtl__csv_ncols(L->csv); j < nh; j++) {
        if (L->colmap[j] < 0)
            continue;
        const rmtl__dscol *c = &m->cols[L->colmap[j]];
        const char *s = rmtl__csv_field(L->csv, j);
        size_t len = rmtl__csv_field_len(L->csv, j);
        int missing = rmtl__strset_has(&c->missing, s, len);
        int rc = 0;
        switch (c->role) {
        case RMTL__ROLE_CAT:
            rc = rmtl__cat_cell(L, j, c, s, len, missing, &cat[c->field]);
            break;
        case RMTL__ROLE_NUM:
            rc = rmtl__num_cell(L, j, c, s, len, missing, &num[c->num]);
            break;
        case RMTL__ROLE_LABEL:
            rc = rmtl__label_cell(L, j, c, s, len, missing, &lab[c->task]);
            break;
        case RMTL__ROLE_SESSION:
            rc = missing ? rmtl__csv_error(L->csv, RMTL_EFORMAT, j, "missing session id")
                         : rmtl__id_cell(L, RMTL__ID_SESSION, s, len, 0, &L->sess[r]);
            break;
        case RMTL__ROLE_TIME:
            if (missing)
                rc = rmtl__csv_error(L->csv, RMTL_EFORMAT, j, "missing timestamp");
            else if (rmtl__number(&L->time[r], s, len))
                rc = rmtl__csv_error(L->csv, RMTL_EFORMAT, j, "timestamp '%s' is not a number",
                                     RMTL__SHOW(s, len));
            break;
        case RMTL__ROLE_USER:
        case RMTL__ROLE_ITEM: {
            int user = c->role == RMTL__ROLE_USER;
            rc = rmtl__id_cell(L, user ? RMTL__ID_USER : RMTL__ID_ITEM, s, len, missing,
                               user ? &L->user[r] : &L->item[r]);
            if (!rc && c->feature)
                rc = rmtl__cat_cell(L, j, c, s, len, missing, &cat[c->field]);
            break;
        }
        default:
            break;
        }
        if (rc)
            return rc;
    }
    L->rows++;
    return 0;
}

/* --- finishing --------------------------------------------------------------- */

/* Training: ids 1.. for values seen at least min_count times, in order of
 * first appearance; the rest share id 0 with missing values. The map of
 * every field is built first, then the rows are rewritten in one pass. */
static int rmtl__finish_vocab(rmtl__loader *L)
{
    rmtl__dsmeta *m = L->meta;
    size_t nc = m->n_cat;
    int32_t **map = rmtl__calloc(nc ? nc : 1, sizeof *map);
    int rc = map ? 0 : rmtl__error(RMTL_ENOMEM, "out of memory building vocabularies");
    int identity = 1; /* every field keeps every value */
    for (size_t k = 0; k < m->n_cols && !rc; k++) {
        const rmtl__dscol *c = &m->cols[k];
        if (c->field < 0)
            continue;
        rmtl__dsfield *fd = &m->fields[c->field];
        rmtl__intern *t = &L->vocab[c->field];
        if (!(fd->values = rmtl__calloc(1, sizeof *fd->values))) {
            rc = rmtl__error(RMTL_ENOMEM, "out of memory building vocabularies");
            break;
        }
        rmtl__intern_sync(t);
        size_t kept = 0;
        for (size_t e = 0; e < t->n; e++)
            kept += (int64_t)t->count[e] >= c->min_count;
        if (kept == t->n) { /* every value stays: the table becomes the vocabulary */
            *fd->values = *t; /* (map[f] stays NULL: index e becomes e + 1) */
            rmtl__intern_init(t);
            fd->vocab = fd->values->n + 1;
            continue;
        }
        identity = 0;
        int32_t *mp = map[c->field] = rmtl__mallocarray(t->n ? t->n : 1, sizeof *mp);
        if (!mp) {
            rc = rmtl__error(RMTL_ENOMEM, "out of memory building vocabularies");
            break;
        }
        rmtl__intern_init(fd->values);
        for (size_t e = 0; e < t->n && !rc; e++) {
            size_t idx = 0;
            mp[e] = 0;
            if ((int64_t)t->count[e] < c->min_count)
                continue;
            rc = rmtl__intern_add(fd->values, rmtl__intern_str(t, e), rmtl__intern_len(t, e),
                                  &idx);
            if (!rc) {
                fd->values->count[idx] = t->count[e];
                mp[e] = (int32_t)idx + 1;
            }
        }
        fd->vocab = fd->values->n + 1;
        rmtl__intern_free(t); /* before the next field's copy: one extra table at a time */
    }
    /* cells become index + 1, 0 for missing or dropped values; the
       parallel parser's (cat_final) are index + 1 already */
    for (size_t r = 0; r < L->rows && !rc && !(L->cat_final && identity); r++) {
        int32_t *cell = &L->cat[r * nc];
        for (size_t f = 0; f < nc; f++) {
            int32_t e = L->cat_final ? cell[f] - 1 : cell[f]; /* the index, -1: missing */
            cell[f] = e < 0 ? 0 : map[f] ? map[f][e] : e + 1;
        }
    }
    for (size_t f = 0; map && f < nc; f++)
        rmtl__free(map[f]);
    rmtl__free(map);
    return rc;
}

/* Training: mean and std of each numerical column over its present
 * values, in row order (Welford: stable running mean and variance), so
 * every reader and thread count gives the same bits. */
void rmtl__num_moments_column(rmtl__loader *L, size_t k)
{
    rmtl__dsmeta *m = L->meta;
    size_t nn = m->n_num;
    double mean = 0.0, m2 = 0.0;
    size_t cnt = 0;
    for (size_t r = 0; r < L->rows; r++) {
        double x = L->num[r * nn + k];
        if (isnan(x))
            continue;
        double d = x - mean;
        mean += d / (double)++cnt;
        m2 += d * (x - mean);
    }
    double var = cnt ? m2 / (double)cnt : 0.0;
    m->nums[k].mean = cnt ? mean : 0.0;
    m->nums[k].std = var > 0.0 ? sqrt(var) : 1.0;
}

/* Numerical columns -> standardised floats (training: stats from this
 * split), converted in place: float i overwrites bytes of double i/2, which
 * were read already, so no second array is needed. */
static int rmtl__finish_num(rmtl__loader *L, float **out)
{
    rmtl__dsmeta *m = L->meta;
    size_t nn = m->n_num;
    *out = NULL;
    if (nn == 0)
        return 0;
    for (size_t k = 0; L->training && !L->moments_ready && k < nn; k++)
        rmtl__num_moments_column(L, k);
    double *mean = rmtl__mallocarray(nn, 3 * sizeof *mean);
    unsigned char *bad = rmtl__calloc(nn, 1);
    if (!mean || !bad) {
        rmtl__free(mean), rmtl__free(bad);
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    }
    double *stdv = mean + nn, *fz = mean + 2 * nn;
    for (size_t k = 0; k < m->n_cols; k++) {
        const rmtl__dscol *c = &m->cols[k];
        if (c->num < 0)
            continue;
        const rmtl__dsnum *st = &m->nums[c->num];
        size_t i = (size_t)c->num;
        mean[i] = st->mean, stdv[i] = st->std;
        fz[i] = rmtl__standardise(c, st, NAN); /* the missing value's */
        bad[i] = !isfinite(st->mean) || !isfinite(st->std) || !(fabs(fz[i]) <= FLT_MAX);
    }
    float *num = (float *)L->num;
    for (size_t r = 0, n = L->rows * nn; r < n; r += nn)
        for (size_t i = 0; i < nn; i++) {
            double x = L->num[r + i];
            double z = isnan(x) ? fz[i] : (x - mean[i]) / stdv[i];
            bad[i] |= !(fabs(z) <= FLT_MAX);
            num[r + i] = (float)z;
        }
    int rc = 0;
    for (size_t k = 0; k < m->n_cols && !rc; k++) {
        const rmtl__dscol *c = &m->cols[k];
        if (c->num >= 0 && bad[c->num])
            rc = rmtl__error(RMTL_EFORMAT,
                             "%s: column '%s': values too large to standardise in single "
                             "precision (mean %g, std %g)",
                             rmtl__csv_name(L->csv), c->name, mean[c->num], stdv[c->num]);
    }
    rmtl__free(mean), rmtl__free(bad);
    if (rc)
        return rc;
    /* the doubles' second half is free now: give it back */
    float *shrunk = rmtl__realloc(num, (L->rows ? L->rows : 1) * nn * sizeof *num);
    *out = shrunk ? shrunk : num;
    L->num = NULL;
    return 0;
}

/* Entry `e` as a canonical non-negative integer ("0", "17", not "017",
 * "+1" or "-1"), or -1. */
static int64_t rmtl__canonical_id(const rmtl__intern *t, size_t e)
{
    const char *s = rmtl__intern_str(t, e);
    size_t len = rmtl__intern_len(t, e);
    int64_t v;
    if (len == 0 || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    return rmtl__parse_int(&v, s) ? -1 : v;
}

/* Id cells hold intern indices; when every value is a canonical integer
 * they become those integers, else they stay dense indices. */
static void rmtl__finish_ids(const rmtl__intern *t, int64_t *cells, size_t rows)
{
    for (size_t e = 0; e < t->n; e++)
        if (rmtl__canonical_id(t, e) < 0)
            return;
    for (size_t r = 0; r < rows; r++)
        if (cells[r] >= 0)
            cells[r] = rmtl__canonical_id(t, (size_t)cells[r]);
}

/* Without a session column, a user's rows form its session (docs/data.md); rows
 * without a user, or all rows when there is no user column, stand alone. */
static void rmtl__finish_sessions(rmtl__loader *L)
{
    if (L->has_session) {
        rmtl__finish_ids(&L->ids[RMTL__ID_SESSION], L->sess, L->rows);
    } else if (L->user) {
        int64_t next = (int64_t)L->ids[RMTL__ID_USER].n;
        for (size_t r = 0; r < L->rows; r++)
            L->sess[r] = L->user[r] >= 0 ? L->user[r] : next++;
    }
}

static int rmtl__finish(rmtl__loader *L, rmtl_dataset **out)
{
    rmtl__dsmeta *m = L->meta;
    int rc = L->training ? rmtl__finish_vocab(L) : 0;
    float *num = NULL;
    if (rc || (rc = rmtl__finish_num(L, &num)))
        return rc;
    rmtl_dataset *ds = rmtl__calloc(1, sizeof *ds);
    if (!ds) {
        rmtl__free(num);
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    }
    rmtl__finish_sessions(L);
    if (L->user)
        rmtl__finish_ids(&L->ids[RMTL__ID_USER], L->user, L->rows);
    if (L->item)
        rmtl__finish_ids(&L->ids[RMTL__ID_ITEM], L->item, L->rows);
    ds->meta = rmtl__dsmeta_ref(m);
    ds->rows = L->rows;
    ds->num = num;
    ds->cat = L->cat, L->cat = NULL;
    ds->labels = L->labels, L->labels = NULL;
    ds->session = L->sess, L->sess = NULL;
    ds->time = L->time, L->time = NULL;
    ds->user = L->user, L->user = NULL;
    ds->item = L->item, L->item = NULL;
    if ((rc = rmtl__dataset_index_sessions(ds))) {
        rmtl_dataset_free(ds);
        return rc;
    }
    *out = ds;
    return 0;
}

/* Progress of a load counts the source's raw bytes (rmtl__csv_bytes). */
static int rmtl__load_report(rmtl__progress *p, rmtl__loader *L, int last)
{
    const rmtl__csv *csv = L->csv;
    uint64_t done, total;
    rmtl__csv_bytes(csv, &done, &total);
    done = done > L->reported ? done : L->reported; /* after a fallback: never back */
    if (p->total != total)
        rmtl__progress_total(p, total, done);
    /* the reader runs ahead of the rows parsed: the end is reported once */
    if (last && total)
        done = total;
    else if (total && done >= total)
        done = total - 1;
    return rmtl__progress_report(p, done, NAN, last);
}

/* The rows: the parallel parser when `opts` is given and the input suits it,
 * else (and for anything it declines) the reference reader. */
static int rmtl__read_rows(rmtl__loader *L, const char *path, const void *mem, size_t len,
                           const rmtl_load_options *opts, size_t min_range,
                           rmtl__progress *prog)
{
    int rc = RMTL__FALLBACK;
    if (opts)
        rc = rmtl__csv_parallel(L, path, mem, len, opts, min_range, prog);
    if (rc != RMTL__FALLBACK)
        return rc;
    rmtl__csv *csv = L->csv;
    while ((rc = rmtl__csv_next(csv)) == 1) {
        rc = L->rows == L->cap ? rmtl__loader_reserve(L, L->cap ? L->cap * 2 : 4096) : 0;
        if (!rc)
            rc = rmtl__read_row(L);
        if (!rc && L->rows % 256 == 0)
            rc = rmtl__load_report(prog, L, 0);
        if (rc)
            return rc;
    }
    if (!rc)
        rc = rmtl__load_report(prog, L, 1);
    /* a shard is a byte range: the reference reader cannot cut one */
    if (!rc && opts && opts->parts > 1)
        rc = rmtl__error(RMTL_EINVAL,
                         "%s: cannot load part %u of %u: sharded loading needs a plain "
                         "(not gzip) CSV file without quoted fields; save the dataset as a "
                         "cache (rmtl_dataset_save) and shard that",
                         rmtl__csv_name(csv), opts->part, opts->parts);
    return rc;
}

static int rmtl__load(rmtl_dataset **out, rmtl__csv *csv, const rmtl__schema *schema,
                      const rmtl_dataset *ref, const char *path, const void *mem, size_t len,
                      const rmtl_load_options *opts, size_t min_range, rmtl__progress *prog)
{
    rmtl__loader L;
    memset(&L, 0, sizeof L);
    L.csv = csv;
    L.training = ref == NULL;
    for (int i = 0; i < 3; i++)
        rmtl__intern_init(&L.ids[i]);
    int rc = 0;
    if (!(L.colmap = rmtl__mallocarray(rmtl__csv_ncols(csv), sizeof *L.colmap)))
        rc = rmtl__error(RMTL_ENOMEM, "out of memory");
    else
        rc = ref ? rmtl__bind_reference(&L, ref) : rmtl__bind_schema(&L, schema);
    if (!rc && L.training) {
        size_t nc = L.meta->n_cat;
        if (!(L.vocab = rmtl__calloc(nc ? nc : 1, sizeof *L.vocab)))
            rc = rmtl__error(RMTL_ENOMEM, "out of memory");
        for (size_t f = 0; L.vocab && f < nc; f++)
            rmtl__intern_init(&L.vocab[f]);
    }
    if (!rc)
        rc = rmtl__read_rows(&L, path, mem, len, opts, min_range, prog);
    if (!rc && L.rows == 0)
        rc = rmtl__error(RMTL_EFORMAT, "%s: no data rows (the file has only a header)",
                         rmtl__csv_name(csv));
    if (!rc)
        rc = rmtl__finish(&L, out);
    rmtl__loader_free(&L);
    return rc;
}

/* --- entry points ------------------------------------------------------------- */

/* Numbers in CSV and YAML are read the same whatever the host's locale. */
typedef struct rmtl__c_locale {
    locale_t c, old;
} rmtl__c_locale;

static void rmtl__c_locale_enter(rmtl__c_locale *l)
{
    l->c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    l->old = l->c ? uselocale(l->c) : (locale_t)0;
}

static void rmtl__c_locale_leave(rmtl__c_locale *l)
{
    if (l->c) {
        uselocale(l->old);
        freelocale(l->c);
    }
}

static int rmtl__load_any(rmtl_dataset **out, const char *csv_path, const void *csv_mem,
                          size_t csv_len, const char *csv_name, const char *schema,
                          size_t schema_len, const char *schema_name, const rmtl_dataset *ref,
                          const rmtl_load_options *opts, size_t min_range,
                          rmtl__progress *prog)
{
    if (!schema == !ref)
        return rmtl__error(RMTL_EINVAL, "rmtl_dataset_load: give either a schema (training "
                                        "split) or a reference dataset, not %s",
                           ref ? "both" : "neither");
    rmtl__c_locale loc;
    rmtl__c_locale_enter(&loc);
    rmtl__schema s;
    int have_schema = schema != NULL, rc = 0;
    if (have_schema)
        rc = rmtl__schema_parse(&s, schema, schema_len, schema_name ? schema_name : "<schema>");
    rmtl__csv *csv = NULL;
    if (!rc)
        rc = csv_path ? rmtl__csv_open_file(&csv, csv_path)
                      : rmtl__csv_open_mem(&csv, csv_mem, csv_len, csv_name);
    if (!rc)
        rc = rmtl__load(out, csv, have_schema ? &s : NULL, ref, csv_path, csv_mem, csv_len, opts,
                        min_range, prog);
    rmtl__csv_close(csv);
    if (have_schema)
        rmtl__schema_free(&s);
    rmtl__c_locale_leave(&loc);
    return rc;
}

static const rmtl_load_options rmtl__load_defaults = RMTL_LOAD_OPTIONS_INIT;

/* rmtl_dataset_load() and the reference reader: one body; `opts` NULL
 * means the reference reader alone. */
static int rmtl__load_path(rmtl_dataset **out, const char *csv_path, const char *schema_path,
                           const rmtl_dataset *reference, const rmtl_load_options *opts,
                           rmtl__progress *prog)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(csv_path, "csv_path");
    if (!schema_path)
        return rmtl__load_any(out, csv_path, NULL, 0, NULL, NULL, 0, NULL, reference, opts,
                              0, prog);
    if (reference)
        return rmtl__load_any(out, csv_path, NULL, 0, NULL, schema_path, 0, NULL, reference,
                              opts, 0, prog);
    if (opts && opts->parts > 1)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_dataset_load: %s: a shard (part %u of %u) needs a reference "
                           "dataset: the vocabularies of a training split come from all of it",
                           csv_path, opts->part, opts->parts);
    char *text;
    size_t len;
    int rc = rmtl__read_file(&text, &len, schema_path);
    if (rc)
        return rc;
    rc = rmtl__load_any(out, csv_path, NULL, 0, NULL, text, len, schema_path, NULL, opts, 0, prog);
    rmtl__free(text);
    return rc;
}

int rmtl_dataset_load(rmtl_dataset **out, const char *csv_path, const char *schema_path,
                      const rmtl_dataset *reference, const rmtl_load_options *options)
{
    const rmtl_load_options *o = options ? options : &rmtl__load_defaults;
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    if (o->version != RMTL_LOAD_OPTIONS_VERSION)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_dataset_load: options version %u, expected %u (initialise "
                           "with RMTL_LOAD_OPTIONS_INIT)",
                           o->version, RMTL_LOAD_OPTIONS_VERSION);
    if (o->threads < 0 || o->threads > 1024 || (o->parts > 0 && o->part >= o->parts) ||
        (o->parts == 0 && o->part != 0))
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_dataset_load: options: threads %d (0..1024), part %u of %u "
                           "(part < parts)",
                           o->threads, o->part, o->parts);
    rmtl__progress prog;
    rmtl__progress_start(&prog, o->progress, o->payload, "rmtl_dataset_load", 0);
    return rmtl__load_path(out, csv_path, schema_path, reference, o, &prog);
}

int rmtl__dataset_load_reference(rmtl_dataset **out, const char *csv_path,
                                 const char *schema_path, const rmtl_dataset *ref)
{
    rmtl__progress prog;
    rmtl__progress_start(&prog, NULL, NULL, "rmtl_dataset_load", 0);
    return rmtl__load_path(out, csv_path, schema_path, ref, NULL, &prog);
}

int rmtl_dataset_load_schema_string(rmtl_dataset **out, const char *csv_path, const char *schema,
                                    size_t schema_len, const char *schema_name,
                                    const rmtl_dataset *reference)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(csv_path, "csv_path");
    rmtl__progress prog;
    rmtl__progress_start(&prog, NULL, NULL, "rmtl_dataset_load_schema_string", 0);
    return rmtl__load_any(out, csv_path, NULL, 0, NULL, schema, schema_len, schema_name,
                          reference, &rmtl__load_defaults, 0, &prog);
}

int rmtl__dataset_load_mem(rmtl_dataset **out, const void *csv, size_t csv_len,
                           const char *csv_name, const char *schema, size_t schema_len,
                           const char *schema_name, const rmtl_dataset *ref)
{
    *out = NULL;
    rmtl__progress prog;
    rmtl__progress_start(&prog, NULL, NULL, "rmtl__dataset_load_mem", 0);
    return rmtl__load_any(out, NULL, csv ? csv : "", csv_len, csv_name, schema, schema_len,
                          schema_name, ref, &rmtl__load_defaults, 0, &prog);
}

int rmtl__dataset_load_ranges(rmtl_dataset **out, const char *csv_path, const void *csv,
                              size_t csv_len, const char *schema, size_t schema_len,
                              const rmtl_dataset *ref, const rmtl_load_options *opts,
                              size_t min_range)
{
    *out = NULL;
    rmtl__progress prog;
    rmtl__progress_start(&prog, opts ? opts->progress : NULL, opts ? opts->payload : NULL,
                         "rmtl_dataset_load", 0);
    return rmtl__load_any(out, csv_path, csv_path ? NULL : csv ? csv : "", csv_len, "<csv>",
                          schema, schema_len, "<schema>", ref,
                          opts, min_range, &prog);
}
