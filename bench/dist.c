/*
 * Data-parallel scaling of MMoE at the reference shape (bench/util/refshape.h)
 * over MPI, one BLIS thread per rank: run under `mpirun -np R` (or
 * `make bench-dist`, which runs R = 1, 2, 4, ... and adds the efficiency).
 *
 *   dist [--steps N] [--warmup N] [--weak]
 *
 * Strong scaling (default): the global batch is the reference 2048, each
 * rank trains 2048/R rows per step. --weak: each rank trains 2048 rows.
 * One JSON line from rank 0: ranks, steps/s, samples/s, bytes this rank
 * sends per step (dense all-reduce buffer, embedding rows), MPI seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_exchange.h"
#include "util/refshape.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int steps = 10, warmup = 2, weak = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--weak"))
            weak = 1;
    }
    mpi_exchange x;
    if (mpi_exchange_init(&x, MPI_COMM_WORLD))
        MPI_Abort(MPI_COMM_WORLD, 1);
    size_t R = (size_t)x.size, local = weak ? REF_BATCH : REF_BATCH / R;
    size_t rows = weak ? REF_BATCH * R : REF_ROWS;
    /* identical weights on every rank from the shared seed (no broadcast) */
    rmtl_dataset *ds = bench_ref_data(rows);
    rmtl_model *m = ds ? bench_ref_model("mmoe", 1, ds) : NULL;
    rmtl_grad_exchange hooks = mpi_exchange_hooks(&x);
    if (!m || rmtl_model_set_grad_exchange(m, &hooks)) {
        fprintf(stderr, "dist: %s\n", rmtl_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    size_t per = rows / (local * R); /* global batches in the data */
    double t0 = 0.0, mpi0 = 0.0;
    uint64_t d0 = 0, s0 = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime(), mpi0 = x.seconds, d0 = x.bytes_dense, s0 = x.bytes_sparse;
        }
        rmtl_batch b = RMTL_BATCH_INIT;
        size_t at = ((size_t)s % per) * local * R + (size_t)x.rank * local;
        if (rmtl_dataset_batch(&b, ds, at, local) || rmtl_model_train_step(m, &b, NULL)) {
            fprintf(stderr, "dist: %s\n", rmtl_last_error());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime() - t0;
    if (x.rank == 0)
        printf("{\"bench\":\"dist\",\"arch\":\"mmoe\",\"mode\":\"%s\",\"ranks\":%zu,"
               "\"rows_per_rank\":%zu,\"global_batch\":%zu,\"steps\":%d,\"steps_per_s\":%.4f,"
               "\"samples_per_s\":%.1f,\"dense_bytes_per_step\":%.0f,"
               "\"sparse_bytes_per_step\":%.0f,\"mpi_s_per_step\":%.4f,\"params\":%zu}\n",
               weak ? "weak" : "strong", R, local, local * R, steps, steps / t,
               (double)steps * (double)(local * R) / t, (double)(x.bytes_dense - d0) / steps,
               (double)(x.bytes_sparse - s0) / steps, (x.seconds - mpi0) / steps,
               rmtl_model_num_params(m));
    rmtl_model_free(m);
    rmtl_dataset_free(ds);
    mpi_exchange_free(&x);
    MPI_Finalize();
    return 0;
}
