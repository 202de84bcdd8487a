/* String interner: linear probing, load factor <= 1/2. Strings of up to 7
 * bytes (most categorical values) live in their slot's key, so a look-up
 * is one cache miss, not three (slot, offsets, arena); the hash is
 * MurmurHash3's finaliser over that key, or over FNV-1a for longer ones. */
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

static uint64_t rmtl__fmix(uint64_t h)
{
    h ^= h >> 33; /* MurmurHash3's fmix64 */
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ (h >> 33);
}

/* The slot key of `s` (see rmtl__islot) and, in *h, its hash. */
static uint64_t rmtl__key(const char *s, size_t len, uint64_t *h)
{
    uint64_t k = 0;
    if (len <= 7) {
        for (size_t i = 0; i < len; i++)
            k |= (uint64_t)(unsigned char)s[i] << (8 * i);
        k |= (uint64_t)(len + 1) << 56;
        *h = rmtl__fmix(k);
        return k;
    }
    uint64_t f = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        f = (f ^ (unsigned char)s[i]) * 1099511628211u;
    *h = rmtl__fmix(f);
    return *h >> 8;
}

/* Slot holding `s`, or the empty slot where it would go. */
static size_t rmtl__probe(const rmtl__intern *t, const char *s, size_t len, uint64_t key,
                          uint64_t h)
{
    size_t mask = t->nslots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const rmtl__islot *sl = &t->slots[i];
        if (sl->e == 0)
            return i;
        if (sl->key == key &&
            (len <= 7 || (rmtl__intern_len(t, sl->e - 1) == len &&
                          !memcmp(rmtl__intern_str(t, sl->e - 1), s, len))))
            return i;
    }
}

void rmtl__intern_sync(rmtl__intern *t)
{
    if (!t->unsynced)
        return; /* a table of millions of slots is not read for nothing */
    t->unsynced = 0;
    for (size_t i = 0; i < t->nslots; i++) {
        rmtl__islot *sl = &t->slots[i];
        if (sl->e && sl->hits) {
            t->count[sl->e - 1] += sl->hits;
            sl->hits = 0;
        }
    }
}

void rmtl__intern_prefetch(const rmtl__intern *t, const char *s, size_t len)
{
    if (t->nslots == 0)
        return;
    uint64_t h;
    rmtl__key(s, len, &h);
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(&t->slots[(size_t)h & (t->nslots - 1)]);
#endif
}

int64_t rmtl__intern_find(const rmtl__intern *t, const char *s, size_t len)
{
    if (t->n == 0)
        return -1;
    uint64_t h, key = rmtl__key(s, len, &h);
    uint32_t e = t->slots[rmtl__probe(t, s, len, key, h)].e;
    return e ? (int64_t)e - 1 : -1;
}

static int rmtl__rehash(rmtl__intern *t, size_t nslots)
{
    rmtl__islot *slots = rmtl__mallocarray(nslots, sizeof *slots);
    if (!slots)
        return -1;
    memset(slots, 0, nslots * sizeof *slots);
    rmtl__intern_sync(t); /* the hits live in the slots being replaced */
    rmtl__islot *old = t->slots;
    t->slots = slots, t->nslots = nslots;
    for (size_t e = 0; e < t->n; e++) {
        const char *s = rmtl__intern_str(t, e);
        size_t len = rmtl__intern_len(t, e);
        uint64_t h, key = rmtl__key(s, len, &h);
        size_t i = rmtl__probe(t, s, len, key, h);
        slots[i] = (rmtl__islot){key, (uint32_t)(e + 1), 0};
    }
    rmtl__free(old);
    return 0;
}

/* Makes room for `more` entries of `bytes` bytes in all (their NULs
 * included) without another allocation; allocation failures leave the
 * table as it was. */
static int rmtl__grow(rmtl__intern *t, size_t more, size_t bytes)
{
    if (more > UINT32_MAX - 1 - t->n || bytes >= SIZE_MAX / 4)
        return -1;
    if (t->n + more > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        while (cap < t->n + more)
            cap *= 2;
        size_t *off = rmtl__realloc(t->off, (cap + 1) * sizeof *off);
        if (!off)
            return -1;
        t->off = off;
        size_t *count = rmtl__realloc(t->count, cap * sizeof *count);
        if (!count)
            return -1;
        t->count = count, t->cap = cap;
    }
    if (bytes > t->arena_cap - t->arena_len) {
        size_t cap = t->arena_cap ? t->arena_cap : 256;
        while (bytes > cap - t->arena_len) {
            if (cap > SIZE_MAX / 4)
                return -1;
            cap *= 2;
        }
        char *a = rmtl__realloc(t->arena, cap);
        if (!a)
            return -1;
        t->arena = a, t->arena_cap = cap;
    }
    size_t nslots = t->nslots ? t->nslots : 32;
    while ((t->n + more) * 2 > nslots)
        nslots *= 2;
    if (nslots != t->nslots && rmtl__rehash(t, nslots))
        return -1;
    return 0;
}

int rmtl__intern_reserve(rmtl__intern *t, size_t entries, size_t bytes)
{
    if (rmtl__grow(t, entries, bytes))
        return rmtl__error(RMTL_ENOMEM, "out of memory interning strings");
    return 0;
}

int rmtl__intern_add(rmtl__intern *t, const char *s, size_t len, size_t *idx)
{
    uint64_t h, key = rmtl__key(s, len, &h);
    if (t->n) {
        size_t slot = rmtl__probe(t, s, len, key, h);
        rmtl__islot *sl = &t->slots[slot];
        if (sl->e) {
            *idx = sl->e - 1;
            t->unsynced = 1;
            if (++sl->hits == UINT32_MAX) {
                t->count[*idx] += sl->hits;
                sl->hits = 0;
            }
            return 0;
        }
    }
    if (rmtl__grow(t, 1, len + 1))
        return rmtl__error(RMTL_ENOMEM, "out of memory interning strings");
    if (t->n == 0)
        t->off[0] = 0;
    memcpy(t->arena + t->arena_len, s, len);
    t->arena[t->arena_len + len] = '\0';
    t->arena_len += len + 1;
    size_t e = t->n++;
    t->off[t->n] = t->arena_len;
    t->count[e] = 1;
    t->slots[rmtl__probe(t, s, len, key, h)] = (rmtl__islot){key, (uint32_t)(e + 1), 0};
    *idx = e;
    return 0;
}
