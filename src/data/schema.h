/* Dataset schema: which role each CSV column plays, parsed from YAML
 * (docs/data.md is the reference). The parsed columns are the same records
 * a dataset keeps once bound to a CSV header, so binding moves them. */
#ifndef RMTL_DATA_SCHEMA_H
#define RMTL_DATA_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

enum rmtl__role {
    RMTL__ROLE_IGNORE = 0,
    RMTL__ROLE_CAT,
    RMTL__ROLE_NUM,
    RMTL__ROLE_LABEL,
    RMTL__ROLE_SESSION,
    RMTL__ROLE_TIME,
    RMTL__ROLE_USER,
    RMTL__ROLE_ITEM,
    RMTL__ROLE_COUNT
};

enum rmtl__label_rule { RMTL__RULE_NONE = 0, RMTL__RULE_POSITIVE, RMTL__RULE_THRESHOLD };

/* A small set of strings (missing-value texts, label values). */
typedef struct rmtl__strset {
    char **v;
    size_t n;
} rmtl__strset;

void rmtl__strset_free(rmtl__strset *s);
int rmtl__strset_copy(rmtl__strset *dst, const rmtl__strset *src); /* 0 or ENOMEM */
/* 0 or ENOMEM; the string is copied. */
int rmtl__strset_add(rmtl__strset *s, const char *str);
int rmtl__strset_has(const rmtl__strset *s, const char *str, size_t len);

/* One column: its role and the rules for reading it. */
typedef struct rmtl__dscol {
    char *name;
    int role;    /* enum rmtl__role */
    int feature; /* user/item: also a categorical field */
    int32_t field, num, task; /* indices into the dataset's lists, or -1 */
    rmtl__strset missing;     /* texts that mean "no value" */
    int rule;                 /* labels: enum rmtl__label_rule */
    double threshold;         /* RULE_THRESHOLD: positive when value > threshold */
    rmtl__strset positive, negative; /* RULE_POSITIVE */
    int has_fill;                    /* numerical: missing -> fill, else -> mean */
    double fill;
    /* schema-only: vocabulary threshold and where the column was named */
    int64_t min_count;
    size_t line, col;
} rmtl__dscol;

void rmtl__dscol_free(rmtl__dscol *c);
/* Deep copy; 0 or ENOMEM (dst is then empty). */
int rmtl__dscol_copy(rmtl__dscol *dst, const rmtl__dscol *src);

typedef struct rmtl__schema {
    char *name;           /* file name or label, for messages */
    rmtl__dscol *cols;    /* listed columns; labels carry their task index */
    size_t n_cols;
    size_t n_tasks;
    int default_role;     /* role of unlisted columns, or -1: they are errors */
    int64_t min_count;    /* global vocabulary threshold */
    rmtl__strset missing; /* global missing texts */
} rmtl__schema;

/* Parses schema YAML. RMTL_ECONFIG with "name:line:col: problem" on any
 * error; free with rmtl__schema_free() in every case. */
int rmtl__schema_parse(rmtl__schema *s, const char *text, size_t len, const char *name);
void rmtl__schema_free(rmtl__schema *s);

/* "categorical", ... for messages and serialisation. */
const char *rmtl__role_name(int role);

#endif
