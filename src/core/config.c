/* rmtl_config: the public face of the descriptor table (params.c).
 * YAML documents are walked as nested mappings whose dotted paths are
 * looked up in the table; every change is made on a copy of the
 * parameters and committed only when the whole document was accepted. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "core/params_desc.h"
#include "core/yamlu.h"

struct rmtl_config {
    struct rmtl__settings p;
};

const struct rmtl__settings *rmtl__config_params(const rmtl_config *cfg) { return &cfg->p; }

int rmtl_config_create(rmtl_config **out)
{
    RMTL__CHECK_ARG(out, "out");
    *out = rmtl__malloc(sizeof **out);
    if (!*out)
        return rmtl__error(RMTL_ENOMEM, "rmtl_config_create: out of memory");
    rmtl__params_defaults(&(*out)->p);
    return 0;
}

int rmtl_config_clone(rmtl_config **out, const rmtl_config *cfg)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(cfg, "cfg");
    *out = rmtl__malloc(sizeof **out);
    if (!*out)
        return rmtl__error(RMTL_ENOMEM, "rmtl_config_clone: out of memory");
    **out = *cfg;
    return 0;
}

void rmtl_config_free(rmtl_config *cfg) { rmtl__free(cfg); }

/* --- the YAML walker ------------------------------------------------------ */
#define RMTL__KEY_MAX 256

typedef struct rmtl__walk {
    rmtl__yaml *y;
    const rmtl__yaml *pos;     /* y, or NULL: messages without file:line:col */
    struct rmtl__settings p;     /* the working copy */
    const yaml_node_t *seen[RMTL__PARAM_MAX]; /* value node that set each row */
} rmtl__walk;

/* "file:line:col: key: problem", or "key: problem" when `pos` is NULL. */
static int rmtl__cfg_fail(const rmtl__yaml *pos, const yaml_node_t *n, const char *key,
                          const char *fmt, ...) RMTL__PRINTF(4, 5);
static int rmtl__cfg_fail(const rmtl__yaml *pos, const yaml_node_t *n, const char *key,
                          const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (pos)
        return rmtl__yaml_error(RMTL_ECONFIG, pos, n, "%.160s: %s", key, msg);
    return rmtl__error(RMTL_ECONFIG, "%.160s: %s", key, msg);
}
#define rmtl__walk_fail(w, ...) rmtl__cfg_fail((w)->pos, __VA_ARGS__)

/* What a node is, for "expected X, got Y" messages. */
static const char *rmtl__describe(const yaml_node_t *n, char *buf, size_t len)
{
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_SCALAR_NODE:
        if (n->data.scalar.length == 0)
            return "nothing";
        snprintf(buf, len, "%s'%.64s'",
                 n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "" : "the quoted string ",
                 (const char *)n->data.scalar.value);
        return buf;
    default: return "nothing";
    }
}

/* Plain scalars only for numbers and booleans: in YAML a quoted "5" is a
 * string, and silently taking it as a number hides mistakes. */
static const char *rmtl__plain_text(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
               ? (const char *)n->data.scalar.value
               : NULL;
}

static int rmtl__is_null(const yaml_node_t *n)
{
    const char *s = rmtl__plain_text(n);
    return s && (!*s || !strcmp(s, "~") || !strcmp(s, "null"));
}

/* Converts one scalar of a typed row (or one element of a list row, elem
 * >= 1) into `out`: int64_t, double, int (bool/choice) or a name. */
static int rmtl__walk_scalar(rmtl__walk *w, const struct rmtl__param_desc *d,
                             const yaml_node_t *n, size_t elem, void *out)
{
    char where[40] = "", desc[96], msg[256];
    if (elem)
        snprintf(where, sizeof where, "element %zu: ", elem);
    const char *text = rmtl__plain_text(n);
    switch (d->type) {
    case RMTL__T_BOOL:
        if (!text || rmtl__parse_bool(out, text))
            return rmtl__walk_fail(w, n, d->key, "%sexpected true or false, got %s", where,
                                   rmtl__describe(n, desc, sizeof desc));
        return 0;
    case RMTL__T_INT:
    case RMTL__T_INT_LIST:
        if (!text || rmtl__parse_int(out, text))
            return rmtl__walk_fail(w, n, d->key, "%sexpected an integer, got %s", where,
                                   rmtl__describe(n, desc, sizeof desc));
        if (rmtl__param_check_int(d, *(int64_t *)out, msg, sizeof msg))
            return rmtl__walk_fail(w, n, d->key, "%s%s", where, msg);
        return 0;
    case RMTL__T_DOUBLE:
    case RMTL__T_DOUBLE_LIST:
        if (!text || rmtl__parse_double(out, text))
            return rmtl__walk_fail(w, n, d->key, "%sexpected a number, got %s", where,
                                   rmtl__describe(n, desc, sizeof desc));
        if (rmtl__param_check_double(d, *(double *)out, msg, sizeof msg))
            return rmtl__walk_fail(w, n, d->key, "%s%s", where, msg);
        return 0;
    case RMTL__T_CHOICE: {
        const char *s = rmtl__yaml_scalar(n);
        if (!s)
            return rmtl__walk_fail(w, n, d->key, "expected one name, got %s",
                                   rmtl__describe(n, desc, sizeof desc));
        if (rmtl__param_check_choice(d, s, out, msg, sizeof msg))
            return rmtl__walk_fail(w, n, d->key, "%s", msg);
        return 0;
    }
    case RMTL__T_STR_LIST: {
        const char *s = rmtl__yaml_scalar(n);
        if (!s)
            return rmtl__walk_fail(w, n, d->key, "%sexpected a name, got %s", where,
                                   rmtl__describe(n, desc, sizeof desc));
        if (rmtl__param_check_name(s, msg, sizeof msg))
            return rmtl__walk_fail(w, n, d->key, "%s%s", where, msg);
        memcpy(out, s, strlen(s) + 1);
        return 0;
    }
    }
    return rmtl__walk_fail(w, n, d->key, "internal: unknown parameter type");
}

static int rmtl__walk_list(rmtl__walk *w, const struct rmtl__param_desc *d, const yaml_node_t *n)
{
    char desc[96], msg[256];
    if (n->type != YAML_SEQUENCE_NODE)
        return rmtl__walk_fail(w, n, d->key, "expected a list such as [1, 2], got %s",
                               rmtl__describe(n, desc, sizeof desc));
    const yaml_node_item_t *items = n->data.sequence.items.start;
    size_t len = (size_t)(n->data.sequence.items.top - items);
    if (rmtl__param_check_len(d, len, msg, sizeof msg))
        return rmtl__walk_fail(w, n, d->key, "%s", msg);
    void *field = rmtl__param_field(&w->p, d);
    /* Fill a fresh list: slots past the length stay zero. */
    union {
        rmtl__ilist i;
        rmtl__dlist d;
        rmtl__slist s;
    } tmp;
    memset(&tmp, 0, sizeof tmp);
    for (size_t i = 0; i < len; i++) {
        const yaml_node_t *e = rmtl__yaml_node(w->y, items[i]);
        void *slot = d->type == RMTL__T_INT_LIST      ? (void *)&tmp.i.v[i]
                     : d->type == RMTL__T_DOUBLE_LIST ? (void *)&tmp.d.v[i]
                                                      : (void *)tmp.s.v[i];
        int rc = rmtl__walk_scalar(w, d, e, i + 1, slot);
        if (rc)
            return rc;
        if (d->type == RMTL__T_STR_LIST)
            for (size_t j = 0; j < i; j++)
                if (!strcmp(tmp.s.v[j], tmp.s.v[i]))
                    return rmtl__walk_fail(w, e, d->key, "element %zu: '%s' repeats element %zu",
                                           i + 1, tmp.s.v[i], j + 1);
    }
    switch (d->type) {
    case RMTL__T_INT_LIST: tmp.i.n = len, *(rmtl__ilist *)field = tmp.i; break;
    case RMTL__T_DOUBLE_LIST: tmp.d.n = len, *(rmtl__dlist *)field = tmp.d; break;
    default: tmp.s.n = len, *(rmtl__slist *)field = tmp.s; break;
    }
    return 0;
}

static int rmtl__walk_value(rmtl__walk *w, const struct rmtl__param_desc *d, const yaml_node_t *v)
{
    void *field = rmtl__param_field(&w->p, d);
    switch (d->type) {
    case RMTL__T_BOOL:
    case RMTL__T_CHOICE: {
        int x = 0;
        int rc = rmtl__walk_scalar(w, d, v, 0, &x);
        if (!rc)
            *(int *)field = x;
        return rc;
    }
    case RMTL__T_INT: {
        int64_t x = 0;
        int rc = rmtl__walk_scalar(w, d, v, 0, &x);
        if (!rc)
            *(int64_t *)field = x;
        return rc;
    }
    case RMTL__T_DOUBLE: {
        double x = 0;
        int rc = rmtl__walk_scalar(w, d, v, 0, &x);
        if (!rc)
            *(double *)field = x;
        return rc;
    }
    default: return rmtl__walk_list(w, d, v);
    }
}

static int rmtl__unknown_key(const rmtl__yaml *pos, const yaml_node_t *at, const char *key)
{
    char buf[RMTL__SUGGEST_BUF];
    const char *near = rmtl__param_suggest(key, buf, sizeof buf);
    if (near)
        return rmtl__cfg_fail(pos, at, key, "unknown key; did you mean %s?", near);
    return rmtl__cfg_fail(pos, at, key, "unknown key (docs/config.md lists them all)");
}

static int rmtl__walk_node(rmtl__walk *w, const char *key, const yaml_node_t *keynode,
                           const yaml_node_t *v);

static int rmtl__walk_section(rmtl__walk *w, const char *key, const yaml_node_t *v)
{
    char desc[96];
    if (rmtl__is_null(v)) /* "rl:" with every child commented out */
        return 0;
    if (v->type != YAML_MAPPING_NODE) {
        if (!*key)
            return rmtl__walk_fail(w, v, "(top level)",
                                   "expected a mapping of configuration keys, got %s",
                                   rmtl__describe(v, desc, sizeof desc));
        return rmtl__walk_fail(w, v, key, "expected a mapping of %s.* keys, got %s", key,
                               rmtl__describe(v, desc, sizeof desc));
    }
    const yaml_node_pair_t *pairs = v->data.mapping.pairs.start;
    size_t np = (size_t)(v->data.mapping.pairs.top - pairs);
    for (size_t i = 0; i < np; i++) {
        const yaml_node_t *k = rmtl__yaml_node(w->y, pairs[i].key);
        const yaml_node_t *val = rmtl__yaml_node(w->y, pairs[i].value);
        const char *name = rmtl__yaml_scalar(k);
        if (!name || !*name)
            return rmtl__walk_fail(w, k, *key ? key : "(top level)",
                                   "keys must be names, got %s",
                                   rmtl__describe(k, desc, sizeof desc));
        char full[RMTL__KEY_MAX];
        int n = snprintf(full, sizeof full, "%s%s%s", key, *key ? "." : "", name);
        if (n < 0 || (size_t)n >= sizeof full)
            return rmtl__walk_fail(w, k, name, "unknown key (too long)");
        /* YAML forbids repeated keys; libyaml leaves the check to us. */
        for (size_t j = 0; j < i; j++) {
            const yaml_node_t *kj = rmtl__yaml_node(w->y, pairs[j].key);
            const char *prev = rmtl__yaml_scalar(kj);
            if (prev && !strcmp(prev, name))
                return rmtl__walk_fail(w, k, full, "duplicate key (first at line %zu, column %zu)",
                                       kj->start_mark.line + 1, kj->start_mark.column + 1);
        }
        int rc = rmtl__walk_node(w, full, k, val);
        if (rc)
            return rc;
    }
    return 0;
}

static int rmtl__walk_node(rmtl__walk *w, const char *key, const yaml_node_t *keynode,
                           const yaml_node_t *v)
{
    const struct rmtl__param_desc *d = rmtl__param_find(key);
    if (d) {
        size_t row = (size_t)(d - rmtl__param_table);
        const yaml_node_t *first = w->seen[row];
        if (first) /* e.g. `rl.gamma: 1` and `rl: {gamma: 2}` */
            return rmtl__walk_fail(w, keynode ? keynode : v, key,
                                   "set twice (first value at line %zu, column %zu)",
                                   first->start_mark.line + 1, first->start_mark.column + 1);
        w->seen[row] = v;
        return rmtl__walk_value(w, d, v);
    }
    if (rmtl__param_is_section(key))
        return rmtl__walk_section(w, key, v);
    return rmtl__unknown_key(w->pos, keynode ? keynode : v, key);
}

/* Applies YAML text at `key` ("" = the whole config). All or nothing. */
static int rmtl__config_apply(rmtl_config *cfg, const char *key, const char *text, size_t len,
                              const char *name, int positions)
{
    rmtl__yaml y;
    int rc = rmtl__yaml_load(&y, text, len, name);
    if (rc) {
        rmtl__yaml_free(&y);
        return *key ? rmtl__error_prefix(rc, "%.160s", key) : rc;
    }
    const yaml_node_t *root = rmtl__yaml_root(&y);
    if (!root) {
        rmtl__yaml_free(&y);
        if (*key) /* rmtl_config_set(cfg, "rl.gamma", "") */
            return rmtl__error(RMTL_ECONFIG, "%.160s: missing value", key);
        return 0;
    }
    rmtl__walk *w = rmtl__malloc(sizeof *w);
    if (!w) {
        rmtl__yaml_free(&y);
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", y.name);
    }
    memset(w->seen, 0, sizeof w->seen);
    w->y = &y;
    w->pos = positions ? &y : NULL;
    w->p = cfg->p;
    rc = rmtl__walk_node(w, key, NULL, root);
    if (!rc)
        cfg->p = w->p;
    rmtl__free(w);
    rmtl__yaml_free(&y);
    return rc;
}

int rmtl_config_load_string(rmtl_config *cfg, const char *yaml, size_t len, const char *name)
{
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(yaml, "yaml");
    return rmtl__config_apply(cfg, "", yaml, len, name ? name : "<string>", 1);
}

int rmtl_config_load_file(rmtl_config *cfg, const char *path)
{
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(path, "path");
    char *text;
    size_t len;
    int rc = rmtl__read_file(&text, &len, path);
    if (rc)
        return rc;
    rc = rmtl__config_apply(cfg, "", text, len, path, 1);
    rmtl__free(text);
    return rc;
}

int rmtl_config_set(rmtl_config *cfg, const char *key, const char *value)
{
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(key, "key");
    RMTL__CHECK_ARG(value, "value");
    if (!rmtl__param_find(key) && !rmtl__param_is_section(key))
        return rmtl__unknown_key(NULL, NULL, key);
    return rmtl__config_apply(cfg, key, value, strlen(value), "<value>", 0);
}

/* --- typed setters and getters ------------------------------------------- */
/* The function that fits a key's type, for "use ..." hints. */
static const char *rmtl__setter_for(enum rmtl__ptype t)
{
    switch (t) {
    case RMTL__T_BOOL: return "rmtl_config_set_bool";
    case RMTL__T_INT: return "rmtl_config_set_int";
    case RMTL__T_DOUBLE: return "rmtl_config_set_double";
    case RMTL__T_CHOICE: return "rmtl_config_set_string";
    case RMTL__T_INT_LIST: return "rmtl_config_set_int_list";
    default: return "rmtl_config_set";
    }
}

static const char *rmtl__getter_for(enum rmtl__ptype t)
{
    switch (t) {
    case RMTL__T_BOOL: return "rmtl_config_get_bool";
    case RMTL__T_INT: return "rmtl_config_get_int";
    case RMTL__T_DOUBLE: return "rmtl_config_get_double";
    case RMTL__T_CHOICE: return "rmtl_config_get_string";
    case RMTL__T_INT_LIST: return "rmtl_config_get_int_list";
    default: return "rmtl_config_dump";
    }
}

static const char *rmtl__article(enum rmtl__ptype t)
{
    return t == RMTL__T_INT || t == RMTL__T_INT_LIST ? "an" : "a";
}

/* The row of `key` if its type is `want` (or `alt`); else RMTL_ECONFIG. */
static int rmtl__typed_row(const struct rmtl__param_desc **out, const char *key,
                           enum rmtl__ptype want, enum rmtl__ptype alt, int setter)
{
    const struct rmtl__param_desc *d = rmtl__param_find(key);
    if (!d)
        return rmtl__unknown_key(NULL, NULL, key);
    if (d->type != want && d->type != alt)
        return rmtl__error(RMTL_ECONFIG, "%s: is %s %s key; use %s", key,
                           rmtl__article(d->type), rmtl__ptype_name(d->type),
                           setter ? rmtl__setter_for(d->type) : rmtl__getter_for(d->type));
    *out = d;
    return 0;
}

int rmtl_config_set_int(rmtl_config *cfg, const char *key, int64_t value)
{
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(key, "key");
    const struct rmtl__param_desc *d;
    int rc = rmtl__typed_row(&d, key, RMTL__T_INT, RMTL__T_DOUBLE, 1);
    if (rc)
        return rc;
    if (d->type == RMTL__T_DOUBLE)
        return rmtl_config_set_double(cfg, key, (double)value);
    char msg[256];
    if (rmtl__param_check_int(d, value, msg, sizeof msg))
        return rmtl__error(RMTL_ECONFIG, "%s: %s", key, msg);
    *(int64_t *)rmtl__param_field(&cfg->p, d) = value;
    return 0;
}

int rmtl_config_set_double(rmtl_config *cfg, const char *key, double value)
{
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(key, "key");
    const struct rmtl__param_desc *d;
    int rc = rmtl__typed_row(&d, key, RMTL__T_DOUBLE, RMTL__T_DOUBLE, 1);
    if (rc)
        return rc;
    char msg[256];
    if (!isfinite(value))
        return rmtl__error(RMTL_ECONFIG, "%s: not a finite number", key);
    if (rmtl__param_check_double(d, value, msg, sizeof msg))
        return rmtl__error(RMTL_ECONFIG, "%s: %s", key, msg);
    *(double *)rmtl__param_field(&cfg->p, d) = value;
    return 0;
}

int rmtl_config_set_bool(rmtl_config *cfg, const char *key, int value)
{
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(key, "key");
    const struct rmtl__param_desc *d;
    int rc = rmtl__typed_row(&d, key, RMTL__T_BOOL, RMTL__T_BOOL, 1);
    if (rc)
        return rc;
    *(int *)rmtl__param_field(&cfg->p, d) = value != 0;
    return 0;
}

int rmtl_config_set_string(rmtl_config *cfg, const char *key, const char *value)
{
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(key, "key");
    RMTL__CHECK_ARG(value, "value");
    const struct rmtl__param_desc *d;
    int rc = rmtl__typed_row(&d, key, RMTL__T_CHOICE, RMTL__T_CHOICE, 1);
    if (rc)
        return rc;
    char msg[256];
    int index;
    if (rmtl__param_check_choice(d, value, &index, msg, sizeof msg))
        return rmtl__error(RMTL_ECONFIG, "%s: %s", key, msg);
    *(int *)rmtl__param_field(&cfg->p, d) = index;
    return 0;
}

int rmtl_config_set_int_list(rmtl_config *cfg, const char *key, const int64_t *values,
                             size_t count)
{
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(key, "key");
    RMTL__CHECK_ARG(values || count == 0, "values");
    const struct rmtl__param_desc *d;
    int rc = rmtl__typed_row(&d, key, RMTL__T_INT_LIST, RMTL__T_DOUBLE_LIST, 1);
    if (rc)
        return rc;
    char msg[256];
    if (rmtl__param_check_len(d, count, msg, sizeof msg))
        return rmtl__error(RMTL_ECONFIG, "%s: %s", key, msg);
    for (size_t i = 0; i < count; i++) {
        int bad = d->type == RMTL__T_INT_LIST
                      ? rmtl__param_check_int(d, values[i], msg, sizeof msg)
                      : rmtl__param_check_double(d, (double)values[i], msg, sizeof msg);
        if (bad)
            return rmtl__error(RMTL_ECONFIG, "%s: element %zu: %s", key, i + 1, msg);
    }
    void *f = rmtl__param_field(&cfg->p, d);
    if (d->type == RMTL__T_INT_LIST) {
        rmtl__ilist *l = f;
        memset(l, 0, sizeof *l);
        if (count)
            memcpy(l->v, values, count * sizeof *values);
        l->n = count;
    } else {
        rmtl__dlist *l = f;
        memset(l, 0, sizeof *l);
        for (size_t i = 0; i < count; i++)
            l->v[i] = (double)values[i];
        l->n = count;
    }
    return 0;
}

int rmtl_config_get_int(int64_t *out, const rmtl_config *cfg, const char *key)
{
    RMTL__CHECK_ARG(out, "out");
    *out = 0;
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(key, "key");
    const struct rmtl__param_desc *d;
    int rc = rmtl__typed_row(&d, key, RMTL__T_INT, RMTL__T_INT, 0);
    if (!rc)
        *out = *(const int64_t *)rmtl__param_cfield(&cfg->p, d);
    return rc;
}

int rmtl_config_get_double(double *out, const rmtl_config *cfg, const char *key)
{
    RMTL__CHECK_ARG(out, "out");
    *out = 0;
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(key, "key");
    const struct rmtl__param_desc *d;
    int rc = rmtl__typed_row(&d, key, RMTL__T_DOUBLE, RMTL__T_DOUBLE, 0);
    if (!rc)
        *out = *(const double *)rmtl__param_cfield(&cfg->p, d);
    return rc;
}

int rmtl_config_get_bool(int *out, const rmtl_config *cfg, const char *key)
{
    RMTL__CHECK_ARG(out, "out");
    *out = 0;
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(key, "key");
    const struct rmtl__param_desc *d;
    int rc = rmtl__typed_row(&d, key, RMTL__T_BOOL, RMTL__T_BOOL, 0);
    if (!rc)
        *out = *(const int *)rmtl__param_cfield(&cfg->p, d);
    return rc;
}

int rmtl_config_get_string(const char **out, const rmtl_config *cfg, const char *key)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(key, "key");
    const struct rmtl__param_desc *d;
    int rc = rmtl__typed_row(&d, key, RMTL__T_CHOICE, RMTL__T_CHOICE, 0);
    if (!rc)
        *out = d->choices[*(const int *)rmtl__param_cfield(&cfg->p, d)];
    return rc;
}

int rmtl_config_get_int_list(size_t *count, const rmtl_config *cfg, const char *key,
                             int64_t *values, size_t capacity)
{
    RMTL__CHECK_ARG(count, "count");
    *count = 0;
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(key, "key");
    RMTL__CHECK_ARG(values || capacity == 0, "values");
    const struct rmtl__param_desc *d;
    int rc = rmtl__typed_row(&d, key, RMTL__T_INT_LIST, RMTL__T_INT_LIST, 0);
    if (rc)
        return rc;
    const rmtl__ilist *l = rmtl__param_cfield(&cfg->p, d);
    size_t n = l->n < capacity ? l->n : capacity;
    if (n)
        memcpy(values, l->v, n * sizeof *values);
    *count = l->n;
    return 0;
}

/* --- validate and dump ---------------------------------------------------- */
int rmtl_config_validate(const rmtl_config *cfg)
{
    RMTL__CHECK_ARG(cfg, "cfg");
    return rmtl__params_validate(&cfg->p);
}

/* Length of the section part of a key ("rl.critic" of "rl.critic.bottom"). */
static size_t rmtl__section_len(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? (size_t)(dot - key) : 0;
}

/* Length of the longest run of whole section names that sections a and b
 * (of lengths na, nb) start with: 2 for "rl" and "rl.critic". */
static size_t rmtl__common_sections(const char *a, size_t na, const char *b, size_t nb)
{
    size_t common = 0;
    for (size_t j = 0; j < na && j < nb && a[j] == b[j]; j++)
        if ((j + 1 == na || a[j + 1] == '.') && (j + 1 == nb || b[j + 1] == '.'))
            common = j + 1;
    return common;
}

int rmtl_config_dump(char **out, size_t *len, const rmtl_config *cfg)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(cfg, "cfg");
    rmtl__sb sb = RMTL__SB_INIT;
    const char *prev = "";
    size_t prev_sec = 0;
    for (size_t i = 0; i < rmtl__param_count; i++) {
        const char *key = rmtl__param_table[i].key;
        size_t sec = rmtl__section_len(key);
        /* Keep the sections shared with the previous key open; open the
         * rest, one nesting level per dotted name. */
        size_t common = rmtl__common_sections(key, sec, prev, prev_sec), depth = 0;
        for (size_t j = 0; j < common; j++)
            depth += key[j] == '.';
        depth += common > 0;
        for (size_t start = common ? common + 1 : 0; start < sec;) {
            const char *dot = memchr(key + start, '.', sec - start);
            size_t end = dot ? (size_t)(dot - key) : sec;
            rmtl__sb_printf(&sb, "%*s%.*s:\n", (int)(2 * depth), "", (int)(end - start),
                            key + start);
            depth++;
            start = end + 1;
        }
        rmtl__sb_printf(&sb, "%*s%s: ", (int)(2 * depth), "", key + (sec ? sec + 1 : 0));
        rmtl__param_format(&sb, &rmtl__param_table[i], &cfg->p);
        rmtl__sb_puts(&sb, "\n");
        prev = key;
        prev_sec = sec;
    }
    if (rmtl__sb_finish(&sb, out, len))
        return rmtl__error(RMTL_ENOMEM, "rmtl_config_dump: out of memory");
    return 0;
}
