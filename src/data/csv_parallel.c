/* Parallel CSV parsing, the fast path of rmtl_dataset_load() for plain
 * files and memory blocks.
 *
 * The data rows are cut into byte ranges at line starts, one per thread.
 * A first pass counts each range's newlines (an upper bound of its rows),
 * so every range writes its rows straight into one set of arrays at its own
 * offset. Each thread interns categorical text into vocabularies of its
 * own; afterwards they are merged into the first range's in range order,
 * which is the order of first appearance in the file, so ids do not depend
 * on the thread count; numerical moments are computed afterwards in row
 * order (load.c). The arrays end up holding exactly what the reference
 * reader (csv.c + load.c) leaves.
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
#include <threads.h>
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

/* Label-encoded categorical values ("0", "17", "466321") skip hashing: a
 * dense table per field indexed by the value holds its intern index + 1
 * (low half) and its occurrences after the first (high half), 8 bytes a
 * value instead of a 16-byte slot at load factor 1/2, and found with no
 * string compare. The strings still go to the field's interner on first
 * sight, so the order of first appearance is the interner's. */
typedef struct rmtl__dense {
    uint64_t *v;
    size_t cap;
} rmtl__dense;

typedef struct rmtl__par rmtl__par;

typedef struct rmtl__range {
    rmtl__par *P;
    uint64_t lo, hi; /* [lo, hi): line starts (or the source's end) */
    size_t bound;    /* newlines in the range + 1: rows it may hold */
    size_t first;    /* its first row in L's arrays */
    size_t rows;     /* rows read */
    rmtl__intern *vocab; /* training: per field; range 0 uses L->vocab */
    rmtl__dense *dense;  /* training: per field */
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
    uint64_t *miss;     /* per meta column: bit n set when a missing text has
                           length n (bit 63: length 63 or more) */
    rmtl__range *rg;
    size_t n_rg;
    int cancelled;      /* the progress callback asked to stop */
    rmtl__progress *prog;
    uint64_t total;     /* progress: bytes of the file (of the shard) ... */
    uint64_t done0;     /* ... of which these (the header) precede the ranges */
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

/* Makes room for index v (zeroed entries). */
static int rmtl__dense_reserve(rmtl__dense *d, size_t v)
{
    if (v < d->cap)
        return 0;
    size_t cap = d->cap ? d->cap : 1024;
    while (cap <= v)
        cap *= 2;
    cap = cap > RMTL__DENSE_MAX ? RMTL__DENSE_MAX : cap;
    uint64_t *p = rmtl__realloc(d->v, cap * sizeof *p);
    if (!p)
        return RMTL_ENOMEM;
    memset(p + d->cap, 0, (cap - d->cap) * sizeof *p);
    d->v = p, d->cap = cap;
    return 0;
}

/* Adds the dense tables' counts to the interners' and frees the tables. */
static void rmtl__dense_flush(rmtl__range *g, size_t n_cat)
{
    for (size_t f = 0; g->dense && f < n_cat; f++) {
        rmtl__dense *d = &g->dense[f];
        for (size_t v = 0; v < d->cap; v++)
            if (d->v[v])
                g->vocab[f].count[(d->v[v] & 0xffffffffu) - 1] += d->v[v] >> 32;
        rmtl__free(d->v);
        d->v = NULL, d->cap = 0;
    }
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
    size_t idx;
    uint64_t *slot = NULL;
    if (dv >= 0) {
        rmtl__dense *d = &g->dense[c->field];
        if ((size_t)dv >= d->cap && rmtl__dense_reserve(d, (size_t)dv))
            return RMTL_ENOMEM;
        slot = &d->v[dv];
        if (*slot) {
            if ((*slot >> 32) == 0xffffffffu) { /* the high half is full: move it */
                g->vocab[c->field].count[(*slot & 0xffffffffu) - 1] += *slot >> 32;
                *slot &= 0xffffffffu;
            }
            *slot += (uint64_t)1 << 32;
            *cell = (int32_t)(*slot & 0xffffffffu) - 1;
            return 0;
        }
    }
    if (rmtl__intern_add(&g->vocab[c->field], s, len, &idx))
        return RMTL_ENOMEM;
    if (idx >= INT32_MAX - 1)
        return RMTL__FALLBACK; /* the reference reader names the column */
    if (slot)
        *slot = idx + 1;
    *cell = (int32_t)idx;
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
#if defined(__GNUC__) || defined(__clang__)
        if (dv >= 0 && (size_t)dv < g->dense[f].cap)
            __builtin_prefetch(&g->dense[f].v[dv]);
        else
#endif
            rmtl__intern_prefetch(L->training ? &g->vocab[f] : m->fields[f].values, g->fs[j],
                                  g->fl[j]);
    }
    for (size_t j = 0, nh = g->P->nh; j < nh; j++) {
        if (L->colmap[j] < 0)
            continue;
        const rmtl__dscol *c = &m->cols[L->colmap[j]];
        const char *s = g->fs[j];
        size_t len = g->fl[j];
        uint64_t mm = g->P->miss[L->colmap[j]];
        int missing = ((len < 63 ? mm >> len : mm >> 63) & 1) && rmtl__in_set(&c->missing, s, len);
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

/* Counts the newlines of the range: its bound. */
static int rmtl__par_count(rmtl__range *g)
{
    rmtl__par *P = g->P;
    size_t n = 1;
    if (P->fd < 0) {
        const char *p = P->mem + g->lo, *end = P->mem + g->hi;
        while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL)
            n++, p++;
        g->bound = n;
        return 0;
    }
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
        at += got;
    }
    g->bound = n;
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

typedef struct rmtl__par_job {
    rmtl__range *g;
    int phase; /* 0: count, 1: parse */
} rmtl__par_job;

static void rmtl__par_run(rmtl__range *g, int phase)
{
    int rc = phase == 0 ? rmtl__par_count(g) : rmtl__par_parse(g);
    if (phase == 1)
        rmtl__dense_flush(g, g->P->L->meta->n_cat);
    if (rc)
        atomic_store(&g->P->stop, 1);
    g->rc = rc;
}

static int rmtl__par_thread(void *arg)
{
    rmtl__par_job *j = arg;
    uselocale(j->g->P->loc); /* strtod reads numbers as the caller's thread does */
    rmtl__par_run(j->g, j->phase);
    return 0;
}

/* Runs `phase` over every range: ranges 1.. on threads, range 0 on the
 * caller's (which reports progress). The outcome: cancelled, else out of
 * memory, else a read error, else a fallback, else 0. */
static int rmtl__par_phase(rmtl__par *P, int phase)
{
    thrd_t th[RMTL__PAR_MAX_RANGES];
    rmtl__par_job jobs[RMTL__PAR_MAX_RANGES];
    int started[RMTL__PAR_MAX_RANGES] = {0};
    for (size_t k = 1; k < P->n_rg; k++) {
        jobs[k] = (rmtl__par_job){&P->rg[k], phase};
        started[k] = thrd_create(&th[k], rmtl__par_thread, &jobs[k]) == thrd_success;
        if (!started[k])
            rmtl__par_run(&P->rg[k], phase); /* no thread: run it here */
    }
    rmtl__par_run(&P->rg[0], phase);
    for (size_t k = 1; k < P->n_rg; k++)
        if (started[k])
            thrd_join(th[k], NULL);
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

/* Adds the entries of `src` (with their counts) to `dst` in src's order;
 * map[e] is entry e's index in dst. */
static int rmtl__par_merge(rmtl__intern *dst, rmtl__intern *src, size_t *map)
{
    rmtl__intern_sync(src);
    for (size_t e = 0; e < src->n; e++) {
        size_t idx;
        if (rmtl__intern_add(dst, rmtl__intern_str(src, e), rmtl__intern_len(src, e), &idx))
            return RMTL_ENOMEM;
        dst->count[idx] += src->count[e] - 1; /* (dst is synced by whoever reads it) */
        map[e] = idx;
    }
    return 0;
}

/* Range k's rows: provisional indices of its own tables become indices of
 * range 0's (L's), and the rows move down to row `to` (blank lines and the
 * last line's missing newline leave gaps). */
static int rmtl__par_fold(rmtl__par *P, rmtl__range *g, size_t to)
{
    rmtl__loader *L = P->L;
    const rmtl__dsmeta *m = L->meta;
    size_t nc = m->n_cat, nn = m->n_num, nt = m->n_tasks;
    size_t **map = rmtl__calloc(nc + 3, sizeof *map);
    int rc = map ? 0 : RMTL_ENOMEM;
    for (size_t f = 0; L->training && f < nc && !rc; f++) {
        map[f] = rmtl__mallocarray(g->vocab[f].n + 1, sizeof **map);
        rc = map[f] ? rmtl__par_merge(&L->vocab[f], &g->vocab[f], map[f]) : RMTL_ENOMEM;
    }
    for (size_t i = 0; i < 3 && !rc; i++) {
        map[nc + i] = rmtl__mallocarray(g->ids[i].n + 1, sizeof **map);
        rc = map[nc + i] ? rmtl__par_merge(&L->ids[i], &g->ids[i], map[nc + i]) : RMTL_ENOMEM;
    }
    for (size_t i = 0; i < g->rows && !rc; i++) {
        size_t src = g->first + i, dst = to + i;
        int32_t *cs = L->cat + src * nc, *cd = L->cat + dst * nc;
        for (size_t f = 0; f < nc; f++)
            cd[f] = !L->training || cs[f] < 0 ? cs[f] : (int32_t)map[f][cs[f]];
        if (src == dst)
            goto ids;
        if (nn)
            memcpy(L->num + dst * nn, L->num + src * nn, nn * sizeof *L->num);
        if (L->labels)
            memcpy(L->labels + dst * nt, L->labels + src * nt, nt * sizeof *L->labels);
        if (L->time)
            L->time[dst] = L->time[src];
    ids:
        if (L->has_session)
            L->sess[dst] = (int64_t)map[nc + RMTL__ID_SESSION][L->sess[src]];
        if (L->user)
            L->user[dst] = L->user[src] < 0 ? -1 : (int64_t)map[nc + RMTL__ID_USER][L->user[src]];
        if (L->item)
            L->item[dst] = L->item[src] < 0 ? -1 : (int64_t)map[nc + RMTL__ID_ITEM][L->item[src]];
    }
    for (size_t f = 0; map && f < nc + 3; f++)
        rmtl__free(map[f]);
    rmtl__free(map);
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
        if (k > 0) {
            for (size_t f = 0; g->vocab && f < P->L->meta->n_cat; f++)
                rmtl__intern_free(&g->vocab[f]);
            rmtl__free(g->vocab);
            for (int i = 0; i < 3; i++)
                rmtl__intern_free(&g->own_ids[i]);
        }
        rmtl__dense_flush(g, 0);
        for (size_t f = 0; g->dense && f < P->L->meta->n_cat; f++)
            rmtl__free(g->dense[f].v);
        rmtl__free(g->dense);
        rmtl__free(g->buf);
        rmtl__free(g->fs);
        rmtl__free(g->fl);
        rmtl__free(g->dval);
    }
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
            size_t ml = strlen(m->cols[k].missing.v[i]);
            P->miss[k] |= (uint64_t)1 << (ml < 63 ? ml : 63);
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
            !(g->dense = rmtl__calloc(L->meta->n_cat ? L->meta->n_cat : 1, sizeof *g->dense)))
            return RMTL_ENOMEM;
        if (P->fd >= 0) {
            g->buf_cap = RMTL__PAR_BLOCK;
            if (!(g->buf = rmtl__malloc(g->buf_cap)))
                return RMTL_ENOMEM;
        }
        if (k == 0) {
            g->vocab = L->vocab;
            g->ids = L->ids;
            continue;
        }
        g->ids = g->own_ids;
        for (int i = 0; i < 3; i++)
            rmtl__intern_init(&g->own_ids[i]);
        if (L->training) {
            if (!(g->vocab = rmtl__calloc(L->meta->n_cat ? L->meta->n_cat : 1, sizeof *g->vocab)))
                return RMTL_ENOMEM;
            for (size_t f = 0; f < L->meta->n_cat; f++)
                rmtl__intern_init(&g->vocab[f]);
        }
    }
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
        rc = rmtl__par_phase(&P, 0);
    size_t bound = 0;
    for (size_t k = 0; !rc && k < P.n_rg; k++) {
        P.rg[k].first = bound;
        bound += P.rg[k].bound;
    }
    if (!rc)
        rc = rmtl__loader_reserve(L, bound ? bound : 1);
    if (!rc)
        rc = rmtl__par_phase(&P, 1);
    size_t rows = P.n_rg ? P.rg[0].rows : 0;
    for (size_t k = 1; !rc && k < P.n_rg; k++) {
        rc = rmtl__par_fold(&P, &P.rg[k], rows);
        rows += P.rg[k].rows;
    }
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
