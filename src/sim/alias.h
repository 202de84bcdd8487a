/* Walker/Vose alias tables: O(1) draws from a fixed discrete distribution
 * (users by activity, items by popularity, categories by a user's
 * interest). One 64-bit random number per draw. */
#ifndef RMTL_SIM_ALIAS_H
#define RMTL_SIM_ALIAS_H

#include <stddef.h>
#include <stdint.h>

#include "sim/sim_rng.h"

typedef struct rmtl__alias_slot {
    uint32_t thr;   /* keep this slot when the low 32 random bits are below */
    uint32_t alias; /* else take this one */
} rmtl__alias_slot;

/* Fills t[0..n) (n >= 1) from weights w >= 0; all-zero weights give the
 * uniform distribution. `work` holds 2n uint32 and `q` n doubles of
 * caller scratch, so building many tables allocates nothing. */
void rmtl__alias_build(rmtl__alias_slot *t, const double *w, size_t n, uint32_t *work,
                       double *q);

static inline uint32_t rmtl__alias_draw(const rmtl__alias_slot *t, uint32_t n, rmtl__rng *r)
{
    uint64_t x = rmtl__rng_u64(r);
    uint32_t i = (uint32_t)(((x >> 32) * (uint64_t)n) >> 32);
    return (uint32_t)x < t[i].thr ? i : t[i].alias;
}

#endif
