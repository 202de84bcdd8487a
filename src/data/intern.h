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

/* A hash slot: `key` holds a string of up to 7 bytes itself (its bytes and
 * its length + 1 in the top byte), so finding one touches only the slot;
 * longer strings keep 56 bits of their hash there (top byte 0) and are
 * compared in the arena. */
typedef struct rmtl__islot {
    uint64_t key;
    uint32_t e;    /* entry index + 1, 0 = empty */
    uint32_t hits; /* finds since the entry's count was last updated: a hit
                      then writes the slot it has just read, not count[] */
} rmtl__islot;

typedef struct rmtl__intern {
    char *arena;          /* the strings, each followed by a NUL */
    size_t arena_len, arena_cap;
    size_t *off;          /* n+1 offsets into arena (off[n] = arena_len) */
    size_t *count;        /* occurrences of each string, once rmtl__intern_sync()
                             has run after the last add */
    size_t n, cap;
    rmtl__islot *slots;   /* open addressing */
    size_t nslots;        /* a power of two, or 0 */
    int unsynced;         /* some slot holds hits */
} rmtl__intern;

void rmtl__intern_init(rmtl__intern *t);
void rmtl__intern_free(rmtl__intern *t);

/* Finds `s` or appends it, adds one to its count and stores its index in
 * *idx. 0, or RMTL_ENOMEM (message set; the table is unchanged). */
int rmtl__intern_add(rmtl__intern *t, const char *s, size_t len, size_t *idx);

/* Makes room for `entries` more strings of `bytes` bytes in all (a NUL
 * each included), so that many adds allocate nothing: a table built from
 * a known set is sized once, not doubled and rehashed on the way. 0, or
 * RMTL_ENOMEM (message set; the table is unchanged). */
int rmtl__intern_reserve(rmtl__intern *t, size_t entries, size_t bytes);

/* Fetches the slot of `s` into the cache ahead of an add or find of it:
 * a row's look-ups then wait for memory together, not one by one. */
void rmtl__intern_prefetch(const rmtl__intern *t, const char *s, size_t len);

/* Brings `count` up to date (adds the slots' hits). */
void rmtl__intern_sync(rmtl__intern *t);

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
