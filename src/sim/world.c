/* World generation and the ground truth (docs/simulator.md, "World" and
 * "Ground truth"). Observable features are drawn from the latent ones so a
 * model can learn the truth from them: a user's segment is the centre of
 * its latent vector, an item's category and brand the centre of its own,
 * the float features are noisy projections of the latent vectors, the
 * popularity bucket follows quality, the price bucket the price, and
 * region and activity level shift the user's propensities. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "sim/sim.h"

void rmtl__sim_world_free(rmtl__sim_world *w)
{
    if (!w)
        return;
    void *all[] = {w->u_lat,  w->u_feat,   w->u_cat,  w->u_bias,    w->u_price,
                   w->user_pick, w->interest, w->i_lat, w->i_feat,  w->i_cat,
                   w->i_bias, w->i_lprice, w->price,  w->pop,       w->cat_start,
                   w->cat_items, w->cat_pop, w->aff, w->i_sat};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rmtl__free(all[i]);
    memset(w, 0, sizeof *w);
}

/* Scratch that lives only while the world is generated. */
typedef struct rmtl__gen {
    float *seg_cent, *cat_cent, *brand_off, *proj_u, *proj_i, *logits;
    double *region_click, *region_ps, *cat_price, *brand_price, *weight, *q;
    double *pop_w;
    uint32_t *work;
    rmtl__alias_slot *cat_pick;
    struct rmtl__rank *rank;
} rmtl__gen;

struct rmtl__rank {
    double v;
    uint32_t i;
};

static void rmtl__gen_free(rmtl__gen *g)
{
    void *all[] = {g->seg_cent,    g->cat_cent,  g->brand_off,   g->proj_u, g->proj_i,
                   g->logits,      g->region_click, g->region_ps, g->cat_price,
                   g->brand_price, g->weight,    g->q,           g->pop_w,
                   g->work,        g->cat_pick,  g->rank};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rmtl__free(all[i]);
}

static int rmtl__world_alloc(rmtl__sim_world *w, rmtl__gen *g, const struct rmtl__sim_params *p)
{
    size_t U = w->users, I = w->items, d = w->d, C = w->categories;
    size_t S = (size_t)p->segments, R = (size_t)p->regions, B = (size_t)p->brands;
    size_t big = U > I ? U : I;
    if (C > big)
        big = C;
    int ok = RMTL__SIM_ALLOC(w->u_lat, U * d) && RMTL__SIM_ALLOC(w->u_feat, U * w->user_dim) &&
             RMTL__SIM_ALLOC(w->u_cat, U * RMTL__SIM_UCAT) &&
             RMTL__SIM_ALLOC(w->u_bias, U * RMTL__SIM_TASKS) && RMTL__SIM_ALLOC(w->u_price, U) &&
             RMTL__SIM_ALLOC(w->user_pick, U) && RMTL__SIM_ALLOC(w->interest, U * C) &&
             RMTL__SIM_ALLOC(w->i_lat, I * d) && RMTL__SIM_ALLOC(w->i_feat, I * w->item_dim) &&
             RMTL__SIM_ALLOC(w->i_cat, I * RMTL__SIM_ICAT) &&
             RMTL__SIM_ALLOC(w->i_bias, I * RMTL__SIM_TASKS) && RMTL__SIM_ALLOC(w->i_lprice, I) &&
             RMTL__SIM_ALLOC(w->price, I) && RMTL__SIM_ALLOC(w->pop, I) &&
             RMTL__SIM_ALLOC(w->cat_start, C + 1) && RMTL__SIM_ALLOC(w->cat_items, I) &&
             RMTL__SIM_ALLOC(w->cat_pop, I) && RMTL__SIM_ALLOC(g->seg_cent, S * d) &&
             RMTL__SIM_ALLOC(g->cat_cent, C * d) && RMTL__SIM_ALLOC(g->brand_off, B * d) &&
             RMTL__SIM_ALLOC(g->proj_u, (size_t)w->user_dim * d) &&
             RMTL__SIM_ALLOC(g->proj_i, (size_t)w->item_dim * d) &&
             RMTL__SIM_ALLOC(g->logits, U * C) &&
             RMTL__SIM_ALLOC(g->region_click, R) && RMTL__SIM_ALLOC(g->region_ps, R) &&
             RMTL__SIM_ALLOC(g->cat_price, C) && RMTL__SIM_ALLOC(g->brand_price, B) &&
             RMTL__SIM_ALLOC(g->weight, big) && RMTL__SIM_ALLOC(g->q, big) &&
             RMTL__SIM_ALLOC(g->pop_w, I) &&
             RMTL__SIM_ALLOC(g->work, 2 * big) && RMTL__SIM_ALLOC(g->cat_pick, C) &&
             RMTL__SIM_ALLOC(g->rank, I);
    if (ok && (int64_t)(U * I) <= p->affinity_cache_max) /* U, I < 2^31 */
        ok = RMTL__SIM_ALLOC(w->aff, U * I);
    return ok ? 0 : rmtl__error(RMTL_ENOMEM, "simulator: out of memory for the world");
}

static void rmtl__normals(float *x, size_t n, double scale, rmtl__rng *r)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * rmtl__rng_normal(r));
}

/* Index drawn with probability proportional to w[0..n) by inversion. */
static uint32_t rmtl__draw_cdf(const double *w, size_t n, rmtl__rng *r)
{
    double total = 0.0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    double u = rmtl__rng_double(r) * total;
    for (size_t i = 0; i + 1 < n; i++) {
        if (u < w[i])
            return (uint32_t)i;
        u -= w[i];
    }
    return (uint32_t)(n - 1);
}

static void rmtl__gen_users(rmtl__sim_world *w, rmtl__gen *g, const struct rmtl__sim_params *p,
                            rmtl__rng *r)
{
    size_t d = w->d, A = (size_t)p->activity_levels;
    double a_seg = sqrt(p->segment_share), a_own = sqrt(1.0 - p->segment_share);
    /* Fewer users at each higher activity level, but each of them starts
     * sessions twice as often: level weights 0.6^a, session weights 2^a. */
    double level_w[64];
    for (size_t a = 0; a < A; a++)
        level_w[a] = pow(0.6, (double)a);
    for (uint32_t u = 0; u < w->users; u++) {
        uint32_t seg = rmtl__sim_below(r, (uint32_t)p->segments);
        uint32_t act = rmtl__draw_cdf(level_w, A, r);
        uint32_t reg = rmtl__sim_below(r, (uint32_t)p->regions);
        float *lat = w->u_lat + (size_t)u * d;
        for (size_t j = 0; j < d; j++)
            lat[j] = (float)(a_seg * g->seg_cent[seg * d + j] + a_own * rmtl__rng_normal(r));
        int32_t *cat = w->u_cat + (size_t)u * RMTL__SIM_UCAT;
        cat[0] = (int32_t)seg + 1, cat[1] = (int32_t)act + 1, cat[2] = (int32_t)reg + 1;
        float *b = w->u_bias + (size_t)u * RMTL__SIM_TASKS;
        b[0] = (float)(p->truth_bias[0] + g->region_click[reg] +
                       p->activity_step * ((double)act - (double)(A - 1) / 2.0));
        b[1] = (float)p->truth_bias[1];
        b[2] = (float)p->truth_bias[2];
        double ps = p->price_sens_mean + g->region_ps[reg] + p->price_sens_sd * rmtl__rng_normal(r);
        w->u_price[u] = (float)(ps > 0.0 ? ps : 0.0);
        g->weight[u] = ldexp(1.0, (int)act);
    }
    rmtl__alias_build(w->user_pick, g->weight, w->users, g->work, g->q);
}

static int rmtl__rank_cmp(const void *a, const void *b)
{
    const struct rmtl__rank *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Quantile buckets (1-based) of v over the items, ties broken by id. */
static void rmtl__buckets(rmtl__sim_world *w, rmtl__gen *g, const double *v, int64_t nb,
                          int field)
{
    for (uint32_t i = 0; i < w->items; i++)
        g->rank[i].v = v[i], g->rank[i].i = i;
    qsort(g->rank, w->items, sizeof g->rank[0], rmtl__rank_cmp);
    for (uint32_t k = 0; k < w->items; k++)
        w->i_cat[(size_t)g->rank[k].i * RMTL__SIM_ICAT + (size_t)field] =
            (int32_t)((uint64_t)k * (uint64_t)nb / w->items) + 1;
}

static void rmtl__gen_items(rmtl__sim_world *w, rmtl__gen *g, const struct rmtl__sim_params *p,
                            rmtl__rng *r)
{
    size_t d = w->d, C = w->categories, B = (size_t)p->brands;
    double a_cat = sqrt(p->category_share), a_brand = sqrt(p->brand_share);
    double a_own = sqrt(fmax(0.0, 1.0 - p->category_share - p->brand_share));
    /* Category sizes fall off like 1/sqrt(rank). */
    for (size_t c = 0; c < C; c++)
        g->weight[c] = 1.0 / sqrt((double)c + 1.0);
    rmtl__alias_build(g->cat_pick, g->weight, C, g->work, g->q);
    double *lp = g->q; /* log prices, reused below as scratch */
    double mean_lp = 0.0;
    for (uint32_t i = 0; i < w->items; i++) {
        uint32_t c = rmtl__alias_draw(g->cat_pick, (uint32_t)C, r);
        /* Brand b belongs to category b mod C. */
        uint32_t nb = (uint32_t)((B - c - 1) / C + 1);
        uint32_t b = c + (uint32_t)C * rmtl__sim_below(r, nb);
        float *lat = w->i_lat + (size_t)i * d;
        for (size_t j = 0; j < d; j++)
            lat[j] = (float)(a_cat * g->cat_cent[c * d + j] + a_brand * g->brand_off[b * d + j] +
                             a_own * rmtl__rng_normal(r));
        double q = rmtl__rng_normal(r);
        double l = g->cat_price[c] + g->brand_price[b] + 0.35 * rmtl__rng_normal(r);
        double price = round(exp(l) * 100.0) / 100.0;
        price = price < 0.01 ? 0.01 : price > RMTL__SIM_PRICE_MAX ? RMTL__SIM_PRICE_MAX : price;
        w->price[i] = (float)price;
        lp[i] = log((double)w->price[i]);
        mean_lp += lp[i];
        g->pop_w[i] = exp(p->pop_quality * q + p->pop_skew * rmtl__rng_normal(r));
        int32_t *cat = w->i_cat + (size_t)i * RMTL__SIM_ICAT;
        cat[0] = (int32_t)c + 1, cat[1] = (int32_t)b + 1;
        float *ib = w->i_bias + (size_t)i * RMTL__SIM_TASKS;
        for (int k = 0; k < RMTL__SIM_TASKS; k++)
            ib[k] = (float)(p->truth_quality[k] * q);
    }
    mean_lp /= w->items;
    for (uint32_t i = 0; i < w->items; i++)
        w->i_lprice[i] = (float)(lp[i] - mean_lp);
    rmtl__buckets(w, g, lp, p->price_buckets, 2);
    rmtl__buckets(w, g, g->pop_w, p->pop_buckets, 3);
    rmtl__alias_build(w->pop, g->pop_w, w->items, g->work, g->q);

    /* Items grouped by category (in id order), each block with its own
     * popularity table. */
    memset(w->cat_start, 0, (C + 1) * sizeof *w->cat_start);
    for (uint32_t i = 0; i < w->items; i++)
        w->cat_start[w->i_cat[(size_t)i * RMTL__SIM_ICAT]]++; /* ids are category + 1 */
    for (size_t c = 0; c < C; c++)
        w->cat_start[c + 1] += w->cat_start[c];
    uint32_t *cursor = g->work;
    memcpy(cursor, w->cat_start, C * sizeof *cursor);
    for (uint32_t i = 0; i < w->items; i++)
        w->cat_items[cursor[w->i_cat[(size_t)i * RMTL__SIM_ICAT] - 1]++] = i;
    for (size_t c = 0; c < C; c++) {
        uint32_t s = w->cat_start[c], n = w->cat_start[c + 1] - s;
        if (n == 0)
            continue;
        for (uint32_t j = 0; j < n; j++)
            g->weight[j] = g->pop_w[w->cat_items[s + j]];
        rmtl__alias_build(w->cat_pop + s, g->weight, n, g->work, g->q);
    }
}

/* rows × dim observable floats: a noisy projection of the latent rows. */
static void rmtl__gen_features(float *feat, const float *lat, const float *proj, size_t rows,
                               size_t dim, size_t d, double noise, rmtl__rng *r)
{
    if (dim == 0)
        return;
    const rmtl__rt rt = {1};
    rmtl__gemm(&rt, RMTL__NOTRANS, RMTL__TRANS, rows, dim, d, (float)(1.0 / sqrt((double)d)), lat,
               d, proj, d, 0.0f, feat, dim);
    for (size_t i = 0; i < rows * dim; i++)
        feat[i] += (float)(noise * rmtl__rng_normal(r));
}

/* Each user's retrieval interest over the (non-empty) categories: a
 * softmax of the affinity to the category centres. */
static void rmtl__gen_interest(rmtl__sim_world *w, rmtl__gen *g, const struct rmtl__sim_params *p)
{
    size_t C = w->categories, d = w->d;
    const rmtl__rt rt = {1};
    rmtl__gemm(&rt, RMTL__NOTRANS, RMTL__TRANS, w->users, C, d,
               (float)(p->interest_temp / sqrt((double)d)), w->u_lat, d, g->cat_cent, d, 0.0f,
               g->logits, C);
    for (uint32_t u = 0; u < w->users; u++) {
        const float *z = g->logits + (size_t)u * C;
        float m = -INFINITY;
        for (size_t c = 0; c < C; c++)
            if (w->cat_start[c + 1] > w->cat_start[c] && z[c] > m)
                m = z[c];
        for (size_t c = 0; c < C; c++)
            g->weight[c] = w->cat_start[c + 1] > w->cat_start[c] ? exp((double)(z[c] - m)) : 0.0;
        rmtl__alias_build(w->interest + (size_t)u * C, g->weight, C, g->work, g->q);
    }
}

int rmtl__sim_world_create(rmtl__sim_world *w, const struct rmtl__sim_params *p, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    w->users = (uint32_t)p->users, w->items = (uint32_t)p->items, w->d = (uint32_t)p->latent_dim;
    w->user_dim = (uint32_t)p->user_dim, w->item_dim = (uint32_t)p->item_dim;
    w->categories = (uint32_t)p->categories;
    rmtl__gen g;
    memset(&g, 0, sizeof g);
    int rc = rmtl__world_alloc(w, &g, p);
    if (rc) {
        rmtl__gen_free(&g);
        rmtl__sim_world_free(w);
        return rc;
    }
    size_t d = w->d, C = w->categories, B = (size_t)p->brands;
    rmtl__rng r;
    rmtl__sim_rng_seed(&r, seed, UINT64_C(0x574f524c44), 0); /* "WORLD" */
    rmtl__normals(g.seg_cent, (size_t)p->segments * d, 1.0, &r);
    rmtl__normals(g.cat_cent, C * d, 1.0, &r);
    rmtl__normals(g.brand_off, B * d, 1.0, &r);
    rmtl__normals(g.proj_u, (size_t)w->user_dim * d, 1.0, &r);
    rmtl__normals(g.proj_i, (size_t)w->item_dim * d, 1.0, &r);
    for (int64_t k = 0; k < p->regions; k++) {
        g.region_click[k] = p->region_sd * rmtl__rng_normal(&r);
        g.region_ps[k] = p->price_sens_sd * rmtl__rng_normal(&r);
    }
    for (size_t c = 0; c < C; c++)
        g.cat_price[c] = 3.0 + 0.8 * rmtl__rng_normal(&r); /* e^3 ≈ 20 */
    for (size_t b = 0; b < B; b++)
        g.brand_price[b] = 0.3 * rmtl__rng_normal(&r);

    rmtl__gen_users(w, &g, p, &r);
    rmtl__gen_items(w, &g, p, &r);
    rmtl__gen_features(w->u_feat, w->u_lat, g.proj_u, w->users, w->user_dim, d, p->feature_noise,
                       &r);
    rmtl__gen_features(w->i_feat, w->i_lat, g.proj_i, w->items, w->item_dim, d, p->feature_noise,
                       &r);
    rmtl__gen_interest(w, &g, p);
    rmtl__gen_free(&g);
    if ((rc = rmtl__sim_satisfaction_create(w, p, seed)) != 0) {
        rmtl__sim_world_free(w);
        return rc;
    }
    if (w->aff) {
        const rmtl__rt rt = {1};
        rmtl__gemm(&rt, RMTL__NOTRANS, RMTL__TRANS, w->users, w->items, d, 1.0f, w->u_lat, d,
                   w->i_lat, d, 0.0f, w->aff, w->items);
    }

    for (int k = 0; k < RMTL__SIM_TASKS; k++)
        w->truth_affinity[k] = (float)(p->truth_affinity[k] / sqrt((double)d));
    w->user_card[0] = (uint32_t)p->segments + 1;
    w->user_card[1] = (uint32_t)p->activity_levels + 1;
    w->user_card[2] = (uint32_t)p->regions + 1;
    w->item_card[0] = (uint32_t)C + 1;
    w->item_card[1] = (uint32_t)B + 1;
    w->item_card[2] = (uint32_t)p->price_buckets + 1;
    w->item_card[3] = (uint32_t)p->pop_buckets + 1;
    return 0;
}

/* --- ground truth -------------------------------------------------------- */
float rmtl__sim_affinity(const rmtl__sim *s, uint32_t user, uint32_t item)
{
    if (s->w.aff)
        return s->w.aff[(size_t)user * s->w.items + item];
    size_t d = s->w.d;
    float a;
    rmtl__gemm(&s->rt, RMTL__NOTRANS, RMTL__TRANS, 1, 1, d, 1.0f, s->w.u_lat + (size_t)user * d,
               d, s->w.i_lat + (size_t)item * d, d, 0.0f, &a, 1);
    return a;
}
