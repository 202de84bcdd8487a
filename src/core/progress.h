/* Progress reporting of long calls (public rmtl_progress_fn): one helper so
 * every long call reports on the same schedule and cancels the same way. */
#ifndef RMTL_CORE_PROGRESS_H
#define RMTL_CORE_PROGRESS_H

#include <stdint.h>

#include "rmtl.h"

typedef struct rmtl__progress {
    rmtl_progress_fn fn; /* NULL: reporting is off, every call is a no-op */
    void *payload;
    const char *what;    /* the public function, for the cancellation message */
    uint64_t total;      /* 0: unknown */
    uint64_t next;       /* report when done reaches this (1% steps) ... */
    double start, last;  /* ... or a second after the last report */
} rmtl__progress;

/* Monotonic seconds. */
double rmtl__now(void);

void rmtl__progress_start(rmtl__progress *p, rmtl_progress_fn fn, void *payload,
                          const char *what, uint64_t total);
/* Sets the total once it is known (`done` so far). */
void rmtl__progress_total(rmtl__progress *p, uint64_t total, uint64_t done);
/* Reports `done` units (with `loss`, NaN when none) when 1% of the total
 * more is done, a second has passed, or done == total (the last report);
 * `force` reports regardless. Returns 0, or RMTL_ESTATE with a message when
 * the callback asked to stop. */
int rmtl__progress_report(rmtl__progress *p, uint64_t done, double loss, int force);

#endif
