/*
 * librmtl's gradient exchange over MPI (include/rmtl.h, "distributed
 * training"): the two callbacks and a checkpoint broadcast. Hosts may copy
 * this file; examples/mpi_train.c, bench/dist.c and tests/mpi use it.
 */
#ifndef RMTL_MPI_EXCHANGE_H
#define RMTL_MPI_EXCHANGE_H

#include <mpi.h>
#include <rmtl.h>

typedef struct mpi_exchange {
    MPI_Comm comm;
    int rank, size;
    int *counts, *displs;       /* per rank: rows, then floats */
    uint64_t *ids;              /* gathered rows (grown, reused) */
    float *vals;
    size_t cap;                 /* rows held by ids */
    size_t dim_cap;             /* floats held by vals */
    uint64_t bytes_dense;       /* bytes this rank contributed, cumulative */
    uint64_t bytes_sparse;
    double seconds;             /* time inside MPI calls, cumulative */
} mpi_exchange;

/* 0, or -1 when out of memory. */
int mpi_exchange_init(mpi_exchange *x, MPI_Comm comm);
void mpi_exchange_free(mpi_exchange *x);
/* The hooks to register (payload x, rank set). */
rmtl_grad_exchange mpi_exchange_hooks(mpi_exchange *x);
/* Broadcasts rank 0's *buf (*len bytes) to every rank: the others receive
 * a malloc'ed copy in *buf. 0 or -1. */
int mpi_bcast_bytes(void **buf, size_t *len, MPI_Comm comm);

#endif
