/* Streaming CSV reader: a byte source (file or memory, optionally through
 * zlib) feeds a buffer; a resumable state machine splits records in place,
 * so a record may straddle any number of refills. */
#include "data/csv.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/internal.h"
#include "data/intern.h"

enum { RMTL__RAW_CHUNK = 1 << 16, RMTL__BUF_INIT = 1 << 18 };

enum rmtl__csv_state { S_FIELD, S_UNQUOTED, S_QUOTED, S_AFTER_QUOTE };

struct rmtl__csv {
    const char *name; /* path or caller's label, owned copy */

    /* raw bytes: a file or a memory block */
    FILE *f;
    const unsigned char *mem;
    size_t mem_len, mem_pos;
    int raw_eof;
    uint64_t raw_done, raw_size; /* bytes read so far, of raw_size (0: unknown) */

    /* raw input buffer: zlib's input, or bytes peeked for magic detection */
    unsigned char *in;
    size_t in_pos, in_len;

    int gz, gz_init, gz_member_open;
    z_stream zs;

    /* decoded text: [start, end) not yet consumed; one spare byte at cap */
    char *buf;
    size_t cap, start, end;
    int eof;
    size_t line; /* line number at `start` */

    /* record being parsed, offsets relative to `start` */
    int state;
    size_t p, w, nl, quote_nl;
    size_t nf, fcap;
    size_t *fstart, *flen;
    int last_quoted;

    /* the current record */
    size_t rec_line;
    const char **fptr;

    /* header; `index` maps a name to its column (intern index == column) */
    size_t ncols;
    char **names;
    rmtl__intern index;
};

/* --- byte sources --------------------------------------------------------- */

static int rmtl__raw_read(rmtl__csv *c, unsigned char *dst, size_t cap, size_t *got)
{
    *got = 0;
    if (c->raw_eof)
        return 0;
    if (c->mem) {
        size_t n = c->mem_len - c->mem_pos < cap ? c->mem_len - c->mem_pos : cap;
        memcpy(dst, c->mem + c->mem_pos, n);
        c->mem_pos += n;
        *got = n;
    } else {
        *got = fread(dst, 1, cap, c->f);
        if (*got == 0 && ferror(c->f))
            return rmtl__error(RMTL_EIO, "%s: read error: %s", c->name, strerror(errno));
    }
    if (*got == 0)
        c->raw_eof = 1;
    c->raw_done += *got;
    return 0;
}

static voidpf rmtl__zalloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return rmtl__mallocarray(items, size);
}

static void rmtl__zfree(voidpf opaque, voidpf p)
{
    (void)opaque;
    rmtl__free(p);
}

static int rmtl__gz_read(rmtl__csv *c, char *dst, size_t cap, size_t *got)
{
    uInt room = cap > UINT_MAX ? UINT_MAX : (uInt)cap;
    c->zs.next_out = (Bytef *)dst;
    c->zs.avail_out = room;
    while (c->zs.avail_out > 0) {
        if (c->zs.avail_in == 0) {
            size_t n;
            int rc = rmtl__raw_read(c, c->in, RMTL__RAW_CHUNK, &n);
            if (rc)
                return rc;
            if (n == 0) {
                if (c->gz_member_open)
                    return rmtl__error(RMTL_EFORMAT, "%s: truncated gzip data", c->name);
                break;
            }
            c->zs.next_in = c->in;
            c->zs.avail_in = (uInt)n;
        }
        c->gz_member_open = 1;
        int zr = inflate(&c->zs, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            /* gzip files may hold several members back to back */
            c->gz_member_open = 0;
            if (inflateReset(&c->zs) != Z_OK)
                return rmtl__error(RMTL_ERROR, "%s: cannot reset zlib", c->name);
        } else if (zr == Z_MEM_ERROR) {
            return rmtl__error(RMTL_ENOMEM, "%s: out of memory decompressing", c->name);
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            return rmtl__error(RMTL_EFORMAT, "%s: corrupt gzip data (%s)", c->name,
                               c->zs.msg ? c->zs.msg : "inflate failed");
        }
    }
    *got = room - c->zs.avail_out;
    return 0;
}

/* Decoded bytes into dst; *got == 0 only at the end of input. */
static int rmtl__src_read(rmtl__csv *c, char *dst, size_t cap, size_t *got)
{
    if (c->gz)
        return rmtl__gz_read(c, dst, cap, got);
    if (c->in_pos < c->in_len) {
        size_t n = c->in_len - c->in_pos < cap ? c->in_len - c->in_pos : cap;
        memcpy(dst, c->in + c->in_pos, n);
        c->in_pos += n;
        *got = n;
        return 0;
    }
    return rmtl__raw_read(c, (unsigned char *)dst, cap, got);
}

/* Peeks at the first raw bytes: gzip's magic 1f 8b selects zlib. */
static int rmtl__src_start(rmtl__csv *c)
{
    c->in = rmtl__malloc(RMTL__RAW_CHUNK);
    if (!c->in)
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", c->name);
    while (c->in_len < 2 && !c->raw_eof) {
        size_t n;
        int rc = rmtl__raw_read(c, c->in + c->in_len, RMTL__RAW_CHUNK - c->in_len, &n);
        if (rc)
            return rc;
        c->in_len += n;
    }
    if (c->in_len >= 2 && c->in[0] == 0x1f && c->in[1] == 0x8b) {
        c->gz = 1;
        c->zs.zalloc = rmtl__zalloc;
        c->zs.zfree = rmtl__zfree;
        c->zs.next_in = c->in;
        c->zs.avail_in = (uInt)c->in_len;
        int zr = inflateInit2(&c->zs, 16 + MAX_WBITS);
        if (zr != Z_OK)
            return rmtl__error(zr == Z_MEM_ERROR ? RMTL_ENOMEM : RMTL_ERROR,
                               "%s: cannot start zlib", c->name);
        c->gz_init = 1;
    }
    return 0;
}

/* --- buffering ------------------------------------------------------------ */

/* Moves the unconsumed bytes to the front, grows the buffer when a record
 * fills it, and reads more. Sets `eof` when nothing more comes. */
static int rmtl__fill(rmtl__csv *c)
{
    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end == c->cap) {
        if (c->cap > SIZE_MAX / 4)
            return rmtl__error(RMTL_ENOMEM, "%s: record too large", c->name);
        char *nb = rmtl__realloc(c->buf, c->cap * 2 + 1);
        if (!nb)
            return rmtl__error(RMTL_ENOMEM, "%s:%zu: out of memory buffering a record", c->name,
                               c->line);
        c->buf = nb, c->cap *= 2;
    }
    size_t got;
    int rc = rmtl__src_read(c, c->buf + c->end, c->cap - c->end, &got);
    if (rc)
        return rc;
    c->end += got;
    if (got == 0)
        c->eof = 1;
    return 0;
}

/* --- records -------------------------------------------------------------- */

static const char *rmtl__colname_or(const rmtl__csv *c, size_t i, char *tmp, size_t tmpn)
{
    if (c->names && i < c->ncols)
        return c->names[i];
    snprintf(tmp, tmpn, "#%zu", i + 1);
    return tmp;
}

int rmtl__csv_error(const rmtl__csv *c, int code, size_t col, const char *fmt, ...)
{
    char msg[320], tmp[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rmtl__error(code, "%s:%zu: column '%s': %s", c->name, c->rec_line,
                       rmtl__colname_or(c, col, tmp, sizeof tmp), msg);
}

/* Room for field index `nf` (its start is recorded before it ends). */
static int rmtl__fields_reserve(rmtl__csv *c, size_t need)
{
    if (need <= c->fcap)
        return 0;
    size_t cap = c->fcap ? c->fcap * 2 : 64;
    size_t *fs = rmtl__realloc(c->fstart, cap * sizeof *fs);
    if (!fs)
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", c->name);
    c->fstart = fs;
    size_t *fl = rmtl__realloc(c->flen, cap * sizeof *fl);
    if (!fl)
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", c->name);
    c->flen = fl;
    const char **fp = rmtl__realloc(c->fptr, cap * sizeof *fp);
    if (!fp)
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", c->name);
    c->fptr = fp, c->fcap = cap;
    return 0;
}

static int rmtl__end_field(rmtl__csv *c, int quoted)
{
    if (c->names && c->nf >= c->ncols)
        return rmtl__csv_error(c, RMTL_EFORMAT, c->ncols - 1,
                               "the row has more fields than the header's %zu (an unquoted "
                               "comma after the last column?)",
                               c->ncols);
    c->flen[c->nf] = c->w - c->fstart[c->nf];
    c->last_quoted = quoted;
    return rmtl__fields_reserve(c, ++c->nf + 1);
}

/* Advances the state machine over the buffered bytes. Returns 1 when a
 * record is complete (consumed through its newline), 0 when it needs more
 * input, or an error. */
static int rmtl__scan(rmtl__csv *c)
{
    char *b = c->buf + c->start;
    size_t n = c->end - c->start;
    size_t p = c->p, w = c->w;
    int rc;
#define RMTL__SAVE() (c->p = p, c->w = w)
    while (p < n) {
        unsigned char ch = (unsigned char)b[p];
        if (ch == 0) {
            RMTL__SAVE();
            return rmtl__error(RMTL_EFORMAT, "%s:%zu: NUL byte in the text (a binary file?)",
                               c->name, c->line + c->nl);
        }
        switch (c->state) {
        case S_FIELD:
            c->fstart[c->nf] = w;
            if (ch == '"') {
                c->state = S_QUOTED;
                c->quote_nl = c->nl;
                p++;
            } else {
                c->state = S_UNQUOTED;
            }
            break;
        case S_UNQUOTED:
            while (p < n && b[p] != ',' && b[p] != '\n' && b[p] != '\0')
                b[w++] = b[p++];
            if (p == n || b[p] == '\0')
                break;
            if (b[p] == '\n' && w > c->fstart[c->nf] && b[w - 1] == '\r')
                w--; /* CRLF */
            ch = (unsigned char)b[p++];
            RMTL__SAVE();
            if ((rc = rmtl__end_field(c, 0)))
                return rc;
            b[w++] = '\0'; /* may overwrite the delimiter just read */
            c->state = S_FIELD;
            if (ch == '\n') {
                c->nl++;
                RMTL__SAVE();
                return 1;
            }
            break;
        case S_QUOTED:
            while (p < n && b[p] != '"' && b[p] != '\0') {
                if (b[p] == '\n')
                    c->nl++;
                b[w++] = b[p++];
            }
            if (p == n || b[p] == '\0')
                break;
            if (p + 1 == n && !c->eof) {
                RMTL__SAVE();
                return 0; /* is it "" or the closing quote? */
            }
            if (p + 1 < n && b[p + 1] == '"') {
                b[w++] = '"';
                p += 2;
            } else {
                p++;
                c->state = S_AFTER_QUOTE;
            }
            break;
        case S_AFTER_QUOTE:
            if (ch == '\r') {
                p++;
            } else if (ch == ',' || ch == '\n') {
                RMTL__SAVE();
                if ((rc = rmtl__end_field(c, 1)))
                    return rc;
                b[w++] = '\0';
                c->state = S_FIELD;
                p++;
                if (ch == '\n') {
                    c->nl++;
                    RMTL__SAVE();
                    return 1;
                }
            } else {
                RMTL__SAVE();
                c->rec_line = c->line + c->nl;
                return rmtl__csv_error(c, RMTL_EFORMAT, c->nf,
                                       "unexpected '%c' after a closing quote",
                                       ch >= 32 && ch < 127 ? ch : '?');
            }
            break;
        }
    }
    RMTL__SAVE();
#undef RMTL__SAVE
    return 0;
}

/* The record that ends the input without a newline. 1 if there is one. */
static int rmtl__scan_eof(rmtl__csv *c)
{
    if (c->p == 0 && c->nf == 0 && c->state == S_FIELD)
        return 0;
    int rc;
    switch (c->state) {
    case S_QUOTED:
        c->rec_line = c->line + c->quote_nl;
        return rmtl__csv_error(c, RMTL_EFORMAT, c->nf,
                               "unterminated quote (the quoted field starts on this line)");
    case S_UNQUOTED: {
        char *b = c->buf + c->start;
        if (c->w > c->fstart[c->nf] && b[c->w - 1] == '\r')
            c->w--;
        if ((rc = rmtl__end_field(c, 0)))
            return rc;
        break;
    }
    case S_AFTER_QUOTE:
        if ((rc = rmtl__end_field(c, 1)))
            return rc;
        break;
    case S_FIELD: /* after a trailing comma: one more, empty field */
        c->fstart[c->nf] = c->w;
        if ((rc = rmtl__end_field(c, 0)))
            return rc;
        break;
    }
    c->buf[c->start + c->w] = '\0'; /* the spare byte at cap covers w == cap */
    c->p = c->end - c->start;
    return 1;
}

static int rmtl__is_blank(char ch) { return ch == ' ' || ch == '\t'; }

/* Reads one raw record (any field count). 1, 0 at the end, or an error. */
static int rmtl__read_record(rmtl__csv *c)
{
    for (;;) {
        c->p = c->w = c->nl = 0;
        c->nf = 0;
        c->state = S_FIELD;
        c->rec_line = c->line;
        int rc = rmtl__fields_reserve(c, 1);
        if (rc)
            return rc;
        for (;;) {
            rc = rmtl__scan(c);
            if (rc)
                break;
            if (c->eof) {
                rc = rmtl__scan_eof(c);
                break;
            }
            if ((rc = rmtl__fill(c)))
                return rc;
        }
        if (rc <= 0)
            return rc;
        char *b = c->buf + c->start;
        c->start += c->p;
        c->line += c->nl;
        if (c->nf == 1 && c->flen[0] == 0 && !c->last_quoted)
            continue; /* blank line */
        for (size_t i = 0; i < c->nf; i++) {
            char *s = b + c->fstart[i];
            size_t len = c->flen[i];
            while (len && rmtl__is_blank(s[len - 1]))
                len--;
            while (len && rmtl__is_blank(*s))
                s++, len--;
            s[len] = '\0';
            c->fptr[i] = s;
            c->flen[i] = len;
        }
        return 1;
    }
}

/* --- public (library-internal) interface ---------------------------------- */

static int rmtl__csv_start(rmtl__csv *c)
{
    int rc = rmtl__src_start(c);
    if (rc)
        return rc;
    c->buf = rmtl__malloc(RMTL__BUF_INIT + 1);
    if (!c->buf)
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", c->name);
    c->cap = RMTL__BUF_INIT;
    c->line = 1;
    if ((rc = rmtl__fill(c)))
        return rc;
    if (c->end - c->start >= 3 && !memcmp(c->buf, "\xEF\xBB\xBF", 3))
        c->start += 3;
    rc = rmtl__read_record(c);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return rmtl__error(RMTL_EFORMAT, "%s: empty file: no header row", c->name);
    c->names = rmtl__calloc(c->nf, sizeof *c->names);
    if (!c->names)
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", c->name);
    c->ncols = c->nf;
    for (size_t i = 0; i < c->nf; i++) {
        if (!(c->names[i] = rmtl__strdup(c->fptr[i])))
            return rmtl__error(RMTL_ENOMEM, "%s: out of memory", c->name);
        if (c->flen[i] == 0)
            return rmtl__error(RMTL_EFORMAT, "%s:%zu: header column %zu has no name", c->name,
                               c->rec_line, i + 1);
        size_t idx;
        if ((rc = rmtl__intern_add(&c->index, c->fptr[i], c->flen[i], &idx)))
            return rc;
        if (idx != i)
            return rmtl__error(RMTL_EFORMAT, "%s:%zu: column '%s' appears twice in the header",
                               c->name, c->rec_line, c->names[i]);
    }
    return 0;
}

static int rmtl__csv_new(rmtl__csv **out, const char *name)
{
    rmtl__csv *c = rmtl__calloc(1, sizeof *c);
    if (!c)
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", name);
    if (!(c->name = rmtl__strdup(name))) {
        rmtl__free(c);
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", name);
    }
    *out = c;
    return 0;
}

int rmtl__csv_open_file(rmtl__csv **out, const char *path)
{
    *out = NULL;
    rmtl__csv *c;
    int rc = rmtl__csv_new(&c, path);
    if (rc)
        return rc;
    c->f = fopen(path, "rb");
    if (!c->f) {
        rc = rmtl__error(RMTL_EIO, "%s: cannot open: %s", path, strerror(errno));
        rmtl__csv_close(c);
        return rc;
    }
    struct stat st;
    if (fstat(fileno(c->f), &st) == 0 && S_ISREG(st.st_mode))
        c->raw_size = (uint64_t)st.st_size;
    if ((rc = rmtl__csv_start(c))) {
        rmtl__csv_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

int rmtl__csv_open_mem(rmtl__csv **out, const void *data, size_t len, const char *name)
{
    *out = NULL;
    rmtl__csv *c;
    int rc = rmtl__csv_new(&c, name ? name : "<memory>");
    if (rc)
        return rc;
    c->mem = data ? data : (const void *)"";
    c->mem_len = data ? len : 0;
    c->raw_size = c->mem_len;
    if ((rc = rmtl__csv_start(c))) {
        rmtl__csv_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void rmtl__csv_close(rmtl__csv *c)
{
    if (!c)
        return;
    if (c->f)
        fclose(c->f);
    if (c->gz_init)
        inflateEnd(&c->zs);
    if (c->names)
        for (size_t i = 0; i < c->ncols; i++)
            rmtl__free(c->names[i]);
    rmtl__free(c->names);
    rmtl__intern_free(&c->index);
    rmtl__free(c->in);
    rmtl__free(c->buf);
    rmtl__free(c->fstart);
    rmtl__free(c->flen);
    rmtl__free(c->fptr);
    rmtl__free((char *)c->name);
    rmtl__free(c);
}

int rmtl__csv_next(rmtl__csv *c)
{
    int rc = rmtl__read_record(c);
    if (rc <= 0)
        return rc;
    if (c->nf < c->ncols)
        return rmtl__csv_error(c, RMTL_EFORMAT, c->nf,
                               "missing: the row has %zu field%s, the header %zu", c->nf,
                               c->nf == 1 ? "" : "s", c->ncols);
    return 1;
}

size_t rmtl__csv_ncols(const rmtl__csv *c) { return c->ncols; }
int64_t rmtl__csv_find(const rmtl__csv *c, const char *name)
{
    return rmtl__intern_find(&c->index, name, strlen(name));
}
const char *rmtl__csv_colname(const rmtl__csv *c, size_t i) { return c->names[i]; }
const char *rmtl__csv_name(const rmtl__csv *c) { return c->name; }
const char *rmtl__csv_field(const rmtl__csv *c, size_t i) { return c->fptr[i]; }
size_t rmtl__csv_field_len(const rmtl__csv *c, size_t i) { return c->flen[i]; }
size_t rmtl__csv_line(const rmtl__csv *c) { return c->rec_line; }

void rmtl__csv_bytes(const rmtl__csv *c, uint64_t *done, uint64_t *total)
{
    *total = c->raw_size;
    *done = c->raw_size && c->raw_done > c->raw_size ? c->raw_size : c->raw_done;
}
