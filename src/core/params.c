/* The descriptor table: every parameter's key, type, default, limits and
 * documentation. Adding a parameter = a field in params.h + a row here
 * (then regenerate docs/config.md: RMTL_UPDATE_DOCS=1 make check). */
#include "core/params_desc.h"

#include <string.h>

const char *const rmtl__arch_names[RMTL__ARCH_COUNT] = {
    "single_task", "shared_bottom", "esmm", "omoe", "mmoe", "ple", "aitm"};
const char *const rmtl__reward_names[RMTL__REWARD_COUNT] = {"bce", "abs"};
const char *const rmtl__granularity_names[RMTL__GRAN_COUNT] = {"pair", "user"};
const char *const rmtl__formula_names[RMTL__FORMULA_COUNT] = {"product", "sum"};
const char *const rmtl__explore_names[RMTL__EXPLORE_COUNT] = {"plackett_luce", "uniform"};
const char *const rmtl__objective_names[RMTL__OBJECTIVE_COUNT] = {"list", "pair"};
const char *const rmtl__blis_arch_names[RMTL__BLIS_COUNT] = {"auto", "skx", "zen3", "haswell",
                                                             "generic"};

/* The key is the field path spelled out (#f), so keys and fields cannot
 * drift apart; RMTL__OFF refuses to compile when the field's C type does
 * not match the row's type. */
#define RMTL__OFF(f, T)                                                                       \
    (offsetof(struct rmtl__settings, f) +                                                     \
     0 * sizeof(char[_Generic(((struct rmtl__settings *)0)->f, T: 1, default: -1)]))

#define P_BOOL(f, d, doc_)                                                                    \
    {.key = #f, .type = RMTL__T_BOOL, .offset = RMTL__OFF(f, int), .idef = (d), .doc = doc_}
#define P_INT(f, d, lo, hi, doc_)                                                             \
    {.key = #f, .type = RMTL__T_INT, .offset = RMTL__OFF(f, int64_t), .idef = (d), .imin = (lo), \
     .imax = (hi), .doc = doc_}
#define P_DBL(f, d, lo, hi, fl, doc_)                                                         \
    {.key = #f, .type = RMTL__T_DOUBLE, .offset = RMTL__OFF(f, double), .ddef = (d),         \
     .dmin = (lo), .dmax = (hi), .flags = (fl), .doc = doc_}
#define P_CHOICE(f, d, names, doc_)                                                           \
    {.key = #f, .type = RMTL__T_CHOICE, .offset = RMTL__OFF(f, int), .idef = (d),            \
     .choices = names, .nchoices = sizeof names / sizeof names[0], .doc = doc_}
#define RMTL__COUNT(T, ...) (sizeof((const T[]){__VA_ARGS__}) / sizeof(T))
#define P_ILIST(f, lmin, lmax, lo, hi, doc_, ...)                                             \
    {.key = #f, .type = RMTL__T_INT_LIST, .offset = RMTL__OFF(f, rmtl__ilist),                \
     .ilist = (const int64_t[]){__VA_ARGS__}, .ndef = RMTL__COUNT(int64_t, __VA_ARGS__),      \
     .imin = (lo), .imax = (hi), .len_min = (lmin), .len_max = (lmax), .doc = doc_}
#define P_DLIST(f, lmin, lmax, lo, hi, doc_, ...)                                             \
    {.key = #f, .type = RMTL__T_DOUBLE_LIST, .offset = RMTL__OFF(f, rmtl__dlist),             \
     .dlist = (const double[]){__VA_ARGS__}, .ndef = RMTL__COUNT(double, __VA_ARGS__),         \
     .dmin = (lo), .dmax = (hi), .len_min = (lmin), .len_max = (lmax), .doc = doc_}
#define P_SLIST(f, lmin, lmax, doc_, ...)                                                     \
    {.key = #f, .type = RMTL__T_STR_LIST, .offset = RMTL__OFF(f, rmtl__slist),                \
     .slist = (const char *const[]){__VA_ARGS__}, .ndef = RMTL__COUNT(char *, __VA_ARGS__), \
     .len_min = (lmin), .len_max = (lmax), .doc = doc_}

#define MINO RMTL__P_MIN_OPEN
#define MAXO RMTL__P_MAX_OPEN
#define WIDTH_MAX 65536
#define BATCH_MAX 16777216

/* Order matters: it is the order of rmtl_config_dump and docs/config.md,
 * and each section's keys must be contiguous (a test checks). */
const struct rmtl__param_desc rmtl__param_table[] = {
    /* model: the multi-task model (the actor) */
    P_CHOICE(model.arch, RMTL__ARCH_MMOE, rmtl__arch_names, "multi-task architecture"),
    P_SLIST(model.tasks, 1, RMTL__NAMES_CAP,
            "task names in label-column order; letters, digits and _, unique", "click",
            "purchase"),
    P_INT(model.embed_dim, 128, 1, 4096, "embedding dimension E of every field"),
    P_ILIST(model.bottom, 1, 8, 1, WIDTH_MAX,
            "layer widths of the bottom MLP (of each expert for MoE models)", 512, 256),
    P_ILIST(model.tower, 0, 8, 1, WIDTH_MAX,
            "hidden widths of each task tower, before its Linear(->1) and sigmoid", 128, 64),
    P_DBL(model.dropout, 0.2, 0.0, 0.95, 0, "dropout rate after each hidden ReLU"),
    P_INT(model.experts.count, 8, 1, 64, "number of experts (omoe, mmoe)"),
    P_INT(model.experts.shared, 4, 0, 64, "shared experts per extraction level (ple)"),
    P_INT(model.experts.specific, 4, 1, 64, "task-specific experts per task and level (ple)"),

    /* optim: Adam for supervised training */
    P_DBL(optim.lr, 1e-3, 0.0, 10.0, MINO, "Adam learning rate"),
    P_DBL(optim.weight_decay, 1e-6, 0.0, 1.0, 0, "L2 weight decay"),
    P_DBL(optim.beta1, 0.9, 0.0, 1.0, MAXO, "Adam first-moment decay"),
    P_DBL(optim.beta2, 0.999, 0.0, 1.0, MAXO, "Adam second-moment decay"),
    P_DBL(optim.eps, 1e-8, 0.0, 1.0, MINO, "Adam epsilon"),
    P_DBL(optim.clip_norm, 0.0, 0.0, 1e6, 0, "global gradient-norm clip; 0 = off"),

    /* train: supervised pre-training */
    P_INT(train.batch_size, 2048, 1, BATCH_MAX, "impressions per training batch"),
    P_INT(train.epochs, 10, 1, 100000, "maximum passes over the training data"),
    P_INT(train.patience, 2, 0, 1000,
          "epochs without validation-AUC gain before stopping early; 0 = never stop early"),
    P_BOOL(train.shuffle, 1, "shuffle the training impressions every epoch"),

    /* rl: RMTL critics and actor */
    P_DBL(rl.gamma, 0.9, 0.0, 1.0, 0, "discount factor of the session MDP"),
    P_DBL(rl.tau, 0.2, 0.0, 1.0, MINO, "soft target update rate"),
    P_DBL(rl.actor_lr, 1e-4, 0.0, 10.0, MINO, "actor learning rate"),
    P_DBL(rl.critic_lr, 1e-3, 0.0, 10.0, MINO, "critic learning rate"),
    P_INT(rl.actor_update_freq, 2, 1, 1000000, "critic steps per actor step"),
    P_INT(rl.soft_update_freq, 2, 1, 1000000, "steps between soft target updates"),
    P_INT(rl.init_training_step, 1000, 0, 1000000000,
          "warm-up critic steps before the actor is updated"),
    P_DBL(rl.policy_noise, 0.2, 0.0, 10.0, 0, "std of the target-policy smoothing noise"),
    P_DBL(rl.noise_clip, 0.5, 0.0, 10.0, 0, "clip of the target-policy smoothing noise"),
    P_DBL(rl.explore_noise, 0.1, 0.0, 10.0, 0,
          "std of the Gaussian exploration noise of the behaviour policy"),
    P_DBL(rl.lambda, 0.5, 0.0, 10.0, 0, "RMTL loss: weight (1 - lambda*Q) of each BCE term"),
    P_BOOL(rl.ips, 0, "inverse-propensity weights per task from the batch's label counts"),
    P_DBL(rl.bc_weight, 0.0, 0.0, 1e6, 0,
          "behaviour-cloning pull of the actor towards its pre-trained weights"),
    P_INT(rl.buffer_size, 500000, 1, INT64_C(2147483648), "replay buffer capacity (transitions)"),
    P_INT(rl.batch_size, 2048, 1, BATCH_MAX, "transitions per critic/actor update"),
    P_CHOICE(rl.reward, RMTL__REWARD_BCE, rmtl__reward_names,
             "per-task reward: bce = log-likelihood of the label, abs = -|a - y|"),
    P_ILIST(rl.critic.bottom, 1, 8, 1, WIDTH_MAX, "critic bottom MLP widths", 512, 256),
    P_ILIST(rl.critic.tower, 0, 8, 1, WIDTH_MAX, "critic tower widths", 128, 64),

    /* fusion: enhanced-state multi-task fusion */
    P_CHOICE(fusion.granularity, RMTL__GRAN_PAIR, rmtl__granularity_names,
             "pair = one action per user-item pair (enhanced state), user = one per request"),
    P_CHOICE(fusion.formula, RMTL__FORMULA_PRODUCT, rmtl__formula_names,
             "product = prod (p_i + b_i)^w_i (in log space), sum = sum w_i*p_i"),
    P_DBL(fusion.weight_min, 0.0, -100.0, 100.0, 0, "lower bound of each fusion weight w_i"),
    P_DBL(fusion.weight_max, 2.0, -100.0, 100.0, 0, "upper bound of each fusion weight w_i"),
    P_DBL(fusion.bias_min, 0.0, -100.0, 100.0, 0, "lower bound of each fusion bias b_i"),
    P_DBL(fusion.bias_max, 1.0, -100.0, 100.0, 0, "upper bound of each fusion bias b_i"),
    P_DBL(fusion.explore_width, 0.15, 0.0, 10.0, 0,
          "half-width rho of the uniform exploration noise and trust box"),
    P_INT(fusion.critic_groups, 2, 1, 16, "critic groups q, one per reward part group"),
    P_INT(fusion.critic_ensemble, 10, 1, 64, "critics per group m"),
    P_ILIST(fusion.actor_hidden, 1, 8, 1, WIDTH_MAX, "fusion actor MLP widths", 256, 128),
    P_ILIST(fusion.critic_hidden, 1, 8, 1, WIDTH_MAX, "fusion critic MLP widths", 256, 128),
    P_DBL(fusion.gamma, 0.9, 0.0, 1.0, 0, "discount factor over the requests of a session"),
    P_DBL(fusion.tau, 0.005, 0.0, 1.0, MINO, "soft target update rate"),
    P_DBL(fusion.actor_lr, 1e-4, 0.0, 10.0, MINO, "fusion actor learning rate"),
    P_DBL(fusion.critic_lr, 1e-3, 0.0, 10.0, MINO, "fusion critic learning rate"),
    P_DBL(fusion.eta, 1.0, 0.0, 1e6, 0, "weight of the trust-box penalty in the actor loss"),
    P_DBL(fusion.box_beta, 5.0, 0.0, 1e3, 0,
          "growth rate beta of the penalty and discount outside the trust box"),
    P_DBL(fusion.kappa, 0.5, 0.0, 1e6, 0, "weight of the ensemble-disagreement (std) penalty"),
    P_INT(fusion.top_l, 5, 1, 1000,
          "shown-list length l: the slots of list training; rounds require sim.top_l = l"),
    P_INT(fusion.rounds, 5, 1, 1000, "explore / train / deploy rounds of progressive training"),
    P_INT(fusion.batch_size, 256, 1, BATCH_MAX, "requests per fusion update"),
    P_DLIST(fusion.reward_coef, 1, 16, -1e6, 1e6,
            "reward coefficient c_i of each behaviour (click, conversion, ...)", 1.0, 5.0),
    P_ILIST(fusion.reward_group, 1, 16, 0, 15,
            "critic group of each reward part, one entry per fusion.reward_coef", 0, 1),
    P_CHOICE(fusion.explore, RMTL__EXPLORE_PL, rmtl__explore_names,
             "behaviour policy: plackett_luce = sample the shown list from softmax(F_b / "
             "explore_temperature), uniform = per-pair action noise U(-rho, rho)"),
    P_DBL(fusion.explore_temperature, 0.05, 0.0, 1e3, MINO,
          "temperature tau_b of the Plackett-Luce behaviour policy over the fused scores"),
    P_INT(fusion.log_candidates, 20, 0, 100000,
          "unshown candidates logged per request (a uniform sample, weight (n-l)/m); 0 = all"),
    P_CHOICE(fusion.objective, RMTL__OBJECTIVE_LIST, rmtl__objective_names,
             "list = item-value critics and a Plackett-Luce actor over every logged candidate, "
             "pair = per-pair Q(s, a) critics and actor of the shown pairs"),
    P_DBL(fusion.position_decay, 0.3, 0.0, 10.0, 0,
          "examination e_k = (1 + k)^-decay of shown position k (list objective)"),
    P_DBL(fusion.temperature, 0.05, 0.0, 1e3, MINO,
          "final temperature tau of the actor's Plackett-Luce ranking distribution"),
    P_INT(fusion.temperature_steps, 2000, 0, INT64_C(1000000000),
          "steps over which tau falls geometrically from 10 tau to tau; 0 = constant"),
    P_DBL(fusion.kl_beta, 1.0, 0.0, 1e6, 0,
          "weight of KL(actor || behaviour) of the first-slot distributions (list objective)"),
    P_DBL(fusion.anchor, 0.01, 0.0, 1e6, 0,
          "weight of the anchor of each request's mean action to the behaviour's"),
    P_DBL(fusion.ope_max_weight, 20.0, 0.0, 1e12, 0,
          "largest item weight whose residual the doubly robust estimate adds; a heavier "
          "item counts by the item critics' model alone (switch-DR); 0 = no limit"),
    P_BOOL(fusion.ope_gate, 0,
           "rounds deploy only when the off-policy lower bound of the trained actor's long-term "
           "value, minus the deployed policy's, is above -fusion.gate_margin of the latter"),
    P_DBL(fusion.gate_margin, 0.0, 0.0, 1.0, 0,
          "loss the deploy gate tolerates, as a fraction of the deployed policy's value"),
    P_BOOL(fusion.warm_start, 1,
           "a round that explores with fixed weights starts an untrained actor at them"),
    P_INT(fusion.state.user_dim, 16, 0, WIDTH_MAX, "user features in the fusion state"),
    P_INT(fusion.state.item_dim, 16, 0, WIDTH_MAX,
          "item features in the fusion state (pair granularity)"),
    P_INT(fusion.state.context_dim, 4, 0, WIDTH_MAX, "context features in the fusion state"),
    P_BOOL(fusion.state.scores, 1,
           "the pair's MTL scores are part of the state (pair granularity)"),

    /* sim: session simulator for fusion */
    P_INT(sim.users, 2000, 1, 10000000, "simulated users"),
    P_INT(sim.items, 2000, 1, 10000000, "simulated items"),
    P_INT(sim.latent_dim, 16, 1, 256, "dimension of the latent user and item vectors"),
    P_INT(sim.candidates, 200, 1, 100000, "candidate items ranked per request"),
    P_INT(sim.top_l, 5, 1, 1000, "items shown per request"),
    P_INT(sim.max_requests, 30, 1, 10000, "requests after which a session always ends"),
    P_DBL(sim.leave_base, 0.3, 0.0, 1.0, 0, "probability of leaving after a zero-reward request"),
    P_DBL(sim.leave_reward_slope, 0.5, 0.0, 100.0, 0,
          "how fast the leave probability falls with the request's reward"),
    P_DBL(sim.fatigue, 0.02, 0.0, 1.0, 0, "added to the leave logit per request already served (fatigue)"),
    P_INT(sim.tasks, 2, 1, 3, "simulated behaviours per shown item (click, conversion, like)"),
    P_INT(sim.sessions, 2000, 1, 100000000, "sessions per simulated evaluation"),
    P_BOOL(sim.satisfaction.enabled, 0,
           "long-term dynamics: a hidden per-item satisfaction trait moves the session's patience"),
    P_DBL(sim.satisfaction.click, 0.11, 0.0, 5.0, 0,
          "click logit added per unit of dissatisfaction (-trait): clicky, unsatisfying items"),
    P_DBL(sim.satisfaction.memory, 0.7, 0.0, 1.0, 0,
          "share of the session's net satisfaction kept from one request to the next"),
    P_DBL(sim.satisfaction.leave, 0.5, 0.0, 100.0, 0,
          "leave logit removed per unit of the session's net satisfaction"),
    P_DBL(sim.satisfaction.brand_share, 0.5, 0.0, 1.0, 0,
          "share of an item's satisfaction trait shared by its brand"),
    P_DBL(sim.satisfaction.feature_noise, 1.0, 0.0, 1000.0, 0,
          "noise std of the last item float feature, which shows the trait (none when item_dim is 0)"),

    /* runtime */
    P_INT(runtime.seed, 42, 0, INT64_C(1) << 62, "seed of every random stream"),
    P_INT(runtime.threads, 0, 0, 1024, "BLIS threads of training handles; 0 = the CPUs this process may use"),
    P_CHOICE(runtime.blis_arch, RMTL__BLIS_AUTO, rmtl__blis_arch_names,
             "BLIS kernel set; the first handle of the process decides"),
};

const size_t rmtl__param_count = sizeof rmtl__param_table / sizeof rmtl__param_table[0];

const struct rmtl__param_desc *rmtl__param_find(const char *key)
{
    for (size_t i = 0; i < rmtl__param_count; i++)
        if (!strcmp(rmtl__param_table[i].key, key))
            return &rmtl__param_table[i];
    return NULL;
}

int rmtl__param_is_section(const char *key)
{
    size_t n = strlen(key);
    if (n == 0)
        return 1;
    for (size_t i = 0; i < rmtl__param_count; i++) {
        const char *k = rmtl__param_table[i].key;
        if (!strncmp(k, key, n) && k[n] == '.')
            return 1;
    }
    return 0;
}

void rmtl__params_defaults(struct rmtl__settings *p)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; i < rmtl__param_count; i++) {
        const struct rmtl__param_desc *d = &rmtl__param_table[i];
        void *f = rmtl__param_field(p, d);
        switch (d->type) {
        case RMTL__T_BOOL:
        case RMTL__T_CHOICE: *(int *)f = (int)d->idef; break;
        case RMTL__T_INT: *(int64_t *)f = d->idef; break;
        case RMTL__T_DOUBLE: *(double *)f = d->ddef; break;
        case RMTL__T_INT_LIST: {
            rmtl__ilist *l = f;
            l->n = d->ndef;
            memcpy(l->v, d->ilist, d->ndef * sizeof *l->v);
            break;
        }
        case RMTL__T_DOUBLE_LIST: {
            rmtl__dlist *l = f;
            l->n = d->ndef;
            memcpy(l->v, d->dlist, d->ndef * sizeof *l->v);
            break;
        }
        case RMTL__T_STR_LIST: {
            rmtl__slist *l = f;
            l->n = d->ndef;
            for (size_t j = 0; j < d->ndef; j++)
                memcpy(l->v[j], d->slist[j], strlen(d->slist[j]) + 1);
            break;
        }
        }
    }
}

const char *rmtl__params_choice_name(const char *key, int value)
{
    const struct rmtl__param_desc *d = key ? rmtl__param_find(key) : NULL;
    if (!d || d->type != RMTL__T_CHOICE || value < 0 || (size_t)value >= d->nchoices)
        return NULL;
    return d->choices[value];
}

static int rmtl__bits_eq(double a, double b) { return !memcmp(&a, &b, sizeof a); }

int rmtl__params_equal(const struct rmtl__settings *a, const struct rmtl__settings *b)
{
    for (size_t i = 0; i < rmtl__param_count; i++) {
        const struct rmtl__param_desc *d = &rmtl__param_table[i];
        const void *fa = rmtl__param_cfield(a, d), *fb = rmtl__param_cfield(b, d);
        switch (d->type) {
        case RMTL__T_BOOL:
        case RMTL__T_CHOICE:
            if (*(const int *)fa != *(const int *)fb)
                return 0;
            break;
        case RMTL__T_INT:
            if (*(const int64_t *)fa != *(const int64_t *)fb)
                return 0;
            break;
        case RMTL__T_DOUBLE:
            if (!rmtl__bits_eq(*(const double *)fa, *(const double *)fb))
                return 0;
            break;
        case RMTL__T_INT_LIST: {
            const rmtl__ilist *la = fa, *lb = fb;
            if (la->n != lb->n || memcmp(la->v, lb->v, la->n * sizeof *la->v))
                return 0;
            break;
        }
        case RMTL__T_DOUBLE_LIST: {
            const rmtl__dlist *la = fa, *lb = fb;
            if (la->n != lb->n)
                return 0;
            for (size_t j = 0; j < la->n; j++)
                if (!rmtl__bits_eq(la->v[j], lb->v[j]))
                    return 0;
            break;
        }
        case RMTL__T_STR_LIST: {
            const rmtl__slist *la = fa, *lb = fb;
            if (la->n != lb->n)
                return 0;
            for (size_t j = 0; j < la->n; j++)
                if (strcmp(la->v[j], lb->v[j]))
                    return 0;
            break;
        }
        }
    }
    return 1;
}
