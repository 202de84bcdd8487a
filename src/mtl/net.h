/*
 * The network of a multi-task model, whatever its architecture: the input
 * layer (embedding of the categorical fields + Linear of the numerical
 * features, concatenated: x0 of D0 = (F + 1)·E columns), the modules the
 * architecture wired (arch.h), and the outputs: p_k = σ(z_k), or ESMM's
 * chain p_k = p_{k-1}·σ(z_k). All parameters live in one list with
 * hierarchical names ("embed.table", "expert.3.0.w", "tower.1.out.w").
 *
 * The loss is (1/T)·Σ_k mean_rows(w_rk·BCE(p_rk, y_rk)): BCE on logits
 * where p is a plain sigmoid, BCE on the chained probabilities for ESMM.
 */
#ifndef RMTL_MTL_NET_H
#define RMTL_MTL_NET_H

#include "mtl/arch.h"
#include "mtl/layout.h"
#include "nn/embedding.h"

typedef struct rmtl__net {
    rmtl__params ps;
    rmtl__embed emb;
    rmtl__mods mods;
    const rmtl__arch_def *arch;
    const rmtl__mtlhp *hp; /* borrowed: the wiring reads widths and counts */
    size_t n_tasks;
    const char *const *task; /* borrowed from the layout: loss messages */
    struct rmtl__fold *fold; /* serving cache of the input layer, or NULL (fold.h) */
} rmtl__net;

/* Builds the network of hp (model.*, runtime.seed) for layout lay
 * (both borrowed: they must outlive the network), weights drawn from the seed's
 * initialisation stream. RMTL_ECONFIG, RMTL_EINVAL, RMTL_ENOMEM; on
 * failure the network is freed. */
int rmtl__net_init(rmtl__net *net, const rmtl__mtlhp *hp, const rmtl__layout *lay);
void rmtl__net_free(rmtl__net *net); /* accepts a zeroed network */

/* Width of x0. */
size_t rmtl__net_input_width(const rmtl__net *net);

/* A forward pass kept for its backward: the recording, the input rows
 * and the outputs. Valid until its workspace is reset. */
typedef struct rmtl__net_pass {
    rmtl__pass ps;
    const rmtl__net *net;
    const rmtl_batch *b;
    int x0, z[RMTL__TASKS_MAX]; /* graph variables: input layer, logits */
    float *x;                   /* n × D0 input rows */
    float *S, *P;               /* T columns of n rows: σ(z_k) and the outputs p_k */
} rmtl__net_pass;

/* The forward half of rmtl__net_run() (same arguments; ws is NOT reset,
 * so the caller may hold buffers of its own in it): fills *np. */
int rmtl__net_forward(rmtl__net_pass *np, const rmtl__net *net, rmtl__ws *ws, rmtl__tape *tape,
                      rmtl__rng *drop, int train, const rmtl_batch *b, float *probs, size_t ldp);
/* Backward of a training-mode pass from dL/dp, the gradient of each output
 * (n × T, row stride lddp), for losses the model does not compute itself
 * (the RL actor's −Q): parameter gradients ACCUMULATE. Setting
 * np->ps.group_vocab first (graph.h) differentiates the MLPs that read
 * the embedding by distinct id (nn/embed_linear.h). */
int rmtl__net_backward(rmtl__net_pass *np, const float *dp, size_t lddp);

/* One pass over a validated batch (batch.h), in ws (reset first) with the
 * pass storage `tape`:
 *   train = 1: forward with dropout from `drop` (NULL: none), the loss
 *              (labels required) and its backward: parameter gradients
 *              ACCUMULATE (zero them before, as the optimizer expects);
 *   train = 0: evaluation forward; nothing in `net` changes, so several
 *              threads may run it at once with their own ws and tape.
 * probs (may be NULL): rows × T probabilities, row stride ldp. loss (may
 * be NULL; needs labels): the loss above. RMTL_ENUMERIC (non-finite
 * feature, activation, loss or gradient), RMTL_ENOMEM. */
int rmtl__net_run(const rmtl__net *net, rmtl__ws *ws, rmtl__tape *tape, rmtl__rng *drop,
                  int train, const rmtl_batch *b, float *probs, size_t ldp, double *loss);

#endif
