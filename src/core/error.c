/* The one error convention: status codes plus a per-thread message. */
#include "core/internal.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

_Static_assert(RMTL_OK == 0 && RMTL_ERROR == -1 && RMTL_EINVAL == -2 && RMTL_ENOMEM == -3 &&
                   RMTL_EIO == -4 && RMTL_EFORMAT == -5 && RMTL_EVERSION == -6 &&
                   RMTL_ECONFIG == -7 && RMTL_ESTATE == -8 && RMTL_ENUMERIC == -9,
               "status codes are pinned: append, never renumber");

/* 512 bytes: long enough for "path:line:col: key: problem", and fixed so
 * that reporting ENOMEM never needs memory. */
static _Thread_local char rmtl__err[512];

const char *rmtl_strerror(int code)
{
    switch (code) {
    case RMTL_OK: return "success";
    case RMTL_ERROR: return "internal error";
    case RMTL_EINVAL: return "invalid argument";
    case RMTL_ENOMEM: return "out of memory";
    case RMTL_EIO: return "input/output error";
    case RMTL_EFORMAT: return "malformed input";
    case RMTL_EVERSION: return "unsupported version";
    case RMTL_ECONFIG: return "configuration error";
    case RMTL_ESTATE: return "invalid state for this call";
    case RMTL_ENUMERIC: return "non-finite number";
    default: return "unknown error code";
    }
}

const char *rmtl_last_error(void) { return rmtl__err; }

void rmtl_error_clear(void) { rmtl__err[0] = '\0'; }

int rmtl__error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rmtl__err, sizeof rmtl__err, fmt, ap);
    va_end(ap);
    rmtl__log(RMTL_LOG_DEBUG, "%s", rmtl__err);
    return code;
}

int rmtl__error_arg(const char *fn, const char *name)
{
    if (!strncmp(fn, "rmtl__", 6))
        return rmtl__error(RMTL_EINVAL, "invalid argument '%s'", name);
    return rmtl__error(RMTL_EINVAL, "%s: invalid argument '%s'", fn, name);
}

int rmtl__error_prefix(int code, const char *fmt, ...)
{
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return code;
    size_t plen = strlen(prefix);
    memcpy(prefix + plen, ": ", 3);
    plen += 2;
    size_t olen = strnlen(rmtl__err, sizeof rmtl__err - 1);
    if (plen + olen >= sizeof rmtl__err)
        olen = sizeof rmtl__err - 1 - plen;
    memmove(rmtl__err + plen, rmtl__err, olen);
    memcpy(rmtl__err, prefix, plen);
    rmtl__err[plen + olen] = '\0';
    rmtl__log(RMTL_LOG_DEBUG, "%s", rmtl__err);
    return code;
}

/* The callback pair is published atomically so a late reader never sees a
 * function with another function's payload torn from it. */
struct rmtl__logger {
    rmtl_log_fn fn;
    void *payload;
};
static struct rmtl__logger rmtl__loggers[2];
static atomic_int rmtl__logger_cur = -1;

void rmtl_set_log_callback(rmtl_log_fn fn, void *payload)
{
    if (!fn) {
        atomic_store(&rmtl__logger_cur, -1);
        return;
    }
    int next = atomic_load(&rmtl__logger_cur) == 0 ? 1 : 0;
    rmtl__loggers[next].fn = fn;
    rmtl__loggers[next].payload = payload;
    atomic_store(&rmtl__logger_cur, next);
}

void rmtl__log(int level, const char *fmt, ...)
{
    int cur = atomic_load(&rmtl__logger_cur);
    if (cur < 0)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    rmtl__loggers[cur].fn(level, line, rmtl__loggers[cur].payload);
}
