/* The session simulator behind rmtl_env's simulator mode
 * (docs/simulator.md): a seeded world of users and items with a hidden
 * ground truth, and sessions of requests in which a policy ranks candidate
 * items and simulated users react. */
#ifndef RMTL_SIM_SIM_H
#define RMTL_SIM_SIM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "nn/gemm.h"
#include "rmtl.h"
#include "sim/alias.h"
#include "sim/rng.h"

#define RMTL__SIM_TASKS RMTL_SIM_MAX_TASKS /* click, purchase, like */
#define RMTL__SIM_COEF_CAP 16              /* fits fusion.reward_coef */
#define RMTL__SIM_CONTEXT_MAX 5            /* context features defined */
#define RMTL__SIM_UCAT RMTL_SIM_USER_CATS  /* segment, activity, region */
#define RMTL__SIM_ICAT RMTL_SIM_ITEM_CATS  /* category, brand, price, popularity bucket */
#define RMTL__SIM_PRICE_MAX 1e7            /* prices are clamped to [0.01, 1e7] */

/* Allocates `count` elements for `ptr`; true on success. (Zero elements
 * still give a pointer.) */
#define RMTL__SIM_ALLOC(ptr, count) (((ptr) = rmtl__mallocarray((count), sizeof *(ptr))) != NULL)

/* Every knob of the simulator. The first group mirrors config keys (the
 * names in comments); the rest are world and ground-truth knobs with
 * defaults, named `sim.*` in messages and docs/simulator.md. Integers are
 * int64_t like the config's, so bad values can be reported as given. */
struct rmtl__sim_params {
    int64_t users;              /* sim.users */
    int64_t items;              /* sim.items */
    int64_t latent_dim;         /* sim.latent_dim */
    int64_t candidates;         /* sim.candidates */
    int64_t top_l;              /* sim.top_l */
    int64_t max_requests;       /* sim.max_requests */
    double leave_base;          /* sim.leave_base */
    double leave_reward_slope;  /* sim.leave_reward_slope */
    double fatigue;             /* sim.fatigue (on the leave logit) */
    int64_t tasks;              /* sim.tasks */
    int64_t sessions;           /* sim.sessions (hosts' default run length) */
    size_t n_reward_coef;       /* fusion.reward_coef: one per task */
    double reward_coef[RMTL__SIM_COEF_CAP];
    int64_t user_dim;           /* fusion.state.user_dim */
    int64_t item_dim;           /* fusion.state.item_dim */
    int64_t context_dim;        /* fusion.state.context_dim */

    /* world */
    int64_t segments, activity_levels, regions;                  /* user fields */
    int64_t categories, brands, price_buckets, pop_buckets;      /* item fields */
    double segment_share;  /* share of a user's latent variance from the segment */
    double category_share; /* share of an item's latent variance from the category */
    double brand_share;    /* ... and from the brand */
    double feature_noise;  /* std of the noise on observable float features */
    /* candidate generator */
    double pop_mix;       /* share of candidates drawn by global popularity */
    double interest_temp; /* sharpness of a user's interest over categories */
    double pop_skew;      /* std of log popularity not explained by quality */
    double pop_quality;   /* weight of quality in log popularity */
    /* ground truth: logit_k = bias_k + affinity_k·a(u,i) + quality_k·q_i + ... */
    double truth_bias[RMTL__SIM_TASKS];
    double truth_affinity[RMTL__SIM_TASKS];
    double truth_quality[RMTL__SIM_TASKS];
    double region_sd;       /* std of the regions' click offsets */
    double activity_step;   /* click logit per activity level */
    double price_sens_mean; /* purchase logit per unit of centred log price */
    double price_sens_sd;
    double position_decay; /* click examination at position k: (1+k)^-decay */
    /* users·items up to which every affinity is computed once, at
     * creation (4 bytes each); larger worlds compute a user's row per
     * session. */
    int64_t affinity_cache_max;
    /* long-term dynamics (sim/satisfaction.c, docs/simulator.md) */
    int sat_enabled;          /* sim.satisfaction.enabled */
    double sat_click;         /* sim.satisfaction.click */
    double sat_memory;        /* sim.satisfaction.memory */
    double sat_leave;         /* sim.satisfaction.leave */
    double sat_brand_share;   /* sim.satisfaction.brand_share */
    double sat_feature_noise; /* sim.satisfaction.feature_noise */
};

/* Fills every field with its default (config defaults for the first
 * group). */
void rmtl__sim_params_default(struct rmtl__sim_params *p);
/* Defaults, then the config-backed fields from `cp`. */
void rmtl__sim_params_from_config(struct rmtl__sim_params *p, const struct rmtl__settings *cp);
/* 0, or RMTL_ECONFIG naming the key and the value. */
int rmtl__sim_params_validate(const struct rmtl__sim_params *p);

/* The world: immutable once generated. Categorical ids are 1-based (0 is
 * the reserved unknown id of rmtl_batch). */
typedef struct rmtl__sim_world {
    uint32_t users, items, d, user_dim, item_dim, categories;
    float *u_lat;                /* users × d latent preferences */
    float *u_feat;               /* users × user_dim observable floats */
    int32_t *u_cat;              /* users × RMTL__SIM_UCAT */
    float *u_bias;               /* users × RMTL__SIM_TASKS logit offsets */
    float *u_price;              /* users: price sensitivity */
    rmtl__alias_slot *user_pick; /* users, by activity: who starts a session */
    rmtl__alias_slot *interest;  /* users × categories: retrieval interest */
    float *i_lat;                /* items × d latent vectors */
    float *i_feat;               /* items × item_dim */
    int32_t *i_cat;              /* items × RMTL__SIM_ICAT */
    float *i_bias;               /* items × RMTL__SIM_TASKS logit offsets */
    float *i_lprice;             /* items: log price minus its mean */
    float *price;                /* items, rounded to cents */
    rmtl__alias_slot *pop;       /* items, by popularity */
    uint32_t *cat_start;         /* categories + 1 offsets into cat_items */
    uint32_t *cat_items;         /* items grouped by category */
    rmtl__alias_slot *cat_pop;   /* popularity inside each category block */
    float *aff;                  /* users × items affinities u·v, or NULL (too big) */
    float *i_sat;                /* items: hidden satisfaction trait in [-1, 1], or
                                    NULL without the long-term dynamics */
    float truth_affinity[RMTL__SIM_TASKS]; /* already divided by sqrt(d) */
    uint32_t user_card[RMTL__SIM_UCAT], item_card[RMTL__SIM_ICAT]; /* ids + 1 */
} rmtl__sim_world;

int rmtl__sim_world_create(rmtl__sim_world *w, const struct rmtl__sim_params *p, uint64_t seed);
void rmtl__sim_world_free(rmtl__sim_world *w); /* accepts a zeroed world */

enum { RMTL__SESS_IDLE = 0, RMTL__SESS_ACTIVE, RMTL__SESS_DONE };

/* One running session with its current request and last feedback. The
 * env owns two: the host's (reset/request/step) and the one evaluate and
 * log run on, so those never disturb the host's session. */
typedef struct rmtl__sim_sess {
    int state; /* RMTL__SESS_* */
    uint32_t user, t;
    uint64_t index; /* session index within its stream */
    rmtl__rng cand_rng, behav_rng;
    double reward, last_reward;
    double satisfaction; /* net satisfaction of the session (long-term dynamics) */
    uint64_t shown, done_count[RMTL__SIM_TASKS];
    /* mark[item]: low 16 bits the stamp of the request that made it a
     * candidate, high 16 bits the stamp of the session that showed it. */
    uint32_t req_stamp, sess_stamp;
    uint32_t *mark;
    uint32_t *proposal; /* candidate generator scratch */
    const float *aff;   /* items: the user's affinity to every item */
    float *aff_buf;     /* where aff is computed when the world has no cache */
    /* the pending request (n = candidates) */
    uint32_t *cand;
    int32_t *cand_cat;
    float *cand_feat, *cand_price, *cand_aff, *context;
    /* the last step's outcome (top_l shown) */
    uint32_t *shown_idx, *shown_item;
    float *behav, *pair_reward;
    double fb_reward;
    uint32_t fb_request;
    int fb_done;
} rmtl__sim_sess;

typedef struct rmtl__sim {
    struct rmtl__sim_params p;
    rmtl__sim_world w;
    rmtl__rt rt;
    uint32_t n, l, tasks; /* candidates, top_l, tasks */
    float *exam;          /* top_l click examination probabilities */
    double leave_logit0;  /* logit(leave_base) when 0 < leave_base < 1 */
    uint64_t host_seed;   /* the stream of the host's sessions */
    uint64_t host_next;   /* index of the host's next session */
    rmtl__sim_sess host, run;
} rmtl__sim;

/* --- ground truth (world.c) -------------------------------------------- */
/* a(u,i) = u·v for one pair: from the world's cache, else through the
 * GEMM like every product. */
float rmtl__sim_affinity(const rmtl__sim *s, uint32_t user, uint32_t item);
/* The truth of one pair from its affinity; inline because rankers call it
 * for every candidate. c[0] = P(click), c[1] = P(purchase | click), c[2] =
 * P(like | click), the first `tasks` of them, at the top position. */
static inline float rmtl__sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

static inline void rmtl__sim_cond_probs(const rmtl__sim *s, uint32_t user, uint32_t item,
                                        float aff, float c[RMTL__SIM_TASKS])
{
    const rmtl__sim_world *w = &s->w;
    const float *ub = w->u_bias + (size_t)user * RMTL__SIM_TASKS;
    const float *ib = w->i_bias + (size_t)item * RMTL__SIM_TASKS;
    const float *ta = w->truth_affinity;
    c[0] = rmtl__sigmoid(ub[0] + ib[0] + ta[0] * aff);
    if (s->tasks > 1)
        c[1] = rmtl__sigmoid(ub[1] + ib[1] + ta[1] * aff - w->u_price[user] * w->i_lprice[item]);
    if (s->tasks > 2)
        c[2] = rmtl__sigmoid(ub[2] + ib[2] + ta[2] * aff);
}

/* Marginals P(behaviour k) at the top: P(click), P(click)·P(k | click). */
static inline void rmtl__sim_marginals(const rmtl__sim *s, uint32_t user, uint32_t item,
                                       float aff, float m[RMTL__SIM_TASKS])
{
    rmtl__sim_cond_probs(s, user, item, aff, m);
    for (uint32_t k = 1; k < s->tasks; k++)
        m[k] *= m[0];
}

/* Σ_k c_k·P(behaviour k): the pair's expected reward at the top. */
static inline float rmtl__sim_expected_reward(const rmtl__sim *s, uint32_t user, uint32_t item,
                                              float aff)
{
    float m[RMTL__SIM_TASKS];
    rmtl__sim_marginals(s, user, item, aff, m);
    double r = 0.0;
    for (uint32_t k = 0; k < s->tasks; k++)
        r += s->p.reward_coef[k] * m[k];
    return (float)r;
}

/* --- long-term dynamics (satisfaction.c) ------------------------------ */
/* Draws every item's satisfaction trait from its own random stream (the
 * rest of the world is unchanged), shifts the click truth of unsatisfying
 * items up and writes the trait, noisily, into the last item float
 * feature. Nothing happens when the dynamics are off. */
int rmtl__sim_satisfaction_create(rmtl__sim_world *w, const struct rmtl__sim_params *p,
                                  uint64_t seed);
/* The session's net satisfaction after a served request:
 * memory·previous + the traits of the items clicked. */
void rmtl__sim_satisfaction_step(rmtl__sim_sess *ss, const rmtl__sim *s);

/* --- sessions (session.c) --------------------------------------------- */
int rmtl__sess_init(rmtl__sim_sess *ss, const rmtl__sim *s);
void rmtl__sess_free(rmtl__sim_sess *ss); /* accepts a zeroed session */
/* Starts session `index` of the stream `seed`: its user and first request
 * depend on (seed, index) only. */
void rmtl__sess_begin(rmtl__sim_sess *ss, const rmtl__sim *s, uint64_t seed, uint64_t index);
/* 0 while a request is pending, else RMTL_ESTATE saying why. */
int rmtl__sess_pending(const rmtl__sim_sess *ss);
/* Checks a step's arguments without changing anything: RMTL_ESTATE,
 * RMTL_EINVAL (NULL, wrong n) or RMTL_ENUMERIC (NaN/Inf). */
int rmtl__sess_check_step(const rmtl__sim_sess *ss, const rmtl__sim *s, const float *scores,
                          size_t n);
/* Shows the top l of the checked scores, samples behaviours and decides
 * whether the user leaves; the request's candidates stay readable (the
 * log writes them) until rmtl__sess_advance builds the next request. */
void rmtl__sess_serve(rmtl__sim_sess *ss, const rmtl__sim *s, const float *scores);
void rmtl__sess_advance(rmtl__sim_sess *ss, const rmtl__sim *s);
/* Views of the pending request and the last feedback (borrowed). */
void rmtl__sess_request_view(rmtl_sim_request *out, const rmtl__sim_sess *ss,
                             const rmtl__sim *s);
void rmtl__sess_feedback_view(rmtl_sim_feedback *out, const rmtl__sim_sess *ss,
                              const rmtl__sim *s);

/* --- the simulator handle (sim.c) -------------------------------------- */
int rmtl__sim_create(rmtl_env **out, const struct rmtl__sim_params *p, uint64_t seed);
void rmtl__sim_free(rmtl__sim *s);
/* The simulator of an env, or NULL with an RMTL_EINVAL message naming
 * `fn` (a NULL env, or an env of another kind). */
rmtl__sim *rmtl__env_sim(const rmtl_env *env, const char *fn);

/* The session that produced `req`, when it is one of this simulator's and
 * still current (its candidate affinities can then be reused), else NULL. */
const rmtl__sim_sess *rmtl__sim_session_of(const rmtl__sim *s, const rmtl_sim_request *req);

#endif
