/* Dataset schema YAML -> rmtl__schema. Every problem is reported with the
 * position of the node at fault. */
#include "data/schema.h"

#include <string.h>

#include "core/internal.h"
#include "core/yamlu.h"

static const char *const rmtl__roles[RMTL__ROLE_COUNT] = {
    "ignore", "categorical", "numerical", "label", "session", "timestamp", "user", "item",
};

const char *rmtl__role_name(int role)
{
    return role >= 0 && role < RMTL__ROLE_COUNT ? rmtl__roles[role] : "?";
}

static int rmtl__role_parse(const char *s)
{
    for (int r = 0; s && r < RMTL__ROLE_COUNT; r++)
        if (!strcmp(s, rmtl__roles[r]))
            return r;
    return -1;
}

/* --- string sets ------------------------------------------------------------ */

void rmtl__strset_free(rmtl__strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        rmtl__free(s->v[i]);
    rmtl__free(s->v);
    s->v = NULL, s->n = 0;
}

int rmtl__strset_add(rmtl__strset *s, const char *str)
{
    char **v = rmtl__realloc(s->v, (s->n + 1) * sizeof *v);
    if (!v)
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    s->v = v;
    if (!(v[s->n] = rmtl__strdup(str)))
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    s->n++;
    return 0;
}

int rmtl__strset_copy(rmtl__strset *dst, const rmtl__strset *src)
{
    dst->v = NULL, dst->n = 0;
    for (size_t i = 0; i < src->n; i++)
        if (rmtl__strset_add(dst, src->v[i])) {
            rmtl__strset_free(dst);
            return RMTL_ENOMEM;
        }
    return 0;
}

int rmtl__strset_has(const rmtl__strset *s, const char *str, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strncmp(s->v[i], str, len) && s->v[i][len] == '\0')
            return 1;
    return 0;
}

void rmtl__dscol_free(rmtl__dscol *c)
{
    rmtl__free(c->name);
    rmtl__strset_free(&c->missing);
    rmtl__strset_free(&c->positive);
    rmtl__strset_free(&c->negative);
    memset(c, 0, sizeof *c);
}

int rmtl__dscol_copy(rmtl__dscol *dst, const rmtl__dscol *src)
{
    *dst = *src;
    dst->name = NULL;
    dst->missing = dst->positive = dst->negative = (rmtl__strset){NULL, 0};
    if (!(dst->name = rmtl__strdup(src->name)) || rmtl__strset_copy(&dst->missing, &src->missing) ||
        rmtl__strset_copy(&dst->positive, &src->positive) ||
        rmtl__strset_copy(&dst->negative, &src->negative)) {
        rmtl__dscol_free(dst);
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    }
    return 0;
}

void rmtl__schema_free(rmtl__schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_cols; i++)
        rmtl__dscol_free(&s->cols[i]);
    rmtl__free(s->cols);
    rmtl__strset_free(&s->missing);
    rmtl__free(s->name);
    memset(s, 0, sizeof *s);
}

/* --- YAML walking ------------------------------------------------------------ */

#define RMTL__EC(y, n, ...) rmtl__yaml_error(RMTL_ECONFIG, y, n, __VA_ARGS__)

/* Text of node `id` when it is a scalar, else "" (for key comparisons). */
static const char *rmtl__key(rmtl__yaml *y, int id)
{
    const char *s = rmtl__yaml_scalar(rmtl__yaml_node(y, id));
    return s ? s : "";
}

/* A scalar or a sequence of scalars -> set (replacing what it held). */
static int rmtl__parse_strset(rmtl__strset *out, rmtl__yaml *y, yaml_node_t *n, const char *key)
{
    rmtl__strset_free(out);
    if (n->type == YAML_SCALAR_NODE)
        return rmtl__strset_add(out, rmtl__yaml_scalar(n));
    if (n->type != YAML_SEQUENCE_NODE)
        return RMTL__EC(y, n, "%s: expected a string or a list of strings", key);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *e = rmtl__yaml_node(y, *it);
        const char *s = rmtl__yaml_scalar(e);
        if (!s)
            return RMTL__EC(y, e ? e : n, "%s: expected a list of strings", key);
        int rc = rmtl__strset_add(out, s);
        if (rc)
            return rc;
    }
    return 0;
}

static int rmtl__parse_min_count(int64_t *out, rmtl__yaml *y, yaml_node_t *n)
{
    int64_t v;
    if (rmtl__parse_int(&v, rmtl__yaml_scalar(n)) || v < 1)
        return RMTL__EC(y, n, "min_count: expected an integer >= 1");
    *out = v;
    return 0;
}

/* Checks that option `key` suits the column's role. */
static int rmtl__option_fits(rmtl__yaml *y, yaml_node_t *k, const rmtl__dscol *c, const char *key)
{
    int r = c->role, ok;
    if (!strcmp(key, "min_count"))
        ok = r == RMTL__ROLE_CAT || ((r == RMTL__ROLE_USER || r == RMTL__ROLE_ITEM) && c->feature);
    else if (!strcmp(key, "fill"))
        ok = r == RMTL__ROLE_NUM;
    else if (!strcmp(key, "positive") || !strcmp(key, "negative") || !strcmp(key, "threshold"))
        ok = r == RMTL__ROLE_LABEL;
    else if (!strcmp(key, "feature"))
        ok = r == RMTL__ROLE_USER || r == RMTL__ROLE_ITEM;
    else /* missing */
        ok = r != RMTL__ROLE_IGNORE;
    if (!ok)
        return RMTL__EC(y, k, "column '%s': '%s' does not apply to a %s column%s", c->name, key,
                        rmtl__role_name(r),
                        !strcmp(key, "min_count") && (r == RMTL__ROLE_USER || r == RMTL__ROLE_ITEM)
                            ? " unless feature: true"
                            : "");
    return 0;
}

/* `name: role` or `name: {role: ..., options}`. */
static int rmtl__parse_options(rmtl__dscol *c, rmtl__yaml *y, yaml_node_t *v, int *own_missing);

static int rmtl__parse_column(const rmtl__schema *s, rmtl__dscol *c, rmtl__yaml *y,
                              yaml_node_t *key, yaml_node_t *v)
{
    c->line = key->start_mark.line + 1;
    c->col = key->start_mark.column + 1;
    c->field = c->num = c->task = -1;
    c->min_count = -1;
    yaml_node_t *role_node = v;
    if (v->type == YAML_MAPPING_NODE) {
        role_node = NULL;
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++)
            if (!strcmp(rmtl__key(y, p->key), "role"))
                role_node = rmtl__yaml_node(y, p->value);
        if (!role_node)
            return RMTL__EC(y, v, "column '%s': no 'role' (one of categorical, numerical, "
                                  "label, session, timestamp, user, item, ignore)",
                            c->name);
    }
    c->role = rmtl__role_parse(rmtl__yaml_scalar(role_node));
    if (c->role < 0)
        return RMTL__EC(y, role_node,
                        "column '%s': unknown role (expected categorical, numerical, label, "
                        "session, timestamp, user, item or ignore)",
                        c->name);
    int own_missing = 0, rc = 0;
    if (v->type == YAML_MAPPING_NODE)
        rc = rmtl__parse_options(c, y, v, &own_missing);
    else if (c->role == RMTL__ROLE_LABEL)
        rc = RMTL__EC(y, v, "column '%s': a label needs a rule: {role: label, positive: TEXT} "
                            "or {role: label, threshold: X}",
                      c->name);
    if (rc)
        return rc;
    if (c->min_count < 0)
        c->min_count = s->min_count;
    if (!own_missing && c->role != RMTL__ROLE_IGNORE)
        return rmtl__strset_copy(&c->missing, &s->missing);
    return 0;
}

/* The options of `name: {role: ..., options}`; role already parsed. */
static int rmtl__parse_options(rmtl__dscol *c, rmtl__yaml *y, yaml_node_t *v, int *own_missing)
{
    /* `feature` first: it decides whether min_count applies */
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = rmtl__yaml_node(y, p->key), *val = rmtl__yaml_node(y, p->value);
        if (strcmp(rmtl__key(y, p->key), "feature"))
            continue;
        int rc = rmtl__option_fits(y, k, c, "feature");
        if (rc)
            return rc;
        if (rmtl__parse_bool(&c->feature, rmtl__yaml_scalar(val)))
            return RMTL__EC(y, val, "column '%s': feature: expected true or false", c->name);
    }
    int seen_positive = 0, seen_threshold = 0, seen_negative = 0;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = rmtl__yaml_node(y, p->key), *val = rmtl__yaml_node(y, p->value);
        const char *key = rmtl__yaml_scalar(k);
        if (!key || !val)
            return RMTL__EC(y, k ? k : v, "column '%s': option names must be strings", c->name);
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < p; q++)
            if (!strcmp(rmtl__key(y, q->key), key))
                return RMTL__EC(y, k, "column '%s': '%s' given twice", c->name, key);
        if (!strcmp(key, "role") || !strcmp(key, "feature"))
            continue;
        static const char *const known[] = {"min_count", "missing",   "fill",
                                            "positive",  "negative",  "threshold"};
        size_t ki = 0;
        while (ki < sizeof known / sizeof *known && strcmp(key, known[ki]))
            ki++;
        if (ki == sizeof known / sizeof *known)
            return RMTL__EC(y, k,
                            "column '%s': unknown option '%s' (expected role, min_count, missing, "
                            "fill, positive, negative, threshold or feature)",
                            c->name, key);
        int rc = rmtl__option_fits(y, k, c, key);
        if (rc)
            return rc;
        if (!strcmp(key, "min_count")) {
            rc = rmtl__parse_min_count(&c->min_count, y, val);
        } else if (!strcmp(key, "missing")) {
            rc = rmtl__parse_strset(&c->missing, y, val, "missing");
            *own_missing = 1;
        } else if (!strcmp(key, "fill")) {
            if (rmtl__parse_double(&c->fill, rmtl__yaml_scalar(val)))
                return RMTL__EC(y, val, "column '%s': fill: expected a finite number", c->name);
            c->has_fill = 1;
        } else if (!strcmp(key, "positive")) {
            rc = rmtl__parse_strset(&c->positive, y, val, "positive");
            seen_positive = 1;
        } else if (!strcmp(key, "negative")) {
            rc = rmtl__parse_strset(&c->negative, y, val, "negative");
            seen_negative = 1;
        } else { /* threshold */
            if (rmtl__parse_double(&c->threshold, rmtl__yaml_scalar(val)))
                return RMTL__EC(y, val, "column '%s': threshold: expected a finite number",
                                c->name);
            seen_threshold = 1;
        }
        if (rc)
            return rc;
    }
    if (c->role != RMTL__ROLE_LABEL)
        return 0;
    if (seen_positive == seen_threshold)
        return RMTL__EC(y, v, "column '%s': a label needs exactly one rule: positive or threshold",
                        c->name);
    if (seen_negative && !seen_positive)
        return RMTL__EC(y, v, "column '%s': 'negative' goes with 'positive'", c->name);
    if (seen_positive && c->positive.n == 0)
        return RMTL__EC(y, v, "column '%s': 'positive' lists no value", c->name);
    for (size_t i = 0; i < c->negative.n; i++)
        if (rmtl__strset_has(&c->positive, c->negative.v[i], strlen(c->negative.v[i])))
            return RMTL__EC(y, v, "column '%s': '%s' is both positive and negative", c->name,
                            c->negative.v[i]);
    c->rule = seen_positive ? RMTL__RULE_POSITIVE : RMTL__RULE_THRESHOLD;
    return 0;
}

static int rmtl__parse_columns(rmtl__schema *s, rmtl__yaml *y, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE)
        return RMTL__EC(y, n, "columns: expected a mapping of column name to role");
    size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    s->cols = rmtl__calloc(count ? count : 1, sizeof *s->cols);
    if (!s->cols)
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = rmtl__yaml_node(y, p->key), *v = rmtl__yaml_node(y, p->value);
        const char *name = rmtl__yaml_scalar(k);
        if (!name || !*name || !v)
            return RMTL__EC(y, k ? k : n, "columns: column names must be non-empty strings");
        for (size_t i = 0; i < s->n_cols; i++)
            if (!strcmp(s->cols[i].name, name))
                return RMTL__EC(y, k, "column '%s' is listed twice (first on line %zu)", name,
                                s->cols[i].line);
        rmtl__dscol *c = &s->cols[s->n_cols++];
        if (!(c->name = rmtl__strdup(name)))
            return rmtl__error(RMTL_ENOMEM, "out of memory");
        int rc = rmtl__parse_column(s, c, y, k, v);
        if (rc)
            return rc;
    }
    return 0;
}

/* Task order: `tasks:` when given, else the order labels are listed. */
static int rmtl__assign_tasks(rmtl__schema *s, rmtl__yaml *y, yaml_node_t *root,
                              yaml_node_t *tasks)
{
    if (!tasks) {
        for (size_t i = 0; i < s->n_cols; i++)
            if (s->cols[i].role == RMTL__ROLE_LABEL)
                s->cols[i].task = (int32_t)s->n_tasks++;
    } else {
        if (tasks->type != YAML_SEQUENCE_NODE)
            return RMTL__EC(y, tasks, "tasks: expected a list of label column names");
        for (yaml_node_item_t *it = tasks->data.sequence.items.start;
             it < tasks->data.sequence.items.top; it++) {
            yaml_node_t *e = rmtl__yaml_node(y, *it);
            const char *name = rmtl__yaml_scalar(e);
            size_t i = 0;
            while (name && i < s->n_cols && strcmp(s->cols[i].name, name))
                i++;
            if (!name || i == s->n_cols || s->cols[i].role != RMTL__ROLE_LABEL)
                return RMTL__EC(y, e ? e : tasks, "tasks: '%s' is not a label column",
                                name ? name : "?");
            if (s->cols[i].task >= 0)
                return RMTL__EC(y, e, "tasks: '%s' is listed twice", name);
            s->cols[i].task = (int32_t)s->n_tasks++;
        }
        for (size_t i = 0; i < s->n_cols; i++)
            if (s->cols[i].role == RMTL__ROLE_LABEL && s->cols[i].task < 0)
                return RMTL__EC(y, tasks, "tasks: label column '%s' (line %zu) is not listed",
                                s->cols[i].name, s->cols[i].line);
    }
    if (s->n_tasks == 0)
        return RMTL__EC(y, root, "no label column: give at least one column role: label");
    return 0;
}

/* At most one column each for session, timestamp, user and item. */
static int rmtl__check_unique_roles(const rmtl__schema *s)
{
    for (size_t i = 0; i < s->n_cols; i++)
        for (size_t j = 0; j < i; j++) {
            int r = s->cols[i].role;
            if (r >= RMTL__ROLE_SESSION && r == s->cols[j].role)
                return rmtl__error(RMTL_ECONFIG, "%s:%zu:%zu: column '%s': only one %s column "
                                                 "is allowed ('%s' is one)",
                                   s->name, s->cols[i].line, s->cols[i].col, s->cols[i].name,
                                   rmtl__role_name(r), s->cols[j].name);
        }
    return 0;
}

static int rmtl__parse_root(rmtl__schema *s, rmtl__yaml *y)
{
    yaml_node_t *root = rmtl__yaml_root(y);
    if (!root || root->type != YAML_MAPPING_NODE)
        return RMTL__EC(y, root, "a schema is a mapping with at least 'columns'");
    static const char *const keys[] = {"default", "min_count", "missing", "columns", "tasks"};
    enum { K_DEFAULT, K_MIN_COUNT, K_MISSING, K_COLUMNS, K_TASKS, K_N };
    yaml_node_t *node[K_N] = {NULL};
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = rmtl__yaml_node(y, p->key), *v = rmtl__yaml_node(y, p->value);
        const char *key = rmtl__yaml_scalar(k);
        if (!key || !v)
            return RMTL__EC(y, k ? k : root, "keys must be strings");
        int i = 0;
        while (i < K_N && strcmp(key, keys[i]))
            i++;
        if (i == K_N)
            return RMTL__EC(y, k,
                            "unknown key '%s' (expected columns, default, min_count, missing "
                            "or tasks)",
                            key);
        if (node[i])
            return RMTL__EC(y, k, "'%s' given twice", key);
        node[i] = v;
    }
    /* globals first: columns inherit them */
    int rc = 0;
    if (node[K_DEFAULT]) {
        s->default_role = rmtl__role_parse(rmtl__yaml_scalar(node[K_DEFAULT]));
        if (s->default_role != RMTL__ROLE_CAT && s->default_role != RMTL__ROLE_NUM &&
            s->default_role != RMTL__ROLE_IGNORE)
            return RMTL__EC(y, node[K_DEFAULT],
                            "default: expected categorical, numerical or ignore");
    }
    if (node[K_MIN_COUNT] && (rc = rmtl__parse_min_count(&s->min_count, y, node[K_MIN_COUNT])))
        return rc;
    if (node[K_MISSING] && (rc = rmtl__parse_strset(&s->missing, y, node[K_MISSING], "missing")))
        return rc;
    if (!node[K_COLUMNS])
        return RMTL__EC(y, root, "no 'columns' mapping");
    if ((rc = rmtl__parse_columns(s, y, node[K_COLUMNS])) ||
        (rc = rmtl__assign_tasks(s, y, root, node[K_TASKS])))
        return rc;
    return rmtl__check_unique_roles(s);
}

int rmtl__schema_parse(rmtl__schema *s, const char *text, size_t len, const char *name)
{
    memset(s, 0, sizeof *s);
    s->default_role = -1;
    s->min_count = 1;
    if (!(s->name = rmtl__strdup(name ? name : "<string>")))
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    static const char *const defaults[] = {"", "NA", "?"};
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++)
        if (rmtl__strset_add(&s->missing, defaults[i]))
            return RMTL_ENOMEM;
    rmtl__yaml y;
    int rc = rmtl__yaml_load(&y, text, len, s->name);
    if (!rc)
        rc = rmtl__parse_root(s, &y);
    rmtl__yaml_free(&y);
    return rc;
}
