/* Loops across BLIS's OpenMP team, or serial (see par.h). */
#include "nn/par.h"

#include <blis.h>

#ifdef _OPENMP
#include <omp.h>
#endif

int rmtl__par_threads(const rmtl__rt *rt)
{
#ifdef _OPENMP
    if (rt && rt->threads > 1 && bli_info_get_enable_openmp() && !omp_in_parallel())
        return rt->threads;
#else
    (void)rt;
#endif
    return 1;
}

void rmtl__par_for(const rmtl__rt *rt, size_t n, size_t grain, rmtl__par_fn fn, void *ctx)
{
    size_t parts = n / (grain ? grain : 1);
    size_t t = (size_t)rmtl__par_threads(rt);
    if (parts > t)
        parts = t;
#ifdef _OPENMP
    if (parts > 1) {
#pragma omp parallel for num_threads((int)parts) schedule(static, 1)
        for (long p = 0; p < (long)parts; p++)
            fn(ctx, n * (size_t)p / parts, n * (size_t)(p + 1) / parts);
        return;
    }
#endif
    if (n)
        fn(ctx, 0, n);
}
