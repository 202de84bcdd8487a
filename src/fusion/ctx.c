/* Fusion's access to rmtl_ctx, which the model code owns (src/mtl). */
#include "fusion/ctx.h"

#include "mtl/model.h"

rmtl__ws *rmtl__ctx_ws(rmtl_ctx *ctx) { return &ctx->ws; }
