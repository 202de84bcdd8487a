/* An in-process stand-in for MPI (public API only, both runners link it):
 * R "ranks" are R threads that meet at a barrier inside the gradient
 * exchange callbacks. allreduce sums the ranks' buffers in rank order;
 * gather_rows hands every rank's rows to the sink in rank order. */
#ifndef RMTL_TESTS_FAKEWORLD_H
#define RMTL_TESTS_FAKEWORLD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "rmtl.h"

#define FW_MAX 8

typedef struct fw_world {
    size_t n;
    pthread_barrier_t bar;
    float *buf[FW_MAX];
    size_t len[FW_MAX];
    const uint64_t *ids[FW_MAX];
    const float *vals[FW_MAX];
    size_t rows[FW_MAX];
    int fail_rank;        /* >= 0: that rank's callbacks return -1 ... */
    size_t fail_call;     /* ... from its fail_call-th call on (0-based) */
    size_t calls[FW_MAX]; /* callback calls per rank */
    uint64_t bytes[FW_MAX]; /* floats + ids sent per rank, in bytes */
} fw_world;

typedef struct fw_rank {
    fw_world *w;
    size_t rank;
} fw_rank;

void fw_init(fw_world *w, size_t n);
void fw_destroy(fw_world *w);
/* The exchange of rank r->rank (with the row gather when `rows`). */
rmtl_grad_exchange fw_exchange(fw_rank *r, int rows);
/* Runs fn(rank, arg) on w->n threads and joins them. */
void fw_run(fw_world *w, void (*fn)(size_t rank, void *arg), void *arg);

#endif
