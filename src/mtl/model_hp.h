/*
 * The hyper-parameters a multi-task model reads from its config, copied
 * into a plain struct at creation, so that the network code depends on
 * the few values it uses rather than on every config field (the RL and
 * fusion handles do the same with theirs; the groups they share are
 * nn/hp.h's).
 */
#ifndef RMTL_MTL_HP_H
#define RMTL_MTL_HP_H

#include "nn/hp.h"
#include "rmtl.h"

#include <stddef.h>
#include <stdint.h>

#define RMTL__WIDTHS_MAX 16 /* layer widths of one list (model.bottom, model.tower) */

typedef struct rmtl__mtlhp {
    char arch[32]; /* model.arch: "single_task", ..., "aitm" */
    size_t embed_dim;
    size_t bottom[RMTL__WIDTHS_MAX], n_bottom;
    size_t tower[RMTL__WIDTHS_MAX], n_tower;
    float dropout;
    size_t experts, shared, specific; /* model.experts.count / shared / specific */
    rmtl__hp_optim optim;
    size_t batch_size;
    int shuffle;
    rmtl__hp_runtime rt;
} rmtl__mtlhp;

/* Validates cfg (RMTL_ECONFIG with the config's message) and copies its
 * values. */
int rmtl__mtlhp_from_config(rmtl__mtlhp *hp, const rmtl_config *cfg);

#endif
