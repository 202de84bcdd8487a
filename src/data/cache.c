/* Dataset cache files: a dataset's rows, schema, vocabularies,
 * normalisation and session index in the checkpoint container
 * (docs/checkpoint-format.md), memory-mapped on load.
 *
 * Sections (all required; little-endian; arrays raw, 64-byte aligned by
 * the container, so the dataset's arrays point straight into the map):
 *   DATA  schema, vocabularies, normalisation (meta_io.c)
 *   DSET  u32 version 1, u64 rows, u32 n_cat, n_num, n_tasks, u32 what
 *         (RMTL__DS_* arrays present), u64 sessions, u32 block rows
 *   DCAT  int32 rows × n_cat     DNUM  float rows × n_num
 *   DLAB  float rows × n_tasks   DSID  int64 rows (session ids)
 *   DTIM  f64 rows    DUSR  int64 rows    DITM  int64 rows (if present)
 *   DSOF  u64 sessions + 1       DSRW  u64 rows (the session index)
 *   DBLK  for DCAT, DNUM, DLAB, DSID, DTIM, DUSR, DITM in that order (those
 *         present): the CRC-32 of each block of `block rows` rows
 *
 * A whole-file load checks every CRC; a shard (rows of part p of P) checks
 * the header, the table, the small sections and only the blocks it reads,
 * so a rank touches its own rows of the file and no others. Every value is
 * then checked (ids below their vocabulary, labels 0/1, finite numbers,
 * the session index in range): a damaged or crafted file is RMTL_EFORMAT,
 * never a dataset that crashes a model. */
#define _DEFAULT_SOURCE /* MAP_POPULATE */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/afile.h"
#include "core/ckpt.h"
#include "core/crc32.h"
#include "core/internal.h"
#include "data/cache.h"
#include "data/dataset.h"
#include "nn/par.h"

#include <stdatomic.h>

#define RMTL__DSET_VERSION 1u

enum { RMTL__CACHE_BLOCK = 1 << 16 };

const uint32_t rmtl__cache_tags[RMTL__CACHE_N_TAGS] = {
    RMTL__TAG_DATA, RMTL__TAG_DSET, RMTL__TAG_DCAT, RMTL__TAG_DNUM, RMTL__TAG_DLAB,
    RMTL__TAG_DSID, RMTL__TAG_DTIM, RMTL__TAG_DUSR, RMTL__TAG_DITM, RMTL__TAG_DSOF,
    RMTL__TAG_DSRW, RMTL__TAG_DBLK};
/* large sections whose CRC is left to the block CRCs: the row arrays
 * (checked block by block, in parallel), and for a shard the session index
 * too (it rebuilds its own) */
static const uint32_t rmtl__cache_big[] = {RMTL__TAG_DCAT, RMTL__TAG_DNUM, RMTL__TAG_DLAB,
                                           RMTL__TAG_DSID, RMTL__TAG_DTIM, RMTL__TAG_DUSR,
                                           RMTL__TAG_DITM, RMTL__TAG_DSOF, RMTL__TAG_DSRW};
enum { RMTL__CACHE_N_ROW_ARRAYS = 7 };

size_t rmtl__cache_layout(rmtl__carr a[RMTL__N_ARRAYS], const rmtl__dsmeta *m, unsigned what)
{
    size_t n = 0;
    a[n++] = (rmtl__carr){RMTL__TAG_DCAT, m->n_cat * sizeof(int32_t), NULL};
    if (m->n_num)
        a[n++] = (rmtl__carr){RMTL__TAG_DNUM, m->n_num * sizeof(float), NULL};
    if (what & RMTL__DS_LABELS)
        a[n++] = (rmtl__carr){RMTL__TAG_DLAB, m->n_tasks * sizeof(float), NULL};
    a[n++] = (rmtl__carr){RMTL__TAG_DSID, sizeof(int64_t), NULL};
    if (what & RMTL__DS_TIME)
        a[n++] = (rmtl__carr){RMTL__TAG_DTIM, sizeof(double), NULL};
    if (what & RMTL__DS_USER)
        a[n++] = (rmtl__carr){RMTL__TAG_DUSR, sizeof(int64_t), NULL};
    if (what & RMTL__DS_ITEM)
        a[n++] = (rmtl__carr){RMTL__TAG_DITM, sizeof(int64_t), NULL};
    return n;
}

void **rmtl__cache_array(rmtl_dataset *ds, uint32_t tag)
{
    switch (tag) {
    case RMTL__TAG_DCAT: return (void **)&ds->cat;
    case RMTL__TAG_DNUM: return (void **)&ds->num;
    case RMTL__TAG_DLAB: return (void **)&ds->labels;
    case RMTL__TAG_DSID: return (void **)&ds->session;
    case RMTL__TAG_DTIM: return (void **)&ds->time;
    case RMTL__TAG_DUSR: return (void **)&ds->user;
    default: return (void **)&ds->item;
    }
}

unsigned rmtl__cache_what(const rmtl_dataset *ds)
{
    return (ds->labels ? RMTL__DS_LABELS : 0u) | (ds->time ? RMTL__DS_TIME : 0u) |
           (ds->user ? RMTL__DS_USER : 0u) | (ds->item ? RMTL__DS_ITEM : 0u);
}

static int rmtl__cache_host_ok(const char *what, const char *path)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (sizeof(size_t) == 8)
        return 0;
#endif
    return rmtl__error(RMTL_EINVAL,
                       "%s: %s: dataset caches need a little-endian 64-bit host", what, path);
}

/* --- saving ------------------------------------------------------------------ */

int rmtl_dataset_save(const rmtl_dataset *ds, const char *path)
{
    RMTL__CHECK_ARG(ds, "ds");
    RMTL__CHECK_ARG(path, "path");
    int rc = rmtl__cache_host_ok("rmtl_dataset_save", path);
    if (rc)
        return rc;
    const rmtl__dsmeta *m = ds->meta;
    size_t rows = ds->rows;
    rmtl__carr a[RMTL__N_ARRAYS];
    unsigned what = rmtl__cache_what(ds);
    size_t na = rmtl__cache_layout(a, m, what);
    for (size_t i = 0; i < na; i++) /* (read only: the lookup serves the loaders too) */
        a[i].p = *rmtl__cache_array((rmtl_dataset *)ds, a[i].tag);
    size_t nblk = (rows + RMTL__CACHE_BLOCK - 1) / RMTL__CACHE_BLOCK;
    rmtl__wbuf meta, head, blk;
    rmtl__wbuf_init(&meta), rmtl__wbuf_init(&head), rmtl__wbuf_init(&blk);
    rmtl__dataset_schema_save(&meta, ds);
    rmtl__put_u32(&head, RMTL__DSET_VERSION);
    rmtl__put_u64(&head, rows);
    rmtl__put_u32(&head, (uint32_t)m->n_cat);
    rmtl__put_u32(&head, (uint32_t)m->n_num);
    rmtl__put_u32(&head, (uint32_t)m->n_tasks);
    rmtl__put_u32(&head, what);
    rmtl__put_u64(&head, ds->n_sessions);
    rmtl__put_u32(&head, RMTL__CACHE_BLOCK);
    for (size_t i = 0; i < na; i++)
        for (size_t b = 0; b < nblk; b++) {
            size_t r0 = b * RMTL__CACHE_BLOCK, n = rows - r0 < RMTL__CACHE_BLOCK ? rows - r0
                                                                              : RMTL__CACHE_BLOCK;
            rmtl__put_u32(&blk, rmtl__crc32(0, (const char *)a[i].p + r0 * a[i].width,
                                            n * a[i].width));
        }
    if (meta.failed || head.failed || blk.failed) {
        rmtl__wbuf_free(&meta), rmtl__wbuf_free(&head), rmtl__wbuf_free(&blk);
        return rmtl__error(RMTL_ENOMEM, "rmtl_dataset_save: out of memory");
    }
    rmtl__ckpt_wsec sec[4 + RMTL__N_ARRAYS];
    size_t ns = 0;
    sec[ns++] = (rmtl__ckpt_wsec){RMTL__TAG_DATA, RMTL__CKPT_S_REQUIRED, meta.data, meta.len};
    sec[ns++] = (rmtl__ckpt_wsec){RMTL__TAG_DSET, RMTL__CKPT_S_REQUIRED, head.data, head.len};
    for (size_t i = 0; i < na; i++)
        sec[ns++] = (rmtl__ckpt_wsec){a[i].tag, RMTL__CKPT_S_REQUIRED, (unsigned char *)a[i].p,
                                      rows * a[i].width};
    sec[ns++] = (rmtl__ckpt_wsec){RMTL__TAG_DSOF, RMTL__CKPT_S_REQUIRED,
                                  (unsigned char *)ds->sess_off,
                                  (ds->n_sessions + 1) * sizeof *ds->sess_off};
    sec[ns++] = (rmtl__ckpt_wsec){RMTL__TAG_DSRW, RMTL__CKPT_S_REQUIRED,
                                  (unsigned char *)ds->sess_rows, rows * sizeof *ds->sess_rows};
    sec[ns++] = (rmtl__ckpt_wsec){RMTL__TAG_DBLK, RMTL__CKPT_S_REQUIRED, blk.data, blk.len};
    rmtl__afile f;
    rc = rmtl__afile_open(&f, path, (size_t)1 << 20);
    if (!rc) {
        rc = rmtl__ckpt_stream(&f, 0, sec, ns);
        if (rc == RMTL_ENOMEM)
            rmtl__afile_abort(&f);
        else
            rc = rmtl__afile_commit(&f); /* reports a failed write */
    }
    rmtl__wbuf_free(&meta), rmtl__wbuf_free(&head), rmtl__wbuf_free(&blk);
    return rc;
}

/* --- loading ----------------------------------------------------------------- */

/* Frees a mapped dataset's array unless it lies in the map. */
static void rmtl__cache_release(const rmtl_dataset *ds, void *p)
{
    const char *b = ds->map, *q = p;
    if (!p || (b && q >= b && q < b + ds->map_len))
        return;
    rmtl__free(p);
}

void rmtl__dataset_free_arrays(rmtl_dataset *ds)
{
    void *arr[] = {ds->cat,  ds->num,  ds->labels,   ds->session,  ds->time,
                   ds->user, ds->item, ds->sess_off, ds->sess_rows};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++)
        rmtl__cache_release(ds, arr[i]);
    if (ds->map)
        munmap(ds->map, ds->map_len);
    ds->map = NULL, ds->map_len = 0;
}

int rmtl__dataset_unmap(rmtl_dataset *ds)
{
    if (!ds->map)
        return 0;
    const rmtl__dsmeta *m = ds->meta;
    size_t rows = ds->rows;
    struct {
        void **p;
        size_t bytes;
    } a[] = {{(void **)&ds->cat, rows * (m->n_cat ? m->n_cat : 1) * sizeof *ds->cat},
             {(void **)&ds->num, rows * m->n_num * sizeof *ds->num},
             {(void **)&ds->labels, rows * m->n_tasks * sizeof *ds->labels},
             {(void **)&ds->session, rows * sizeof *ds->session},
             {(void **)&ds->time, rows * sizeof *ds->time},
             {(void **)&ds->user, rows * sizeof *ds->user},
             {(void **)&ds->item, rows * sizeof *ds->item},
             {(void **)&ds->sess_off, (ds->n_sessions + 1) * sizeof *ds->sess_off},
             {(void **)&ds->sess_rows, rows * sizeof *ds->sess_rows}};
    enum { N = sizeof a / sizeof *a };
    void *copy[N] = {0};
    const char *b = ds->map;
    for (size_t i = 0; i < N; i++) {
        const char *q = *a[i].p;
        if (!q || q < b || q >= b + ds->map_len)
            continue;
        if (!(copy[i] = rmtl__malloc(a[i].bytes ? a[i].bytes : 1))) {
            for (size_t k = 0; k < i; k++)
                rmtl__free(copy[k]);
            return rmtl__error(RMTL_ENOMEM, "out of memory copying a mapped dataset");
        }
        memcpy(copy[i], q, a[i].bytes);
    }
    for (size_t i = 0; i < N; i++)
        if (copy[i])
            *a[i].p = copy[i];
    munmap(ds->map, ds->map_len);
    ds->map = NULL, ds->map_len = 0;
    return 0;
}

static int rmtl__cache_shape(rmtl__cload *L, const rmtl__dsmeta *m);

#define RMTL__BAD(L, ...) rmtl__cache_bad(L, __VA_ARGS__)
static int rmtl__cache_bad(const rmtl__cload *L, const char *fmt, ...) RMTL__PRINTF(2, 3);
static int rmtl__cache_bad(const rmtl__cload *L, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rmtl__error(RMTL_EFORMAT, "%s: dataset cache: %s", L->path, msg);
}

/* A section of exactly `bytes` bytes. */
static int rmtl__cache_sec(const rmtl__cload *L, uint32_t tag, uint64_t bytes, const void **p)
{
    size_t len;
    char name[5];
    rmtl__ckpt_tag_str(tag, name);
    if (!rmtl__ckpt_has(&L->r, tag))
        return RMTL__BAD(L, "no '%s' section", name);
    rmtl__ckpt_find(&L->r, tag, p, &len);
    if ((uint64_t)len != bytes)
        return RMTL__BAD(L, "section '%s' holds %zu bytes, the shape needs %llu", name, len,
                         (unsigned long long)bytes);
    return 0;
}

/* The block CRCs of rows [r0, r1) of array k (of na) against DBLK. */
static int rmtl__cache_blocks(const rmtl__cload *L, const unsigned char *blk, size_t k,
                              const rmtl__carr *a, uint64_t r0, uint64_t r1)
{
    uint64_t nblk = (L->rows + L->block - 1) / L->block;
    for (uint64_t b = r0 / L->block; b * L->block < r1; b++) {
        uint64_t s = b * L->block, n = L->rows - s < L->block ? L->rows - s : L->block;
        uint32_t want = rmtl__load_u32le(blk + 4 * (k * nblk + b));
        if (rmtl__crc32(0, (const char *)a->p + s * a->width, (size_t)(n * a->width)) != want) {
            char name[5];
            rmtl__ckpt_tag_str(a->tag, name);
            return RMTL__BAD(L, "section '%s': CRC mismatch in rows %llu..%llu", name,
                             (unsigned long long)s, (unsigned long long)(s + n - 1));
        }
    }
    return 0;
}

/* Every value of rows [begin, end) of ds is one a dataset may hold. */
static int rmtl__cache_values_in(const rmtl__cload *L, const rmtl_dataset *ds, uint64_t first,
                                 size_t begin, size_t end)
{
    const rmtl__dsmeta *m = ds->meta;
    size_t nc = m->n_cat, nn = m->n_num, nt = m->n_tasks;
    for (size_t r = begin; r < end; r++) {
        const int32_t *c = ds->cat + r * nc;
        for (size_t f = 0; f < nc; f++)
            if (c[f] < 0 || (size_t)c[f] >= m->fields[f].vocab)
                return RMTL__BAD(L, "row %llu: id %d of field '%s' is outside its %zu ids",
                                 (unsigned long long)(first + r), c[f], m->fields[f].name,
                                 m->fields[f].vocab);
        for (size_t k = 0; k < nn; k++)
            if (!isfinite(ds->num[r * nn + k]))
                return RMTL__BAD(L, "row %llu: feature '%s' is not finite",
                                 (unsigned long long)(first + r), m->nums[k].name);
        for (size_t t = 0; ds->labels && t < nt; t++)
            if (ds->labels[r * nt + t] != 0.0f && ds->labels[r * nt + t] != 1.0f)
                return RMTL__BAD(L, "row %llu: label '%s' is not 0 or 1",
                                 (unsigned long long)(first + r), m->tasks[t]);
        if ((ds->time && !isfinite(ds->time[r])) || (ds->user && ds->user[r] < -1) ||
            (ds->item && ds->item[r] < -1))
            return RMTL__BAD(L, "row %llu: bad timestamp, user or item",
                             (unsigned long long)(first + r));
    }
    return 0;
}

int rmtl__cache_values(const rmtl__cload *L, const rmtl_dataset *ds, uint64_t first)
{
    return rmtl__cache_values_in(L, ds, first, 0, ds->rows);
}

/* --- checking a whole file on the runtime's threads ------------------------------- */

/* Blocks (of L->block rows) are checked in parallel; each part notes the
 * first bad block it finds, and the first bad one overall is checked again
 * on the caller's thread for its message, so the error does not depend on
 * the thread count. */
typedef struct rmtl__cverify {
    const rmtl__cload *L;
    const unsigned char *blk; /* DBLK */
    const rmtl__carr *a;      /* the arrays present, in DBLK order */
    size_t na;
    const rmtl_dataset *ds;
    uint64_t r0, r1; /* the rows read */
    atomic_size_t bad;   /* the first bad block, or SIZE_MAX */
} rmtl__cverify;

static void rmtl__cverify_bad(rmtl__cverify *v, size_t b)
{
    size_t cur = atomic_load(&v->bad);
    while (b < cur && !atomic_compare_exchange_weak(&v->bad, &cur, b))
        ;
}

static void rmtl__cverify_crc(void *ctx, size_t begin, size_t end)
{
    rmtl__cverify *v = ctx;
    uint64_t b0 = v->r0 / v->L->block;
    for (size_t b = begin; b < end && b < atomic_load(&v->bad); b++) {
        uint64_t s = (b0 + b) * v->L->block, e = s + v->L->block;
        s = s < v->r0 ? v->r0 : s, e = e > v->r1 ? v->r1 : e;
        for (size_t k = 0; k < v->na; k++)
            if (rmtl__cache_blocks(v->L, v->blk, k, &v->a[k], s, e)) {
                rmtl__cverify_bad(v, b);
                break;
            }
    }
}

static void rmtl__cverify_values(void *ctx, size_t begin, size_t end)
{
    rmtl__cverify *v = ctx;
    size_t n = v->L->block;
    for (size_t b = begin; b < end && b < atomic_load(&v->bad); b++) {
        size_t s = b * n, e = s + n > v->ds->rows ? v->ds->rows : s + n;
        if (rmtl__cache_values_in(v->L, v->ds, v->r0, s, e))
            rmtl__cverify_bad(v, b);
    }
}

/* The block CRCs of rows [r0, r1) of every array, then every value, on up
 * to `threads` threads. */
static int rmtl__cache_verify(const rmtl__cload *L, const unsigned char *blk,
                              const rmtl__carr *a, size_t na, const rmtl_dataset *ds,
                              uint64_t r0, uint64_t r1, int threads)
{
    rmtl__rt rt = {threads > 0 ? threads : rmtl_usable_cpus()};
    rmtl__cverify v = {L, blk, a, na, ds, r0, r1, SIZE_MAX};
    uint64_t b0 = r0 / L->block, b1 = r1 ? (r1 - 1) / L->block + 1 : b0;
    size_t nb = (size_t)(b1 > b0 ? b1 - b0 : 0);
    rmtl__par_for(&rt, nb, 1, rmtl__cverify_crc, &v);
    size_t b = atomic_load(&v.bad);
    if (b != SIZE_MAX) { /* again here, for the message */
        uint64_t s = (b0 + b) * L->block, e = s + L->block;
        s = s < r0 ? r0 : s, e = e > r1 ? r1 : e;
        for (size_t k = 0; k < na; k++) {
            int rc = rmtl__cache_blocks(L, blk, k, &a[k], s, e);
            if (rc)
                return rc;
        }
    }
    nb = (ds->rows + L->block - 1) / L->block;
    rmtl__par_for(&rt, nb, 1, rmtl__cverify_values, &v);
    b = atomic_load(&v.bad);
    return b == SIZE_MAX ? 0 : rmtl__cache_values_in(L, ds, r0, b * L->block, ds->rows);
}

static int rmtl__cache_index(const rmtl__cload *L, const rmtl_dataset *ds)
{
    const size_t *off = ds->sess_off, *rows = ds->sess_rows;
    if (off[0] != 0 || off[ds->n_sessions] != ds->rows)
        return RMTL__BAD(L, "session index does not cover the rows");
    for (size_t s = 0; s < ds->n_sessions; s++)
        if (off[s + 1] < off[s])
            return RMTL__BAD(L, "session index: offsets decrease at session %zu", s);
    for (size_t r = 0; r < ds->rows; r++)
        if (rows[r] >= ds->rows)
            return RMTL__BAD(L, "session index: row %zu is out of range", rows[r]);
    return 0;
}

static int rmtl__cache_shape(rmtl__cload *L, const rmtl__dsmeta *m)
{
    const void *p;
    int rc = rmtl__cache_sec(L, RMTL__TAG_DSET, 40, &p);
    if (rc)
        return rc;
    return rmtl__cache_shape_parse(L, p, m);
}

int rmtl__cache_shape_parse(rmtl__cload *L, const void *dset, const rmtl__dsmeta *m)
{
    const unsigned char *h = dset;
    if (rmtl__load_u32le(h) != RMTL__DSET_VERSION)
        return rmtl__error(RMTL_EVERSION, "%s: dataset cache version %u (this library reads %u)",
                           L->path, rmtl__load_u32le(h), RMTL__DSET_VERSION);
    L->rows = rmtl__load_u64le(h + 4);
    L->n_cat = rmtl__load_u32le(h + 12);
    L->n_num = rmtl__load_u32le(h + 16);
    L->n_tasks = rmtl__load_u32le(h + 20);
    L->what = rmtl__load_u32le(h + 24);
    L->sessions = rmtl__load_u64le(h + 28);
    L->block = rmtl__load_u32le(h + 36);
    if (L->n_cat != m->n_cat || L->n_num != m->n_num || L->n_tasks != m->n_tasks ||
        (L->what & ~(unsigned)(RMTL__DS_LABELS | RMTL__DS_TIME | RMTL__DS_USER | RMTL__DS_ITEM)) ||
        L->block == 0 || L->sessions > L->rows || L->rows > (uint64_t)SIZE_MAX / 64)
        return RMTL__BAD(L, "inconsistent shape (%llu rows, %u/%u/%u fields, %llu sessions)",
                         (unsigned long long)L->rows, L->n_cat, L->n_num, L->n_tasks,
                         (unsigned long long)L->sessions);
    return 0;
}

/* Maps the file: whole (populated) or lazily for a shard. */
static int rmtl__cache_map(const char *path, int lazy, void **map, size_t *len)
{
    *map = NULL, *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return rmtl__error(RMTL_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        return rmtl__error(RMTL_EFORMAT, "%s: dataset cache: %s", path,
                           st.st_size == 0 ? "empty file" : "not a regular file");
    }
    int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
    if (!lazy)
        flags |= MAP_POPULATE; /* one read-ahead instead of a fault per page */
#endif
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, flags, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return rmtl__error(e == ENOMEM ? RMTL_ENOMEM : RMTL_EIO, "%s: cannot map: %s", path,
                           strerror(e));
    *map = p, *len = (size_t)st.st_size;
    return 0;
}

int rmtl_dataset_load_cache(rmtl_dataset **out, const char *path,
                            const rmtl_load_options *options)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(path, "path");
    static const rmtl_load_options defaults = RMTL_LOAD_OPTIONS_INIT;
    const rmtl_load_options *o = options ? options : &defaults;
    if (o->version != RMTL_LOAD_OPTIONS_VERSION || (o->parts > 0 && o->part >= o->parts) ||
        (o->parts == 0 && o->part != 0))
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_dataset_load_cache: bad options (version %u, part %u of %u)",
                           o->version, o->part, o->parts);
    int rc = rmtl__cache_host_ok("rmtl_dataset_load_cache", path);
    if (rc)
        return rc;
    int shard = o->parts > 1;
    rmtl__cload L;
    memset(&L, 0, sizeof L);
    L.path = path;
    void *map;
    size_t len;
    if ((rc = rmtl__cache_map(path, shard, &map, &len)))
        return rc;
    rmtl_dataset *ds = NULL, *schema = NULL;
    size_t n_known = sizeof rmtl__cache_tags / sizeof *rmtl__cache_tags;
    /* the model/agent/fusion tags too: such a file is "not a dataset cache",
     * not one with sections from the future */
    uint32_t known[RMTL__CACHE_N_TAGS + 7] = {RMTL__TAG_CONF, RMTL__TAG_ARCH, RMTL__TAG_TENS,
                                              RMTL__TAG_FUSE, RMTL__TAG_META, RMTL__TAG_OPTS,
                                              RMTL__TAG_RLST};
    memcpy(known + 7, rmtl__cache_tags, sizeof rmtl__cache_tags);
    n_known += 7;
    rc = rmtl__ckpt_open_partial(&L.r, map, len, known, n_known, rmtl__cache_big,
                                 shard ? sizeof rmtl__cache_big / sizeof *rmtl__cache_big
                                       : RMTL__CACHE_N_ROW_ARRAYS);
    if (rc) {
        rc = rmtl__error_prefix(rc, "%s", path);
        goto fail;
    }
    if (!rmtl__ckpt_has(&L.r, RMTL__TAG_DSET)) {
        rc = RMTL__BAD(&L, "no 'DSET' section (a model or agent checkpoint?)");
        goto fail;
    }
    const void *p;
    size_t plen;
    rmtl__ckpt_find(&L.r, RMTL__TAG_DATA, &p, &plen);
    rmtl__rbuf rb;
    rmtl__rbuf_init(&rb, p, plen);
    if (!p || (rc = rmtl__dataset_schema_load(&schema, &rb))) {
        rc = p ? rmtl__error_prefix(rc, "%s: dataset cache", path)
               : RMTL__BAD(&L, "no 'DATA' section");
        goto fail;
    }
    if ((rc = rmtl__cache_shape(&L, schema->meta)))
        goto fail;
    uint64_t r0 = shard ? L.rows * o->part / o->parts : 0;
    uint64_t r1 = shard ? L.rows * (o->part + 1) / o->parts : L.rows;
    if (!(ds = rmtl__calloc(1, sizeof *ds))) {
        rc = rmtl__error(RMTL_ENOMEM, "out of memory");
        goto fail;
    }
    ds->meta = rmtl__dsmeta_ref(schema->meta);
    ds->map = map, ds->map_len = len;
    map = NULL;
    ds->rows = (size_t)(r1 - r0);
    const rmtl__dsmeta *m = ds->meta;
    /* the arrays, as the writer listed them; no others */
    rmtl__carr arrs[RMTL__N_ARRAYS];
    size_t k = rmtl__cache_layout(arrs, m, L.what);
    const void *blk;
    uint64_t nblk = (L.rows + L.block - 1) / L.block;
    if ((rc = rmtl__cache_sec(&L, RMTL__TAG_DBLK, k * nblk * 4, &blk)))
        goto fail;
    for (size_t t = 0, i = 0; t < RMTL__CACHE_N_ROW_ARRAYS; t++) { /* (big[] starts with them) */
        if (i < k && arrs[i].tag == rmtl__cache_big[t]) {
            if ((rc = rmtl__cache_sec(&L, arrs[i].tag, L.rows * arrs[i].width, &arrs[i].p)))
                goto fail;
            *rmtl__cache_array(ds, arrs[i].tag) = (char *)arrs[i].p + r0 * arrs[i].width;
            i++;
        } else if (rmtl__ckpt_has(&L.r, rmtl__cache_big[t])) {
            char name[5];
            rmtl__ckpt_tag_str(rmtl__cache_big[t], name);
            rc = RMTL__BAD(&L, "unexpected '%s' section", name);
            goto fail;
        }
    }
    if (m->n_cat == 0 && !(ds->cat = rmtl__calloc(ds->rows ? ds->rows : 1, sizeof *ds->cat))) {
        rc = rmtl__error(RMTL_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = rmtl__cache_verify(&L, blk, arrs, k, ds, r0, r1, o->threads)))
        goto fail;
    if (shard) { /* sessions of the shard's rows: rebuilt, the file's index is for all */
        ds->sess_off = rmtl__calloc(1, sizeof *ds->sess_off);
        rc = ds->sess_off ? rmtl__dataset_index_sessions(ds)
                          : rmtl__error(RMTL_ENOMEM, "out of memory");
    } else {
        const void *off, *rows;
        ds->n_sessions = (size_t)L.sessions;
        if (!(rc = rmtl__cache_sec(&L, RMTL__TAG_DSOF, (L.sessions + 1) * 8, &off)) &&
            !(rc = rmtl__cache_sec(&L, RMTL__TAG_DSRW, L.rows * 8, &rows))) {
            ds->sess_off = (size_t *)off;
            ds->sess_rows = (size_t *)rows;
            rc = rmtl__cache_index(&L, ds);
        }
    }
    if (rc)
        goto fail;
    rmtl__ckpt_close(&L.r);
    rmtl_dataset_free(schema);
    *out = ds;
    return 0;
fail:
    rmtl__ckpt_close(&L.r);
    rmtl_dataset_free(schema);
    rmtl_dataset_free(ds);
    if (map)
        munmap(map, len);
    return rc;
}
