/* MPI callbacks of librmtl's gradient exchange (mpi_exchange.h). */
#include "mpi_exchange.h"

#include <limits.h>
#include <stdlib.h>

static double mpi_now(void) { return MPI_Wtime(); }

int mpi_exchange_init(mpi_exchange *x, MPI_Comm comm)
{
    *x = (mpi_exchange){0};
    x->comm = comm;
    MPI_Comm_rank(comm, &x->rank);
    MPI_Comm_size(comm, &x->size);
    x->counts = calloc((size_t)x->size, sizeof(int));
    x->displs = calloc((size_t)x->size, sizeof(int));
    return x->counts && x->displs ? 0 : -1;
}

void mpi_exchange_free(mpi_exchange *x)
{
    free(x->counts), free(x->displs), free(x->ids), free(x->vals);
    *x = (mpi_exchange){0};
}

/* The library's dense buffer, summed in place (MPI_SUM: rmtl divides by
 * the summed row count itself). Chunks keep counts within int. */
static int mpi_allreduce_cb(float *buf, size_t n, void *payload)
{
    mpi_exchange *x = payload;
    double t = mpi_now();
    for (size_t at = 0; at < n;) {
        int c = n - at > INT_MAX ? INT_MAX : (int)(n - at);
        if (MPI_Allreduce(MPI_IN_PLACE, buf + at, c, MPI_FLOAT, MPI_SUM, x->comm) != MPI_SUCCESS)
            return -1;
        at += (size_t)c;
    }
    x->bytes_dense += n * sizeof(float);
    x->seconds += mpi_now() - t;
    return 0;
}

/* One embedding table: every rank's touched rows, gathered in rank order
 * (the same order everywhere, so every rank sums alike), to the sink. */
static int mpi_gather_rows_cb(const uint64_t *ids, const float *values, size_t n_rows,
                              size_t dim, rmtl_grad_sink *sink, void *payload)
{
    mpi_exchange *x = payload;
    double t = mpi_now();
    int n = (int)n_rows;
    if (MPI_Allgather(&n, 1, MPI_INT, x->counts, 1, MPI_INT, x->comm) != MPI_SUCCESS)
        return -1;
    size_t total = 0;
    for (int r = 0; r < x->size; r++) {
        x->displs[r] = (int)total;
        total += (size_t)x->counts[r];
    }
    if (total > x->cap || total * dim > x->dim_cap) {
        uint64_t *i2 = realloc(x->ids, (total ? total : 1) * sizeof *i2);
        if (i2)
            x->ids = i2;
        size_t nv = total * dim > 0 ? total * dim : 1;
        float *v2 = i2 ? realloc(x->vals, nv * sizeof *v2) : NULL;
        if (!v2)
            return -1; /* every rank may not fail alike here: hosts should abort */
        x->vals = v2;
        x->cap = total;
        x->dim_cap = total * dim;
    }
    if (MPI_Allgatherv(ids, n, MPI_UINT64_T, x->ids, x->counts, x->displs, MPI_UINT64_T,
                       x->comm) != MPI_SUCCESS)
        return -1;
    for (int r = 0; r < x->size; r++) { /* rows to floats (int: tables < 2^31 floats) */
        x->counts[r] *= (int)dim;
        x->displs[r] *= (int)dim;
    }
    if (MPI_Allgatherv(values, n * (int)dim, MPI_FLOAT, x->vals, x->counts, x->displs,
                       MPI_FLOAT, x->comm) != MPI_SUCCESS)
        return -1;
    x->bytes_sparse += n_rows * (sizeof(uint64_t) + dim * sizeof(float));
    x->seconds += mpi_now() - t;
    return rmtl_grad_sink_add(sink, x->ids, x->vals, total);
}

rmtl_grad_exchange mpi_exchange_hooks(mpi_exchange *x)
{
    rmtl_grad_exchange h = RMTL_GRAD_EXCHANGE_INIT;
    h.allreduce = mpi_allreduce_cb;
    h.gather_rows = mpi_gather_rows_cb;
    h.payload = x;
    h.rank = (uint32_t)x->rank;
    return h;
}

int mpi_bcast_bytes(void **buf, size_t *len, MPI_Comm comm)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    uint64_t n = rank == 0 ? (uint64_t)*len : 0;
    MPI_Bcast(&n, 1, MPI_UINT64_T, 0, comm);
    if (rank != 0) {
        *buf = malloc(n ? n : 1);
        *len = (size_t)n;
        if (!*buf)
            return -1;
    }
    for (uint64_t at = 0; at < n;) {
        int c = n - at > INT_MAX ? INT_MAX : (int)(n - at);
        MPI_Bcast((char *)*buf + at, c, MPI_BYTE, 0, comm);
        at += (uint64_t)c;
    }
    return 0;
}
