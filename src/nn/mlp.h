/*
 * MLP: [Linear → ReLU → Dropout] for each hidden width, then an optional
 * output Linear(→ out) without activation. Layer names "<name>.0",
 * "<name>.1", ..., "<name>.out".
 *
 * Modules (mlp, gate, attn) follow one rule: forward() allocates its
 * activations from the workspace and remembers them in the module for the
 * next backward() (one forward/backward in flight per module; batch
 * several inputs into one call rather than calling twice); predict() is
 * const, keeps nothing and may run concurrently with its own workspace.
 *
 * ReLU rides in the Linear's output pass; training adds one dropout pass.
 * The backward pass needs no stored mask: with inverted dropout after
 * ReLU, the output h is > 0 exactly where both let the value through, so
 * dz = dh·s·[h > 0], s = 1/(1 − p) in training and 1 otherwise.
 */
#ifndef RMTL_NN_MLP_H
#define RMTL_NN_MLP_H

#include "nn/linear.h"
#include "nn/ws.h"

typedef struct rmtl__mlp {
    rmtl__linear *lin; /* n_lin layers: n_hidden hidden ones, then the output one if any */
    size_t n_lin, n_hidden;
    size_t in, out;    /* out: width of the last layer */
    float dropout;
    /* the last forward(): input, its layout, mode and every layer's output */
    const float *x;
    size_t ldx, n;
    int train;
    float **h;
} rmtl__mlp;

/* widths: n_widths hidden widths (may be 0 if out > 0); out: width of the
 * output Linear, 0 for none. dropout in [0, 1). Weights from rng. On
 * failure the module is freed; the list may hold some of its parameters. */
int rmtl__mlp_init(rmtl__mlp *m, rmtl__params *ps, const char *name, size_t in,
                   const size_t *widths, size_t n_widths, size_t out, float dropout,
                   rmtl__rng *rng);
/* Frees what the module owns (not the parameters). Accepts a zeroed one. */
void rmtl__mlp_free(rmtl__mlp *m);

/* Training forward of n rows. dropout_rng NULL: evaluation mode (no
 * dropout). *y (n×out, row stride out) lives in ws. x must stay valid until
 * backward. */
int rmtl__mlp_forward(rmtl__mlp *m, rmtl__ws *ws, size_t n, const float *x, size_t ldx,
                      rmtl__rng *dropout_rng, const float **y);
/* The training forward with layer 0's Linear already done (pre: n × its
 * width, row stride ldpre, bias included; the folded input layer,
 * src/mtl/fold.c): only its activation and dropout remain. x is still the
 * input that backward differentiates against. pre is consumed: when its
 * stride is layer 0's width, layer 0's output is computed over it (it
 * must then live as long as that output: until backward). */
int rmtl__mlp_forward_pre(rmtl__mlp *m, rmtl__ws *ws, size_t n, const float *x, size_t ldx,
                          float *pre, size_t ldpre, rmtl__rng *dropout_rng, const float **y);
/* Backward of the last forward: accumulates parameter gradients; dx (n×in)
 * is set (acc = 0) or added to (acc = 1), or skipped when NULL. */
int rmtl__mlp_backward(rmtl__mlp *m, rmtl__ws *ws, const float *dy, size_t lddy, float *dx,
                       size_t lddx, int acc);
/* The same with dx holding only the input columns [c0, c1) (n × (c1 − c0)):
 * a caller that needs part of the input gradient skips the rest of the
 * first layer's product. */
int rmtl__mlp_backward_cols(rmtl__mlp *m, rmtl__ws *ws, const float *dy, size_t lddy,
                            float *dx, size_t lddx, int acc, size_t c0, size_t c1);
/* The backward down to layer 0's Linear, exclusive: accumulates the
 * gradients of the layers above it and sets *g0 (row stride *ldg0, in ws
 * or dy itself) to the gradient w.r.t. layer 0's output before its
 * activation, for a caller that differentiates layer 0 its own way
 * (nn/embed_linear.h); the forward input is m->x (row stride m->ldx). */
int rmtl__mlp_backward_upper(rmtl__mlp *m, rmtl__ws *ws, const float *dy, size_t lddy,
                             const float **g0, size_t *ldg0);
/* Evaluation-mode output into y (n×out), nothing remembered. */
int rmtl__mlp_predict(const rmtl__mlp *m, rmtl__ws *ws, size_t n, const float *x, size_t ldx,
                      float *y, size_t ldy);
/* The same from pre (n × width of the first layer, row stride ldpre): the
 * first Linear's output, bias included, computed elsewhere (the folded
 * input layer, src/mtl/fold.c). pre is consumed: with more than one layer
 * and a stride of layer 0's width, layer 0's output is computed over it. */
int rmtl__mlp_predict_pre(const rmtl__mlp *m, rmtl__ws *ws, size_t n, float *pre, size_t ldpre,
                          float *y, size_t ldy);

#endif
