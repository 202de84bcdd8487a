/* Long-term dynamics (docs/simulator.md, "Long-term dynamics"): every item
 * has a hidden satisfaction trait s in [-1, 1] ("kale" above 0, "choc"
 * below, after RecSim's choc/kale environment). Unsatisfying items are
 * clickier, so the click truth — and an MTL model trained on clicks —
 * prefers them a little; every click moves the session's net satisfaction
 * by the item's trait, and the net satisfaction lowers the leave logit
 * (KuaiSim's leave model moves a patience by the consumed items' value).
 * The trait is partly visible: half its variance is the brand's, and the
 * last item float feature shows it with noise; no label ever carries it.
 *
 * Everything here draws from a stream of its own, so a world with the
 * dynamics off is bit for bit the world without this file. */
#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "sim/sim.h"

int rmtl__sim_satisfaction_create(rmtl__sim_world *w, const struct rmtl__sim_params *p,
                                  uint64_t seed)
{
    if (!p->sat_enabled)
        return 0;
    size_t B = (size_t)p->brands;
    double *brand = rmtl__mallocarray(B, sizeof *brand);
    if (!brand || !RMTL__SIM_ALLOC(w->i_sat, w->items)) {
        rmtl__free(brand);
        return rmtl__error(RMTL_ENOMEM, "simulator: out of memory for the satisfaction traits");
    }
    rmtl__rng r;
    rmtl__sim_rng_seed(&r, seed, UINT64_C(0x5341544953), 0); /* "SATIS" */
    for (size_t b = 0; b < B; b++)
        brand[b] = rmtl__rng_normal(&r);
    double a_brand = sqrt(p->sat_brand_share), a_own = sqrt(1.0 - p->sat_brand_share);
    size_t fd = w->item_dim;
    for (uint32_t i = 0; i < w->items; i++) {
        size_t b = (size_t)w->i_cat[(size_t)i * RMTL__SIM_ICAT + 1] - 1; /* ids are brand + 1 */
        double z = a_brand * brand[b] + a_own * rmtl__rng_normal(&r); /* N(0, 1) */
        double noise = rmtl__rng_normal(&r);
        /* 2Φ(z) − 1: uniform on [-1, 1] like RecSim's clickbait scores */
        double s = 1.0 - erfc(z / sqrt(2.0));
        w->i_sat[i] = (float)s;
        w->i_bias[(size_t)i * RMTL__SIM_TASKS] -= (float)(p->sat_click * s);
        if (fd > 0)
            w->i_feat[(size_t)i * fd + fd - 1] = (float)(z + p->sat_feature_noise * noise);
    }
    rmtl__free(brand);
    return 0;
}

void rmtl__sim_satisfaction_step(rmtl__sim_sess *ss, const rmtl__sim *s)
{
    size_t l = s->l, T = s->tasks;
    double got = 0.0;
    for (size_t k = 0; k < l; k++)
        if (ss->behav[k * T] != 0.0f) /* a click: the item was consumed */
            got += (double)s->w.i_sat[ss->shown_item[k]];
    ss->satisfaction = s->p.sat_memory * ss->satisfaction + got;
}
