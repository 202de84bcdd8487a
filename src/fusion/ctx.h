/* rmtl_ctx, the per-thread scratch of batched read-only calls
 * (docs/architecture.md, "Threads"), is created by rmtl_ctx_create (src/mtl/model.c); fusion uses only
 * its workspace, through this accessor, so it does not depend on the rest
 * of the model code's context. */
#ifndef RMTL_FUSION_CTX_H
#define RMTL_FUSION_CTX_H

#include "nn/ws.h"
#include "rmtl.h"

/* The context's workspace (ctx not NULL). */
rmtl__ws *rmtl__ctx_ws(rmtl_ctx *ctx);

#endif
