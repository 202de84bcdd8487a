/* rmtl_ctx: per-thread scratch for batched read-only calls (CONVENTIONS
 * R10), here a workspace and its BLIS thread count.
 *
 * TEMPORARY: the model branch (`mtl`) implements rmtl_ctx_create/free for
 * rmtl_model_predict with the same public signature and the same content
 * (an rmtl__ws). Until it is merged this file provides them; at the merge
 * keep one implementation and make rmtl__ctx_ws() return its workspace —
 * fusion reaches the context only through rmtl__ctx_ws(). */
#ifndef RMTL_FUSION_CTX_H
#define RMTL_FUSION_CTX_H

#include "nn/ws.h"
#include "rmtl.h"

/* The context's workspace (ctx not NULL). */
rmtl__ws *rmtl__ctx_ws(rmtl_ctx *ctx);

#endif
