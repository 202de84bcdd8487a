/*
 * Choosing BLIS's kernel set. Debian's BLIS 0.9.0 does not recognise some
 * recent CPUs (AMD EPYC with AVX-512 among them) and falls back to its
 * portable "generic" kernels, 4-5x slower than its AVX-512 ones. BLIS reads
 * the numeric id in BLIS_ARCH_TYPE once, when it initialises, so we set it
 * and initialise BLIS ourselves before the process's first BLIS call.
 * Two traps of 0.9.0 shape this file: a name instead of a number aborts the
 * process, and the variable is honoured only if bli_init() runs before any
 * query such as bli_arch_query_id() (which would abort otherwise).
 */
#include "core/internal.h"
#include "nn/gemm.h"

#include <blis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t rmtl__blis_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int rmtl__blis_ready;
static char rmtl__blis_active[32];

int rmtl__ncores(void)
{
    return rmtl_usable_cpus();
}

/* CPU features each kernel set needs. */
static int rmtl__cpu_can(const char *arch)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (!strcmp(arch, "skx"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    if (!strcmp(arch, "zen3") || !strcmp(arch, "haswell"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return !strcmp(arch, "generic");
}

const char *rmtl__blis_arch_auto(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (rmtl__cpu_can("skx"))
        return "skx";
    if (rmtl__cpu_can("zen3"))
        return __builtin_cpu_is("amd") ? "zen3" : "haswell";
#endif
    return NULL;
}

/* arch_t ids differ between BLIS versions; map by name. bli_arch_string()
 * is a table look-up that does not initialise BLIS. */
static int rmtl__blis_arch_id(const char *name)
{
    for (int i = 0; i < (int)BLIS_NUM_ARCHS; i++)
        if (!strcmp(bli_arch_string((arch_t)i), name))
            return i;
    return -1;
}

int rmtl__blis_init(const char *requested)
{
    int rc = 0;
    if (!requested)
        requested = "auto";
    pthread_mutex_lock(&rmtl__blis_lock);
    if (rmtl__blis_ready) {
        /* Already fixed for this process; an explicit different request is
         * not an error (the host may have several handles), but say so. */
        if (strcmp(requested, "auto") && strcmp(requested, rmtl__blis_active))
            rmtl__log(RMTL_LOG_WARN,
                      "runtime.blis_arch '%s' ignored: BLIS already runs '%s' in this process",
                      requested, rmtl__blis_active);
        pthread_mutex_unlock(&rmtl__blis_lock);
        return 0;
    }
    const char *want = NULL;
    if (!strcmp(requested, "auto")) {
        /* A host that set BLIS_ARCH_TYPE itself has chosen; respect it. */
        if (!getenv("BLIS_ARCH_TYPE"))
            want = rmtl__blis_arch_auto();
    } else if (!strcmp(requested, "skx") || !strcmp(requested, "zen3") ||
               !strcmp(requested, "haswell") || !strcmp(requested, "generic")) {
        if (!rmtl__cpu_can(requested))
            rc = rmtl__error(RMTL_ECONFIG,
                             "runtime.blis_arch: this CPU lacks the instructions of '%s'",
                             requested);
        want = requested;
    } else {
        rc = rmtl__error(RMTL_ECONFIG,
                         "runtime.blis_arch: '%s' is not one of auto, skx, zen3, haswell, generic",
                         requested);
    }
    if (rc == 0) {
        if (want) {
            int id = rmtl__blis_arch_id(want);
            if (id >= 0) {
                char num[16];
                snprintf(num, sizeof num, "%d", id);
                setenv("BLIS_ARCH_TYPE", num, 1);
            }
        }
        bli_init();
        snprintf(rmtl__blis_active, sizeof rmtl__blis_active, "%s",
                 bli_arch_string(bli_arch_query_id()));
        atomic_store_explicit(&rmtl__blis_ready, 1, memory_order_release);
    }
    pthread_mutex_unlock(&rmtl__blis_lock);
    return rc;
}

void rmtl__blis_ensure(void)
{
    /* One acquire load on the hot path; the lock only until BLIS is up. */
    if (!atomic_load_explicit(&rmtl__blis_ready, memory_order_acquire))
        rmtl__blis_init(NULL);
}

const char *rmtl__blis_arch(void)
{
    rmtl__blis_init(NULL);
    return rmtl__blis_active;
}
