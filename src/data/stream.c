/* Streaming a dataset cache file in bounded memory: an epoch reads the
 * file block by block (pread, never a mapping of the whole file: address
 * space stays bounded too) through a shuffle buffer and hands the host
 * chunks of rows as datasets to train on.
 *
 * Shuffle buffer (as tf.data's): the buffer is filled with the first
 * buffer_rows rows; each row of a chunk is drawn uniformly from the
 * buffer, and the next row of the file takes its place; once the file is
 * read the buffer drains. Seeded per epoch (seed + epoch), the same seed
 * gives the same chunks on every platform. Memory: the buffer, one block
 * of the file (65,536 rows) and one chunk, whatever the file's size.
 *
 * Every section read is CRC-checked (the small ones whole, the row arrays
 * by their block CRCs) and every value as in cache.c.
 *
 * A CSV source (rmtl_dataset_stream_open_csv) takes the place of the
 * cache's blocks with parts of the file: byte ranges of about a buffer's
 * worth of rows (at least 1 MiB), each loaded in turn as a shard with the
 * reference's schema and vocabularies (rmtl_dataset_load with part/parts),
 * so memory is the buffer, the chunk and one part. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crc32.h"
#include "core/internal.h"
#include "data/cache.h"
#include "data/dataset.h"
#include "core/rng.h"

/* A CSV part holds about a buffer's worth of rows (estimated from the
 * file's first lines), and at least RMTL__STREAM_PART_MIN bytes, the
 * parallel parser's smallest range. */
enum { RMTL__STREAM_PART_MIN = 1 << 20, RMTL__STREAM_HEAD = 1 << 16 };

typedef struct rmtl__sarr {
    uint32_t tag;
    size_t width;   /* bytes a row */
    uint64_t off;   /* the section's offset in the file */
    char *block;    /* the current block's rows (a CSV source: the part's array) */
    char *buf;      /* the shuffle buffer's rows */
} rmtl__sarr;

struct rmtl_dataset_stream {
    char *path;
    int fd;
    rmtl__cload L;
    rmtl_dataset *schema; /* no rows: the meta */
    unsigned char *blk;   /* DBLK: block CRCs */
    rmtl__sarr a[RMTL__N_ARRAYS];
    size_t na;
    size_t buffer_rows, chunk_rows;
    uint64_t seed, epoch;
    rmtl__rng rng; /* this epoch's draws: the seed's sample stream, moved on per epoch */
    /* the epoch's state */
    int started;
    uint64_t next_row;   /* the file's next row to enter the buffer */
    uint64_t blk_first;  /* the file row of the block's first row */
    size_t blk_rows;     /* rows in the current block (0: none read) */
    size_t fill;         /* rows in the buffer */
    /* a CSV source: csv set; L.rows counts the rows once an epoch has read them all */
    char *csv;
    rmtl_load_options opts; /* the parts' loads: threads, and part/parts set per part */
    uint32_t parts, part_next;
    rmtl_dataset *cur;      /* the part being read: blocks point into it */
    uint32_t cur_part;      /* the part cur holds */
    uint64_t csv_rows;      /* rows read this epoch */
};

static int rmtl__s_pread(rmtl_dataset_stream *s, void *dst, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(s->fd, (char *)dst + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return rmtl__error(RMTL_EIO, "%s: read error: %s", s->path, strerror(errno));
        if (r == 0)
            return rmtl__error(RMTL_EFORMAT, "%s: dataset cache: truncated", s->path);
        got += (size_t)r;
    }
    return 0;
}

/* A whole small section, CRC-checked (free with rmtl__free). */
static int rmtl__s_section(rmtl_dataset_stream *s, uint32_t tag, void **out, size_t *len)
{
    *out = NULL;
    char name[5];
    rmtl__ckpt_tag_str(tag, name);
    const rmtl__ckpt_section *sec = NULL;
    for (size_t i = 0; i < s->L.r.n; i++)
        if (s->L.r.sec[i].tag == tag)
            sec = &s->L.r.sec[i];
    if (!sec)
        return rmtl__error(RMTL_EFORMAT, "%s: dataset cache: no '%s' section%s", s->path, name,
                           tag == RMTL__TAG_DSET ? " (a model or agent checkpoint?)" : "");
    char *p = rmtl__malloc(sec->len ? sec->len : 1);
    if (!p)
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", s->path);
    int rc = rmtl__s_pread(s, p, sec->len, sec->off);
    if (!rc && rmtl__crc32(0, p, sec->len) != sec->crc)
        rc = rmtl__error(RMTL_EFORMAT, "%s: dataset cache: section '%s': CRC mismatch", s->path,
                         name);
    if (rc) {
        rmtl__free(p);
        return rc;
    }
    *out = p, *len = sec->len;
    return 0;
}

/* The row arrays of `what` for `m`, in the cache's (DBLK's) order. */
static void rmtl__s_arrays(rmtl_dataset_stream *s, const rmtl__dsmeta *m, unsigned what)
{
    rmtl__carr a[RMTL__N_ARRAYS];
    s->na = rmtl__cache_layout(a, m, what);
    for (size_t i = 0; i < s->na; i++)
        s->a[i] = (rmtl__sarr){a[i].tag, a[i].width, 0, NULL, NULL};
}

static int rmtl__s_open(rmtl_dataset_stream *s)
{
    struct stat st;
    if ((s->fd = open(s->path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(s->fd, &st) != 0)
        return rmtl__error(RMTL_EIO, "%s: %s", s->path, strerror(errno));
    uint64_t size = (uint64_t)st.st_size;
    unsigned char head[RMTL__CKPT_HEADER_SIZE];
    if (size < sizeof head)
        return rmtl__error(RMTL_EFORMAT, "%s: dataset cache: truncated (%llu bytes)", s->path,
                           (unsigned long long)size);
    int rc = rmtl__s_pread(s, head, sizeof head, 0);
    if (rc)
        return rc;
    uint32_t count = rmtl__load_u32le(head + 20);
    if (count > 64) /* a cache has 12 sections; the header CRC is checked below */
        count = 64;
    size_t n = RMTL__CKPT_HEADER_SIZE + (size_t)count * RMTL__CKPT_ENTRY_SIZE;
    n = n > size ? (size_t)size : n;
    unsigned char *tab = rmtl__malloc(n);
    if (!tab)
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", s->path);
    rc = rmtl__s_pread(s, tab, n, 0);
    uint32_t known[RMTL__CACHE_N_TAGS + 7] = {RMTL__TAG_CONF, RMTL__TAG_ARCH, RMTL__TAG_TENS,
                                              RMTL__TAG_FUSE, RMTL__TAG_META, RMTL__TAG_OPTS,
                                              RMTL__TAG_RLST};
    memcpy(known + 7, rmtl__cache_tags, sizeof rmtl__cache_tags);
    if (!rc && (rc = rmtl__ckpt_open_head(&s->L.r, tab, n, (size_t)size, known,
                                          RMTL__CACHE_N_TAGS + 7, NULL, 0)))
        rc = rmtl__error_prefix(rc, "%s", s->path);
    rmtl__free(tab); /* the reader keeps offsets, not pointers into it */
    for (size_t i = 0; !rc && i < s->L.r.n; i++)
        s->L.r.sec[i].data = NULL;
    if (rc)
        return rc;
    void *p;
    size_t len;
    rmtl__rbuf rb;
    if ((rc = rmtl__s_section(s, RMTL__TAG_DATA, &p, &len)))
        return rc;
    rmtl__rbuf_init(&rb, p, len);
    rc = rmtl__dataset_schema_load(&s->schema, &rb);
    rmtl__free(p);
    if (rc)
        return rmtl__error_prefix(rc, "%s: dataset cache", s->path);
    if ((rc = rmtl__s_section(s, RMTL__TAG_DSET, &p, &len)))
        return rc;
    rc = len == 40 ? rmtl__cache_shape_parse(&s->L, p, s->schema->meta)
                   : rmtl__error(RMTL_EFORMAT, "%s: dataset cache: bad 'DSET' section",
                                 s->path);
    rmtl__free(p);
    if (rc)
        return rc;
    rmtl__s_arrays(s, s->schema->meta, s->L.what);
    for (size_t i = 0; i < s->na; i++) {
        const rmtl__ckpt_section *sec = NULL;
        for (size_t k = 0; k < s->L.r.n; k++)
            if (s->L.r.sec[k].tag == s->a[i].tag)
                sec = &s->L.r.sec[k];
        char name[5];
        rmtl__ckpt_tag_str(s->a[i].tag, name);
        if (!sec || (uint64_t)sec->len != s->L.rows * s->a[i].width)
            return rmtl__error(RMTL_EFORMAT, "%s: dataset cache: section '%s' %s", s->path,
                               name, sec ? "does not fit the shape" : "is missing");
        s->a[i].off = sec->off;
    }
    uint64_t nblk = (s->L.rows + s->L.block - 1) / s->L.block;
    if ((rc = rmtl__s_section(s, RMTL__TAG_DBLK, &p, &len)))
        return rc;
    s->blk = p;
    if ((uint64_t)len != s->na * nblk * 4)
        return rmtl__error(RMTL_EFORMAT, "%s: dataset cache: bad 'DBLK' section", s->path);
    /* A block never holds more rows than the file: size the buffer by the
     * rows (bounded by the sections' lengths, so by the file's size), not
     * by the header's block size alone (a damaged header asked for 9 GB:
     * fuzz_cache). */
    size_t blk_rows = s->L.block < s->L.rows ? (size_t)s->L.block
                                             : (s->L.rows ? (size_t)s->L.rows : 1);
    for (size_t i = 0; i < s->na; i++) {
        s->a[i].block = rmtl__mallocarray(blk_rows, s->a[i].width ? s->a[i].width : 1);
        s->a[i].buf = rmtl__mallocarray(s->buffer_rows, s->a[i].width ? s->a[i].width : 1);
        if (!s->a[i].block || !s->a[i].buf)
            return rmtl__error(RMTL_ENOMEM, "%s: out of memory for the stream's buffers",
                               s->path);
    }
    return 0;
}

void rmtl_dataset_stream_free(rmtl_dataset_stream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->na; i++) {
        if (!s->csv)
            rmtl__free(s->a[i].block);
        rmtl__free(s->a[i].buf);
    }
    rmtl_dataset_free(s->cur);
    rmtl__free(s->csv);
    if (s->fd >= 0)
        close(s->fd);
    rmtl__ckpt_close(&s->L.r);
    rmtl_dataset_free(s->schema);
    rmtl__free(s->blk);
    rmtl__free(s->path);
    rmtl__free(s);
}

int rmtl_dataset_stream_open(rmtl_dataset_stream **out, const char *cache_path,
                             size_t buffer_rows, size_t chunk_rows, uint64_t seed)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(cache_path, "cache_path");
    if (buffer_rows == 0 || chunk_rows == 0)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_dataset_stream_open: buffer_rows and chunk_rows must be >= 1");
    rmtl_dataset_stream *s = rmtl__calloc(1, sizeof *s);
    if (!s || !(s->path = rmtl__strdup(cache_path))) {
        rmtl__free(s);
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    }
    s->fd = -1;
    s->L.path = s->path;
    s->buffer_rows = buffer_rows, s->chunk_rows = chunk_rows, s->seed = seed;
    int rc = rmtl__s_open(s);
    if (rc) {
        rmtl_dataset_stream_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

const rmtl_dataset *rmtl_dataset_stream_schema(const rmtl_dataset_stream *s)
{
    return s ? s->schema : NULL;
}

size_t rmtl_dataset_stream_rows(const rmtl_dataset_stream *s)
{
    return s ? (size_t)s->L.rows : 0;
}

/* --- a CSV source -------------------------------------------------------------------- */

/* Loads the next part of the CSV that has rows as the current block: 0, or
 * an error; s->cur is NULL when no part is left. */
static int rmtl__s_csv_part(rmtl_dataset_stream *s)
{
    s->blk_rows = 0;
    if (s->cur && s->cur_part == s->part_next) /* the first part, read by open: not again */
        s->part_next++;
    else {
        rmtl_dataset_free(s->cur);
        s->cur = NULL;
    }
    while (!s->cur && s->part_next < s->parts) {
        rmtl_load_options o = s->opts;
        o.part = s->cur_part = s->part_next++, o.parts = s->parts;
        int rc = rmtl_dataset_load(&s->cur, s->csv, NULL, s->schema, &o);
        if (rc)
            return rc;
        if (rmtl__cache_what(s->cur) != s->L.what) {
            rmtl_dataset_free(s->cur);
            s->cur = NULL;
            return rmtl__error(RMTL_EFORMAT, "%s: part %u of %u has other columns than the first",
                               s->csv, o.part, o.parts);
        }
        if (s->cur->rows == 0) {
            rmtl_dataset_free(s->cur);
            s->cur = NULL;
        }
    }
    if (!s->cur)
        return 0;
    for (size_t i = 0; i < s->na; i++)
        s->a[i].block = *rmtl__cache_array(s->cur, s->a[i].tag);
    s->blk_first = s->csv_rows, s->blk_rows = s->cur->rows;
    return 0;
}

int rmtl_dataset_stream_open_csv(rmtl_dataset_stream **out, const char *csv_path,
                                 const rmtl_dataset *reference, const rmtl_load_options *options,
                                 size_t buffer_rows, size_t chunk_rows, uint64_t seed)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(csv_path, "csv_path");
    RMTL__CHECK_ARG(reference, "reference");
    static const rmtl_load_options defaults = RMTL_LOAD_OPTIONS_INIT;
    const rmtl_load_options *o = options ? options : &defaults;
    if (buffer_rows == 0 || chunk_rows == 0)
        return rmtl__error(RMTL_EINVAL, "rmtl_dataset_stream_open_csv: buffer_rows and "
                                        "chunk_rows must be >= 1");
    if (o->version != RMTL_LOAD_OPTIONS_VERSION || o->parts > 1 || o->part != 0)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_dataset_stream_open_csv: bad options (version %u, part %u of "
                           "%u: the stream cuts the parts itself)",
                           o->version, o->part, o->parts);
    struct stat st;
    if (stat(csv_path, &st) != 0)
        return rmtl__error(RMTL_EIO, "%s: %s", csv_path, strerror(errno));
    rmtl_dataset_stream *s = rmtl__calloc(1, sizeof *s);
    if (!s || !(s->path = rmtl__strdup(csv_path)) || !(s->csv = rmtl__strdup(csv_path))) {
        if (s)
            rmtl__free(s->path);
        rmtl__free(s);
        return rmtl__error(RMTL_ENOMEM, "out of memory");
    }
    s->fd = -1;
    s->L.path = s->path;
    s->buffer_rows = buffer_rows, s->chunk_rows = chunk_rows, s->seed = seed;
    s->opts = *o;
    s->opts.progress = NULL, s->opts.payload = NULL;
    /* bytes a line, from the first lines of the file */
    size_t got = 0, lines = 0;
    char *head = rmtl__malloc(RMTL__STREAM_HEAD);
    FILE *f = head ? fopen(csv_path, "rb") : NULL;
    if (f) {
        got = fread(head, 1, RMTL__STREAM_HEAD, f);
        fclose(f);
    }
    for (size_t i = 0; i < got; i++)
        lines += head[i] == '\n';
    rmtl__free(head);
    uint64_t line = lines > 1 ? got / lines : RMTL__STREAM_HEAD;
    uint64_t part = line * buffer_rows > RMTL__STREAM_PART_MIN ? line * buffer_rows
                                                                : RMTL__STREAM_PART_MIN;
    uint64_t parts = (uint64_t)st.st_size / part + 1;
    s->parts = parts > UINT32_MAX ? UINT32_MAX : (uint32_t)parts;
    /* the first part: the columns every part must have, and a clear error now */
    int rc = rmtl__dataset_new(&s->schema, reference->meta, 0, 0);
    if (!rc) {
        rmtl_load_options first = s->opts;
        first.part = 0, first.parts = s->parts;
        rc = s->parts > 1 ? rmtl_dataset_load(&s->cur, csv_path, NULL, reference, &first)
                          : rmtl_dataset_load(&s->cur, csv_path, NULL, reference, &s->opts);
    }
    if (!rc) {
        s->L.what = rmtl__cache_what(s->cur);
        rmtl_dataset_free(s->schema); /* again, with the arrays the CSV has */
        s->schema = NULL;
        rc = rmtl__dataset_new(&s->schema, reference->meta, 0, s->L.what);
    }
    if (!rc) {
        rmtl__s_arrays(s, reference->meta, s->L.what);
        for (size_t i = 0; i < s->na && !rc; i++)
            if (!(s->a[i].buf = rmtl__mallocarray(buffer_rows, s->a[i].width ? s->a[i].width : 1)))
                rc = rmtl__error(RMTL_ENOMEM, "%s: out of memory for the stream's buffers",
                                 csv_path);
    }
    if (rc) { /* (else cur stays: the first epoch's first part, cur_part 0) */
        rmtl_dataset_stream_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Reads the block holding file row `row`, checks its CRCs and values. */
static int rmtl__s_block(rmtl_dataset_stream *s, uint64_t row)
{
    uint64_t b = row / s->L.block, first = b * s->L.block;
    uint64_t nblk = (s->L.rows + s->L.block - 1) / s->L.block;
    size_t n = (size_t)(s->L.rows - first < s->L.block ? s->L.rows - first : s->L.block);
    for (size_t i = 0; i < s->na; i++) {
        rmtl__sarr *a = &s->a[i];
        int rc = rmtl__s_pread(s, a->block, n * a->width, a->off + first * a->width);
        if (rc)
            return rc;
        if (rmtl__crc32(0, a->block, n * a->width) != rmtl__load_u32le(s->blk + 4 * (i * nblk + b))) {
            char name[5];
            rmtl__ckpt_tag_str(a->tag, name);
            return rmtl__error(RMTL_EFORMAT,
                               "%s: dataset cache: section '%s': CRC mismatch in rows %llu..%llu",
                               s->path, name, (unsigned long long)first,
                               (unsigned long long)(first + n - 1));
        }
    }
    /* the block as a dataset view, for the value checks */
    rmtl_dataset v;
    memset(&v, 0, sizeof v);
    v.meta = s->schema->meta;
    v.rows = n;
    for (size_t i = 0; i < s->na; i++)
        if (s->a[i].tag != RMTL__TAG_DSID) /* (sessions are not checked) */
            *rmtl__cache_array(&v, s->a[i].tag) = s->a[i].block;
    int rc = rmtl__cache_values(&s->L, &v, first);
    if (rc)
        return rc;
    s->blk_first = first, s->blk_rows = n;
    return 0;
}

/* Copies file row `row` (in the current block) to buffer slot `slot`. */
static void rmtl__s_take(rmtl_dataset_stream *s, uint64_t row, size_t slot)
{
    size_t k = (size_t)(row - s->blk_first);
    for (size_t i = 0; i < s->na; i++)
        memcpy(s->a[i].buf + slot * s->a[i].width, s->a[i].block + k * s->a[i].width,
               s->a[i].width);
}

/* The next file row into buffer slot `slot`: 1, or 0 at the end of the file. */
static int rmtl__s_refill(rmtl_dataset_stream *s, size_t slot, int *rc)
{
    if (s->csv) {
        if (s->blk_rows == 0 || s->csv_rows >= s->blk_first + s->blk_rows)
            if ((*rc = rmtl__s_csv_part(s)) || !s->cur)
                return 0;
        rmtl__s_take(s, s->csv_rows++, slot);
        return 1;
    }
    if (s->next_row >= s->L.rows)
        return 0;
    if (s->blk_rows == 0 || s->next_row >= s->blk_first + s->blk_rows)
        if ((*rc = rmtl__s_block(s, s->next_row)))
            return 0;
    rmtl__s_take(s, s->next_row++, slot);
    return 1;
}

int rmtl_dataset_stream_next(rmtl_dataset **chunk, rmtl_dataset_stream *s)
{
    RMTL__CHECK_ARG(chunk, "chunk");
    *chunk = NULL;
    RMTL__CHECK_ARG(s, "s");
    int rc = 0;
    if (!s->started) { /* a new epoch: fill the buffer */
        s->started = 1;
        rmtl__rng_seed(&s->rng, s->seed + 0x9e3779b97f4a7c15u * s->epoch, RMTL__STREAM_SAMPLE);
        s->next_row = 0, s->blk_rows = 0, s->fill = 0;
        s->part_next = 0, s->csv_rows = 0;
        while (s->fill < s->buffer_rows && rmtl__s_refill(s, s->fill, &rc))
            s->fill++;
        if (rc)
            return rc;
    }
    if (s->fill == 0) { /* the epoch is over: the next call starts another */
        s->started = 0;
        s->epoch++;
        if (s->csv) {
            s->L.rows = s->csv_rows;
            rmtl_dataset_free(s->cur);
            s->cur = NULL;
        }
        return 0;
    }
    size_t n = s->chunk_rows; /* a CSV source: fewer when the buffer runs dry */
    if (!s->csv && s->L.rows - s->next_row + s->fill < n)
        n = (size_t)(s->L.rows - s->next_row + s->fill);
    const rmtl__dsmeta *m = s->schema->meta;
    rmtl_dataset *ds = NULL;
    if ((rc = rmtl__dataset_new(&ds, (rmtl__dsmeta *)m, n, s->L.what)))
        return rc;
    size_t r = 0;
    for (; r < n && s->fill > 0; r++) {
        size_t j = (size_t)rmtl__rng_below(&s->rng, s->fill);
        for (size_t i = 0; i < s->na; i++) {
            const rmtl__sarr *a = &s->a[i];
            char *dst = *rmtl__cache_array(ds, a->tag);
            memcpy(dst + r * a->width, a->buf + j * a->width, a->width);
        }
        if (!rmtl__s_refill(s, j, &rc)) {
            if (rc) {
                rmtl_dataset_free(ds);
                return rc;
            }
            s->fill--; /* the file is read: the last row takes the hole */
            for (size_t i = 0; i < s->na && j != s->fill; i++)
                memcpy(s->a[i].buf + j * s->a[i].width, s->a[i].buf + s->fill * s->a[i].width,
                       s->a[i].width);
        }
    }
    ds->rows = r;
    if ((rc = rmtl__dataset_index_sessions(ds))) {
        rmtl_dataset_free(ds);
        return rc;
    }
    *chunk = ds;
    return 0;
}
