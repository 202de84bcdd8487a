/* Growable text buffer with a sticky allocation-failure flag. */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int rmtl__sb_reserve(rmtl__sb *sb, size_t extra)
{
    if (sb->failed)
        return -1;
    if (extra < sb->cap - sb->len)
        return 0;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap - sb->len <= extra) {
        if (cap > SIZE_MAX / 2)
            return sb->failed = 1, -1;
        cap *= 2;
    }
    char *nb = rmtl__realloc(sb->buf, cap);
    if (!nb)
        return sb->failed = 1, -1;
    sb->buf = nb;
    sb->cap = cap;
    return 0;
}

void rmtl__sb_puts(rmtl__sb *sb, const char *s)
{
    size_t n = strlen(s);
    if (rmtl__sb_reserve(sb, n))
        return;
    memcpy(sb->buf + sb->len, s, n + 1);
    sb->len += n;
}

void rmtl__sb_printf(rmtl__sb *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->failed = 1;
        return;
    }
    if (rmtl__sb_reserve(sb, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

int rmtl__sb_finish(rmtl__sb *sb, char **out, size_t *len)
{
    *out = NULL;
    if (!sb->failed && rmtl__sb_reserve(sb, 0) == 0) {
        sb->buf[sb->len] = '\0';
        *out = sb->buf;
        if (len)
            *len = sb->len;
        sb->buf = NULL;
        sb->len = sb->cap = 0;
        return 0;
    }
    rmtl__sb_free(sb);
    return RMTL_ENOMEM;
}

void rmtl__sb_free(rmtl__sb *sb)
{
    rmtl__free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}
