/*
 * The fusion handle (docs/fusion.md): the actor under training, its
 * target, the q × m critics and their targets, the optimisers, and the
 * deployed (served) policy, a padded read-only copy of the actor laid out
 * for the serving paths (serve.h).
 *
 * Actor input order (ours, internal): [user; context | item; scores] — the
 * request part first, so that serving computes its share of the first
 * layer once per request. The public pair features are [user; item;
 * context]; rmtl__fusion_state_row() converts.
 */
#ifndef RMTL_FUSION_FUSION_H
#define RMTL_FUSION_FUSION_H

#include <stddef.h>
#include <stdint.h>

#include "dist/gx.h"
#include "fusion/log.h"
#include "fusion/opts.h"
#include "fusion/serve.h"
#include "nn/adam.h"
#include "nn/mlp.h"
#include "core/rng.h"
#include "nn/ws.h"
#include "rmtl.h"

struct rmtl_fusion {
    rmtl_config *cfg; /* own copy: the checkpoint's CONF */
    rmtl__fopts o;    /* the settings read from it */

    size_t T, A, R, G, M;           /* tasks, action dim, reward parts, groups, ensemble */
    size_t user_dim, item_dim, ctx_dim;
    size_t score_in;                /* T when the scores are in the state, else 0 */
    size_t state_dim;               /* public pair features: user + item + context */
    size_t in_req, in_pair, in_act; /* actor input: request part, pair part, total */
    size_t in_crit;                 /* critic input: in_act + A (objective pair) */
    size_t in_item;                 /* item critic input: user + context + item + T (list) */
    int gran, formula;
    float lo[RMTL__FUSE_ACT_MAX], hi[RMTL__FUSE_ACT_MAX]; /* action bounds */
    float rho;                      /* fusion.explore_width */

    rmtl__params dep_ps; /* the deployed actor's weights (checkpoints) ... */
    rmtl__mlp dep;
    rmtl__fserve serve;  /* ... and their serving layout */
    int fixed;
    float fixed_action[RMTL__FUSE_ACT_MAX];

    /* training */
    rmtl__params actor_ps, actor_tps, critic_ps, critic_tps;
    rmtl__mlp actor, actor_t;
    rmtl__mlp *critic, *critic_t; /* G·M each, critic (g, m) at g·M + m */
    rmtl__adam actor_opt, critic_opt;
    rmtl__ws ws, ws_net; /* a step's inputs; one network's activations */
    rmtl__rng rng;       /* RMTL__STREAM_SAMPLE: minibatches, CEM draws */
    uint64_t noise;      /* splitmix64 state of the rounds' exploration */
    rmtl__flog log;      /* offline log of the rounds */
    uint64_t steps;
    rmtl__gx gx;         /* gradient exchange of the train step */
};

/* Checks f->cfg for fusion (validate + the serving limits) and fills
 * f->o and the dimensions of f from it. */
int rmtl__fusion_dims(rmtl_fusion *f);
/* Builds the networks, optimisers and the deployed policy of a handle whose
 * dims are set, with weights from runtime.seed. */
int rmtl__fusion_build(rmtl_fusion *f);

/* Warm start (fusion.warm_start): when f serves a fixed action, sets the
 * actor (and its target) to output exactly that action (within 1% of the
 * range of a bound) for every input: zero output weights, output biases
 * atanh of the squashed action. Progressive training then starts from the
 * policy that explored, not from a random actor's ranking. */
int rmtl__fusion_actor_from_fixed(rmtl_fusion *f);

/* The actor input row (in_act floats, internal order) of a pair from its
 * public features [user; item; context] and scores. */
void rmtl__fusion_state_row(const rmtl_fusion *f, const float *state, const float *scores,
                            float *row);

/* Squashing tanh into the bounds: a_k = lo_k + (hi_k − lo_k)·(tanh z_k + 1)/2,
 * k < A. Shared by serving and training so both squash alike. */
void rmtl__fusion_squash(const rmtl_fusion *f, const float *z, float *a);
/* The fusion formula on T scores with action a (see rmtl.h). */
float rmtl__fusion_formula(int formula, size_t T, const float *p, const float *a);

/* The trust box [lo, hi] of an action a (A values):
 * penalty d(a) = Σ_k (exp(β·dist_k) − 1), dist_k = max(0, lo_k − a_k, a_k − hi_k),
 * 0 inside the box; grad (may be NULL) += scale·∂d/∂a.
 * discount φ(a) = exp(−β·‖dist‖₂), 1 inside the box. */
double rmtl__fusion_box_penalty(size_t A, const float *a, const float *lo, const float *hi,
                                double beta, float *grad, float scale);
double rmtl__fusion_box_discount(size_t A, const float *a, const float *lo, const float *hi,
                                 double beta);

/* Training pieces, exposed for the gradient tests. Each zeroes the
 * gradients of its networks first, then accumulates the gradient of its
 * loss (mean over the batch) and returns the loss; no optimiser step. The
 * batch must have passed rmtl__fusion_check_batch. */
int rmtl__fusion_check_batch(const rmtl_fusion *f, const rmtl_fusion_batch *b);
int rmtl__fusion_critic_grad(rmtl_fusion *f, const rmtl_fusion_batch *b, double *loss);
int rmtl__fusion_actor_grad(rmtl_fusion *f, const rmtl_fusion_batch *b, double *loss,
                            rmtl_fusion_stats *st);

/* List-aware training (fusion.objective: list, list_train.c): the item
 * critics' loss and the Plackett–Luce actor's, as the two above. */
int rmtl__fusion_list_critic_grad(rmtl_fusion *f, const rmtl_fusion_batch *b, double *loss);
int rmtl__fusion_list_actor_grad(rmtl_fusion *f, const rmtl_fusion_batch *b, double *loss,
                                 rmtl_fusion_stats *st);
/* The item critics' input row [user; context; item; scores] of a pair. */
void rmtl__fusion_item_row(const rmtl_fusion *f, const float *state, const float *scores,
                           float *row);
/* The actor's PL temperature τ at the handle's current step (annealed). */
double rmtl__fusion_temperature(const rmtl_fusion *f);
/* Adds to q[e] (and its std to sd[e], sd may be NULL) one critic group's
 * Q̄_LCB = mean_m − κ·std_m of r̂ + h over the group's M ensemble
 * predictions y (member m's n rows of [r̂, h] at y + m·2n), e < n
 * (list_train.c; the actor's values and the deploy gate's). */
void rmtl__fusion_group_lcb(const float *y, size_t M, size_t n, double kappa, double *q,
                            double *sd);
/* The off-policy terms, per request t of q0..q1−1, of the served policy
 * whose fused scores on f's log l, from the first row of q0, are `target`
 * (ope.c): ips, cv (weighted examinations), et (the target's total
 * examination), dm and res (the item critics' model and the weighted
 * residuals of items no heavier than fusion.ope_max_weight, from rhat;
 * without rhat 0 and ips), heavy (the residuals of the heavier items)
 * and, with lt, mt (the critics' long-term part). rhat and lt are per log
 * row from the first row of q0, or NULL. */
int rmtl__fusion_ope_terms(double *ips, double *cv, double *et, double *dm, double *res,
                           double *heavy, double *mt, const rmtl_fusion *f, const rmtl__flog *l,
                           size_t q0, size_t q1, const float *target, const double *rhat,
                           const double *lt);
/* The per-request terms of one policy (rmtl__fusion_ope_terms), N each. */
typedef struct rmtl__ope_t {
    double *ips, *cv, *et, *dm, *res, *heavy, *mt;
} rmtl__ope_t;
#define RMTL__OPE_T 7 /* arrays in rmtl__ope_t */
/* The reported estimates from one policy's per-request terms t (ope.c):
 * SNIPS and, with critic, the self-normalised switch-DR (else DR = SNIPS),
 * each with its 95% interval, DR's widened to hold the unswitched
 * estimate's; and the ESS. phi is N doubles of scratch. */
void rmtl__ope_summary(rmtl_fusion_estimate *out, size_t N, const rmtl__ope_t *t, int critic,
                       double *phi);
/* Off-policy estimates (ope.c) of the served policy (top l by the fused
 * scores `target`, one per log row of requests q0..q1-1 from the first
 * row of q0) on f's log l, whose behaviour explored by PL at τ_b: SNIPS,
 * and DR with f's item critics under the list objective (else DR = SNIPS). */
int rmtl__fusion_ope_both(rmtl_fusion_estimate *out, const rmtl_fusion *f, const rmtl__flog *l,
                          size_t q0, size_t q1, const float *target);
/* The deploy gate's estimates, on requests q0..q1−1 of f's log, of the
 * served policies with fused scores ta (the trained actor) and tb (the
 * deployed): each one's request value as rmtl__fusion_ope_both gives it
 * (ea, eb), and the paired estimate of the long-term value of ta minus
 * that of tb: per request the DR request value plus the item critics'
 * long-term part Σ_j ρ(j)·(Q̄_LCB − r̂)(x_j) (list objective; IPS without
 * critics). *gain with its 95% interval [*lo, *hi]; *base the deployed
 * policy's estimate. */
int rmtl__fusion_ope_gain(double *gain, double *lo, double *hi, double *base,
                          rmtl_fusion_estimate *ea, rmtl_fusion_estimate *eb,
                          const rmtl_fusion *f, const rmtl__flog *l, size_t q0, size_t q1,
                          const float *ta, const float *tb);
/* n size_t values from a float workspace (NULL on failure). */
size_t *rmtl__fusion_ws_idx(rmtl__ws *ws, size_t n);
/* A batch as version 2 (a version-1 batch's new fields read as NULL). */
void rmtl__fusion_batch_v2(rmtl_fusion_batch *out, const rmtl_fusion_batch *b);

#endif
