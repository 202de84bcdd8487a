/* Module wiring in three modes and the reverse-mode tape (see graph.h). */
#include "mtl/graph.h"

#include "nn/embed_linear.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>


void rmtl__mods_free(rmtl__mods *mods)
{
    if (!mods)
        return;
    for (size_t i = 0; i < mods->n; i++)
        if (mods->m[i].kind == RMTL__MOD_MLP)
            rmtl__mlp_free(&mods->m[i].u.mlp);
    rmtl__free(mods->m);
    memset(mods, 0, sizeof *mods);
}

void rmtl__tape_free(rmtl__tape *t)
{
    if (!t)
        return;
    rmtl__free(t->var);
    rmtl__free(t->op);
    rmtl__free(t->ref);
    rmtl__free(t->xs);
    rmtl__free(t->dxs);
    memset(t, 0, sizeof *t);
}

/* Makes room for `need` elements of `size` bytes in *p (capacity *cap). */
static int rmtl__grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void **pp = p;
    void *np = n <= SIZE_MAX / size ? rmtl__realloc(*pp, n * size) : NULL;
    if (!np)
        return rmtl__error(RMTL_ENOMEM, "network: out of memory for the pass");
    *pp = np;
    *cap = n;
    return 0;
}

void rmtl__pass_init(rmtl__pass *ps, int mode, rmtl__tape *t, const rmtl__mods *mods,
                     size_t n, rmtl__ws *ws, rmtl__rng *drop)
{
    memset(ps, 0, sizeof *ps);
    ps->mode = mode;
    ps->t = t;
    ps->mods = mods;
    ps->n = n;
    ps->ws = ws;
    ps->drop = drop;
}

void rmtl__pass_build(rmtl__pass *ps, rmtl__tape *t, rmtl__mods *mods, rmtl__params *params,
                      rmtl__rng *init, float dropout)
{
    memset(ps, 0, sizeof *ps);
    ps->mode = RMTL__PASS_BUILD;
    ps->t = t;
    ps->mods = mods;
    ps->build = mods;
    ps->params = params;
    ps->init = init;
    ps->dropout = dropout;
}

static int rmtl__fail(rmtl__pass *ps, int rc)
{
    if (!ps->rc)
        ps->rc = rc ? rc : RMTL_ERROR;
    return -1;
}

static int rmtl__wiring_error(rmtl__pass *ps, const char *what)
{
    return rmtl__fail(ps, rmtl__error(RMTL_ERROR, "network wiring: %s", what));
}

static int rmtl__valid(const rmtl__pass *ps, int v) { return v >= 0 && (size_t)v < ps->n_var; }

size_t rmtl__g_cols(const rmtl__pass *ps, int v)
{
    return rmtl__valid(ps, v) ? ps->t->var[v].cols : 0;
}

const float *rmtl__g_value(const rmtl__pass *ps, int v)
{
    return rmtl__valid(ps, v) ? ps->t->var[v].x : NULL;
}

const float *rmtl__g_grad_of(const rmtl__pass *ps, int v)
{
    return rmtl__valid(ps, v) ? ps->t->var[v].g : NULL;
}

static int rmtl__new_var(rmtl__pass *ps, const float *x, size_t ld, size_t cols)
{
    rmtl__tape *t = ps->t;
    int rc = rmtl__grow(&t->var, &t->cap_var, ps->n_var + 1, sizeof *t->var);
    if (rc)
        return rmtl__fail(ps, rc);
    t->var[ps->n_var] = (rmtl__var){.x = x, .ld = ld, .cols = cols, .g = NULL};
    return (int)ps->n_var++;
}

int rmtl__g_input(rmtl__pass *ps, const float *x, size_t ld, size_t cols)
{
    return ps->rc ? -1 : rmtl__new_var(ps, x, ld, cols);
}

/* A variable of n × cols in the workspace. */
static float *rmtl__alloc(rmtl__pass *ps, size_t cols)
{
    float *y = rmtl__ws_alloc(ps->ws, ps->n * cols);
    if (!y)
        rmtl__fail(ps, RMTL_ENOMEM);
    return y;
}

/* The next module, of `kind`: a new zeroed one in BUILD (its name
 * formatted into `name`), else the cursor's. NULL after a failure. */
static rmtl__mod *rmtl__take(rmtl__pass *ps, int kind, int in, char *name, const char *fmt,
                             va_list ap)
{
    if (ps->mode == RMTL__PASS_BUILD) {
        rmtl__mods *b = ps->build;
        int rc = rmtl__grow(&b->m, &b->cap, b->n + 1, sizeof *b->m);
        if (rc)
            return rmtl__fail(ps, rc), NULL;
        if (vsnprintf(name, RMTL__NAME_MAX, fmt, ap) >= RMTL__NAME_MAX)
            return rmtl__fail(ps, rmtl__error(RMTL_EINVAL, "network: module name '%s…' is "
                                                           "too long", name)),
                   NULL;
        rmtl__mod *m = &b->m[b->n++];
        memset(m, 0, sizeof *m);
        m->kind = kind;
        m->on_input = ps->n_var > 0 && in == 0; /* variable 0: the network input */
        return m;
    }
    if (ps->next >= ps->mods->n || ps->mods->m[ps->next].kind != kind)
        return rmtl__wiring_error(ps, "modules differ from the built network"), NULL;
    return &ps->mods->m[ps->next++];
}

static int rmtl__record(rmtl__pass *ps, int kind, size_t mod, int in0, int in1, int out)
{
    if (out < 0 || ps->mode != RMTL__PASS_TRAIN)
        return out;
    rmtl__tape *t = ps->t;
    int rc = rmtl__grow(&t->op, &t->cap_op, ps->n_op + 1, sizeof *t->op);
    if (rc)
        return rmtl__fail(ps, rc);
    t->op[ps->n_op++] = (rmtl__op){.kind = kind, .mod = mod, .in = {in0, in1}, .out = out};
    return out;
}

/* The index of module m, for the tape. */
static size_t rmtl__mod_index(const rmtl__pass *ps, const rmtl__mod *m)
{
    return (size_t)(m - ps->mods->m);
}

/* EVAL: module m's precomputed first-layer output, or NULL. */
static float *rmtl__pre(const rmtl__pass *ps, const rmtl__mod *m)
{
    if (!ps->pre || !m->on_input)
        return NULL;
    size_t col = ps->pre_col[rmtl__mod_index(ps, m)];
    return col == SIZE_MAX ? NULL : ps->pre + col;
}

int rmtl__g_mlp(rmtl__pass *ps, int in, const size_t *w, size_t nw, size_t out,
                const char *fmt, ...)
{
    if (ps->rc)
        return -1;
    if (!rmtl__valid(ps, in))
        return rmtl__wiring_error(ps, "bad MLP input");
    char name[RMTL__NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    rmtl__mod *m = rmtl__take(ps, RMTL__MOD_MLP, in, name, fmt, ap);
    va_end(ap);
    if (!m)
        return -1;
    rmtl__mlp *mlp = &m->u.mlp;
    const rmtl__var *x = &ps->t->var[in];
    if (ps->mode == RMTL__PASS_BUILD) {
        int rc = rmtl__mlp_init(mlp, ps->params, name, x->cols, w, nw, out, ps->dropout,
                                ps->init);
        return rc ? rmtl__fail(ps, rc) : rmtl__new_var(ps, NULL, 0, mlp->out);
    }
    if (mlp->in != x->cols)
        return rmtl__wiring_error(ps, "MLP input width differs from the built network");
    const float *y;
    int rc;
    if (ps->mode == RMTL__PASS_TRAIN) {
        rc = rmtl__mlp_forward(mlp, ps->ws, ps->n, x->x, x->ld, ps->drop, &y);
    } else {
        float *buf = rmtl__alloc(ps, mlp->out);
        if (!buf)
            return -1;
        float *pre = rmtl__pre(ps, m);
        rc = pre ? rmtl__mlp_predict_pre(mlp, ps->ws, ps->n, pre, ps->ldpre, buf, mlp->out)
                 : rmtl__mlp_predict(mlp, ps->ws, ps->n, x->x, x->ld, buf, mlp->out);
        y = buf;
    }
    if (rc)
        return rmtl__fail(ps, rc);
    return rmtl__record(ps, RMTL__MOD_MLP, rmtl__mod_index(ps, m), in, -1,
                        rmtl__new_var(ps, y, mlp->out, mlp->out));
}

int rmtl__g_linear(rmtl__pass *ps, int in, size_t out, const char *fmt, ...)
{
    if (ps->rc)
        return -1;
    if (!rmtl__valid(ps, in))
        return rmtl__wiring_error(ps, "bad Linear input");
    char name[RMTL__NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    rmtl__mod *m = rmtl__take(ps, RMTL__MOD_LINEAR, in, name, fmt, ap);
    va_end(ap);
    if (!m)
        return -1;
    rmtl__linear *l = &m->u.lin;
    const rmtl__var *x = &ps->t->var[in];
    if (ps->mode == RMTL__PASS_BUILD) {
        int rc = rmtl__linear_init(l, ps->params, name, x->cols, out, 1, ps->init);
        return rc ? rmtl__fail(ps, rc) : rmtl__new_var(ps, NULL, 0, out);
    }
    if (l->in != x->cols)
        return rmtl__wiring_error(ps, "Linear input width differs from the built network");
    float *y = rmtl__alloc(ps, l->out);
    if (!y)
        return -1;
    const float *pre = rmtl__pre(ps, m);
    int rc = pre ? rmtl__linear_forward_pre(l, ps->n, pre, ps->ldpre, y, l->out, 0)
                 : rmtl__linear_forward(l, &ps->ws->rt, ps->n, x->x, x->ld, y, l->out);
    if (rc)
        return rmtl__fail(ps, rc);
    return rmtl__record(ps, RMTL__MOD_LINEAR, rmtl__mod_index(ps, m), in, -1,
                        rmtl__new_var(ps, y, l->out, l->out));
}

int rmtl__g_gate(rmtl__pass *ps, int in, size_t n_experts, const char *fmt, ...)
{
    if (ps->rc)
        return -1;
    if (!rmtl__valid(ps, in))
        return rmtl__wiring_error(ps, "bad gate input");
    char name[RMTL__NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    rmtl__mod *m = rmtl__take(ps, RMTL__MOD_GATE, in, name, fmt, ap);
    va_end(ap);
    if (!m)
        return -1;
    rmtl__gate *gt = &m->u.gate;
    const rmtl__var *x = &ps->t->var[in];
    if (ps->mode == RMTL__PASS_BUILD) {
        int rc = rmtl__gate_init(gt, ps->params, name, x->cols, n_experts, ps->init);
        return rc ? rmtl__fail(ps, rc) : rmtl__new_var(ps, NULL, 0, n_experts);
    }
    size_t k = gt->lin.out;
    if (gt->lin.in != x->cols || k != n_experts)
        return rmtl__wiring_error(ps, "gate shape differs from the built network");
    const float *g;
    int rc;
    if (ps->mode == RMTL__PASS_TRAIN) {
        rc = rmtl__gate_forward(gt, ps->ws, ps->n, x->x, x->ld, &g);
    } else {
        float *buf = rmtl__alloc(ps, k);
        if (!buf)
            return -1;
        const float *pre = rmtl__pre(ps, m);
        rc = pre ? rmtl__gate_predict_pre(gt, ps->n, pre, ps->ldpre, buf, k)
                 : rmtl__gate_predict(gt, ps->ws, ps->n, x->x, x->ld, buf, k);
        g = buf;
    }
    if (rc)
        return rmtl__fail(ps, rc);
    return rmtl__record(ps, RMTL__MOD_GATE, rmtl__mod_index(ps, m), in, -1,
                        rmtl__new_var(ps, g, k, k));
}

/* Expert pointers of a mixture into the tape's scratch arrays. */
static int rmtl__fan(rmtl__pass *ps, const int *experts, size_t n_experts, size_t *d, size_t *ld)
{
    rmtl__tape *t = ps->t;
    size_t cap = t->cap_fan;
    int rc = rmtl__grow(&t->xs, &cap, n_experts, sizeof *t->xs);
    if (!rc)
        rc = rmtl__grow(&t->dxs, &t->cap_fan, n_experts, sizeof *t->dxs);
    if (rc)
        return rmtl__fail(ps, rc);
    for (size_t e = 0; e < n_experts; e++) {
        if (!rmtl__valid(ps, experts[e]))
            return rmtl__wiring_error(ps, "bad mixture input");
        const rmtl__var *x = &t->var[experts[e]];
        if (e == 0) {
            *d = x->cols;
            *ld = x->ld;
        } else if (x->cols != *d || x->ld != *ld) {
            return rmtl__wiring_error(ps, "experts of one mixture differ in width");
        }
        t->xs[e] = x->x;
    }
    return 0;
}

int rmtl__g_mix(rmtl__pass *ps, int gate, const int *experts, size_t n_experts)
{
    if (ps->rc)
        return -1;
    if (!rmtl__valid(ps, gate) || n_experts == 0 || ps->t->var[gate].cols != n_experts)
        return rmtl__wiring_error(ps, "mixture gate does not match its experts");
    size_t d = 0, ld = 0;
    if (rmtl__fan(ps, experts, n_experts, &d, &ld))
        return -1;
    if (ps->mode == RMTL__PASS_BUILD) {
        /* the backward sets or adds all expert gradients at once: each
         * expert may appear only once */
        for (size_t e = 0; e < n_experts; e++)
            for (size_t f = 0; f < e; f++)
                if (experts[e] == experts[f])
                    return rmtl__wiring_error(ps, "an expert appears twice in a mixture");
        return rmtl__new_var(ps, NULL, 0, d);
    }
    float *y = rmtl__alloc(ps, d);
    if (!y)
        return -1;
    const rmtl__var *g = &ps->t->var[gate];
    rmtl__mix_forward(ps->n, d, n_experts, g->x, g->ld, ps->t->xs, ld, y, d);
    int out = rmtl__new_var(ps, y, d, d);
    if (out < 0 || ps->mode != RMTL__PASS_TRAIN)
        return out;
    rmtl__tape *t = ps->t;
    int rc = rmtl__grow(&t->ref, &t->cap_ref, ps->n_ref + n_experts, sizeof *t->ref);
    if (rc)
        return rmtl__fail(ps, rc);
    memcpy(t->ref + ps->n_ref, experts, n_experts * sizeof *experts);
    if (rmtl__record(ps, RMTL__OP_MIX, 0, gate, -1, out) < 0)
        return -1;
    t->op[ps->n_op - 1].ref = ps->n_ref;
    t->op[ps->n_op - 1].n_ref = n_experts;
    ps->n_ref += n_experts;
    return out;
}

int rmtl__g_attn(rmtl__pass *ps, int u0, int u1, const char *fmt, ...)
{
    if (ps->rc)
        return -1;
    if (!rmtl__valid(ps, u0) || !rmtl__valid(ps, u1) ||
        ps->t->var[u0].cols != ps->t->var[u1].cols)
        return rmtl__wiring_error(ps, "attention tokens differ in width");
    char name[RMTL__NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    rmtl__mod *m = rmtl__take(ps, RMTL__MOD_ATTN, u0 == 0 || u1 == 0 ? 0 : -1, name, fmt, ap);
    va_end(ap);
    if (!m)
        return -1;
    rmtl__attn *at = &m->u.attn;
    const rmtl__var *a = &ps->t->var[u0], *b = &ps->t->var[u1];
    if (ps->mode == RMTL__PASS_BUILD) {
        int rc = rmtl__attn_init(at, ps->params, name, a->cols, ps->init);
        return rc ? rmtl__fail(ps, rc) : rmtl__new_var(ps, NULL, 0, a->cols);
    }
    size_t h = at->dim;
    if (h != a->cols)
        return rmtl__wiring_error(ps, "attention width differs from the built network");
    const float *y;
    int rc;
    if (ps->mode == RMTL__PASS_TRAIN) {
        rc = rmtl__attn_forward(at, ps->ws, ps->n, a->x, a->ld, b->x, b->ld, &y);
    } else {
        float *buf = rmtl__alloc(ps, h);
        if (!buf)
            return -1;
        rc = rmtl__attn_predict(at, ps->ws, ps->n, a->x, a->ld, b->x, b->ld, buf, h);
        y = buf;
    }
    if (rc)
        return rmtl__fail(ps, rc);
    return rmtl__record(ps, RMTL__MOD_ATTN, rmtl__mod_index(ps, m), u0, u1,
                        rmtl__new_var(ps, y, h, h));
}

/* --- backward ------------------------------------------------------------ */

float *rmtl__g_grad(rmtl__pass *ps, int v)
{
    rmtl__var *x = &ps->t->var[v];
    if (!x->g)
        x->g = rmtl__ws_alloc(ps->ws, ps->n * x->cols);
    return x->g;
}

/* v's gradient buffer for one more contribution; *fresh = 1 when it was
 * just created (the contribution sets it), 0 when it adds. */
static float *rmtl__grad_for(rmtl__pass *ps, int v, int *fresh)
{
    *fresh = ps->t->var[v].g == NULL;
    return rmtl__g_grad(ps, v);
}

static void rmtl__zero(float *x, size_t n) { memset(x, 0, n * sizeof *x); }

/* Backward of a mixture: gate gradient (set, or added through a temporary
 * when the gate already has one) and expert gradients (set when none of
 * them has one yet, else added, after zeroing those created now). */
static int rmtl__mix_back(rmtl__pass *ps, const rmtl__op *op)
{
    rmtl__tape *t = ps->t;
    size_t n = ps->n, k = op->n_ref, d = 0, ld = 0;
    const int *ex = t->ref + op->ref;
    if (rmtl__fan(ps, ex, k, &d, &ld))
        return ps->rc;
    int all_fresh = 1;
    for (size_t e = 0; e < k; e++)
        all_fresh &= t->var[ex[e]].g == NULL;
    for (size_t e = 0; e < k; e++) {
        int fresh;
        t->dxs[e] = rmtl__grad_for(ps, ex[e], &fresh);
        if (!t->dxs[e])
            return RMTL_ENOMEM;
        if (fresh && !all_fresh)
            rmtl__zero(t->dxs[e], n * d);
    }
    int gfresh;
    const rmtl__var *g = &t->var[op->in[0]];
    float *dg = rmtl__grad_for(ps, op->in[0], &gfresh);
    float *tmp = gfresh ? dg : rmtl__ws_alloc(ps->ws, n * k);
    if (!dg || !tmp)
        return RMTL_ENOMEM;
    const rmtl__var *o = &t->var[op->out];
    rmtl__mix_backward(n, d, k, g->x, g->ld, t->xs, ld, o->g, o->cols, tmp, k, t->dxs, d,
                       !all_fresh);
    if (!gfresh)
        for (size_t i = 0; i < n * k; i++)
            dg[i] += tmp[i];
    return 0;
}

/* Backward of attention: both token gradients set, or both added. */
static int rmtl__attn_back(rmtl__pass *ps, const rmtl__op *op, rmtl__attn *at)
{
    int f0, f1;
    float *d0 = rmtl__grad_for(ps, op->in[0], &f0);
    float *d1 = d0 ? rmtl__grad_for(ps, op->in[1], &f1) : NULL;
    if (!d1)
        return RMTL_ENOMEM;
    int acc = !(f0 && f1);
    if (acc && f0)
        rmtl__zero(d0, ps->n * at->dim);
    if (acc && f1)
        rmtl__zero(d1, ps->n * at->dim);
    const rmtl__var *o = &ps->t->var[op->out];
    return rmtl__attn_backward(at, ps->ws, o->g, o->cols, d0, at->dim, d1, at->dim, acc);
}

/* An MLP on the embedded input: its first layer straight into the
 * embedding's gradients (rmtl__pass.group_vocab). */
static int rmtl__mlp_embed_back(rmtl__pass *ps, rmtl__mlp *mlp, const rmtl__var *o)
{
    const rmtl__embed *e = ps->emb;
    const rmtl__var *x = &ps->t->var[ps->input];
    const float *g;
    size_t ldg;
    int rc = rmtl__mlp_backward_upper(mlp, ps->ws, o->g, o->cols, &g, &ldg);
    return rc ? rc
              : rmtl__embed_linear_backward(e, NULL, &mlp->lin[0], ps->ws, ps->n, ps->cat,
                                            e->n_fields, ps->num, e->n_num, NULL, 0, x->x, x->ld,
                                            g, ldg, NULL, 0, ps->group_vocab);
}

static int rmtl__op_back(rmtl__pass *ps, const rmtl__op *op)
{
    if (op->kind == RMTL__OP_MIX)
        return rmtl__mix_back(ps, op);
    rmtl__mod *m = &ps->mods->m[op->mod];
    if (op->kind == RMTL__MOD_ATTN)
        return rmtl__attn_back(ps, op, &m->u.attn);
    const rmtl__var *o = &ps->t->var[op->out];
    if (op->kind == RMTL__MOD_MLP && ps->group_vocab && ps->emb && op->in[0] == ps->input)
        return rmtl__mlp_embed_back(ps, &m->u.mlp, o);
    int fresh;
    float *dx = rmtl__grad_for(ps, op->in[0], &fresh);
    if (!dx)
        return RMTL_ENOMEM;
    const rmtl__var *x = &ps->t->var[op->in[0]];
    switch (op->kind) {
    case RMTL__MOD_MLP:
        return rmtl__mlp_backward(&m->u.mlp, ps->ws, o->g, o->cols, dx, x->cols, !fresh);
    case RMTL__MOD_LINEAR:
        return rmtl__linear_backward(&m->u.lin, &ps->ws->rt, ps->n, x->x, x->ld, o->g, o->cols,
                                     dx, x->cols, !fresh);
    case RMTL__MOD_GATE:
        return rmtl__gate_backward(&m->u.gate, ps->ws, o->g, o->cols, dx, x->cols, !fresh);
    default:
        return rmtl__error(RMTL_ERROR, "network: unknown operation %d on the tape", op->kind);
    }
}

int rmtl__graph_backward(rmtl__pass *ps)
{
    if (ps->rc)
        return ps->rc;
    if (ps->mode != RMTL__PASS_TRAIN)
        return rmtl__error(RMTL_ERROR, "network: backward without a training pass");
    for (size_t i = ps->n_op; i-- > 0;) {
        const rmtl__op *op = &ps->t->op[i];
        if (!ps->t->var[op->out].g)
            continue; /* nothing downstream needs this module's output */
        int rc = rmtl__op_back(ps, op);
        if (rc)
            return ps->rc = rc;
    }
    return 0;
}
