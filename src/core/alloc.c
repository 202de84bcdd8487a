/* Allocation wrappers: overflow checks and a failure-injection hook. */
#include "core/internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Count of allocations and the countdown to an injected failure. Atomic
 * because serving threads may allocate contexts concurrently. */
static atomic_size_t rmtl__alloc_count;
static atomic_size_t rmtl__alloc_fail_at; /* 0: never fail */

size_t rmtl__alloc_fail_after(size_t n)
{
    size_t made = atomic_exchange(&rmtl__alloc_count, 0);
    atomic_store(&rmtl__alloc_fail_at, n);
    return made;
}

static int rmtl__alloc_should_fail(void)
{
    size_t n = atomic_fetch_add(&rmtl__alloc_count, 1) + 1;
    size_t at = atomic_load(&rmtl__alloc_fail_at);
    return at != 0 && n == at;
}

void *rmtl__malloc(size_t size)
{
    if (rmtl__alloc_should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *rmtl__calloc(size_t count, size_t size)
{
    if (rmtl__alloc_should_fail())
        return NULL;
    if (count == 0 || size == 0)
        return calloc(1, 1);
    return calloc(count, size);
}

void *rmtl__realloc(void *ptr, size_t size)
{
    if (rmtl__alloc_should_fail())
        return NULL;
    return realloc(ptr, size ? size : 1);
}

void *rmtl__mallocarray(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    return rmtl__malloc(count * size);
}

void rmtl__free(void *ptr) { free(ptr); }

void rmtl_free(void *ptr) { free(ptr); }

char *rmtl__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = rmtl__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
