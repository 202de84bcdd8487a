/* How one text value of a CSV cell becomes a number, shared by the CSV
 * loader (load.c) and the encoder (encoder.c) so that a value encodes to
 * the same bits whichever way it arrives. */
#ifndef RMTL_DATA_VALUE_H
#define RMTL_DATA_VALUE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"

/* A finite decimal number and nothing else (no hex, NaN or Inf). Reads
 * with the calling thread's locale: callers switch to "C" first. */
static inline int rmtl__number(double *out, const char *s, size_t len)
{
    if (len == 0 || !(s[0] == '-' || s[0] == '+' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9')))
        return -1;
    if (memchr(s, 'x', len) || memchr(s, 'X', len))
        return -1;
    char *end;
    double v = strtod(s, &end); /* underflow to 0 or a subnormal is fine */
    if (end != s + len || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Writes v in decimal at d (at most 20 bytes, no NUL) and returns the
 * length: faster than snprintf where text is written by the million (the
 * simulator's logs, the parallel parser's vocabularies). */
static inline size_t rmtl__decimal(char *d, uint64_t v)
{
    char t[20];
    size_t n = 0;
    do
        t[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (size_t i = 0; i < n; i++)
        d[i] = t[n - 1 - i];
    return n;
}

/* The stored value of raw `x` (NaN: missing) of a numerical column with
 * statistics `st`: (x - mean) / std, or the column's fill (standardised)
 * or 0 (the mean) when missing. Not range-checked: the caller rejects a
 * result beyond FLT_MAX. */
static inline double rmtl__standardise(const rmtl__dscol *c, const rmtl__dsnum *st, double x)
{
    if (isnan(x))
        return c->has_fill ? (c->fill - st->mean) / st->std : 0.0;
    return (x - st->mean) / st->std;
}

/* A value quoted in a message: printable, at most 40 characters. */
static inline const char *rmtl__show(char *buf, size_t cap, const char *s, size_t len)
{
    size_t n = 0, max = cap - 4;
    for (size_t i = 0; i < len && n < max; i++)
        buf[n++] = (unsigned char)s[i] >= 32 && (unsigned char)s[i] < 127 ? s[i] : '?';
    if (len > max)
        memcpy(buf + n, "...", 3), n += 3;
    buf[n] = '\0';
    return buf;
}
#define RMTL__SHOW(s, len) rmtl__show((char[48]){0}, 48, s, len)

#endif
