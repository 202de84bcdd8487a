/* A string interner: byte strings to dense indices 0..n-1 in order of
 * first insertion, with an occurrence count per string. Backs vocabulary
 * building (count, then keep the frequent ones), vocabulary lookup for
 * validation splits, and the session/user/item id columns. Strings are
 * binary-safe (explicit lengths) and kept NUL-terminated in one arena, so
 * interning a million short strings costs a handful of allocations. */
#ifndef RMTL_DATA_INTERN_H
#define RMTL_DATA_INTERN_H

#include <stddef.h>
#include <stdint.h>

typedef struct rmtl__intern {
    char *arena;          /* the strings, each followed by a NUL */
    size_t arena_len, arena_cap;
    size_t *off;          /* n+1 offsets into arena (off[n] = arena_len) */
    size_t *count;        /* occurrences of each string */
    size_t n, cap;
    uint32_t *slots;      /* open addressing: entry index + 1, 0 = empty */
    size_t nslots;        /* a power of two, or 0 */
} rmtl__intern;

void rmtl__intern_init(rmtl__intern *t);
void rmtl__intern_free(rmtl__intern *t);

/* Finds `s` or appends it, adds one to its count and stores its index in
 * *idx. 0, or RMTL_ENOMEM (message set; the table is unchanged). */
int rmtl__intern_add(rmtl__intern *t, const char *s, size_t len, size_t *idx);

/* Index of `s`, or -1 when absent. */
int64_t rmtl__intern_find(const rmtl__intern *t, const char *s, size_t len);

static inline const char *rmtl__intern_str(const rmtl__intern *t, size_t i)
{
    return t->arena + t->off[i];
}
static inline size_t rmtl__intern_len(const rmtl__intern *t, size_t i)
{
    return t->off[i + 1] - t->off[i] - 1;
}

#endif
