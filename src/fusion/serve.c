/* The deployed fusion policy and its two forward paths (see serve.h). */
#include "fusion/serve.h"

#include "core/internal.h"
#include "nn/gemm.h"
#include "nn/kernels.h"

#include <stdint.h>
#include <string.h>

static size_t rmtl__pad8(size_t n) { return (n + 7) / 8 * 8; }

void rmtl__fserve_free(rmtl__fserve *s)
{
    if (!s)
        return;
    rmtl__free(s->mem);
    memset(s, 0, sizeof *s);
}

size_t rmtl__fserve_out_ld(const rmtl__fserve *s) { return s->width[s->n_lin - 1]; }

void rmtl__fserve_request(const rmtl__fserve *s, const float *user, const float *ctx, float *u)
{
    size_t w0 = s->width[0];
    float beta = 0.0f;
    if (s->in_user) {
        rmtl__gemv_row(w0, s->in_user, user, s->w[0], w0, 0.0f, u);
        beta = 1.0f;
    }
    if (s->in_ctx)
        rmtl__gemv_row(w0, s->in_ctx, ctx, s->w[0] + s->in_user * w0, w0, beta, u);
    else if (!s->in_user)
        memset(u, 0, w0 * sizeof *u);
    rmtl__bias_act(1, w0, u, w0, s->b[0], 0);
}

/* y (1 × n) = x (1 × k)·W for the single path. */
static void rmtl__fserve_mv(const rmtl__fserve *s, size_t n, size_t k, const float *x,
                            const float *w, float *y)
{
    if (s->gemv_exact) {
        rmtl__gemv_row(n, k, x, w, n, 0.0f, y);
    } else {
        rmtl__rt one = {1};
        rmtl__gemm(&one, RMTL__NOTRANS, RMTL__NOTRANS, 1, n, k, 1.0f, x, k, w, n, 0.0f, y, n);
    }
}

static int rmtl__fserve_overflow(void)
{
    return rmtl__error(RMTL_ENUMERIC, "fusion actor: non-finite activation (overflow)");
}

int rmtl__fserve_one(const rmtl__fserve *s, const float *u, const float *pair, float *z)
{
    _Alignas(64) float buf[2][RMTL__FUSE_WIDTH_MAX];
    size_t w0 = s->width[0];
    float *h = s->n_lin > 1 ? buf[0] : z;
    if (s->in_pair)
        rmtl__fserve_mv(s, w0, s->in_pair, pair, s->w[0] + (s->in_user + s->in_ctx) * w0, h);
    else
        memset(h, 0, w0 * sizeof *h);
    if (rmtl__bias_act(1, w0, h, w0, u, s->n_lin > 1))
        return rmtl__fserve_overflow();
    for (size_t l = 1; l < s->n_lin; l++) {
        int last = l + 1 == s->n_lin;
        float *y = last ? z : buf[l & 1];
        rmtl__fserve_mv(s, s->width[l], s->width[l - 1], h, s->w[l], y);
        if (rmtl__bias_act(1, s->width[l], y, s->width[l], s->b[l], !last))
            return rmtl__fserve_overflow();
        h = y;
    }
    return 0;
}

size_t rmtl__fserve_tmp(const rmtl__fserve *s, size_t n)
{
    size_t maxw = 0;
    for (size_t l = 0; l + 1 < s->n_lin; l++)
        maxw = s->width[l] > maxw ? s->width[l] : maxw;
    return 2 * n * maxw + 16;
}

int rmtl__fserve_rows(const rmtl__fserve *s, const rmtl__rt *rt, size_t n, const float *u,
                      const float *x, float *z, float *tmp)
{
    size_t w0 = s->width[0];
    size_t half = (rmtl__fserve_tmp(s, n) - 16) / 2;
    float *buf[2] = {tmp, tmp + half};
    if (s->n_lin == 1)
        buf[0] = z;
    float *h = buf[0];
    if (s->in_pair)
        rmtl__gemm(rt, RMTL__NOTRANS, RMTL__NOTRANS, n, w0, s->in_pair, 1.0f, x,
                   s->in_pair, s->w[0] + (s->in_user + s->in_ctx) * w0, w0, 0.0f, h, w0);
    else
        memset(h, 0, n * w0 * sizeof *h);
    if (rmtl__bias_act(n, w0, h, w0, u, s->n_lin > 1))
        return rmtl__fserve_overflow();
    for (size_t l = 1; l < s->n_lin; l++) {
        int last = l + 1 == s->n_lin;
        float *y = last ? z : buf[l & 1];
        rmtl__gemm(rt, RMTL__NOTRANS, RMTL__NOTRANS, n, s->width[l], s->width[l - 1], 1.0f,
                   h, s->width[l - 1], s->w[l], s->width[l], 0.0f, y, s->width[l]);
        if (rmtl__bias_act(n, s->width[l], y, s->width[l], s->b[l], !last))
            return rmtl__fserve_overflow();
        h = y;
    }
    return 0;
}

/* Does the single path compute what the batched path computes? Three
 * pairs of fixed pseudo-random inputs through both, compared bit for bit.
 * The paths differ only in which BLIS routine forms the products, and
 * whether those agree is a property of the BLIS kernels and the shapes,
 * not of the values. */
static int rmtl__fserve_probe(rmtl__fserve *s, int *exact)
{
    enum { N = 3 };
    size_t w0 = s->width[0], ld = rmtl__fserve_out_ld(s);
    size_t nin = s->in_user + s->in_ctx + N * s->in_pair;
    rmtl__ws ws;
    rmtl__ws_init(&ws, 1);
    float *in = rmtl__ws_alloc(&ws, nin), *u = rmtl__ws_alloc(&ws, w0);
    float *zr = rmtl__ws_alloc(&ws, N * ld), *z1 = rmtl__ws_alloc(&ws, ld);
    float *tmp = rmtl__ws_alloc(&ws, rmtl__fserve_tmp(s, N));
    int rc = (in && u && zr && z1 && tmp) ? 0 : RMTL_ENOMEM;
    if (rc == 0) {
        uint32_t st = 12345u;
        for (size_t i = 0; i < nin; i++) {
            st = st * 1664525u + 1013904223u;
            in[i] = (float)(st >> 8) / 8388608.0f - 1.0f; /* [-1, 1) */
        }
        const float *pair = in + s->in_user + s->in_ctx;
        rmtl__fserve_request(s, in, in + s->in_user, u);
        rc = rmtl__fserve_rows(s, &ws.rt, N, u, pair, zr, tmp);
        s->gemv_exact = 1;
        *exact = 1;
        for (size_t r = 0; rc == 0 && r < N && *exact; r++) {
            rc = rmtl__fserve_one(s, u, pair + r * s->in_pair, z1);
            if (rc == 0 && memcmp(z1, zr + r * ld, ld * sizeof *z1) != 0)
                *exact = 0;
        }
    }
    rmtl__ws_free(&ws);
    return rc;
}

int rmtl__fserve_build(rmtl__fserve *s, const rmtl__mlp *actor, size_t in_user, size_t in_ctx,
                       size_t in_pair)
{
    rmtl__fserve t;
    memset(&t, 0, sizeof t);
    if (actor->n_lin > RMTL__FUSE_LAYERS_MAX)
        return rmtl__error(RMTL_EINVAL, "fusion actor: %zu layers, at most %d are served",
                           actor->n_lin, RMTL__FUSE_LAYERS_MAX);
    t.n_lin = actor->n_lin;
    t.in_user = in_user;
    t.in_ctx = in_ctx;
    t.in_pair = in_pair;
    size_t total = 0, rows = in_user + in_ctx + in_pair;
    for (size_t l = 0; l < t.n_lin; l++) {
        t.width[l] = rmtl__pad8(actor->lin[l].out);
        if (t.width[l] > RMTL__FUSE_WIDTH_MAX)
            return rmtl__error(RMTL_EINVAL, "fusion actor: layer %zu is %zu wide, at most %d "
                               "are served", l, actor->lin[l].out, RMTL__FUSE_WIDTH_MAX);
        size_t in = l ? t.width[l - 1] : rows;
        total += (in + 1) * t.width[l] + 16; /* + 16: each block starts 64-byte aligned */
    }
    t.mem = rmtl__calloc(total + 16, sizeof(float));
    if (!t.mem)
        return rmtl__error(RMTL_ENOMEM, "fusion: out of memory for the served policy");
    float *at = (float *)(((uintptr_t)t.mem + 63) & ~(uintptr_t)63);
    for (size_t l = 0; l < t.n_lin; l++) {
        const rmtl__linear *lin = &actor->lin[l];
        size_t in = l ? t.width[l - 1] : rows;
        float *w = at, *b = w + in * t.width[l];
        for (size_t i = 0; i < lin->in; i++)
            memcpy(w + i * t.width[l], lin->w->w + i * lin->out, lin->out * sizeof *w);
        memcpy(b, lin->b->w, lin->out * sizeof *b);
        t.w[l] = w;
        t.b[l] = b;
        at = (float *)(((uintptr_t)(b + t.width[l]) + 63) & ~(uintptr_t)63);
    }
    int exact = 0;
    int rc = rmtl__fserve_probe(&t, &exact);
    if (rc) {
        rmtl__free(t.mem);
        return rc;
    }
    t.gemv_exact = exact;
    if (!exact)
        rmtl__log(RMTL_LOG_INFO, "fusion: BLIS gemv and gemm differ in the last bits here; "
                                 "single-pair fusion uses the GEMM path (exact, slower)");
    rmtl__fserve_free(s);
    *s = t;
    return 0;
}
