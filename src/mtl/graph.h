/*
 * Wiring modules into a network, written once per architecture.
 *
 * An architecture is one function that calls the rmtl__g_* wrappers below
 * (MLP, Linear, gate, gated mixture, attention) on variables — activations
 * of n rows, named by small integer handles. The same function runs in
 * three modes of a pass:
 *   BUILD  creates each module (and its parameters, named from the format
 *          arguments) in call order; no data flows, only widths;
 *   TRAIN  runs each module's forward() (with dropout) and records the
 *          call on a tape, so that rmtl__graph_backward() can replay the
 *          tape in reverse: backward is never written per architecture;
 *   EVAL   runs each module's const predict(): nothing is recorded and
 *          nothing in the network changes, so any number of threads may
 *          evaluate one network, each with its own pass storage.
 * In TRAIN and EVAL the wrappers take the modules in the order BUILD made
 * them (a cursor), so the wiring cannot diverge between modes.
 *
 * Errors are sticky: the first failure is kept in pass->rc, every later
 * wrapper returns -1 and does nothing, and the wiring function checks
 * once at the end.
 *
 * Gradients: each variable gets a gradient buffer when its first consumer
 * (in reverse order) writes into it; later consumers add to it. A variable
 * that nothing downstream needs has no gradient, and the modules that
 * produced it are skipped.
 */
#ifndef RMTL_MTL_GRAPH_H
#define RMTL_MTL_GRAPH_H

#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/gate.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/ws.h"

#include <stdint.h>

#include "core/internal.h"

enum { RMTL__MOD_MLP, RMTL__MOD_LINEAR, RMTL__MOD_GATE, RMTL__MOD_ATTN };

typedef struct rmtl__mod {
    int kind;
    int on_input; /* its input is the network input (the pass's first variable) */
    union {
        rmtl__mlp mlp;
        rmtl__linear lin;
        rmtl__gate gate;
        rmtl__attn attn;
    } u;
} rmtl__mod;

/* The modules of a network, in creation order. */
typedef struct rmtl__mods {
    rmtl__mod *m;
    size_t n, cap;
} rmtl__mods;

void rmtl__mods_free(rmtl__mods *mods);

typedef struct rmtl__var {
    const float *x; /* n × cols, row stride ld (NULL in BUILD) */
    size_t ld, cols;
    float *g;       /* n × cols contiguous gradient, NULL until written */
} rmtl__var;

typedef struct rmtl__op {
    int kind;      /* RMTL__MOD_* or RMTL__OP_MIX */
    size_t mod;    /* index into the modules (not for a mix) */
    int in[2];     /* inputs: one, two for attention, the gate for a mix */
    size_t ref, n_ref; /* mix: its experts' handles are tape->ref[ref ..] */
    int out;
} rmtl__op;

enum { RMTL__OP_MIX = 16 };

/* Storage of a pass, kept between passes: it grows to the largest network
 * it has run and then allocates nothing. Owned by whoever owns the
 * workspace (a model for training, an rmtl_ctx for prediction). */
typedef struct rmtl__tape {
    rmtl__var *var;
    rmtl__op *op;
    int *ref;
    const float **xs; /* scratch pointer arrays of one mixture */
    float **dxs;
    size_t cap_var, cap_op, cap_ref, cap_fan;
} rmtl__tape;

void rmtl__tape_free(rmtl__tape *t); /* accepts a zeroed tape */

enum { RMTL__PASS_BUILD, RMTL__PASS_TRAIN, RMTL__PASS_EVAL };

typedef struct rmtl__pass {
    int mode;
    int rc;                  /* first error (0: none) */
    size_t n;                /* rows (0 in BUILD) */
    rmtl__ws *ws;            /* activations and gradients (not in BUILD) */
    rmtl__rng *drop;         /* TRAIN: dropout stream */
    rmtl__tape *t;
    size_t n_var, n_op, n_ref;
    const rmtl__mods *mods;  /* TRAIN/EVAL: read with the cursor */
    rmtl__mods *build;       /* BUILD: appended to */
    size_t next;             /* cursor */
    rmtl__params *params;    /* BUILD: where module parameters go */
    rmtl__rng *init;         /* BUILD: weight initialisation stream */
    float dropout;           /* BUILD: dropout of the MLPs made */
    /* EVAL, optional: the first Linear's output (bias included) of the
     * MLP, Linear and gate modules that read the network input, computed
     * elsewhere (src/mtl/fold.c): module i's is the n × width block at
     * column pre_col[i] of pre (row stride ldpre); SIZE_MAX: none. A
     * module may overwrite its block (rmtl__mlp_predict_pre). */
    float *pre;
    size_t ldpre;
    const size_t *pre_col;
    /* TRAIN, optional: the input variable `input` is emb's output for the
     * ids cat and features num (row strides: its fields, its n_num). With
     * group_vocab > 0, the backward of an MLP that reads it is
     * rmtl__embed_linear_backward for its first layer (fields of at most
     * group_vocab ids grouped), which adds to the embedding's gradients
     * instead of the input's. Set by the owner (src/mtl/net.c). */
    const rmtl__embed *emb;
    const int32_t *cat;
    const float *num;
    int input;
    size_t group_vocab;
} rmtl__pass;

/* A TRAIN or EVAL pass of n rows over the modules `mods` (only their
 * forward()/predict() run: in EVAL the modules are not changed). drop:
 * the dropout stream (TRAIN; NULL for none). */
void rmtl__pass_init(rmtl__pass *ps, int mode, rmtl__tape *t, const rmtl__mods *mods,
                     size_t n, rmtl__ws *ws, rmtl__rng *drop);
/* A BUILD pass appending to `mods` (empty), parameters to `params`. */
void rmtl__pass_build(rmtl__pass *ps, rmtl__tape *t, rmtl__mods *mods, rmtl__params *params,
                      rmtl__rng *init, float dropout);

/* A variable over caller memory (the network input): handle, or -1. */
int rmtl__g_input(rmtl__pass *ps, const float *x, size_t ld, size_t cols);
size_t rmtl__g_cols(const rmtl__pass *ps, int v); /* 0 for -1 */

/* MLP: hidden widths w[0..nw) and an output
 * Linear(→ out) when out > 0; dropout after each hidden ReLU (TRAIN). */
int rmtl__g_mlp(rmtl__pass *ps, int in, const size_t *w, size_t nw, size_t out,
                const char *fmt, ...) RMTL__PRINTF(6, 7);
/* Linear(→ out) with bias. */
int rmtl__g_linear(rmtl__pass *ps, int in, size_t out, const char *fmt, ...)
    RMTL__PRINTF(4, 5);
/* Softmax gate over n_experts: variable of n × n_experts weights. */
int rmtl__g_gate(rmtl__pass *ps, int in, size_t n_experts, const char *fmt, ...)
    RMTL__PRINTF(4, 5);
/* Σ_e gate[:, e] ⊙ experts[e]; every expert as wide as the others, one
 * weight per expert. No parameters. */
int rmtl__g_mix(rmtl__pass *ps, int gate, const int *experts, size_t n_experts);
/* AITM's 2-token attention of [u0, u1] (equal widths). */
int rmtl__g_attn(rmtl__pass *ps, int u0, int u1, const char *fmt, ...) RMTL__PRINTF(4, 5);

/* The output rows of variable v (TRAIN/EVAL). */
const float *rmtl__g_value(const rmtl__pass *ps, int v);
/* v's gradient buffer, created (uninitialised, to be set by the caller)
 * if absent; NULL with RMTL_ENOMEM. For the loss to seed the backward. */
float *rmtl__g_grad(rmtl__pass *ps, int v);

/* Replays the TRAIN tape in reverse: accumulates every module's parameter
 * gradients and fills the gradients of the variables, the input included
 * (read it with rmtl__g_grad_of; NULL when nothing reached it). */
int rmtl__graph_backward(rmtl__pass *ps);
const float *rmtl__g_grad_of(const rmtl__pass *ps, int v);

#endif
