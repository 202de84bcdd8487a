/* Checkpoint container: layout, validation and atomic file replacement.
 * The byte layout is specified in docs/checkpoint-format.md. */
#include "core/ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/afile.h"
#include "core/crc32.h"
#include "core/internal.h"
#include "core/yamlu.h"

static const unsigned char rmtl__ckpt_magic[8] = {0x89, 'R', 'M', 'T', 'L', '\r', '\n', 0x1a};
#define RMTL__CKPT_BOM 0x01020304u
/* Header CRC covers the fields before it; the table CRC fills the
 * reserved word so that every byte of the table is checked too. */
#define RMTL__CKPT_HCRC_AT 24u
#define RMTL__CKPT_TCRC_AT 28u

void rmtl__ckpt_tag_str(uint32_t tag, char out[5])
{
    for (int i = 0; i < 4; i++) {
        unsigned c = (tag >> (8 * i)) & 0xffu;
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[4] = '\0';
}

/* Rounds *x up to the section alignment; -1 on overflow. */
static int rmtl__align_up(size_t *x)
{
    size_t r = *x % RMTL__CKPT_ALIGN;
    if (r == 0)
        return 0;
    if (*x > SIZE_MAX - (RMTL__CKPT_ALIGN - r))
        return -1;
    *x += RMTL__CKPT_ALIGN - r;
    return 0;
}

/* --- writer ---------------------------------------------------------- */
void rmtl__ckpt_writer_init(rmtl__ckpt_writer *w, uint32_t flags)
{
    memset(w, 0, sizeof *w);
    w->flags = flags;
}

void rmtl__ckpt_writer_free(rmtl__ckpt_writer *w)
{
    for (size_t i = 0; i < w->n; i++)
        rmtl__free(w->sec[i].data);
    rmtl__free(w->sec);
    memset(w, 0, sizeof *w);
}

/* Appends a section that owns `data`; frees data on failure so both add
 * functions have a single cleanup rule. */
static int rmtl__ckpt_push(rmtl__ckpt_writer *w, uint32_t tag, int required, unsigned char *data,
                           size_t len)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->sec[i].tag == tag) {
            char name[5];
            rmtl__ckpt_tag_str(tag, name);
            rmtl__free(data);
            return rmtl__error(RMTL_EINVAL, "checkpoint writer: section '%s' added twice", name);
        }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        rmtl__ckpt_wsec *s = cap < SIZE_MAX / sizeof *s ? rmtl__realloc(w->sec, cap * sizeof *s) : NULL;
        if (!s) {
            rmtl__free(data);
            return rmtl__error(RMTL_ENOMEM, "checkpoint writer: out of memory");
        }
        w->sec = s, w->cap = cap;
    }
    w->sec[w->n++] = (rmtl__ckpt_wsec){tag, required ? RMTL__CKPT_S_REQUIRED : 0u, data, len};
    return 0;
}

int rmtl__ckpt_add_section(rmtl__ckpt_writer *w, uint32_t tag, int required, const void *data,
                           size_t len)
{
    RMTL__CHECK_ARG(data || len == 0, "data");
    unsigned char *copy = NULL;
    if (len) {
        copy = rmtl__malloc(len);
        if (!copy)
            return rmtl__error(RMTL_ENOMEM, "checkpoint writer: out of memory");
        memcpy(copy, data, len);
    }
    return rmtl__ckpt_push(w, tag, required, copy, len);
}

int rmtl__ckpt_add_wbuf(rmtl__ckpt_writer *w, uint32_t tag, int required, rmtl__wbuf *b)
{
    if (b->failed) {
        rmtl__wbuf_free(b);
        return rmtl__error(RMTL_ENOMEM, "checkpoint writer: out of memory");
    }
    unsigned char *data = b->data;
    size_t len = b->len;
    rmtl__wbuf_init(b); /* ownership moved: do not free */
    return rmtl__ckpt_push(w, tag, required, data, len);
}

/* The file size of sections sec[0..n) and where the table ends. */
static int rmtl__ckpt_size(const rmtl__ckpt_wsec *sec, size_t n, size_t *table_end,
                           size_t *total)
{
    if (n > UINT32_MAX || n > (SIZE_MAX - RMTL__CKPT_HEADER_SIZE) / RMTL__CKPT_ENTRY_SIZE)
        return rmtl__error(RMTL_EINVAL, "checkpoint writer: too many sections");
    *table_end = *total = RMTL__CKPT_HEADER_SIZE + n * RMTL__CKPT_ENTRY_SIZE;
    for (size_t i = 0; i < n; i++) {
        if (rmtl__align_up(total) || sec[i].len > SIZE_MAX - *total)
            return rmtl__error(RMTL_ENOMEM, "checkpoint writer: checkpoint too large");
        *total += sec[i].len;
    }
    return 0;
}

/* Header and section table (with every CRC) into b, which has room. */
static void rmtl__ckpt_head(rmtl__wbuf *b, uint32_t flags, const rmtl__ckpt_wsec *sec, size_t n,
                            size_t table_end)
{
    rmtl__put_bytes(b, rmtl__ckpt_magic, sizeof rmtl__ckpt_magic);
    rmtl__put_u32(b, RMTL__CKPT_VERSION);
    rmtl__put_u32(b, RMTL__CKPT_BOM);
    rmtl__put_u32(b, flags);
    rmtl__put_u32(b, (uint32_t)n);
    rmtl__put_u32(b, rmtl__crc32(0, b->data, RMTL__CKPT_HCRC_AT));
    rmtl__put_u32(b, 0); /* table CRC, patched below */
    size_t off = table_end;
    for (size_t i = 0; i < n; i++) {
        const rmtl__ckpt_wsec *s = &sec[i];
        rmtl__align_up(&off); /* cannot overflow: the total was computed first */
        rmtl__put_u32(b, s->tag);
        rmtl__put_u32(b, s->flags);
        rmtl__put_u64(b, off);
        rmtl__put_u64(b, s->len);
        rmtl__put_u32(b, rmtl__crc32(0, s->data, s->len));
        rmtl__put_u32(b, 0);
        off += s->len;
    }
    rmtl__patch_u32(b, RMTL__CKPT_TCRC_AT,
                    rmtl__crc32(0, b->data + RMTL__CKPT_HEADER_SIZE,
                                table_end - RMTL__CKPT_HEADER_SIZE));
}

int rmtl__ckpt_stream(rmtl__afile *f, uint32_t flags, const rmtl__ckpt_wsec *sec, size_t n)
{
    size_t table_end, total;
    int rc = rmtl__ckpt_size(sec, n, &table_end, &total);
    if (rc)
        return rc;
    rmtl__wbuf b;
    rmtl__wbuf_init(&b);
    if (!(b.data = rmtl__malloc(table_end)))
        return rmtl__error(RMTL_ENOMEM, "checkpoint writer: out of memory");
    b.cap = table_end;
    rmtl__ckpt_head(&b, flags, sec, n, table_end);
    static const unsigned char zeros[RMTL__CKPT_ALIGN];
    size_t pos = table_end;
    rc = rmtl__afile_write(f, b.data, table_end);
    for (size_t i = 0; i < n && !rc; i++) {
        size_t pad = (RMTL__CKPT_ALIGN - pos % RMTL__CKPT_ALIGN) % RMTL__CKPT_ALIGN;
        rc = rmtl__afile_write(f, zeros, pad);
        if (!rc)
            rc = rmtl__afile_write(f, sec[i].data, sec[i].len);
        pos += pad + sec[i].len;
    }
    rmtl__wbuf_free(&b);
    return rc;
}

int rmtl__ckpt_finish(const rmtl__ckpt_writer *w, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t table_end, total;
    int rc = rmtl__ckpt_size(w->sec, w->n, &table_end, &total);
    if (rc)
        return rc;

    /* One exact allocation: the wbuf's doubling would waste up to the
     * size of the model, and no put below can then need to grow it. */
    rmtl__wbuf b;
    rmtl__wbuf_init(&b);
    b.data = rmtl__malloc(total);
    if (!b.data)
        return rmtl__error(RMTL_ENOMEM, "checkpoint writer: out of memory (%zu bytes)", total);
    b.cap = total;

    rmtl__ckpt_head(&b, w->flags, w->sec, w->n, table_end);
    for (size_t i = 0; i < w->n; i++) {
        rmtl__put_align(&b, RMTL__CKPT_ALIGN);
        rmtl__put_bytes(&b, w->sec[i].data, w->sec[i].len);
    }
    if (b.failed || b.len != total) { /* unreachable with the exact reserve */
        rmtl__wbuf_free(&b);
        return rmtl__error(RMTL_ERROR, "checkpoint writer: layout error");
    }
    *out = b.data;
    *len = total;
    return 0;
}

/* --- reader ---------------------------------------------------------- */
static int rmtl__sec_cmp(const void *a, const void *b)
{
    uint32_t x = ((const rmtl__ckpt_section *)a)->tag, y = ((const rmtl__ckpt_section *)b)->tag;
    return (x > y) - (x < y);
}

static int rmtl__tag_in(uint32_t tag, const uint32_t *tags, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tags[i] == tag)
            return 1;
    return 0;
}

/* The structure, padding and CRCs of the whole file (but the CRCs of the
 * sections tagged in `unchecked`); allocates nothing. */
static int rmtl__ckpt_check(const unsigned char *b, size_t avail, size_t len,
                            uint32_t *count_out, const uint32_t *unchecked, size_t n_unchecked)
{
    if (len < RMTL__CKPT_HEADER_SIZE)
        return rmtl__error(RMTL_EFORMAT, "checkpoint truncated: %zu bytes, the header alone is %u",
                           len, RMTL__CKPT_HEADER_SIZE);
    if (memcmp(b, rmtl__ckpt_magic, sizeof rmtl__ckpt_magic) != 0)
        return rmtl__error(RMTL_EFORMAT, "checkpoint: bad magic (not a librmtl checkpoint)");
    uint32_t bom = rmtl__load_u32le(b + 12);
    if (bom != RMTL__CKPT_BOM)
        return rmtl__error(RMTL_EFORMAT,
                           "checkpoint: byte-order mark 0x%08x, expected 0x%08x little-endian", bom,
                           RMTL__CKPT_BOM);
    if (rmtl__crc32(0, b, RMTL__CKPT_HCRC_AT) != rmtl__load_u32le(b + RMTL__CKPT_HCRC_AT))
        return rmtl__error(RMTL_EFORMAT, "checkpoint: header CRC mismatch");
    /* The header CRC is checked first: the 32-byte header keeps its layout
     * in every format version, so a damaged version field reads as damage,
     * not as a file from the future. */
    uint32_t version = rmtl__load_u32le(b + 8);
    if (version == 0)
        return rmtl__error(RMTL_EFORMAT, "checkpoint: invalid format version 0");
    if (version > RMTL__CKPT_VERSION)
        return rmtl__error(RMTL_EVERSION,
                           "checkpoint format version %u is newer than this library reads (%u)",
                           version, RMTL__CKPT_VERSION);
    uint32_t count = rmtl__load_u32le(b + 20);
    if (count > (len - RMTL__CKPT_HEADER_SIZE) / RMTL__CKPT_ENTRY_SIZE)
        return rmtl__error(RMTL_EFORMAT,
                           "checkpoint: section table (%u entries) runs past the end of the file "
                           "(%zu bytes)",
                           count, len);
    size_t table_end = RMTL__CKPT_HEADER_SIZE + (size_t)count * RMTL__CKPT_ENTRY_SIZE;
    if (table_end > avail)
        return rmtl__error(RMTL_EFORMAT, "checkpoint: section table (%u entries) is incomplete",
                           count);
    if (rmtl__crc32(0, b + RMTL__CKPT_HEADER_SIZE, table_end - RMTL__CKPT_HEADER_SIZE) !=
        rmtl__load_u32le(b + RMTL__CKPT_TCRC_AT))
        return rmtl__error(RMTL_EFORMAT, "checkpoint: section table CRC mismatch");

    size_t pos = table_end;
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *e = b + RMTL__CKPT_HEADER_SIZE + (size_t)i * RMTL__CKPT_ENTRY_SIZE;
        char name[5];
        rmtl__ckpt_tag_str(rmtl__load_u32le(e), name);
        uint64_t off = rmtl__load_u64le(e + 8), slen = rmtl__load_u64le(e + 16);
        if (off % RMTL__CKPT_ALIGN)
            return rmtl__error(RMTL_EFORMAT,
                               "checkpoint section '%s': offset %llu is not %u-byte aligned", name,
                               (unsigned long long)off, RMTL__CKPT_ALIGN);
        if (off > len || slen > len - off)
            return rmtl__error(RMTL_EFORMAT,
                               "checkpoint section '%s': %llu bytes at offset %llu run past the end "
                               "of the file (%zu bytes)",
                               name, (unsigned long long)slen, (unsigned long long)off, len);
        size_t expect = pos;
        rmtl__align_up(&expect); /* pos <= len, so cannot overflow */
        if (off != expect)
            return rmtl__error(RMTL_EFORMAT,
                               "checkpoint section '%s': at offset %llu, expected %zu (sections "
                               "follow each other in table order)",
                               name, (unsigned long long)off, expect);
        for (size_t k = pos; k < expect && k < avail; k++)
            if (b[k])
                return rmtl__error(RMTL_EFORMAT,
                                   "checkpoint: nonzero padding byte at offset %zu before section "
                                   "'%s'",
                                   k, name);
        if (off + slen <= avail && !rmtl__tag_in(rmtl__load_u32le(e), unchecked, n_unchecked) &&
            rmtl__crc32(0, b + off, (size_t)slen) != rmtl__load_u32le(e + 24))
            return rmtl__error(RMTL_EFORMAT, "checkpoint section '%s': CRC mismatch", name);
        pos = (size_t)(off + slen);
    }
    if (pos != len)
        return rmtl__error(RMTL_EFORMAT, "checkpoint: %zu unexpected bytes after the last section",
                           len - pos);
    *count_out = count;
    return 0;
}

int rmtl__ckpt_open(rmtl__ckpt_reader *r, const void *buf, size_t len, const uint32_t *known_tags,
                    size_t n_known)
{
    return rmtl__ckpt_open_partial(r, buf, len, known_tags, n_known, NULL, 0);
}

int rmtl__ckpt_open_partial(rmtl__ckpt_reader *r, const void *buf, size_t len,
                            const uint32_t *known_tags, size_t n_known,
                            const uint32_t *unchecked, size_t n_unchecked)
{
    return rmtl__ckpt_open_head(r, buf, len, len, known_tags, n_known, unchecked, n_unchecked);
}

int rmtl__ckpt_open_head(rmtl__ckpt_reader *r, const void *buf, size_t avail, size_t len,
                         const uint32_t *known_tags, size_t n_known, const uint32_t *unchecked,
                         size_t n_unchecked)
{
    memset(r, 0, sizeof *r);
    RMTL__CHECK_ARG(buf || len == 0, "buf");
    RMTL__CHECK_ARG(known_tags || n_known == 0, "known_tags");
    const unsigned char *b = buf;
    uint32_t count = 0;
    int rc = avail < RMTL__CKPT_HEADER_SIZE && avail < len
                 ? rmtl__error(RMTL_EFORMAT, "checkpoint: header not read")
                 : rmtl__ckpt_check(b, avail, len, &count, unchecked, n_unchecked);
    if (rc)
        return rc;

    /* count <= len / 32 was checked, so this is bounded by the file size. */
    rmtl__ckpt_section *sec = rmtl__mallocarray(count, sizeof *sec);
    if (!sec)
        return rmtl__error(RMTL_ENOMEM, "checkpoint: out of memory");
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *e = b + RMTL__CKPT_HEADER_SIZE + (size_t)i * RMTL__CKPT_ENTRY_SIZE;
        sec[i].tag = rmtl__load_u32le(e);
        sec[i].flags = rmtl__load_u32le(e + 4);
        sec[i].off = rmtl__load_u64le(e + 8);
        sec[i].len = (size_t)rmtl__load_u64le(e + 16);
        sec[i].data = sec[i].off + sec[i].len <= avail ? b + (size_t)sec[i].off : NULL;
        sec[i].crc = rmtl__load_u32le(e + 24);
    }
    if (count > 1)
        qsort(sec, count, sizeof *sec, rmtl__sec_cmp);
    size_t kept = 0;
    for (uint32_t i = 0; i < count; i++) {
        char name[5];
        rmtl__ckpt_tag_str(sec[i].tag, name);
        if (i > 0 && sec[i].tag == sec[i - 1].tag) {
            rmtl__free(sec);
            return rmtl__error(RMTL_EFORMAT, "checkpoint: section '%s' appears twice", name);
        }
        int known = 0;
        for (size_t k = 0; k < n_known && !known; k++)
            known = known_tags[k] == sec[i].tag;
        if (known)
            sec[kept++] = sec[i];
        else if (sec[i].flags & RMTL__CKPT_S_REQUIRED) {
            rmtl__free(sec);
            return rmtl__error(RMTL_EVERSION,
                               "checkpoint section '%s' is required but unknown to this version of "
                               "librmtl",
                               name);
        }
    }
    r->version = rmtl__load_u32le(b + 8);
    r->flags = rmtl__load_u32le(b + 16);
    r->sec = sec;
    r->n = kept;
    return 0;
}

void rmtl__ckpt_close(rmtl__ckpt_reader *r)
{
    rmtl__free(r->sec);
    memset(r, 0, sizeof *r);
}

static const rmtl__ckpt_section *rmtl__ckpt_lookup(const rmtl__ckpt_reader *r, uint32_t tag)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->sec[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->n && r->sec[lo].tag == tag ? &r->sec[lo] : NULL;
}

int rmtl__ckpt_has(const rmtl__ckpt_reader *r, uint32_t tag) { return rmtl__ckpt_lookup(r, tag) != NULL; }

int rmtl__ckpt_find(const rmtl__ckpt_reader *r, uint32_t tag, const void **data, size_t *len)
{
    const rmtl__ckpt_section *s = rmtl__ckpt_lookup(r, tag);
    *data = s ? s->data : NULL;
    *len = s ? s->len : 0;
    if (!s) {
        char name[5];
        rmtl__ckpt_tag_str(tag, name);
        return rmtl__error(RMTL_EFORMAT, "checkpoint has no '%s' section", name);
    }
    return 0;
}

int rmtl__ckpt_read_file(char **buf, size_t *len, const char *path)
{
    RMTL__CHECK_ARG(path, "path");
    return rmtl__read_file(buf, len, path);
}

size_t rmtl__ckpt_payload(const rmtl__ckpt_reader *r)
{
    size_t total = 0;
    for (size_t i = 0; i < r->n; i++)
        total += r->sec[i].len; /* sections lie in one buffer: no overflow */
    return total;
}

/* --- the loaders' shared steps ------------------------------------------- */

static const uint32_t rmtl__ckpt_all_tags[] = {
    RMTL__TAG_CONF, RMTL__TAG_ARCH, RMTL__TAG_TENS, RMTL__TAG_FUSE, RMTL__TAG_META,
    RMTL__TAG_OPTS, RMTL__TAG_RLST, RMTL__TAG_DATA, RMTL__TAG_MODL};

int rmtl__ckpt_kind(const void *buf, size_t len)
{
    char saved[512];
    snprintf(saved, sizeof saved, "%s", rmtl_last_error());
    rmtl__ckpt_reader r;
    int kind = RMTL__CKPT_UNKNOWN;
    if (!rmtl__ckpt_open(&r, buf, len, rmtl__ckpt_all_tags,
                         sizeof rmtl__ckpt_all_tags / sizeof rmtl__ckpt_all_tags[0])) {
        const void *st = NULL;
        size_t st_len = 0;
        uint32_t magic = 0, rl_kind = 0;
        if (rmtl__ckpt_has(&r, RMTL__TAG_RLST) &&
            !rmtl__ckpt_find(&r, RMTL__TAG_RLST, &st, &st_len)) {
            rmtl__rbuf b;
            rmtl__rbuf_init(&b, st, st_len);
            magic = rmtl__get_u32(&b);
            (void)rmtl__get_u32(&b); /* the RL state's version */
            rl_kind = rmtl__get_u32(&b);
            if (b.failed)
                magic = 0;
        }
        if (rmtl__ckpt_has(&r, RMTL__TAG_FUSE))
            kind = RMTL__CKPT_FUSION;
        else if (magic == RMTL__RL_STATE_MAGIC)
            kind = rl_kind >= RMTL__CKPT_CRITIC && rl_kind <= RMTL__CKPT_AGENT ? (int)rl_kind
                                                                               : kind;
        else if (rmtl__ckpt_has(&r, RMTL__TAG_ARCH) && rmtl__ckpt_has(&r, RMTL__TAG_TENS))
            kind = RMTL__CKPT_MODEL;
    }
    rmtl__ckpt_close(&r);
    rmtl__error(0, "%s", saved);
    return kind;
}

int rmtl__ckpt_kind_error(const void *buf, size_t len, int want, int rc)
{
    static const char *const what[] = {"", "a critic", "an actor", "an agent", "a model",
                                       "a fusion policy"};
    static const char *const call[] = {"", "rmtl_critic_load", "rmtl_actor_load",
                                       "rmtl_agent_load", "rmtl_model_load", "rmtl_fusion_load"};
    if (rc != RMTL_EFORMAT && rc != RMTL_EVERSION)
        return rc; /* out of memory, say: not a question of kind */
    int got = rmtl__ckpt_kind(buf, len);
    if (got == RMTL__CKPT_UNKNOWN || got == want)
        return rc;
    return rmtl__error(RMTL_EFORMAT, "checkpoint holds %s, not %s: load it with %s", what[got],
                       what[want], call[got]);
}

int rmtl__ckpt_load_file(void *out, const char *path, rmtl__ckpt_parse_fn parse, const char *fn)
{
    if (!path)
        return rmtl__error(RMTL_EINVAL, "%s: invalid argument 'path'", fn);
    char *buf;
    size_t len;
    int rc = rmtl__read_file(&buf, &len, path); /* its messages name the path */
    if (rc)
        return rc;
    rc = parse(out, buf, len);
    if (rc)
        rmtl__error_prefix(rc, "%s", path);
    rmtl__free(buf);
    return rc;
}
