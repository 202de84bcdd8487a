/* A growable text buffer for building YAML and markdown. An allocation
 * failure is remembered, later appends are ignored, and the final
 * rmtl__sb_finish reports RMTL_ENOMEM: callers check once, at the end. */
#ifndef RMTL_CORE_STRBUF_H
#define RMTL_CORE_STRBUF_H

#include <stddef.h>

#include "core/internal.h"

typedef struct rmtl__sb {
    char *buf;
    size_t len, cap;
    int failed;
} rmtl__sb;

#define RMTL__SB_INIT {NULL, 0, 0, 0}

void rmtl__sb_puts(rmtl__sb *sb, const char *s);
void rmtl__sb_printf(rmtl__sb *sb, const char *fmt, ...) RMTL__PRINTF(2, 3);
/* Hands the NUL-terminated text to `*out` (freed with rmtl__free) and its
 * length to `*len` (may be NULL): 0, or RMTL_ENOMEM with *out = NULL.
 * The buffer is released either way. */
int rmtl__sb_finish(rmtl__sb *sb, char **out, size_t *len);
void rmtl__sb_free(rmtl__sb *sb);

#endif
