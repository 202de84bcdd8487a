/* Chunked bump allocator with chunk reuse across resets (see ws.h). */
#include "nn/ws.h"

#include "core/internal.h"

#include <stdint.h>
#include <string.h>

struct rmtl__ws_chunk {
    rmtl__ws_chunk *next;
    size_t cap; /* floats */
    float *data;
};

enum { RMTL__WS_ALIGN = 16, RMTL__WS_MIN = 4096 }; /* floats: 64 bytes; 16 KiB */

void rmtl__ws_init(rmtl__ws *ws, int threads)
{
    memset(ws, 0, sizeof *ws);
    ws->rt.threads = threads > 0 ? threads : 1;
}

void rmtl__ws_free(rmtl__ws *ws)
{
    if (!ws)
        return;
    for (rmtl__ws_chunk *c = ws->head, *next; c; c = next) {
        next = c->next;
        rmtl__free(c);
    }
    ws->head = ws->cur = NULL;
    ws->used = 0;
}

void rmtl__ws_reset(rmtl__ws *ws)
{
    ws->cur = ws->head;
    ws->used = 0;
}

size_t rmtl__ws_capacity(const rmtl__ws *ws)
{
    size_t total = 0;
    for (const rmtl__ws_chunk *c = ws->head; c; c = c->next)
        total += c->cap;
    return total;
}

float *rmtl__ws_alloc(rmtl__ws *ws, size_t n)
{
    if (n > SIZE_MAX / sizeof(float) - 2 * RMTL__WS_ALIGN)
        return (void)rmtl__error(RMTL_ENOMEM, "workspace: %zu floats is too large", n), NULL;
    n = (n + RMTL__WS_ALIGN - 1) / RMTL__WS_ALIGN * RMTL__WS_ALIGN;
    if (n == 0)
        n = RMTL__WS_ALIGN;
    /* Same request sequence ⇒ same walk over the chunks: never go back. */
    for (rmtl__ws_chunk *c = ws->cur; c; c = c->next) {
        if (c != ws->cur)
            ws->used = 0;
        ws->cur = c;
        if (c->cap - ws->used >= n) {
            float *p = c->data + ws->used;
            ws->used += n;
            return p;
        }
    }
    size_t total = rmtl__ws_capacity(ws);
    size_t cap = n > total ? n : total;
    if (cap < RMTL__WS_MIN)
        cap = RMTL__WS_MIN;
    if (cap > (SIZE_MAX - sizeof(rmtl__ws_chunk) - 64) / sizeof(float))
        cap = n;
    rmtl__ws_chunk *c = rmtl__malloc(sizeof *c + 64 + cap * sizeof(float));
    if (!c)
        return (void)rmtl__error(RMTL_ENOMEM, "workspace: out of memory (%zu floats)", cap),
               NULL;
    uintptr_t raw = (uintptr_t)(c + 1);
    c->data = (float *)((raw + 63) & ~(uintptr_t)63);
    c->cap = cap;
    c->next = NULL;
    if (!ws->head) {
        ws->head = c;
    } else {
        rmtl__ws_chunk *t = ws->head;
        while (t->next)
            t = t->next;
        t->next = c;
    }
    ws->cur = c;
    ws->used = n;
    return c->data;
}
