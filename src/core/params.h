/* Every hyper-parameter as a typed field: what the rest of librmtl reads
 * from a config (through rmtl__config_params). The descriptor table in
 * params.c maps dotted keys onto these fields; add a field there too. */
#ifndef RMTL_CORE_PARAMS_H
#define RMTL_CORE_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "rmtl.h"

/* Storage capacities. Each list key has its own (smaller or equal) length
 * limit in the table; these only size the arrays. */
#define RMTL__LIST_CAP 16 /* int and double lists                */
#define RMTL__NAMES_CAP 16 /* names in a string list (tasks)      */
#define RMTL__NAME_CAP 32 /* bytes per name, NUL included       */

typedef struct rmtl__ilist {
    size_t n;
    int64_t v[RMTL__LIST_CAP];
} rmtl__ilist;

typedef struct rmtl__dlist {
    size_t n;
    double v[RMTL__LIST_CAP];
} rmtl__dlist;

typedef struct rmtl__slist {
    size_t n;
    char v[RMTL__NAMES_CAP][RMTL__NAME_CAP];
} rmtl__slist;

/* Choice values. The numbering is the order of the names in the
 * rmtl__*_names arrays below (and in docs/config.md). */
enum rmtl__arch {
    RMTL__ARCH_SINGLE_TASK,
    RMTL__ARCH_SHARED_BOTTOM,
    RMTL__ARCH_ESMM,
    RMTL__ARCH_OMOE,
    RMTL__ARCH_MMOE,
    RMTL__ARCH_PLE,
    RMTL__ARCH_AITM,
    RMTL__ARCH_COUNT
};
enum rmtl__reward { RMTL__REWARD_BCE, RMTL__REWARD_ABS, RMTL__REWARD_COUNT };
enum rmtl__granularity { RMTL__GRAN_PAIR, RMTL__GRAN_USER, RMTL__GRAN_COUNT };
enum rmtl__formula { RMTL__FORMULA_PRODUCT, RMTL__FORMULA_SUM, RMTL__FORMULA_COUNT };
enum rmtl__explore { RMTL__EXPLORE_PL, RMTL__EXPLORE_UNIFORM, RMTL__EXPLORE_COUNT };
enum rmtl__objective { RMTL__OBJECTIVE_LIST, RMTL__OBJECTIVE_PAIR, RMTL__OBJECTIVE_COUNT };
enum rmtl__blis_arch {
    RMTL__BLIS_AUTO,
    RMTL__BLIS_SKX,
    RMTL__BLIS_ZEN3,
    RMTL__BLIS_HASWELL,
    RMTL__BLIS_GENERIC,
    RMTL__BLIS_COUNT
};

extern const char *const rmtl__arch_names[RMTL__ARCH_COUNT];
extern const char *const rmtl__reward_names[RMTL__REWARD_COUNT];
extern const char *const rmtl__granularity_names[RMTL__GRAN_COUNT];
extern const char *const rmtl__formula_names[RMTL__FORMULA_COUNT];
extern const char *const rmtl__explore_names[RMTL__EXPLORE_COUNT];
extern const char *const rmtl__objective_names[RMTL__OBJECTIVE_COUNT];
extern const char *const rmtl__blis_arch_names[RMTL__BLIS_COUNT];

/* Field names follow the keys: `rl.critic.bottom` is p.rl.critic.bottom.
 * Integers are int64_t, reals double, booleans int (0/1), choices int
 * holding the enum above. docs/config.md documents each one. */
struct rmtl__settings {
    struct {
        int arch; /* enum rmtl__arch */
        rmtl__slist tasks;
        int64_t embed_dim;
        rmtl__ilist bottom;
        rmtl__ilist tower;
        double dropout;
        struct {
            int64_t count;
            int64_t shared;
            int64_t specific;
        } experts;
    } model;
    struct {
        double lr;
        double weight_decay;
        double beta1;
        double beta2;
        double eps;
        double clip_norm;
    } optim;
    struct {
        int64_t batch_size;
        int64_t epochs;
        int64_t patience;
        int shuffle;
    } train;
    struct {
        double gamma;
        double tau;
        double actor_lr;
        double critic_lr;
        int64_t actor_update_freq;
        int64_t soft_update_freq;
        int64_t init_training_step;
        double policy_noise;
        double noise_clip;
        double explore_noise;
        double lambda;
        int ips;
        double bc_weight;
        int64_t buffer_size;
        int64_t batch_size;
        int reward; /* enum rmtl__reward */
        struct {
            rmtl__ilist bottom;
            rmtl__ilist tower;
        } critic;
    } rl;
    struct {
        int granularity; /* enum rmtl__granularity */
        int formula;     /* enum rmtl__formula */
        double weight_min;
        double weight_max;
        double bias_min;
        double bias_max;
        double explore_width;
        int64_t critic_groups;
        int64_t critic_ensemble;
        rmtl__ilist actor_hidden;
        rmtl__ilist critic_hidden;
        double gamma;
        double tau;
        double actor_lr;
        double critic_lr;
        double eta;
        double box_beta;
        double kappa;
        int64_t top_l;
        int64_t rounds;
        int64_t batch_size;
        rmtl__dlist reward_coef;
        rmtl__ilist reward_group;
        int explore;    /* enum rmtl__explore */
        double explore_temperature;
        int64_t log_candidates;
        int objective;  /* enum rmtl__objective */
        double position_decay;
        double temperature;
        int64_t temperature_steps;
        double kl_beta;
        double anchor;
        double ope_max_weight;
        int ope_gate;
        double gate_margin;
        int warm_start;
        struct {
            int64_t user_dim;
            int64_t item_dim;
            int64_t context_dim;
            int scores;
        } state;
    } fusion;
    struct {
        int64_t users;
        int64_t items;
        int64_t latent_dim;
        int64_t candidates;
        int64_t top_l;
        int64_t max_requests;
        double leave_base;
        double leave_reward_slope;
        double fatigue;
        int64_t tasks;
        int64_t sessions;
        struct {
            int enabled;
            double click;
            double memory;
            double leave;
            double brand_share;
            double feature_noise;
        } satisfaction;
    } sim;
    struct {
        int64_t seed;
        int64_t threads;
        int blis_arch; /* enum rmtl__blis_arch */
    } runtime;
};

/* The parameters of a config, borrowed until the config changes or is
 * freed. `cfg` must not be NULL. */
const struct rmtl__settings *rmtl__config_params(const rmtl_config *cfg);

/* Fills `p` with every default of the table. */
void rmtl__params_defaults(struct rmtl__settings *p);

/* Cross-parameter checks of rmtl_config_validate: 0, or RMTL_ECONFIG with
 * a message naming the keys involved. */
int rmtl__params_validate(const struct rmtl__settings *p);

/* 1 when every parameter is equal (doubles compared bit for bit, list
 * slots past the length ignored), else 0. */
int rmtl__params_equal(const struct rmtl__settings *a, const struct rmtl__settings *b);

/* Name of choice `value` of a choice key ("model.arch", 4 -> "mmoe"), or
 * NULL for an unknown key or value. */
const char *rmtl__params_choice_name(const char *key, int value);

/* The generated docs/config.md: a markdown table of every key. `*out` is
 * NUL-terminated, freed with rmtl__free; `len` may be NULL. 0 or
 * RMTL_ENOMEM. */
int rmtl__config_doc_markdown(char **out, size_t *len);

#endif
