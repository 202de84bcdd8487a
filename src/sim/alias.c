/* Vose's construction of alias tables, in doubles so that equal weights
 * give equal tables everywhere. */
#include "sim/alias.h"

static uint32_t rmtl__alias_thr(double p)
{
    /* p >= 1 keeps the slot always (the alias is the slot itself). */
    return p >= 1.0 ? UINT32_MAX : (uint32_t)(p * 4294967296.0);
}

void rmtl__alias_build(rmtl__alias_slot *t, const double *w, size_t n, uint32_t *work,
                       double *q)
{
    double total = 0.0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    uint32_t *small = work, *large = work + n;
    size_t ns = 0, nl = 0;
    for (size_t i = 0; i < n; i++) {
        q[i] = total > 0.0 ? w[i] * (double)n / total : 1.0;
        if (q[i] < 1.0)
            small[ns++] = (uint32_t)i;
        else
            large[nl++] = (uint32_t)i;
    }
    while (ns > 0 && nl > 0) {
        uint32_t s = small[--ns], l = large[nl - 1];
        t[s].thr = rmtl__alias_thr(q[s]);
        t[s].alias = l;
        q[l] -= 1.0 - q[s];
        if (q[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    /* What is left has probability 1 up to rounding. */
    while (nl > 0) {
        uint32_t l = large[--nl];
        t[l].thr = UINT32_MAX;
        t[l].alias = l;
    }
    while (ns > 0) {
        uint32_t s = small[--ns];
        t[s].thr = UINT32_MAX;
        t[s].alias = s;
    }
}
