/* Config → model hyper-parameters (see model_hp.h). */
#include "mtl/model_hp.h"

#include "core/internal.h"
#include "core/params.h"

#include <stdio.h>
#include <string.h>

_Static_assert(RMTL__WIDTHS_MAX >= RMTL__LIST_CAP, "model width lists fit");

int rmtl__mtlhp_from_config(rmtl__mtlhp *hp, const rmtl_config *cfg)
{
    memset(hp, 0, sizeof *hp);
    int rc = rmtl_config_validate(cfg);
    if (rc)
        return rc;
    const struct rmtl__settings *p = rmtl__config_params(cfg);
    snprintf(hp->arch, sizeof hp->arch, "%s", rmtl__arch_names[p->model.arch]);
    hp->embed_dim = (size_t)p->model.embed_dim;
    hp->n_bottom = rmtl__hp_sizes(hp->bottom, RMTL__WIDTHS_MAX, &p->model.bottom);
    hp->n_tower = rmtl__hp_sizes(hp->tower, RMTL__WIDTHS_MAX, &p->model.tower);
    hp->dropout = (float)p->model.dropout;
    hp->experts = (size_t)p->model.experts.count;
    hp->shared = (size_t)p->model.experts.shared;
    hp->specific = (size_t)p->model.experts.specific;
    rmtl__hp_optim_read(&hp->optim, p);
    hp->batch_size = (size_t)p->train.batch_size;
    hp->shuffle = p->train.shuffle;
    rmtl__hp_runtime_read(&hp->rt, p);
    return 0;
}
