/* Checking, formatting and looking up parameter values by descriptor. */
#include "core/params_desc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rmtl__ptype_name(enum rmtl__ptype t)
{
    switch (t) {
    case RMTL__T_BOOL: return "bool";
    case RMTL__T_INT: return "int";
    case RMTL__T_DOUBLE: return "double";
    case RMTL__T_CHOICE: return "choice";
    case RMTL__T_INT_LIST: return "int list";
    case RMTL__T_DOUBLE_LIST: return "double list";
    case RMTL__T_STR_LIST: return "string list";
    }
    return "?";
}

/* Shortest "%.*g" text that reads back exactly, in positional notation
 * for magnitudes from 1 to 1e17 ("10", not "1e+01"). */
static void rmtl__format_shortest(char buf[40], double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 40, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    const char *e = strchr(buf, 'e');
    int exp10 = e ? atoi(e + 1) : -1;
    if (exp10 >= 0 && exp10 <= 16) /* more digits than the shortest: still exact */
        snprintf(buf, 40, "%.*g", exp10 + 1, v);
}

void rmtl__format_double(char buf[40], double v)
{
    rmtl__format_shortest(buf, v);
    /* YAML 1.1 floats need a '.' in the mantissa: "2" -> "2.0",
     * "1e-08" -> "1.0e-08". */
    char *e = strchr(buf, 'e');
    size_t mant = e ? (size_t)(e - buf) : strlen(buf);
    if (memchr(buf, '.', mant))
        return;
    memmove(buf + mant + 2, buf + mant, strlen(buf + mant) + 1);
    buf[mant] = '.';
    buf[mant + 1] = '0';
}

void rmtl__param_range_text(const struct rmtl__param_desc *d, char *buf, size_t n)
{
    if (d->type == RMTL__T_DOUBLE || d->type == RMTL__T_DOUBLE_LIST) {
        char lo[40], hi[40];
        rmtl__format_shortest(lo, d->dmin);
        rmtl__format_shortest(hi, d->dmax);
        snprintf(buf, n, "%c%s, %s%c", (d->flags & RMTL__P_MIN_OPEN) ? '(' : '[', lo, hi,
                 (d->flags & RMTL__P_MAX_OPEN) ? ')' : ']');
    } else {
        snprintf(buf, n, "[%" PRId64 ", %" PRId64 "]", d->imin, d->imax);
    }
}

int rmtl__param_check_int(const struct rmtl__param_desc *d, int64_t v, char *msg, size_t n)
{
    if (v >= d->imin && v <= d->imax)
        return 0;
    char range[96];
    rmtl__param_range_text(d, range, sizeof range);
    snprintf(msg, n, "%" PRId64 " is out of range %s", v, range);
    return -1;
}

int rmtl__param_check_double(const struct rmtl__param_desc *d, double v, char *msg, size_t n)
{
    int below = (d->flags & RMTL__P_MIN_OPEN) ? !(v > d->dmin) : !(v >= d->dmin);
    int above = (d->flags & RMTL__P_MAX_OPEN) ? !(v < d->dmax) : !(v <= d->dmax);
    if (!below && !above)
        return 0;
    char range[96], val[40];
    rmtl__param_range_text(d, range, sizeof range);
    rmtl__format_shortest(val, v);
    snprintf(msg, n, "%s is out of range %s", val, range);
    return -1;
}

int rmtl__param_check_choice(const struct rmtl__param_desc *d, const char *s, int *index,
                             char *msg, size_t n)
{
    for (size_t i = 0; i < d->nchoices; i++)
        if (!strcmp(s, d->choices[i])) {
            *index = (int)i;
            return 0;
        }
    size_t off = (size_t)snprintf(msg, n, "'%.64s' is not one of", s);
    for (size_t i = 0; i < d->nchoices && off < n; i++)
        off += (size_t)snprintf(msg + off, n - off, "%s %s", i ? "," : "", d->choices[i]);
    return -1;
}

int rmtl__param_check_len(const struct rmtl__param_desc *d, size_t len, char *msg, size_t n)
{
    if (len >= d->len_min && len <= d->len_max)
        return 0;
    if (d->len_min == d->len_max)
        snprintf(msg, n, "%zu entries, expected exactly %zu", len, d->len_min);
    else
        snprintf(msg, n, "%zu entries, expected %zu to %zu", len, d->len_min, d->len_max);
    return -1;
}

int rmtl__param_check_name(const char *s, char *msg, size_t n)
{
    size_t len = strlen(s);
    if (len == 0) {
        snprintf(msg, n, "empty name");
        return -1;
    }
    if (len >= RMTL__NAME_CAP) {
        snprintf(msg, n, "'%.40s...' is longer than %d characters", s, RMTL__NAME_CAP - 1);
        return -1;
    }
    if (s[0] >= '0' && s[0] <= '9') {
        snprintf(msg, n, "'%s' starts with a digit", s);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            snprintf(msg, n, "'%s' may only contain letters, digits and _", s);
            return -1;
        }
    }
    return 0;
}

/* Names that YAML 1.1 readers would take for a bool or null if unquoted. */
static int rmtl__yaml_reserved(const char *s)
{
    static const char *const words[] = {"y", "n", "yes", "no", "on", "off", "true", "false",
                                        "null"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        const char *w = words[i];
        size_t j = 0;
        while (w[j] && s[j] && (s[j] | 0x20) == w[j])
            j++;
        if (!w[j] && !s[j])
            return 1;
    }
    return 0;
}

void rmtl__param_format(rmtl__sb *sb, const struct rmtl__param_desc *d,
                        const struct rmtl__settings *p)
{
    const void *f = rmtl__param_cfield(p, d);
    char num[40];
    switch (d->type) {
    case RMTL__T_BOOL: rmtl__sb_puts(sb, *(const int *)f ? "true" : "false"); break;
    case RMTL__T_CHOICE: rmtl__sb_puts(sb, d->choices[*(const int *)f]); break;
    case RMTL__T_INT: rmtl__sb_printf(sb, "%" PRId64, *(const int64_t *)f); break;
    case RMTL__T_DOUBLE:
        rmtl__format_double(num, *(const double *)f);
        rmtl__sb_puts(sb, num);
        break;
    case RMTL__T_INT_LIST: {
        const rmtl__ilist *l = f;
        rmtl__sb_puts(sb, "[");
        for (size_t i = 0; i < l->n; i++)
            rmtl__sb_printf(sb, "%s%" PRId64, i ? ", " : "", l->v[i]);
        rmtl__sb_puts(sb, "]");
        break;
    }
    case RMTL__T_DOUBLE_LIST: {
        const rmtl__dlist *l = f;
        rmtl__sb_puts(sb, "[");
        for (size_t i = 0; i < l->n; i++) {
            rmtl__format_double(num, l->v[i]);
            rmtl__sb_printf(sb, "%s%s", i ? ", " : "", num);
        }
        rmtl__sb_puts(sb, "]");
        break;
    }
    case RMTL__T_STR_LIST: {
        const rmtl__slist *l = f;
        rmtl__sb_puts(sb, "[");
        for (size_t i = 0; i < l->n; i++) {
            const char *q = rmtl__yaml_reserved(l->v[i]) ? "\"" : "";
            rmtl__sb_printf(sb, "%s%s%s%s", i ? ", " : "", q, l->v[i], q);
        }
        rmtl__sb_puts(sb, "]");
        break;
    }
    }
}

/* --- "did you mean" ------------------------------------------------------ */
#define RMTL__SUGGEST_MAX 64

/* Optimal-string-alignment distance (Levenshtein plus adjacent swaps, so
 * "modle" is 1 from "model"). Both lengths <= RMTL__SUGGEST_MAX. */
static size_t rmtl__edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    size_t rows[3][RMTL__SUGGEST_MAX + 1];
    size_t *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= nb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= na; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = prev[j - 1] + cost;
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            cur[j] = v;
        }
        size_t *t = pp;
        pp = prev, prev = cur, cur = t;
    }
    return prev[nb];
}

const char *rmtl__param_suggest(const char *key, char *best, size_t n)
{
    size_t nk = strlen(key);
    if (nk == 0 || nk > RMTL__SUGGEST_MAX || n <= RMTL__SUGGEST_MAX)
        return NULL;
    size_t best_d = SIZE_MAX;
    /* Candidates: every key and every section (each prefix up to a dot). */
    for (size_t i = 0; i < rmtl__param_count; i++) {
        const char *k = rmtl__param_table[i].key;
        for (size_t end = 1; k[end - 1]; end++) {
            if ((k[end] != '.' && k[end] != '\0') || end > RMTL__SUGGEST_MAX)
                continue;
            size_t d = rmtl__edit_distance(key, nk, k, end);
            if (d < best_d) {
                best_d = d;
                memcpy(best, k, end);
                best[end] = '\0';
            }
        }
    }
    if (best_d > 0 && (best_d <= 2 || best_d * 4 <= nk))
        return best;
    /* A known name in the wrong section: "train.lr" -> "optim.lr". */
    const char *last = strrchr(key, '.');
    last = last ? last + 1 : key;
    for (size_t i = 0; i < rmtl__param_count; i++) {
        const char *k = rmtl__param_table[i].key, *kl = strrchr(k, '.');
        if (kl && !strcmp(kl + 1, last) && strcmp(k, key))
            return k;
    }
    return NULL;
}
