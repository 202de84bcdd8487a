/* The architectures: forward wiring only; the graph records the backward
 * (graph.h) and the BUILD pass creates the modules and their parameters
 * from the same calls. Parameter names follow the module names given
 * here (docs/models.md lists them). */
#include "mtl/arch.h"

#include "mtl/layout.h"

#include <string.h>

#define RMTL__EXPERTS_MAX 64 /* model.experts.* range */

/* Task k's tower: MLP(model.tower) then Linear(→ 1): the logit. */
static int rmtl__tower(rmtl__pass *ps, const rmtl__mtlhp *p, int in, size_t k)
{
    return rmtl__g_mlp(ps, in, p->tower, p->n_tower, 1, "tower.%zu", k);
}

static int rmtl__too_many(rmtl__pass *ps, const char *key, long long n)
{
    if (!ps->rc)
        ps->rc = rmtl__error(RMTL_ECONFIG, "%s: %lld experts (at most %d)", key, n,
                             RMTL__EXPERTS_MAX);
    return ps->rc;
}

/* single_task and esmm: T bottoms, T towers (esmm chains the outputs). */
static int rmtl__wire_towers(rmtl__pass *ps, const rmtl__mtlhp *p, size_t T, int x0,
                             int *z)
{
    for (size_t k = 0; k < T; k++) {
        int b = rmtl__g_mlp(ps, x0, p->bottom, p->n_bottom, 0, "bottom.%zu", k);
        z[k] = rmtl__tower(ps, p, b, k);
    }
    return ps->rc;
}

static int rmtl__wire_shared_bottom(rmtl__pass *ps, const rmtl__mtlhp *p, size_t T,
                                    int x0, int *z)
{
    int b = rmtl__g_mlp(ps, x0, p->bottom, p->n_bottom, 0, "bottom");
    for (size_t k = 0; k < T; k++)
        z[k] = rmtl__tower(ps, p, b, k);
    return ps->rc;
}

/* omoe (one gate, one mixture for every tower) and mmoe (a gate and a
 * mixture per task) over model.experts.count bottom-MLP experts. */
static int rmtl__wire_moe(rmtl__pass *ps, const rmtl__mtlhp *p, size_t T, int x0,
                          int *z, int per_task)
{
    size_t E = p->experts;
    if (E > RMTL__EXPERTS_MAX)
        return rmtl__too_many(ps, "model.experts.count", (long long)E);
    int ex[RMTL__EXPERTS_MAX];
    for (size_t e = 0; e < E; e++)
        ex[e] = rmtl__g_mlp(ps, x0, p->bottom, p->n_bottom, 0, "expert.%zu", e);
    int shared = -1;
    if (!per_task)
        shared = rmtl__g_mix(ps, rmtl__g_gate(ps, x0, E, "gate"), ex, E);
    for (size_t k = 0; k < T; k++) {
        int in = per_task ? rmtl__g_mix(ps, rmtl__g_gate(ps, x0, E, "gate.%zu", k), ex, E)
                          : shared;
        z[k] = rmtl__tower(ps, p, in, k);
    }
    return ps->rc;
}

static int rmtl__wire_omoe(rmtl__pass *ps, const rmtl__mtlhp *p, size_t T, int x0,
                           int *z)
{
    return rmtl__wire_moe(ps, p, T, x0, z, 0);
}

static int rmtl__wire_mmoe(rmtl__pass *ps, const rmtl__mtlhp *p, size_t T, int x0,
                           int *z)
{
    return rmtl__wire_moe(ps, p, T, x0, z, 1);
}

/* PLE: one extraction level per model.bottom width. At each level, task k
 * has `specific` experts on its own input and the level has `shared`
 * experts on the shared input (each expert one Linear + ReLU + dropout);
 * task k's gate mixes its own and the shared experts into its next input;
 * the shared gate mixes all experts into the next shared input — except
 * at the last level, where nothing would read it, so it is not built. */
static int rmtl__wire_ple(rmtl__pass *ps, const rmtl__mtlhp *p, size_t T, int x0,
                          int *z)
{
    size_t S = p->specific, Sh = p->shared;
    if (S > RMTL__EXPERTS_MAX)
        return rmtl__too_many(ps, "model.experts.specific", (long long)S);
    if (Sh > RMTL__EXPERTS_MAX)
        return rmtl__too_many(ps, "model.experts.shared", (long long)Sh);
    /* the level's experts: task 0's S, ..., task T-1's S, then the shared */
    int ex[RMTL__TASKS_MAX * RMTL__EXPERTS_MAX + RMTL__EXPERTS_MAX];
    int mix[RMTL__EXPERTS_MAX * 2];
    int in[RMTL__TASKS_MAX], in_shared = x0;
    for (size_t k = 0; k < T; k++)
        in[k] = x0;
    size_t L = p->n_bottom;
    for (size_t l = 0; l < L; l++) {
        const size_t *w = &p->bottom[l];
        for (size_t k = 0; k < T; k++)
            for (size_t e = 0; e < S; e++)
                ex[k * S + e] = rmtl__g_mlp(ps, in[k], w, 1, 0, "ple.%zu.task.%zu.%zu", l, k, e);
        for (size_t e = 0; e < Sh; e++)
            ex[T * S + e] = rmtl__g_mlp(ps, in_shared, w, 1, 0, "ple.%zu.shared.%zu", l, e);
        int next_shared = -1;
        if (l + 1 < L && Sh > 0) {
            int g = rmtl__g_gate(ps, in_shared, T * S + Sh, "ple.%zu.gate.shared", l);
            next_shared = rmtl__g_mix(ps, g, ex, T * S + Sh);
        }
        for (size_t k = 0; k < T; k++) {
            for (size_t e = 0; e < S; e++)
                mix[e] = ex[k * S + e];
            for (size_t e = 0; e < Sh; e++)
                mix[S + e] = ex[T * S + e];
            int g = rmtl__g_gate(ps, in[k], S + Sh, "ple.%zu.gate.%zu", l, k);
            in[k] = rmtl__g_mix(ps, g, mix, S + Sh);
        }
        in_shared = next_shared;
    }
    for (size_t k = 0; k < T; k++)
        z[k] = rmtl__tower(ps, p, in[k], k);
    return ps->rc;
}

/* AITM: task k's bottom and tower MLP give its representation r_k; for
 * k > 0 the previous task's (attended) representation passes a transfer
 * Linear and the 2-token attention of [transferred, r_k] replaces r_k;
 * an output Linear(→ 1) gives the logit. */
static int rmtl__wire_aitm(rmtl__pass *ps, const rmtl__mtlhp *p, size_t T, int x0,
                           int *z)
{
    int prev = -1;
    for (size_t k = 0; k < T; k++) {
        int r = rmtl__g_mlp(ps, x0, p->bottom, p->n_bottom, 0, "bottom.%zu", k);
        if (p->n_tower)
            r = rmtl__g_mlp(ps, r, p->tower, p->n_tower, 0, "tower.%zu", k);
        if (k > 0) {
            int info = rmtl__g_linear(ps, prev, rmtl__g_cols(ps, r), "transfer.%zu", k);
            r = rmtl__g_attn(ps, info, r, "attn.%zu", k);
        }
        z[k] = rmtl__g_linear(ps, r, 1, "tower.%zu.out", k);
        prev = r;
    }
    return ps->rc;
}

static const rmtl__arch_def rmtl__archs[] = {
    {"single_task", rmtl__wire_towers, 0},
    {"shared_bottom", rmtl__wire_shared_bottom, 0},
    {"esmm", rmtl__wire_towers, 1},
    {"omoe", rmtl__wire_omoe, 0},
    {"mmoe", rmtl__wire_mmoe, 0},
    {"ple", rmtl__wire_ple, 0},
    {"aitm", rmtl__wire_aitm, 0},
};

const rmtl__arch_def *rmtl__arch_find(const char *name)
{
    for (size_t i = 0; i < sizeof rmtl__archs / sizeof rmtl__archs[0]; i++)
        if (!strcmp(rmtl__archs[i].name, name))
            return &rmtl__archs[i];
    return NULL;
}
