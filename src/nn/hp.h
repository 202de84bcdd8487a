/*
 * The hyper-parameter groups that several handles read from a config: the
 * optimiser's (optim.*) and the runtime's (runtime.*). Each group has one
 * reader, so that its rules are spelled once (runtime.threads 0 = the
 * cores); the model (mtl/model_hp.h), the RL handles (rl/rl_hp.h) and
 * fusion (fusion/opts.h) embed the groups in their own plain structs.
 */
#ifndef RMTL_NN_HP_H
#define RMTL_NN_HP_H

#include "core/params.h"
#include "nn/adam.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rmtl__hp_optim {
    double lr, weight_decay, beta1, beta2, eps, clip_norm; /* optim.* */
} rmtl__hp_optim;

typedef struct rmtl__hp_runtime {
    uint64_t seed;         /* runtime.seed */
    int threads;           /* runtime.threads, 0 resolved to the cores: >= 1 */
    const char *blis_arch; /* runtime.blis_arch (a static string) */
} rmtl__hp_runtime;

/* Copy a validated config's group. */
void rmtl__hp_optim_read(rmtl__hp_optim *o, const struct rmtl__settings *p);
void rmtl__hp_runtime_read(rmtl__hp_runtime *r, const struct rmtl__settings *p);

/* An Adam optimiser with learning rate lr and the group's other settings
 * (a handle may train several networks at their own rates). */
void rmtl__hp_optim_adam(rmtl__adam *opt, const rmtl__hp_optim *o, double lr);

/* Copies the first min(l->n, cap) entries of a list of sizes (layer
 * widths) and returns how many. */
size_t rmtl__hp_sizes(size_t *out, size_t cap, const rmtl__ilist *l);

#endif
