/* Serialisation of a dataset's schema, vocabularies and normalisation, so
 * that a checkpoint carries everything needed to read raw CSV again.
 *
 * Layout (little-endian; str = u32 length + bytes; set = u32 n + n str):
 *   u32 magic "RDSM", u32 version 1, u8 from_csv
 *   u32 n_cols, per column: str name, u8 role, u8 feature, u32 field+1,
 *       u32 num+1, u32 task+1 (0 = none), set missing, u8 rule,
 *       f64 threshold, set positive, set negative, u8 has_fill, f64 fill,
 *       i64 min_count
 *   u32 n_cat, per field: str name, u64 vocab, u8 has_values,
 *       then (vocab - 1) × {str value, u64 training count} if has_values
 *   u32 n_num, per column: str name, f64 mean, f64 std
 *   u32 n_tasks, per task: str name
 */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "data/dataset.h"

#define RMTL__DSM_MAGIC 0x4d534452u /* "RDSM" */
#define RMTL__DSM_VERSION 1u

static void rmtl__put_set(rmtl__wbuf *w, const rmtl__strset *s)
{
    rmtl__put_u32(w, (uint32_t)s->n);
    for (size_t i = 0; i < s->n; i++)
        rmtl__put_str(w, s->v[i]);
}

int rmtl__dataset_schema_save(rmtl__wbuf *w, const rmtl_dataset *ds)
{
    const rmtl__dsmeta *m = ds->meta;
    rmtl__put_u32(w, RMTL__DSM_MAGIC);
    rmtl__put_u32(w, RMTL__DSM_VERSION);
    rmtl__put_u8(w, (uint8_t)m->from_csv);
    rmtl__put_u32(w, (uint32_t)m->n_cols);
    for (size_t k = 0; k < m->n_cols; k++) {
        const rmtl__dscol *c = &m->cols[k];
        rmtl__put_str(w, c->name);
        rmtl__put_u8(w, (uint8_t)c->role);
        rmtl__put_u8(w, (uint8_t)c->feature);
        rmtl__put_u32(w, (uint32_t)(c->field + 1));
        rmtl__put_u32(w, (uint32_t)(c->num + 1));
        rmtl__put_u32(w, (uint32_t)(c->task + 1));
        rmtl__put_set(w, &c->missing);
        rmtl__put_u8(w, (uint8_t)c->rule);
        rmtl__put_f64(w, c->threshold);
        rmtl__put_set(w, &c->positive);
        rmtl__put_set(w, &c->negative);
        rmtl__put_u8(w, (uint8_t)c->has_fill);
        rmtl__put_f64(w, c->fill);
        rmtl__put_i64(w, c->min_count);
    }
    rmtl__put_u32(w, (uint32_t)m->n_cat);
    for (size_t f = 0; f < m->n_cat; f++) {
        const rmtl__dsfield *fd = &m->fields[f];
        rmtl__put_str(w, fd->name);
        rmtl__put_u64(w, fd->vocab);
        rmtl__put_u8(w, fd->values != NULL);
        for (size_t e = 0; fd->values && e < fd->values->n; e++) {
            size_t len = rmtl__intern_len(fd->values, e);
            rmtl__put_u32(w, (uint32_t)len);
            rmtl__put_bytes(w, rmtl__intern_str(fd->values, e), len);
            rmtl__put_u64(w, fd->values->count[e]);
        }
    }
    rmtl__put_u32(w, (uint32_t)m->n_num);
    for (size_t k = 0; k < m->n_num; k++) {
        rmtl__put_str(w, m->nums[k].name);
        rmtl__put_f64(w, m->nums[k].mean);
        rmtl__put_f64(w, m->nums[k].std);
    }
    rmtl__put_u32(w, (uint32_t)m->n_tasks);
    for (size_t t = 0; t < m->n_tasks; t++)
        rmtl__put_str(w, m->tasks[t]);
    return rmtl__wbuf_status(w);
}

/* --- loading ------------------------------------------------------------------ */

#define RMTL__BAD(...) rmtl__error(RMTL_EFORMAT, "dataset schema: " __VA_ARGS__)

/* A count of entries each at least `min_size` bytes: bounded by what is left. */
static int rmtl__get_count(size_t *out, rmtl__rbuf *r, size_t min_size, const char *what)
{
    uint32_t n = rmtl__get_u32(r);
    if (r->failed || n > rmtl__rbuf_left(r) / min_size)
        return RMTL__BAD("%s: count %u exceeds the data", what, (unsigned)n);
    *out = n;
    return 0;
}

/* A string into a new allocation. rmtl__get_str() cannot tell a damaged
 * length from a failed allocation, and the two need different codes. */
static int rmtl__get_text(char **out, rmtl__rbuf *r, int allow_empty)
{
    uint32_t n = rmtl__get_u32(r);
    const char *p = rmtl__get_view(r, n);
    if (!p)
        return RMTL__BAD("truncated");
    if ((n == 0 && !allow_empty) || memchr(p, '\0', n))
        return RMTL__BAD("empty name or NUL byte in a string");
    if (!(*out = rmtl__malloc((size_t)n + 1)))
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    memcpy(*out, p, n);
    (*out)[n] = '\0';
    return 0;
}

static int rmtl__get_name(char **out, rmtl__rbuf *r) { return rmtl__get_text(out, r, 0); }

static int rmtl__get_set(rmtl__strset *s, rmtl__rbuf *r)
{
    size_t n = 0;
    int rc = rmtl__get_count(&n, r, 4, "string set");
    for (size_t i = 0; !rc && i < n; i++) {
        char *str;
        if ((rc = rmtl__get_text(&str, r, 1)))
            return rc;
        rc = rmtl__strset_add(s, str);
        rmtl__free(str);
    }
    return rc;
}

/* An index stored as value + 1 (0 = none); ranges are checked by rmtl__check_links. */
static int32_t rmtl__get_index(rmtl__rbuf *r)
{
    uint32_t v = rmtl__get_u32(r);
    return v == 0 || v > INT32_MAX ? -1 : (int32_t)(v - 1);
}

static int rmtl__get_col(rmtl__dscol *c, rmtl__rbuf *r)
{
    int rc = rmtl__get_name(&c->name, r);
    if (rc)
        return rc;
    c->role = rmtl__get_u8(r);
    c->feature = rmtl__get_u8(r);
    c->field = rmtl__get_index(r);
    c->num = rmtl__get_index(r);
    c->task = rmtl__get_index(r);
    if ((rc = rmtl__get_set(&c->missing, r)))
        return rc;
    c->rule = rmtl__get_u8(r);
    c->threshold = rmtl__get_f64(r);
    if ((rc = rmtl__get_set(&c->positive, r)) || (rc = rmtl__get_set(&c->negative, r)))
        return rc;
    c->has_fill = rmtl__get_u8(r);
    c->fill = rmtl__get_f64(r);
    c->min_count = rmtl__get_i64(r);
    if (r->failed)
        return RMTL__BAD("truncated");
    if (c->role <= RMTL__ROLE_IGNORE || c->role >= RMTL__ROLE_COUNT || c->feature > 1 ||
        c->has_fill > 1 || !isfinite(c->threshold) || !isfinite(c->fill))
        return RMTL__BAD("column '%s': bad role or option", c->name);
    int is_label = c->role == RMTL__ROLE_LABEL;
    if (is_label != (c->rule != RMTL__RULE_NONE) || c->rule > RMTL__RULE_THRESHOLD ||
        (c->rule == RMTL__RULE_POSITIVE && c->positive.n == 0))
        return RMTL__BAD("column '%s': bad label rule", c->name);
    return 0;
}

static int rmtl__get_field(rmtl__dsfield *fd, rmtl__rbuf *r)
{
    int rc = rmtl__get_name(&fd->name, r);
    if (rc)
        return rc;
    uint64_t vocab = rmtl__get_u64(r);
    uint8_t has_values = rmtl__get_u8(r);
    if (r->failed)
        return RMTL__BAD("truncated");
    if (vocab < 1 || vocab > INT32_MAX || has_values > 1)
        return RMTL__BAD("field '%s': bad vocabulary size", fd->name);
    fd->vocab = (size_t)vocab;
    if (!has_values)
        return 0;
    if (vocab - 1 > rmtl__rbuf_left(r) / 12)
        return RMTL__BAD("field '%s': vocabulary exceeds the data", fd->name);
    if (!(fd->values = rmtl__calloc(1, sizeof *fd->values)))
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    rmtl__intern_init(fd->values);
    for (size_t e = 0; e + 1 < fd->vocab; e++) {
        uint32_t len = rmtl__get_u32(r);
        const char *s = rmtl__get_view(r, len);
        uint64_t count = rmtl__get_u64(r);
        if (r->failed)
            return RMTL__BAD("truncated");
        size_t idx;
        if ((rc = rmtl__intern_add(fd->values, s ? s : "", len, &idx)))
            return rc;
        if (idx != e)
            return RMTL__BAD("field '%s': a value appears twice", fd->name);
        fd->values->count[idx] = (size_t)count;
    }
    return 0;
}

/* Columns, fields, numericals and tasks must reference each other one to one. */
static int rmtl__check_links(const rmtl__dsmeta *m)
{
    size_t nf = 0, nn = 0, nt = 0;
    int seen[RMTL__ROLE_COUNT] = {0};
    for (size_t k = 0; k < m->n_cols; k++) {
        const rmtl__dscol *c = &m->cols[k];
        int want_field = c->role == RMTL__ROLE_CAT ||
                         ((c->role == RMTL__ROLE_USER || c->role == RMTL__ROLE_ITEM) &&
                          c->feature);
        if (want_field != (c->field >= 0) || (c->role == RMTL__ROLE_NUM) != (c->num >= 0) ||
            (c->role == RMTL__ROLE_LABEL) != (c->task >= 0))
            return RMTL__BAD("column '%s': inconsistent indices", c->name);
        if ((c->field >= 0 && (size_t)c->field != nf++) ||
            (c->num >= 0 && (size_t)c->num != nn++) ||
            (c->task >= 0 && (size_t)c->task >= m->n_tasks))
            return RMTL__BAD("column '%s': index out of order or range", c->name);
        nt += c->task >= 0;
        if (c->role >= RMTL__ROLE_SESSION && seen[c->role]++)
            return RMTL__BAD("two %s columns", rmtl__role_name(c->role));
        for (size_t i = 0; i < k; i++)
            if (!strcmp(m->cols[i].name, c->name) ||
                (c->task >= 0 && m->cols[i].task == c->task))
                return RMTL__BAD("column '%s' or its task appears twice", c->name);
    }
    if (nf != m->n_cat || nn != m->n_num || nt != m->n_tasks)
        return RMTL__BAD("columns do not match the %zu fields, %zu numericals, %zu tasks",
                         m->n_cat, m->n_num, m->n_tasks);
    return 0;
}

static int rmtl__get_meta(rmtl__dsmeta *m, rmtl__rbuf *r)
{
    uint32_t magic = rmtl__get_u32(r), version = rmtl__get_u32(r);
    uint8_t from_csv = rmtl__get_u8(r);
    if (r->failed || magic != RMTL__DSM_MAGIC)
        return RMTL__BAD("bad magic");
    if (version != RMTL__DSM_VERSION)
        return rmtl__error(RMTL_EVERSION, "dataset schema: version %u is not supported (this "
                                          "build reads version %u)",
                           (unsigned)version, RMTL__DSM_VERSION);
    if (from_csv > 1)
        return RMTL__BAD("bad flags");
    m->from_csv = from_csv;
    size_t n = 0;
    int rc = rmtl__get_count(&n, r, 40, "columns");
    if (rc || !(m->cols = rmtl__calloc(n, sizeof *m->cols)))
        return rc ? rc : rmtl__error(RMTL_ENOMEM, "out of memory");
    for (m->n_cols = 0; m->n_cols < n; m->n_cols++)
        if ((rc = rmtl__get_col(&m->cols[m->n_cols], r))) {
            m->n_cols++; /* so that it is freed */
            return rc;
        }
    if ((rc = rmtl__get_count(&n, r, 13, "fields")) ||
        !(m->fields = rmtl__calloc(n, sizeof *m->fields)))
        return rc ? rc : rmtl__error(RMTL_ENOMEM, "out of memory");
    m->n_cat = n;
    for (size_t f = 0; f < n; f++)
        if ((rc = rmtl__get_field(&m->fields[f], r)))
            return rc;
    if (from_csv)
        for (size_t f = 0; f < n; f++)
            if (!m->fields[f].values)
                return RMTL__BAD("field '%s' has no vocabulary", m->fields[f].name);
    if ((rc = rmtl__get_count(&n, r, 20, "numerical columns")) ||
        !(m->nums = rmtl__calloc(n, sizeof *m->nums)))
        return rc ? rc : rmtl__error(RMTL_ENOMEM, "out of memory");
    m->n_num = n;
    for (size_t k = 0; k < n; k++) {
        rmtl__dsnum *st = &m->nums[k];
        if ((rc = rmtl__get_name(&st->name, r)))
            return rc;
        st->mean = rmtl__get_f64(r);
        st->std = rmtl__get_f64(r);
        if (r->failed)
            return RMTL__BAD("truncated");
        if (!isfinite(st->mean) || !isfinite(st->std) || !(st->std > 0.0))
            return RMTL__BAD("column '%s': bad normalisation", st->name);
    }
    if ((rc = rmtl__get_count(&n, r, 5, "tasks")) ||
        !(m->tasks = rmtl__calloc(n, sizeof *m->tasks)))
        return rc ? rc : rmtl__error(RMTL_ENOMEM, "out of memory");
    m->n_tasks = n;
    for (size_t t = 0; t < n; t++)
        if ((rc = rmtl__get_name(&m->tasks[t], r)))
            return rc;
    if (n == 0)
        return RMTL__BAD("no task");
    /* Arrays need a feature (rmtl_dataset_from_arrays); a CSV schema may
     * hold ids and labels only, as the loader accepts (found by fuzzing:
     * such a schema was saved but did not read back). */
    if (!from_csv && m->n_cat + m->n_num == 0)
        return RMTL__BAD("no feature");
    if (!from_csv)
        return m->n_cols ? RMTL__BAD("columns without a CSV schema") : 0;
    return rmtl__check_links(m);
}

int rmtl__dataset_schema_load(rmtl_dataset **out, rmtl__rbuf *r)
{
    *out = NULL;
    rmtl__dsmeta *m = rmtl__dsmeta_new();
    if (!m)
        return RMTL_ENOMEM;
    int rc = rmtl__get_meta(m, r);
    if (!rc)
        rc = rmtl__dataset_new(out, m, 0, 0);
    rmtl__dsmeta_unref(m);
    return rc;
}
