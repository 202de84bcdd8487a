/* String interner: FNV-1a hashing, linear probing, load factor <= 1/2. */
#include "data/intern.h"

#include <string.h>

#include "core/internal.h"

void rmtl__intern_init(rmtl__intern *t) { memset(t, 0, sizeof *t); }

void rmtl__intern_free(rmtl__intern *t)
{
    if (!t)
        return;
    rmtl__free(t->arena);
    rmtl__free(t->off);
    rmtl__free(t->count);
    rmtl__free(t->slots);
    memset(t, 0, sizeof *t);
}

static uint64_t rmtl__hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h ^ (h >> 29);
}

/* Slot holding `s`, or the empty slot where it would go. */
static size_t rmtl__probe(const rmtl__intern *t, const char *s, size_t len, uint64_t h)
{
    size_t mask = t->nslots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t e = t->slots[i];
        if (e == 0)
            return i;
        if (rmtl__intern_len(t, e - 1) == len && !memcmp(rmtl__intern_str(t, e - 1), s, len))
            return i;
    }
}

int64_t rmtl__intern_find(const rmtl__intern *t, const char *s, size_t len)
{
    if (t->n == 0)
        return -1;
    uint32_t e = t->slots[rmtl__probe(t, s, len, rmtl__hash(s, len))];
    return e ? (int64_t)e - 1 : -1;
}

static int rmtl__rehash(rmtl__intern *t, size_t nslots)
{
    uint32_t *slots = rmtl__calloc(nslots, sizeof *slots);
    if (!slots)
        return -1;
    uint32_t *old = t->slots;
    t->slots = slots, t->nslots = nslots;
    for (size_t e = 0; e < t->n; e++) {
        const char *s = rmtl__intern_str(t, e);
        size_t len = rmtl__intern_len(t, e);
        slots[rmtl__probe(t, s, len, rmtl__hash(s, len))] = (uint32_t)(e + 1);
    }
    rmtl__free(old);
    return 0;
}

/* Makes room for one more entry of `len` bytes; allocation failures leave
 * the table as it was. */
static int rmtl__reserve(rmtl__intern *t, size_t len)
{
    if (t->n >= UINT32_MAX - 1 || len >= SIZE_MAX / 4)
        return -1;
    if (t->n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        size_t *off = rmtl__realloc(t->off, (cap + 1) * sizeof *off);
        if (!off)
            return -1;
        t->off = off;
        size_t *count = rmtl__realloc(t->count, cap * sizeof *count);
        if (!count)
            return -1;
        t->count = count, t->cap = cap;
    }
    if (len + 1 > t->arena_cap - t->arena_len) {
        size_t cap = t->arena_cap ? t->arena_cap : 256;
        while (len + 1 > cap - t->arena_len) {
            if (cap > SIZE_MAX / 4)
                return -1;
            cap *= 2;
        }
        char *a = rmtl__realloc(t->arena, cap);
        if (!a)
            return -1;
        t->arena = a, t->arena_cap = cap;
    }
    if ((t->n + 1) * 2 > t->nslots && rmtl__rehash(t, t->nslots ? t->nslots * 2 : 32))
        return -1;
    return 0;
}

int rmtl__intern_add(rmtl__intern *t, const char *s, size_t len, size_t *idx)
{
    if (t->n) {
        size_t slot = rmtl__probe(t, s, len, rmtl__hash(s, len));
        if (t->slots[slot]) {
            *idx = t->slots[slot] - 1;
            t->count[*idx]++;
            return 0;
        }
    }
    if (rmtl__reserve(t, len))
        return rmtl__error(RMTL_ENOMEM, "out of memory interning strings");
    if (t->n == 0)
        t->off[0] = 0;
    memcpy(t->arena + t->arena_len, s, len);
    t->arena[t->arena_len + len] = '\0';
    t->arena_len += len + 1;
    size_t e = t->n++;
    t->off[t->n] = t->arena_len;
    t->count[e] = 1;
    t->slots[rmtl__probe(t, s, len, rmtl__hash(s, len))] = (uint32_t)(e + 1);
    *idx = e;
    return 0;
}
