/* Progress reporting of long calls (see progress.h). */
#include "core/progress.h"

#include <time.h>

#include "core/internal.h"

double rmtl__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The next report falls due after another 1% of the total (at least one
 * unit), so a host drawing a bar sees it move without being called per row. */
static uint64_t rmtl__progress_step(const rmtl__progress *p)
{
    uint64_t step = p->total / 100;
    return step ? step : 1;
}

void rmtl__progress_start(rmtl__progress *p, rmtl_progress_fn fn, void *payload,
                          const char *what, uint64_t total)
{
    p->fn = fn;
    p->payload = payload;
    p->what = what;
    rmtl__progress_total(p, total, 0);
    p->start = p->last = fn ? rmtl__now() : 0.0;
}

void rmtl__progress_total(rmtl__progress *p, uint64_t total, uint64_t done)
{
    p->total = total;
    p->next = total ? done + rmtl__progress_step(p) : UINT64_MAX;
}

int rmtl__progress_report(rmtl__progress *p, uint64_t done, double loss, int force)
{
    if (!p->fn)
        return 0;
    double now = rmtl__now();
    int end = p->total && done >= p->total;
    if (!force && !end && done < p->next && now - p->last < 1.0)
        return 0;
    p->last = now;
    if (p->total)
        p->next = done + rmtl__progress_step(p);
    rmtl_progress pr = {RMTL_PROGRESS_VERSION, done, p->total, loss, now - p->start};
    if (p->fn(&pr, p->payload))
        return rmtl__error(RMTL_ESTATE, "%s: cancelled by the progress callback after %llu of "
                                        "%llu",
                           p->what, (unsigned long long)done, (unsigned long long)p->total);
    return 0;
}
