/* The in-process world of fakeworld.h. */
#include "util/fakeworld.h"

#include <stdlib.h>
#include <string.h>

void fw_init(fw_world *w, size_t n)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->fail_rank = -1;
    pthread_barrier_init(&w->bar, NULL, (unsigned)n);
}

void fw_destroy(fw_world *w) { pthread_barrier_destroy(&w->bar); }

/* Every rank fails alike when one is told to (a real host would agree on
 * the failure too): the ranks still meet at the barriers. */
static int fw_fail(fw_world *w, size_t rank)
{
    size_t c = w->calls[rank]++;
    return w->fail_rank >= 0 && c >= w->fail_call;
}

static int fw_allreduce(float *buf, size_t n, void *payload)
{
    fw_rank *r = payload;
    fw_world *w = r->w;
    int fail = fw_fail(w, r->rank);
    w->buf[r->rank] = buf;
    w->len[r->rank] = n;
    w->bytes[r->rank] += n * sizeof(float);
    pthread_barrier_wait(&w->bar);
    float *sum = calloc(n ? n : 1, sizeof *sum);
    for (size_t q = 0; q < w->n; q++)
        for (size_t i = 0; i < n && i < w->len[q]; i++)
            sum[i] += w->buf[q][i];
    pthread_barrier_wait(&w->bar);
    memcpy(buf, sum, n * sizeof *buf);
    free(sum);
    return fail ? -1 : 0;
}

static int fw_gather_rows(const uint64_t *ids, const float *values, size_t n_rows, size_t dim,
                          rmtl_grad_sink *sink, void *payload)
{
    (void)dim;
    fw_rank *r = payload;
    fw_world *w = r->w;
    int fail = fw_fail(w, r->rank);
    w->ids[r->rank] = ids;
    w->vals[r->rank] = values;
    w->rows[r->rank] = n_rows;
    w->bytes[r->rank] += n_rows * (sizeof(uint64_t) + dim * sizeof(float));
    pthread_barrier_wait(&w->bar);
    int rc = 0;
    for (size_t q = 0; q < w->n && !rc; q++)
        rc = rmtl_grad_sink_add(sink, w->ids[q], w->vals[q], w->rows[q]);
    pthread_barrier_wait(&w->bar);
    return fail ? -1 : rc;
}

rmtl_grad_exchange fw_exchange(fw_rank *r, int rows)
{
    rmtl_grad_exchange x = RMTL_GRAD_EXCHANGE_INIT;
    x.allreduce = fw_allreduce;
    x.gather_rows = rows ? fw_gather_rows : NULL;
    x.payload = r;
    x.rank = (uint32_t)r->rank;
    return x;
}

typedef struct fw_job {
    void (*fn)(size_t, void *);
    void *arg;
    size_t rank;
} fw_job;

static void *fw_thread(void *p)
{
    fw_job *j = p;
    j->fn(j->rank, j->arg);
    return NULL;
}

void fw_run(fw_world *w, void (*fn)(size_t rank, void *arg), void *arg)
{
    pthread_t th[FW_MAX];
    fw_job job[FW_MAX];
    for (size_t q = 0; q < w->n; q++) {
        job[q] = (fw_job){fn, arg, q};
        pthread_create(&th[q], NULL, fw_thread, &job[q]);
    }
    for (size_t q = 0; q < w->n; q++)
        pthread_join(th[q], NULL);
}
