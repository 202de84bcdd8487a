/* Streaming CSV reader (RFC 4180 with the usual leniencies), plain or
 * gzip-compressed (recognised by its magic bytes), from a file or memory.
 *
 * Dialect: fields separated by ',', records by LF or CRLF, the last
 * newline optional; a field starting with '"' is quoted and may hold
 * commas, newlines and doubled quotes; a '"' inside an unquoted field is
 * an ordinary character. Every field is trimmed of surrounding spaces and
 * tabs. Blank lines are skipped. A UTF-8 byte-order mark is dropped. The
 * first record is the header; every later record must have as many fields.
 * NUL bytes are rejected (binary input).
 *
 * Errors carry "name:line: column 'x': problem" (RMTL_EFORMAT) or the
 * system's reason (RMTL_EIO); lines count physical lines from 1. */
#ifndef RMTL_DATA_CSV_H
#define RMTL_DATA_CSV_H

#include <stddef.h>
#include <stdint.h>

typedef struct rmtl__csv rmtl__csv;

/* Opens and reads the header. An empty file (no header) is RMTL_EFORMAT.
 * `name` labels messages (for memory input; NULL: "<memory>"); `path` is
 * used for files. On error *out is NULL. */
int rmtl__csv_open_file(rmtl__csv **out, const char *path);
int rmtl__csv_open_mem(rmtl__csv **out, const void *data, size_t len, const char *name);
void rmtl__csv_close(rmtl__csv *c);

/* Header: column count and names (borrowed from the reader). */
size_t rmtl__csv_ncols(const rmtl__csv *c);
const char *rmtl__csv_colname(const rmtl__csv *c, size_t i);
const char *rmtl__csv_name(const rmtl__csv *c);
/* Index of the header column called `name`, or -1. */
int64_t rmtl__csv_find(const rmtl__csv *c, const char *name);

/* Reads the next record: 1 with rmtl__csv_ncols() fields available, 0 at
 * the end of input, or a negative status. Field texts are NUL-terminated,
 * trimmed, and valid until the next call. */
int rmtl__csv_next(rmtl__csv *c);
const char *rmtl__csv_field(const rmtl__csv *c, size_t i);
size_t rmtl__csv_field_len(const rmtl__csv *c, size_t i);
/* Line on which the current record starts. */
size_t rmtl__csv_line(const rmtl__csv *c);

/* Raw bytes of the source read so far and its size (0 when unknown, e.g.
 * a pipe): compressed bytes for gzip input, for progress reports. */
void rmtl__csv_bytes(const rmtl__csv *c, uint64_t *done, uint64_t *total);

/* Sets "name:line: column 'x': <fmt>" for column `col` of the current
 * record and returns `code`. */
int rmtl__csv_error(const rmtl__csv *c, int code, size_t col, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif
