/* Private helpers shared by every part of librmtl. Not installed. */
#ifndef RMTL_CORE_INTERNAL_H
#define RMTL_CORE_INTERNAL_H

#include "rmtl.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define RMTL__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define RMTL__UNUSED __attribute__((unused))
#else
#define RMTL__PRINTF(f, a)
#define RMTL__UNUSED
#endif

_Static_assert(sizeof(float) == 4, "librmtl assumes IEEE-754 binary32 floats");
_Static_assert(sizeof(double) == 8, "librmtl assumes IEEE-754 binary64 doubles");

/* --- errors (src/core/error.c) ---------------------------------------- */
/* Formats this thread's message and returns `code`, so call sites read
 * `return rmtl__error(RMTL_EINVAL, "...", ...);`. Both calls also pass the
 * message, as it stands after them, to the log callback at RMTL_LOG_DEBUG.
 * Messages are for users: they name public calls, keys and paths, never
 * an rmtl__ function (the tests check every message they provoke). */
int rmtl__error(int code, const char *fmt, ...) RMTL__PRINTF(2, 3);
/* Prefixes the current message with "what: " (keeps context as an error
 * travels outwards) and returns `code`. */
int rmtl__error_prefix(int code, const char *fmt, ...) RMTL__PRINTF(2, 3);
/* Emits a log line through the host's callback, if any. */
void rmtl__log(int level, const char *fmt, ...) RMTL__PRINTF(2, 3);

/* RMTL_EINVAL with "fn: invalid argument 'name'"; an internal fn (one
 * named rmtl__*) is left out, as messages name only public calls. */
int rmtl__error_arg(const char *fn, const char *name);
/* Returns RMTL_EINVAL from the enclosing function unless cond holds. */
#define RMTL__CHECK_ARG(cond, name)                   \
    do {                                              \
        if (!(cond))                                  \
            return rmtl__error_arg(__func__, name);   \
    } while (0)

/* --- memory (src/core/alloc.c) ---------------------------------------- */
/* Every allocation of the library goes through these so that tests can
 * inject failures (rmtl__alloc_fail_after) and sizes overflow-checked. */
void *rmtl__malloc(size_t size);
void *rmtl__calloc(size_t count, size_t size);
void *rmtl__realloc(void *ptr, size_t size);
/* count*size with overflow check; NULL on overflow or failure. */
void *rmtl__mallocarray(size_t count, size_t size);
void rmtl__free(void *ptr);
char *rmtl__strdup(const char *s);

/* Test hook: the n-th allocation from now fails (n >= 1); 0 disables.
 * Returns the number of allocations made since the last call. */
size_t rmtl__alloc_fail_after(size_t n);

#endif
