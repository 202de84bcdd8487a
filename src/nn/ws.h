/*
 * Workspace: where a handle's activations and gradients live during a
 * step, plus the handle's BLIS thread count.
 *
 * A bump allocator over a list of chunks that are kept across resets. A
 * step calls rmtl__ws_reset() first and then takes buffers in the same
 * order as every other step of the same batch size, so it lands on the same
 * chunks: after the first step at a batch size, steps allocate nothing. A
 * larger batch appends a chunk (capacity doubles, so a few at most); the
 * memory is only returned by rmtl__ws_free().
 *
 * Buffers are 64-byte aligned, uninitialised, and valid until the next
 * reset. One workspace serves one thread at a time.
 */
#ifndef RMTL_NN_WS_H
#define RMTL_NN_WS_H

#include "nn/gemm.h"

#include <stddef.h>

typedef struct rmtl__ws_chunk rmtl__ws_chunk;

typedef struct rmtl__ws {
    rmtl__rt rt;               /* threads for every GEMM run with this workspace */
    rmtl__ws_chunk *head, *cur;
    size_t used;               /* floats taken from cur */
} rmtl__ws;

void rmtl__ws_init(rmtl__ws *ws, int threads);
void rmtl__ws_free(rmtl__ws *ws);
void rmtl__ws_reset(rmtl__ws *ws);
/* n floats, or NULL with an RMTL_ENOMEM message. */
float *rmtl__ws_alloc(rmtl__ws *ws, size_t n);
/* Floats held by all chunks. */
size_t rmtl__ws_capacity(const rmtl__ws *ws);

#endif
