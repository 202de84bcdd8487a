/* The shared hyper-parameter groups (hp.h). */
#include "nn/hp.h"

#include "nn/gemm.h"

void rmtl__hp_optim_read(rmtl__hp_optim *o, const struct rmtl__settings *p)
{
    o->lr = p->optim.lr;
    o->weight_decay = p->optim.weight_decay;
    o->beta1 = p->optim.beta1;
    o->beta2 = p->optim.beta2;
    o->eps = p->optim.eps;
    o->clip_norm = p->optim.clip_norm;
}

void rmtl__hp_runtime_read(rmtl__hp_runtime *r, const struct rmtl__settings *p)
{
    r->seed = (uint64_t)p->runtime.seed;
    r->threads = p->runtime.threads > 0 ? (int)p->runtime.threads : rmtl__ncores();
    r->blis_arch = rmtl__blis_arch_names[p->runtime.blis_arch];
}

void rmtl__hp_optim_adam(rmtl__adam *opt, const rmtl__hp_optim *o, double lr)
{
    rmtl__adam_init(opt, lr, o->weight_decay);
    opt->beta1 = o->beta1;
    opt->beta2 = o->beta2;
    opt->eps = o->eps;
    opt->clip_norm = o->clip_norm;
}

size_t rmtl__hp_sizes(size_t *out, size_t cap, const rmtl__ilist *l)
{
    size_t n = l->n < cap ? l->n : cap;
    for (size_t i = 0; i < n; i++)
        out[i] = (size_t)l->v[i];
    return n;
}
