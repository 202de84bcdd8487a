/* Parallel CSV parsing, the fast path of rmtl_dataset_load() for plain
 * files and memory blocks.
 *
 * The data rows are cut into byte ranges at line starts, one per thread.
 * A first pass counts each range's newlines (an upper bound of its rows),
 * so every range writes its rows straight into one set of arrays at its own
 * offset. Each thread codes categorical values on its own (rmtl__seen:
 * label-encoded integers by value in a dense table, other text in a table
 * of its own); then the threads build the vocabularies, a field each at a
 * time, from the ranges' values in range order, which is the order of
 * first appearance in the file, so ids do not depend on the thread count;
 * then each thread rewrites its rows' codes as vocabulary indices, and
 * computes the moments of some numerical columns, each in row order (as
 * load.c does). The arrays end up holding exactly what the reference
 * reader (csv.c + load.c) leaves, one step further on (load.h).
 *
 * The tokenizer handles the common dialect only: unquoted fields, LF or
 * CRLF, blank lines, spaces and tabs trimmed. Anything else (a quoted
 * field, a NUL byte, a wrong field count, a value the reference reader
 * would reject) returns RMTL__FALLBACK: the reference reader then reads
 * the input and, for bad data, names the line and column. */
#define _GNU_SOURCE /* sched_getaffinity, memrchr */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>

#include "core/internal.h"
#include "data/load.h"

enum {
    RMTL__PAR_BLOCK = 1 << 20,      /* bytes read at a time from a file */
    RMTL__PAR_MIN_RANGE = 1 << 20,  /* no thread gets less */
    RMTL__PAR_MAX_THREADS = 16,     /* the default's cap */
    RMTL__PAR_MAX_RANGES = 64,      /* any thread count's cap */
    RMTL__PAR_REPORT = 1024,        /* lines between progress reports */
    RMTL__DENSE_MAX = 1 << 22       /* integer values a dense table takes */
};

/* Training: what one range has seen of one categorical field. Until the
 * merge, cells hold codes: a label-encoded value ("0", "17", "466321": a
 * canonical integer below RMTL__DENSE_MAX) is its own code and is counted
 * in a dense table, with no hashing and no copy of its text (the text is
 * the integer's); any other text is interned in the range's own table and
 * has code RMTL__DENSE_MAX + its index. `order` lists the codes in order
 * of first appearance in the range; the merge walks the ranges' lists in
 * range order, the file's order of first appearance, so vocabulary ids do
 * not depend on the thread count. */
typedef struct rmtl__seen {
    uint32_t *count;   /* dense values: occurrences, 0 = not seen */
    size_t cap;        /* entries of count */
    int32_t *order;    /* codes in order of first appearance */
    size_t n, order_cap;
    rmtl__intern text; /* the other texts */
    int32_t *id;       /* from the merge: the vocabulary index of text entry e */
} rmtl__seen;

typedef struct rmtl__par rmtl__par;

/* A column's missing texts at a glance: bit n of `len` is set when one
 * has length n (bit 63: 63 or more), bit b of `first` when one starts
 * with byte b. Most fields ("0", "17", "0.25") fail one test or the other
 * and skip comparing against the texts. */
typedef struct rmtl__miss {
    uint64_t len, first[4];
} rmtl__miss;

typedef struct rmtl__range {
    rmtl__par *P;
    uint64_t lo, hi; /* [lo, hi): line starts (or the source's end) */
    size_t bound;    /* newlines in the range + 1: rows it may hold */
    size_t first;    /* its first row in L's arrays */
    size_t rows;     /* rows read */
    rmtl__seen *seen;    /* training: per field */
    int64_t *dval;       /* per header column: the value's dense index, or -1 */
    rmtl__intern *ids;   /* session, user, item; range 0 uses L->ids */
    rmtl__intern own_ids[3];
    int rc;          /* 0, RMTL__FALLBACK, RMTL_ENOMEM, RMTL_EIO (errno in err) */
    int err;
    char *buf;       /* file input: the block buffer */
    size_t buf_cap;
    const char **fs; /* the fields of the current line */
    size_t *fl;
    atomic_uint_least64_t done; /* bytes parsed, for progress */
    uint64_t before;            /* bytes of the range before the lines being parsed */
} rmtl__range;

struct rmtl__par {
    rmtl__loader *L;
    int fd;             /* file input, or -1 */
    const char *mem;    /* memory input */
    uint64_t size;      /* bytes of the source */
    size_t nh;          /* header columns */
    atomic_int stop;    /* a range failed or the load was cancelled */
    locale_t loc;       /* the caller's (C numeric) locale, for strtod */
    rmtl__miss *miss;   /* per meta column: what its missing texts look like */
    rmtl__range *rg;
    size_t n_rg;
    int cancelled;      /* the progress callback asked to stop */
    rmtl__progress *prog;
    uint64_t total;     /* progress: bytes of the file (of the shard) ... */
    uint64_t done0;     /* ... of which these (the header) precede the ranges */
    size_t *owner;      /* training, per field: the range whose thread merges it */
    uint32_t **dense_id; /* per field: vocabulary index + 1 of each dense value */
};

/* --- reading bytes ---------------------------------------------------------- */

/* Up to n bytes at `off` into dst (a short count only at the end). */
static int rmtl__par_pread(rmtl__par *P, char *dst, size_t n, uint64_t off, size_t *got,
                           int *err)
{
    *got = 0;
    if (P->fd < 0) {
        size_t k = off >= P->size ? 0 : (size_t)(P->size - off) < n ? (size_t)(P->size - off) : n;
        memcpy(dst, P->mem + off, k);
        *got = k;
        return 0;
    }
    while (*got < n) {
        ssize_t r = pread(P->fd, dst + *got, n - *got, (off_t)(off + *got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *err = errno;
            return RMTL_EIO;
        }
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return 0;
}

/* The first line start at or after `x` (the source's end if none). */
static int rmtl__line_start(rmtl__par *P, uint64_t data_off, uint64_t x, uint64_t *out, int *err)
{
    if (x <= data_off || x >= P->size) {
        *out = x <= data_off ? data_off : P->size;
        return 0;
    }
    char buf[4096];
    for (uint64_t at = x - 1; at < P->size;) {
        size_t got;
        int rc = rmtl__par_pread(P, buf, sizeof buf, at, &got, err);
        if (rc)
            return rc;
        const char *nl = memchr(buf, '\n', got);
        if (nl) {
            *out = at + (uint64_t)(nl - buf) + 1;
            return 0;
        }
        if (got == 0)
            break;
        at += got;
    }
    *out = P->size;
    return 0;
}

/* --- one line ------------------------------------------------------------- */

static int rmtl__blank(char ch) { return ch == ' ' || ch == '\t'; }

/* rmtl__strset_has() for texts without NUL bytes, first byte checked first. */
static int rmtl__in_set(const rmtl__strset *set, const char *s, size_t len)
{
    for (size_t i = 0; i < set->n; i++) {
        const char *v = set->v[i];
        if (v[0] == (len ? s[0] : '\0') && !strncmp(v, s, len) && v[len] == '\0')
            return 1;
    }
    return 0;
}

/* rmtl__number(), exactly: short decimals ("-12.5", "0.4734": at most 15
 * digits) are an exact integer divided by an exact power of ten, which IEEE
 * division rounds correctly, as strtod does; the rest goes to strtod. */
static int rmtl__fast_number(double *out, const char *s, size_t len)
{
    static const double p10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    const char *p = s, *e = s + len;
    int neg = 0, digits = 0, frac = 0;
    uint64_t m = 0;
    if (p < e && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    for (; p < e && (unsigned)(*p - '0') < 10; p++, digits++)
        m = m * 10 + (uint64_t)(*p - '0');
    if (p < e && *p == '.')
        for (p++; p < e && (unsigned)(*p - '0') < 10; p++, digits++, frac++)
            m = m * 10 + (uint64_t)(*p - '0');
    if (p != e || digits == 0 || digits > 15)
        return rmtl__number(out, s, len);
    double v = (double)m / p10[frac];
    *out = neg ? -v : v;
    return 0;
}

/* The value of a canonical decimal integer below RMTL__DENSE_MAX ("0",
 * "17"; not "017", "+1" or "1.0"), or -1. */
static int64_t rmtl__dense_index(const char *s, size_t len)
{
    if (len == 0 || len > 7 || (s[0] == '0' && len > 1))
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9)
            return -1;
        v = v * 10 + d;
    }
    return v < RMTL__DENSE_MAX ? v : -1;
}

/* Makes room for dense value v (zeroed entries). */
static int rmtl__seen_reserve(rmtl__seen *sn, size_t v)
{
    if (v < sn->cap)
        return 0;
    size_t cap = sn->cap ? sn->cap : 1024;
    while (cap <= v)
        cap *= 2;
    cap = cap > RMTL__DENSE_MAX ? RMTL__DENSE_MAX : cap;
    uint32_t *p = rmtl__realloc(sn->count, cap * sizeof *p);
    if (!p)
        return RMTL_ENOMEM;
    memset(p + sn->cap, 0, (cap - sn->cap) * sizeof *p);
    sn->count = p, sn->cap = cap;
    return 0;
}

/* Appends a code first seen. */
static int rmtl__seen_first(rmtl__seen *sn, int32_t code)
{
    if (sn->n == sn->order_cap) {
        size_t cap = sn->order_cap ? sn->order_cap * 2 : 256;
        int32_t *p = rmtl__realloc(sn->order, cap * sizeof *p);
        if (!p)
            return RMTL_ENOMEM;
        sn->order = p, sn->order_cap = cap;
    }
    sn->order[sn->n++] = code;
    return 0;
}

static void rmtl__seen_free(rmtl__seen *sn)
{
    rmtl__free(sn->count), rmtl__free(sn->order), rmtl__free(sn->id);
    rmtl__intern_free(&sn->text);
    memset(sn, 0, sizeof *sn);
}

static int rmtl__par_cat(rmtl__range *g, const rmtl__dscol *c, const char *s, size_t len,
                         int missing, int64_t dv, int32_t *cell)
{
    const rmtl__loader *L = g->P->L;
    if (missing) {
        *cell = L->training ? -1 : 0;
        return 0;
    }
    if (!L->training) {
        *cell = (int32_t)(rmtl__intern_find(L->meta->fields[c->field].values, s, len) + 1);
        return 0;
    }
    rmtl__seen *sn = &g->seen[c->field];
    if (dv >= 0) {
        if ((size_t)dv >= sn->cap && rmtl__seen_reserve(sn, (size_t)dv))
            return RMTL_ENOMEM;
        uint32_t *k = &sn->count[dv];
        if (*k == UINT32_MAX)
            return RMTL__FALLBACK; /* the reference reader counts in size_t */
        if (*k == 0 && rmtl__seen_first(sn, (int32_t)dv))
            return RMTL_ENOMEM;
        ++*k;
        *cell = (int32_t)dv;
        return 0;
    }
    size_t n = sn->text.n, idx;
    if (rmtl__intern_add(&sn->text, s, len, &idx))
        return RMTL_ENOMEM;
    if (idx >= (size_t)INT32_MAX - RMTL__DENSE_MAX)
        return RMTL__FALLBACK; /* the reference reader names the column */
    if (sn->text.n > n && rmtl__seen_first(sn, (int32_t)(RMTL__DENSE_MAX + idx)))
        return RMTL_ENOMEM;
    *cell = (int32_t)(RMTL__DENSE_MAX + idx);
    return 0;
}

static int rmtl__par_id(rmtl__range *g, int which, const char *s, size_t len, int missing,
                        int64_t *cell)
{
    size_t idx;
    if (missing)
        return *cell = -1, 0;
    if (rmtl__intern_add(&g->ids[which], s, len, &idx))
        return RMTL_ENOMEM;
    *cell = (int64_t)idx;
    return 0;
}

/* The cells of row r from the line's fields: rmtl__read_row() (load.c)
 * cell by cell, with every error left to the reference reader. */
static int rmtl__par_row(rmtl__range *g, size_t r)
{
    const rmtl__loader *L = g->P->L;
    const rmtl__dsmeta *m = L->meta;
    int32_t *cat = L->cat + r * m->n_cat;
    double *num = L->num ? L->num + r * m->n_num : NULL;
    float *lab = L->labels ? L->labels + r * m->n_tasks : NULL;
    for (size_t j = 0, nh = g->P->nh; j < nh; j++) { /* look-ups wait for memory together */
        int32_t k = L->colmap[j];
        if (k < 0 || m->cols[k].field < 0)
            continue;
        int32_t f = m->cols[k].field;
        int64_t dv = L->training ? rmtl__dense_index(g->fs[j], g->fl[j]) : -1;
        g->dval[j] = dv;
        if (dv < 0)
            rmtl__intern_prefetch(L->training ? &g->seen[f].text : m->fields[f].values,
                                  g->fs[j], g->fl[j]);
#if defined(__GNUC__) || defined(__clang__)
        else if ((size_t)dv < g->seen[f].cap)
            __builtin_prefetch(&g->seen[f].count[dv]);
#endif
    }
    for (size_t j = 0, nh = g->P->nh; j < nh; j++) {
        if (L->colmap[j] < 0)
            continue;
        const rmtl__dscol *c = &m->cols[L->colmap[j]];
        const char *s = g->fs[j];
        size_t len = g->fl[j];
        const rmtl__miss *mm = &g->P->miss[L->colmap[j]];
        unsigned char b0 = len ? (unsigned char)s[0] : 0;
        int missing = ((len < 63 ? mm->len >> len : mm->len >> 63) & 1) &&
                      ((mm->first[b0 >> 6] >> (b0 & 63)) & 1) && rmtl__in_set(&c->missing, s, len);
        int rc = 0;
        double v;
        switch (c->role) {
        case RMTL__ROLE_CAT:
            rc = rmtl__par_cat(g, c, s, len, missing, g->dval[j], &cat[c->field]);
            break;
        case RMTL__ROLE_NUM:
            if (missing) {
                num[c->num] = NAN;
                break;
            }
            if (rmtl__fast_number(&v, s, len))
                return RMTL__FALLBACK;
            if (!L->training) {
                const rmtl__dsnum *st = &m->nums[c->num];
                if (!(fabs((v - st->mean) / st->std) <= FLT_MAX))
                    return RMTL__FALLBACK;
            }
            num[c->num] = v;
            break;
        case RMTL__ROLE_LABEL:
            if (c->rule == RMTL__RULE_THRESHOLD) {
                if (missing || rmtl__fast_number(&v, s, len))
                    return RMTL__FALLBACK;
                lab[c->task] = v > c->threshold ? 1.0f : 0.0f;
            } else if (rmtl__in_set(&c->positive, s, len)) {
                lab[c->task] = 1.0f;
            } else if (c->negative.n && rmtl__in_set(&c->negative, s, len)) {
                lab[c->task] = 0.0f;
            } else if (missing || c->negative.n) {
                return RMTL__FALLBACK;
            } else {
                lab[c->task] = 0.0f;
            }
            break;
        case RMTL__ROLE_SESSION:
            if (missing)
                return RMTL__FALLBACK;
            rc = rmtl__par_id(g, RMTL__ID_SESSION, s, len, 0, &L->sess[r]);
            break;
        case RMTL__ROLE_TIME:
            if (missing || rmtl__fast_number(&L->time[r], s, len))
                return RMTL__FALLBACK;
            break;
        case RMTL__ROLE_USER:
        case RMTL__ROLE_ITEM: {
            int user = c->role == RMTL__ROLE_USER;
            rc = rmtl__par_id(g, user ? RMTL__ID_USER : RMTL__ID_ITEM, s, len, missing,
                              user ? &L->user[r] : &L->item[r]);
            if (!rc && c->feature)
                rc = rmtl__par_cat(g, c, s, len, missing, g->dval[j], &cat[c->field]);
            break;
        }
        default:
            break;
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* The first ',' in [q, e), or e. Bytes up to `limit` (>= e) may be read:
 * eight at a time, a comma found as a zero byte of x ^ ",,,,,,,," (the
 * lowest flagged byte of the classic zero-byte test is always exact). */
static const char *rmtl__comma(const char *q, const char *e, const char *limit)
{
#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (limit - q >= 8) {
        uint64_t x;
        memcpy(&x, q, 8);
        x ^= 0x2c2c2c2c2c2c2c2cull;
        uint64_t m = (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
        if (m) {
            const char *c = q + (__builtin_ctzll(m) >> 3);
            return c < e ? c : e;
        }
        if (e - q <= 8)
            return e;
        q += 8;
    }
#else
    (void)limit;
#endif
    while (q < e && *q != ',')
        q++;
    return q;
}

/* Splits the line [p, e) (without its '\n') into the header's number of
 * trimmed fields and stores its row; bytes up to `limit` may be read. */
static int rmtl__par_line(rmtl__range *g, const char *p, const char *e, const char *limit)
{
    if (e > p && e[-1] == '\r')
        e--; /* CRLF, or a CR before the end of the input */
    if (e == p)
        return 0; /* blank line */
    size_t nh = g->P->nh;
    for (size_t j = 0;; j++) {
        const char *q = rmtl__comma(p, e, limit);
        if (p < e && *p == '"')
            return RMTL__FALLBACK; /* quoted field */
        const char *a = p, *b = q;
        while (b > a && rmtl__blank(b[-1]))
            b--;
        while (a < b && rmtl__blank(*a))
            a++;
        g->fs[j] = a;
        g->fl[j] = (size_t)(b - a);
        if (q == e) {
            if (j + 1 != nh)
                return RMTL__FALLBACK; /* too few fields */
            break;
        }
        if (j + 1 == nh)
            return RMTL__FALLBACK; /* too many */
        p = q + 1;
    }
    if (g->rows == g->bound)
        return RMTL__FALLBACK; /* cannot happen: bound counts newlines */
    int rc = rmtl__par_row(g, g->first + g->rows);
    g->rows += rc == 0;
    return rc;
}

/* Progress of the caller's thread: the bytes every range has parsed. */
static int rmtl__par_report(rmtl__par *P, int last)
{
    if (last) /* (the ranges may be freed by then) */
        return rmtl__progress_report(P->prog, P->total, NAN, 1);
    uint64_t done = P->done0;
    for (size_t k = 0; k < P->n_rg; k++)
        done += atomic_load_explicit(&P->rg[k].done, memory_order_relaxed);
    if (P->total && done >= P->total)
        done = P->total - 1;
    P->L->reported = done > P->L->reported ? done : P->L->reported;
    return rmtl__progress_report(P->prog, P->L->reported, NAN, 0);
}

/* The lines of [p, end); only the source's last line may lack its '\n'. */
static int rmtl__par_lines(rmtl__range *g, const char *p, const char *end)
{
    if (memchr(p, '\0', (size_t)(end - p)))
        return RMTL__FALLBACK; /* binary input: the reference reader says where */
    size_t lines = 0;
    const char *start = p;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        int rc = rmtl__par_line(g, p, e, end);
        if (rc)
            return rc;
        p = nl ? nl + 1 : end;
        if (++lines % RMTL__PAR_REPORT)
            continue;
        atomic_store_explicit(&g->done, g->before + (uint64_t)(p - start), memory_order_relaxed);
        if (atomic_load_explicit(&g->P->stop, memory_order_relaxed))
            return RMTL_ESTATE;
        if (g == g->P->rg && rmtl__par_report(g->P, 0)) { /* the caller's thread */
            g->P->cancelled = 1;
            return RMTL_ESTATE;
        }
    }
    return 0;
}

/* Counts the range's lines, blank ones included: its bound. Only the
 * source's last line may lack its newline; every other range ends at a
 * line start, so the rows sit end to end unless a blank line leaves a
 * gap. */
static int rmtl__par_count(rmtl__range *g)
{
    rmtl__par *P = g->P;
    size_t n = 0;
    if (P->fd < 0) {
        const char *p = P->mem + g->lo, *end = P->mem + g->hi;
        while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL)
            n++, p++;
        g->bound = n + (g->hi > g->lo && end[-1] != '\n');
        return 0;
    }
    char last = '\n';
    for (uint64_t at = g->lo; at < g->hi;) {
        size_t want = g->hi - at < RMTL__PAR_BLOCK ? (size_t)(g->hi - at) : RMTL__PAR_BLOCK, got;
        int rc = rmtl__par_pread(P, g->buf, want, at, &got, &g->err);
        if (rc)
            return rc;
        if (got == 0)
            break;
        for (const char *p = g->buf, *end = g->buf + got;
             (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
            n++;
        last = g->buf[got - 1];
        at += got;
    }
    g->bound = n + (last != '\n');
    return 0;
}

/* Parses the range: memory directly, a file block by block (a block's
 * unfinished line moves to the front of the buffer). */
static int rmtl__par_parse(rmtl__range *g)
{
    rmtl__par *P = g->P;
    if (P->fd < 0) {
        int rc = rmtl__par_lines(g, P->mem + g->lo, P->mem + g->hi);
        atomic_store(&g->done, g->hi - g->lo);
        return rc;
    }
    size_t keep = 0;
    for (uint64_t at = g->lo; at < g->hi || keep;) {
        if (keep == g->buf_cap) { /* a line longer than the buffer */
            char *nb = rmtl__realloc(g->buf, g->buf_cap * 2);
            if (!nb)
                return RMTL_ENOMEM;
            g->buf = nb, g->buf_cap *= 2;
        }
        size_t room = g->buf_cap - keep, got = 0;
        size_t want = g->hi - at < room ? (size_t)(g->hi - at) : room;
        int rc = want ? rmtl__par_pread(P, g->buf + keep, want, at, &got, &g->err) : 0;
        if (rc)
            return rc;
        at += got;
        size_t n = keep + got;
        int at_end = at >= g->hi || got == 0;
        const char *nl = at_end ? NULL : memrchr(g->buf, '\n', n);
        size_t upto = at_end ? n : nl ? (size_t)(nl - g->buf) + 1 : 0;
        g->before = at - got - keep - g->lo;
        if ((rc = rmtl__par_lines(g, g->buf, g->buf + upto)))
            return rc;
        keep = n - upto;
        memmove(g->buf, g->buf + upto, keep);
        atomic_store_explicit(&g->done, at - g->lo - keep, memory_order_relaxed);
        if (at_end)
            break;
    }
    return 0;
}

/* --- threads ---------------------------------------------------------------- */

enum { RMTL__PHASE_COUNT, RMTL__PHASE_PARSE, RMTL__PHASE_MERGE, RMTL__PHASE_REMAP,
       RMTL__PHASE_MOMENTS };

typedef struct rmtl__par_job {
    rmtl__range *g;
    int phase;
} rmtl__par_job;

static int rmtl__par_merge_fields(rmtl__range *g);
static void rmtl__par_remap(rmtl__range *g);
static void rmtl__par_moments(rmtl__range *g);

static void rmtl__par_run(rmtl__range *g, int phase)
{
    int rc = 0;
    switch (phase) {
    case RMTL__PHASE_COUNT: rc = rmtl__par_count(g); break;
    case RMTL__PHASE_PARSE: rc = rmtl__par_parse(g); break;
    case RMTL__PHASE_MERGE: rc = rmtl__par_merge_fields(g); break;
    case RMTL__PHASE_REMAP: rmtl__par_remap(g); break;
    default: rmtl__par_moments(g); break;
    }
    if (rc)
        atomic_store(&g->P->stop, 1);
    g->rc = rc;
}

/* POSIX threads, not C11's thrd_create: ThreadSanitizer intercepts only
 * the former, and `make tsan` checks this parser. */
static void *rmtl__par_thread(void *arg)
{
    rmtl__par_job *j = arg;
    uselocale(j->g->P->loc); /* strtod reads numbers as the caller's thread does */
    rmtl__par_run(j->g, j->phase);
    return NULL;
}

/* Runs `phase` over every range: ranges 1.. on threads, range 0 on the
 * caller's (which reports progress). The outcome: cancelled, else out of
 * memory, else a read error, else a fallback, else 0. */
static int rmtl__par_phase(rmtl__par *P, int phase)
{
    pthread_t th[RMTL__PAR_MAX_RANGES];
    rmtl__par_job jobs[RMTL__PAR_MAX_RANGES];
    int started[RMTL__PAR_MAX_RANGES] = {0};
    for (size_t k = 1; k < P->n_rg; k++) {
        jobs[k] = (rmtl__par_job){&P->rg[k], phase};
        started[k] = pthread_create(&th[k], NULL, rmtl__par_thread, &jobs[k]) == 0;
        if (!started[k])
            rmtl__par_run(&P->rg[k], phase); /* no thread: run it here */
    }
    rmtl__par_run(&P->rg[0], phase);
    for (size_t k = 1; k < P->n_rg; k++)
        if (started[k])
            pthread_join(th[k], NULL);
    if (P->cancelled)
        return RMTL_ESTATE;
    static const int order[] = {RMTL_ENOMEM, RMTL_EIO, RMTL__FALLBACK};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        for (size_t k = 0; k < P->n_rg; k++)
            if (P->rg[k].rc == order[i]) {
                if (order[i] == RMTL_ENOMEM)
                    return rmtl__error(RMTL_ENOMEM, "%s: out of memory",
                                       rmtl__csv_name(P->L->csv));
                if (order[i] == RMTL_EIO)
                    return rmtl__error(RMTL_EIO, "%s: read error: %s",
                                       rmtl__csv_name(P->L->csv), strerror(P->rg[k].err));
                return RMTL__FALLBACK;
            }
    return 0;
}

/* --- merging ---------------------------------------------------------------- */

/* Builds field f's vocabulary L->vocab[f] from every range's codes in
 * range order (each value's count summed over the ranges), and the maps
 * from codes to its indices: P->dense_id[f] for dense values, each
 * range's seen[f].id for texts. Frees what the ranges no longer need. */
static int rmtl__par_merge_field(rmtl__par *P, size_t f)
{
    rmtl__intern *V = &P->L->vocab[f];
    size_t entries = 0, bytes = 0, cap = 0;
    for (size_t k = 0; k < P->n_rg; k++) {
        const rmtl__seen *sn = &P->rg[k].seen[f];
        entries += sn->text.n; /* texts: at most these */
        bytes += sn->text.arena_len;
        cap = sn->cap > cap ? sn->cap : cap;
    }
    for (size_t v = 0; v < cap; v++) /* dense values: exactly those seen */
        for (size_t k = 0; k < P->n_rg; k++)
            if (v < P->rg[k].seen[f].cap && P->rg[k].seen[f].count[v]) {
                char d[20];
                entries++, bytes += rmtl__decimal(d, v) + 1;
                break;
            }
    if (rmtl__intern_reserve(V, entries, bytes)) /* sized once: no rehash on the way */
        return RMTL_ENOMEM;
    uint32_t *did = NULL;
    if (cap && !(did = P->dense_id[f] = rmtl__mallocarray(cap, sizeof *did)))
        return RMTL_ENOMEM;
    if (did)
        memset(did, 0, cap * sizeof *did); /* written before read: no zero-page faults */
    for (size_t k = 0; k < P->n_rg; k++) {
        rmtl__seen *sn = &P->rg[k].seen[f];
        rmtl__intern_sync(&sn->text);
        if (sn->text.n && !(sn->id = rmtl__mallocarray(sn->text.n, sizeof *sn->id)))
            return RMTL_ENOMEM;
        enum { AHEAD = 8 }; /* slots fetched ahead: the adds wait for memory together */
        for (size_t i = 0; i < sn->n; i++) {
            int32_t code = sn->order[i];
            size_t idx, add;
            if (i + AHEAD < sn->n) {
                int32_t next = sn->order[i + AHEAD];
                size_t e = (size_t)next - RMTL__DENSE_MAX;
                char d[20];
                if (next >= RMTL__DENSE_MAX)
                    rmtl__intern_prefetch(V, rmtl__intern_str(&sn->text, e),
                                          rmtl__intern_len(&sn->text, e));
                else if (!did[next])
                    rmtl__intern_prefetch(V, d, rmtl__decimal(d, (uint64_t)next));
            }
            if (code < RMTL__DENSE_MAX && did[code]) {
                V->count[did[code] - 1] += sn->count[code];
                continue;
            }
            if (code < RMTL__DENSE_MAX) {
                char d[20];
                if (rmtl__intern_add(V, d, rmtl__decimal(d, (uint64_t)code), &idx))
                    return RMTL_ENOMEM;
                did[code] = (uint32_t)idx + 1;
                add = sn->count[code];
            } else {
                size_t e = (size_t)(code - RMTL__DENSE_MAX);
                if (rmtl__intern_add(V, rmtl__intern_str(&sn->text, e),
                                     rmtl__intern_len(&sn->text, e), &idx))
                    return RMTL_ENOMEM;
                sn->id[e] = (int32_t)idx;
                add = sn->text.count[e];
            }
            V->count[idx] += add - 1; /* the add counted one (V is synced by its reader) */
        }
        rmtl__free(sn->count), rmtl__free(sn->order);
        sn->count = NULL, sn->order = NULL, sn->cap = sn->n = 0;
        rmtl__intern_free(&sn->text);
    }
    rmtl__intern_sync(V); /* here, on this field's thread */
    return 0;
}

static int rmtl__par_merge_fields(rmtl__range *g)
{
    rmtl__par *P = g->P;
    size_t me = (size_t)(g - P->rg);
    for (size_t f = 0; f < P->L->meta->n_cat; f++)
        if (P->owner[f] == me && !atomic_load(&P->stop)) {
            int rc = rmtl__par_merge_field(P, f);
            if (rc)
                return rc;
        }
    return 0;
}

/* Gives each field's merge to a thread: the largest first, each to the
 * thread with the least work so far. */
static void rmtl__par_owners(rmtl__par *P)
{
    size_t nc = P->L->meta->n_cat, load[RMTL__PAR_MAX_RANGES] = {0};
    for (size_t f = 0; f < nc; f++)
        P->owner[f] = SIZE_MAX;
    for (size_t step = 0; step < nc; step++) {
        size_t best = 0, work = 0;
        int any = 0;
        for (size_t f = 0; f < nc; f++) {
            size_t w = 0;
            for (size_t k = 0; k < P->n_rg && P->owner[f] == SIZE_MAX; k++)
                w += P->rg[k].seen[f].n;
            if (P->owner[f] == SIZE_MAX && (!any || w > work))
                best = f, work = w, any = 1;
        }
        size_t t = 0;
        for (size_t k = 1; k < P->n_rg; k++)
            t = load[k] < load[t] ? k : t;
        P->owner[best] = t;
        load[t] += work;
    }
}

/* Range g's cells: codes become vocabulary indices + 1 (0: missing), as
 * rmtl__finish_vocab() expects with L->cat_final. */
static void rmtl__par_remap(rmtl__range *g)
{
    const rmtl__par *P = g->P;
    size_t nc = P->L->meta->n_cat;
    for (size_t r = g->first; r < g->first + g->rows; r++) {
        int32_t *cell = P->L->cat + r * nc;
        for (size_t f = 0; f < nc; f++) {
            int32_t code = cell[f];
            cell[f] = code < 0                 ? 0
                      : code < RMTL__DENSE_MAX ? (int32_t)P->dense_id[f][code]
                                               : g->seen[f].id[code - RMTL__DENSE_MAX] + 1;
        }
    }
}

/* The numerical columns' moments, column k on thread k mod threads (each
 * column's sum runs in row order, as the reference reader's). */
static void rmtl__par_moments(rmtl__range *g)
{
    const rmtl__par *P = g->P;
    rmtl__loader *L = P->L;
    for (size_t k = (size_t)(g - P->rg); k < L->meta->n_num; k += P->n_rg)
        rmtl__num_moments_column(L, k);
}

/* Range g's rows move down to row `to` (blank lines leave gaps), and the
 * indices of its own id tables become range 0's (L's). */
static int rmtl__par_fold(rmtl__par *P, rmtl__range *g, size_t to)
{
    rmtl__loader *L = P->L;
    const rmtl__dsmeta *m = L->meta;
    size_t nc = m->n_cat, nn = m->n_num, nt = m->n_tasks;
    size_t *map[3] = {NULL, NULL, NULL};
    int rc = 0;
    for (size_t i = 0; i < 3 && !rc; i++) {
        if (!(map[i] = rmtl__mallocarray(g->ids[i].n + 1, sizeof **map)))
            rc = RMTL_ENOMEM;
        rmtl__intern_sync(&g->ids[i]);
        for (size_t e = 0; !rc && e < g->ids[i].n; e++) {
            rmtl__intern *dst = &L->ids[i], *src = &g->ids[i];
            if (rmtl__intern_add(dst, rmtl__intern_str(src, e), rmtl__intern_len(src, e),
                                 &map[i][e]))
                rc = RMTL_ENOMEM;
            else
                dst->count[map[i][e]] += src->count[e] - 1; /* (dst is synced by its reader) */
        }
    }
    for (size_t i = 0; i < g->rows && !rc; i++) {
        size_t src = g->first + i, dst = to + i;
        if (src != dst) {
            memcpy(L->cat + dst * nc, L->cat + src * nc, nc * sizeof *L->cat);
            if (nn)
                memcpy(L->num + dst * nn, L->num + src * nn, nn * sizeof *L->num);
            if (L->labels)
                memcpy(L->labels + dst * nt, L->labels + src * nt, nt * sizeof *L->labels);
            if (L->time)
                L->time[dst] = L->time[src];
        }
        if (L->has_session)
            L->sess[dst] = (int64_t)map[RMTL__ID_SESSION][L->sess[src]];
        if (L->user)
            L->user[dst] = L->user[src] < 0 ? -1 : (int64_t)map[RMTL__ID_USER][L->user[src]];
        if (L->item)
            L->item[dst] = L->item[src] < 0 ? -1 : (int64_t)map[RMTL__ID_ITEM][L->item[src]];
    }
    for (size_t i = 0; i < 3; i++)
        rmtl__free(map[i]);
    return rc ? rmtl__error(RMTL_ENOMEM, "%s: out of memory", rmtl__csv_name(L->csv)) : 0;
}

/* --- the entry point --------------------------------------------------------- */

static size_t rmtl__par_default_threads(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    return n < 1 ? 1 : n > RMTL__PAR_MAX_THREADS ? RMTL__PAR_MAX_THREADS : (size_t)n;
}

/* Where the data rows start: after a BOM, blank lines and the header line.
 * RMTL__FALLBACK when the header is not for this parser (quoted, or not
 * ended within its first 64 KiB). */
static int rmtl__par_data_start(rmtl__par *P, uint64_t *data_off, int *err)
{
    enum { HEAD = 1 << 16 };
    char *b = rmtl__malloc(HEAD);
    if (!b)
        return RMTL_ENOMEM;
    size_t got;
    int rc = rmtl__par_pread(P, b, HEAD, 0, &got, err);
    size_t p = got >= 3 && !memcmp(b, "\xEF\xBB\xBF", 3) ? 3 : 0;
    if (!rc && got >= 2 && (unsigned char)b[0] == 0x1f && (unsigned char)b[1] == 0x8b)
        rc = RMTL__FALLBACK; /* gzip */
    while (!rc) {
        const char *nl = memchr(b + p, '\n', got - p);
        if (!nl) {
            rc = RMTL__FALLBACK;
            break;
        }
        size_t e = (size_t)(nl - b);
        if (e == p || (e == p + 1 && b[p] == '\r')) { /* blank line */
            p = e + 1;
            continue;
        }
        if (memchr(b + p, '"', e - p) || memchr(b + p, '\0', e - p))
            rc = RMTL__FALLBACK;
        *data_off = e + 1;
        break;
    }
    rmtl__free(b);
    return rc;
}

static void rmtl__par_free(rmtl__par *P)
{
    for (size_t k = 0; P->rg && k < P->n_rg; k++) {
        rmtl__range *g = &P->rg[k];
        if (k > 0)
            for (int i = 0; i < 3; i++)
                rmtl__intern_free(&g->own_ids[i]);
        for (size_t f = 0; g->seen && f < P->L->meta->n_cat; f++)
            rmtl__seen_free(&g->seen[f]);
        rmtl__free(g->seen);
        rmtl__free(g->buf);
        rmtl__free(g->fs);
        rmtl__free(g->fl);
        rmtl__free(g->dval);
    }
    for (size_t f = 0; P->dense_id && f < P->L->meta->n_cat; f++)
        rmtl__free(P->dense_id[f]);
    rmtl__free(P->dense_id);
    rmtl__free(P->owner);
    rmtl__free(P->rg);
    rmtl__free(P->miss);
    if (P->fd >= 0)
        close(P->fd);
}

/* Leaves L as it was before the parallel parser ran (empty arrays, empty
 * tables), for the reference reader. */
static void rmtl__par_reset(rmtl__loader *L)
{
    rmtl__free(L->cat), rmtl__free(L->num), rmtl__free(L->labels), rmtl__free(L->sess);
    rmtl__free(L->user), rmtl__free(L->item), rmtl__free(L->time);
    L->cat = NULL, L->num = NULL, L->labels = NULL, L->sess = NULL;
    L->user = NULL, L->item = NULL, L->time = NULL;
    L->rows = L->cap = 0;
    L->cat_final = L->moments_ready = 0;
    for (size_t f = 0; L->training && L->vocab && f < L->meta->n_cat; f++) {
        rmtl__intern_free(&L->vocab[f]);
        rmtl__intern_init(&L->vocab[f]);
    }
    for (int i = 0; i < 3; i++) {
        rmtl__intern_free(&L->ids[i]);
        rmtl__intern_init(&L->ids[i]);
    }
}

static int rmtl__par_setup(rmtl__par *P, const rmtl_load_options *o, size_t min_range,
                           int *err)
{
    rmtl__loader *L = P->L;
    uint64_t data_off = 0, lo, hi;
    int rc = rmtl__par_data_start(P, &data_off, err);
    if (rc)
        return rc;
    lo = data_off, hi = P->size;
    if (o->parts > 1) {
        uint64_t d = P->size - data_off;
        if ((rc = rmtl__line_start(P, data_off, data_off + d / o->parts * o->part +
                                                    d % o->parts * o->part / o->parts,
                                   &lo, err)) ||
            (rc = rmtl__line_start(P, data_off, data_off + d / o->parts * (o->part + 1) +
                                                    d % o->parts * (o->part + 1) / o->parts,
                                   &hi, err)))
            return rc;
    }
    const rmtl__dsmeta *m = L->meta;
    if (!(P->miss = rmtl__calloc(m->n_cols ? m->n_cols : 1, sizeof *P->miss)))
        return RMTL_ENOMEM;
    for (size_t k = 0; k < m->n_cols; k++)
        for (size_t i = 0; i < m->cols[k].missing.n; i++) {
            const char *t = m->cols[k].missing.v[i];
            size_t ml = strlen(t);
            unsigned char b0 = (unsigned char)t[0]; /* the NUL for "" */
            P->miss[k].len |= (uint64_t)1 << (ml < 63 ? ml : 63);
            P->miss[k].first[b0 >> 6] |= (uint64_t)1 << (b0 & 63);
        }
    size_t n = o->threads > 0 ? (size_t)o->threads : rmtl__par_default_threads();
    uint64_t span = hi - lo, most = span / min_range;
    n = n > RMTL__PAR_MAX_RANGES ? RMTL__PAR_MAX_RANGES : n;
    n = most < 1 ? 1 : n > most ? (size_t)most : n;
    if (!(P->rg = rmtl__calloc(n, sizeof *P->rg)))
        return RMTL_ENOMEM;
    P->n_rg = n;
    P->total = o->parts > 1 ? span : P->size; /* as the reference reader counts */
    P->done0 = o->parts > 1 ? 0 : lo;
    rmtl__progress_total(P->prog, P->total, P->done0);
    uint64_t at = lo;
    for (size_t k = 0; k < n; k++) {
        rmtl__range *g = &P->rg[k];
        g->P = P;
        g->lo = at;
        if (k + 1 == n)
            g->hi = hi;
        else if ((rc = rmtl__line_start(P, lo, lo + span / n * (k + 1), &g->hi, err)))
            return rc;
        g->hi = g->hi < g->lo ? g->lo : g->hi > hi ? hi : g->hi;
        at = g->hi;
        atomic_init(&g->done, 0);
        g->fs = rmtl__mallocarray(P->nh, sizeof *g->fs);
        g->fl = rmtl__mallocarray(P->nh, sizeof *g->fl);
        g->dval = rmtl__mallocarray(P->nh, sizeof *g->dval);
        if (!g->fs || !g->fl || !g->dval)
            return RMTL_ENOMEM;
        if (L->training &&
            !(g->seen = rmtl__calloc(L->meta->n_cat ? L->meta->n_cat : 1, sizeof *g->seen)))
            return RMTL_ENOMEM;
        for (size_t f = 0; g->seen && f < L->meta->n_cat; f++)
            rmtl__intern_init(&g->seen[f].text);
        if (P->fd >= 0) {
            g->buf_cap = RMTL__PAR_BLOCK;
            if (!(g->buf = rmtl__malloc(g->buf_cap)))
                return RMTL_ENOMEM;
        }
        if (k == 0) {
            g->ids = L->ids;
            continue;
        }
        g->ids = g->own_ids;
        for (int i = 0; i < 3; i++)
            rmtl__intern_init(&g->own_ids[i]);
    }
    size_t nc = L->meta->n_cat ? L->meta->n_cat : 1;
    if (L->training && (!(P->owner = rmtl__calloc(nc, sizeof *P->owner)) ||
                        !(P->dense_id = rmtl__calloc(nc, sizeof *P->dense_id))))
        return RMTL_ENOMEM;
    return 0;
}

int rmtl__csv_parallel(rmtl__loader *L, const char *path, const void *mem, size_t len,
                       const rmtl_load_options *o, size_t min_range, rmtl__progress *prog)
{
    rmtl__par P;
    memset(&P, 0, sizeof P);
    P.L = L, P.fd = -1, P.prog = prog, P.nh = rmtl__csv_ncols(L->csv);
    P.loc = uselocale((locale_t)0);
    atomic_init(&P.stop, 0);
    int err = 0, rc = 0;
    if (path) {
        struct stat st;
        P.fd = open(path, O_RDONLY | O_CLOEXEC);
        if (P.fd < 0 || fstat(P.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            rmtl__par_free(&P);
            return RMTL__FALLBACK; /* a pipe, or the reference reader says why not */
        }
        P.size = (uint64_t)st.st_size;
    } else {
        P.mem = mem, P.size = len;
    }
    rc = rmtl__par_setup(&P, o, min_range ? min_range : RMTL__PAR_MIN_RANGE, &err);
    if (!rc)
        rc = rmtl__par_phase(&P, RMTL__PHASE_COUNT);
    size_t bound = 0;
    for (size_t k = 0; !rc && k < P.n_rg; k++) {
        P.rg[k].first = bound;
        bound += P.rg[k].bound;
    }
    if (!rc)
        rc = rmtl__loader_reserve(L, bound ? bound : 1);
    if (!rc)
        rc = rmtl__par_phase(&P, RMTL__PHASE_PARSE);
    if (!rc && L->training) {
        rmtl__par_owners(&P);
        if (!(rc = rmtl__par_phase(&P, RMTL__PHASE_MERGE)))
            rc = rmtl__par_phase(&P, RMTL__PHASE_REMAP);
        L->cat_final = !rc;
    }
    size_t rows = P.n_rg ? P.rg[0].rows : 0;
    for (size_t k = 1; !rc && k < P.n_rg; k++) {
        rc = rmtl__par_fold(&P, &P.rg[k], rows);
        rows += P.rg[k].rows;
    }
    L->rows = rows;
    if (!rc && L->training && rows)
        rc = rmtl__par_phase(&P, RMTL__PHASE_MOMENTS);
    L->moments_ready = !rc && L->training;
    if (rc == RMTL_ENOMEM && !*rmtl_last_error())
        rc = rmtl__error(RMTL_ENOMEM, "%s: out of memory", rmtl__csv_name(L->csv));
    if (rc == RMTL_EIO && err)
        rc = rmtl__error(RMTL_EIO, "%s: read error: %s", rmtl__csv_name(L->csv), strerror(err));
    rmtl__par_free(&P);
    if (!rc && rows == 0)
        rc = RMTL__FALLBACK; /* the reference reader words "no data rows" */
    if (rc == RMTL__FALLBACK) {
        rmtl__par_reset(L);
        return rc;
    }
    if (rc)
        return rc;
    L->rows = rows;
    if (!L->has_session)
        for (size_t r = 0; r < rows; r++)
            L->sess[r] = (int64_t)r;
    return rmtl__par_report(&P, 1);
}
