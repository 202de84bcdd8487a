/* rmtl_ctx (see ctx.h: temporary until the model branch provides it). */
#include "fusion/ctx.h"

#include "core/internal.h"

struct rmtl_ctx {
    rmtl__ws ws;
};

int rmtl_ctx_create(rmtl_ctx **out, int threads)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    if (threads < 0)
        return rmtl__error(RMTL_EINVAL, "rmtl_ctx_create: threads is %d, expected >= 0",
                           threads);
    rmtl_ctx *c = rmtl__calloc(1, sizeof *c);
    if (!c)
        return rmtl__error(RMTL_ENOMEM, "rmtl_ctx_create: out of memory");
    rmtl__ws_init(&c->ws, threads > 0 ? threads : 1);
    *out = c;
    return RMTL_OK;
}

void rmtl_ctx_free(rmtl_ctx *ctx)
{
    if (!ctx)
        return;
    rmtl__ws_free(&ctx->ws);
    rmtl__free(ctx);
}

rmtl__ws *rmtl__ctx_ws(rmtl_ctx *ctx) { return &ctx->ws; }
