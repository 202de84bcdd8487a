/* The descriptor table behind rmtl_config (docs/config.md): one row per
 * parameter gives its dotted key, type, field, default, limits and doc.
 * Only the config code (config.c, params*.c) includes this header; the
 * rest of the library reads struct rmtl__settings. */
#ifndef RMTL_CORE_PARAMS_DESC_H
#define RMTL_CORE_PARAMS_DESC_H

#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "core/strbuf.h"

enum rmtl__ptype {
    RMTL__T_BOOL,
    RMTL__T_INT,
    RMTL__T_DOUBLE,
    RMTL__T_CHOICE,
    RMTL__T_INT_LIST,
    RMTL__T_DOUBLE_LIST,
    RMTL__T_STR_LIST
};

/* Open bounds of DOUBLE (and DOUBLE_LIST element) ranges: (min, max]. */
enum { RMTL__P_MIN_OPEN = 1u, RMTL__P_MAX_OPEN = 2u };

struct rmtl__param_desc {
    const char *key;
    enum rmtl__ptype type;
    size_t offset; /* into struct rmtl__settings */
    /* Defaults: idef for BOOL, INT and CHOICE (the choice's index); ddef
     * for DOUBLE; the ndef values at ilist, dlist or slist for lists. */
    int64_t idef;
    double ddef;
    const int64_t *ilist;
    const double *dlist;
    const char *const *slist;
    size_t ndef;
    /* Value limits, inclusive unless flagged open: INT, INT_LIST elements
     * in [imin, imax]; DOUBLE, DOUBLE_LIST elements in [dmin, dmax]. */
    int64_t imin, imax;
    double dmin, dmax;
    unsigned flags;
    size_t len_min, len_max; /* list lengths */
    const char *const *choices;
    size_t nchoices;
    const char *doc; /* one line, for docs/config.md */
};

/* Upper bound on table rows (per-row arrays of the YAML walker); a test
 * checks rmtl__param_count against it. */
#define RMTL__PARAM_MAX 256

extern const struct rmtl__param_desc rmtl__param_table[];
extern const size_t rmtl__param_count;

/* The row of `key`, or NULL. */
const struct rmtl__param_desc *rmtl__param_find(const char *key);
/* 1 when `key` names a section: a proper prefix, ending at a dot, of some
 * key ("rl", "rl.critic"). "" (the root) is a section. */
int rmtl__param_is_section(const char *key);
/* The known key or section closest to `key` by edit distance when close
 * enough to be a likely typo, else a key with the same last name in
 * another section, else NULL. The result may be written to `buf` (at
 * least RMTL__SUGGEST_BUF bytes) and is valid as long as `buf`. */
#define RMTL__SUGGEST_BUF 72
const char *rmtl__param_suggest(const char *key, char *buf, size_t n);

static inline void *rmtl__param_field(struct rmtl__settings *p, const struct rmtl__param_desc *d)
{
    return (char *)p + d->offset;
}
static inline const void *rmtl__param_cfield(const struct rmtl__settings *p,
                                             const struct rmtl__param_desc *d)
{
    return (const char *)p + d->offset;
}

/* Value checks. Each returns 0, or -1 with the problem written to msg
 * (e.g. "0 is out of range [1, 4096]"). */
int rmtl__param_check_int(const struct rmtl__param_desc *d, int64_t v, char *msg, size_t n);
int rmtl__param_check_double(const struct rmtl__param_desc *d, double v, char *msg, size_t n);
/* Sets *index to the choice's number. */
int rmtl__param_check_choice(const struct rmtl__param_desc *d, const char *s, int *index,
                             char *msg, size_t n);
int rmtl__param_check_len(const struct rmtl__param_desc *d, size_t len, char *msg, size_t n);
/* A name of a string list: 1..RMTL__NAME_CAP-1 characters [A-Za-z0-9_],
 * not starting with a digit. */
int rmtl__param_check_name(const char *s, char *msg, size_t n);

/* Shortest text that strtod reads back as exactly `v`, with a '.' in the
 * mantissa so that YAML reads it as a float ("2.0", "1.0e-08"). */
void rmtl__format_double(char buf[40], double v);
/* Human-readable range for messages and docs: "[1, 4096]", "(0, 10]". */
void rmtl__param_range_text(const struct rmtl__param_desc *d, char *buf, size_t n);
/* Appends the canonical YAML of the row's value in `p` (a flow list for
 * lists). */
void rmtl__param_format(rmtl__sb *sb, const struct rmtl__param_desc *d,
                        const struct rmtl__settings *p);
/* Short type name: "int", "double", "int list", ... */
const char *rmtl__ptype_name(enum rmtl__ptype t);

#endif
