/* Config → model hyper-parameters (see hp.h). */
#include "mtl/model_hp.h"

#include "core/internal.h"
#include "core/params.h"
#include "nn/gemm.h"

#include <stdio.h>
#include <string.h>

_Static_assert(RMTL__WIDTHS_MAX >= RMTL__LIST_CAP, "model width lists fit");

static size_t rmtl__widths(size_t *out, const rmtl__ilist *l)
{
    for (size_t i = 0; i < l->n; i++)
        out[i] = (size_t)l->v[i];
    return l->n;
}

int rmtl__mtlhp_from_config(rmtl__mtlhp *hp, const rmtl_config *cfg)
{
    memset(hp, 0, sizeof *hp);
    int rc = rmtl_config_validate(cfg);
    if (rc)
        return rc;
    const struct rmtl__settings *p = rmtl__config_params(cfg);
    snprintf(hp->arch, sizeof hp->arch, "%s", rmtl__arch_names[p->model.arch]);
    hp->embed_dim = (size_t)p->model.embed_dim;
    hp->n_bottom = rmtl__widths(hp->bottom, &p->model.bottom);
    hp->n_tower = rmtl__widths(hp->tower, &p->model.tower);
    hp->dropout = (float)p->model.dropout;
    hp->experts = (size_t)p->model.experts.count;
    hp->shared = (size_t)p->model.experts.shared;
    hp->specific = (size_t)p->model.experts.specific;
    hp->lr = p->optim.lr;
    hp->weight_decay = p->optim.weight_decay;
    hp->beta1 = p->optim.beta1;
    hp->beta2 = p->optim.beta2;
    hp->eps = p->optim.eps;
    hp->clip_norm = p->optim.clip_norm;
    hp->batch_size = (size_t)p->train.batch_size;
    hp->shuffle = p->train.shuffle;
    hp->seed = (uint64_t)p->runtime.seed;
    hp->threads = p->runtime.threads ? (int)p->runtime.threads : rmtl__ncores();
    snprintf(hp->blis_arch, sizeof hp->blis_arch, "%s",
             rmtl__blis_arch_names[p->runtime.blis_arch]);
    return 0;
}
