/*
 * `make check-mpi`: data-parallel training over MPI equals one process.
 * Run with mpirun -np R: every rank trains an MMoE model (identical initial
 * weights broadcast from rank 0) on its shard of each global batch of B
 * rows (rank r: rows [r·B/R, (r+1)·B/R)), exchanging gradients through
 * examples/mpi_exchange.c; rank 0 also trains a model alone on the whole
 * batches. After 50 steps the ranks' weights must be bit-identical, and
 * equal the lone model's within TOL.
 *
 * TOL: |w_R − w_1| <= 1e-5·(1 + |w_1|) per weight. The runs differ only in
 * float summation order (shard-wise GEMM sums, the row-weighted sum of the
 * ranks' gradients, the clip norm); measured 1e-7..2e-7 after 50 steps at
 * lr 0.01 (docs/distributed.md), so 1e-5 leaves a 50× margin for other
 * BLIS kernels while catching any real mistake (a wrong average, a lost
 * row: ≥ 1e-3).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_exchange.h"
#include "mtl/model.h"
#include "util/mtl.h"

#define TOL 1e-5
enum { ROWS = 512, B = 64, STEPS = 50 };

static int die(const char *what)
{
    fprintf(stderr, "dist_equiv: %s: %s\n", what, rmtl_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
}

static rmtl_model *make_model(void)
{
    rmtl_config *cfg = mtl_small_config("mmoe", 3);
    rmtl_model *m = NULL;
    /* mtl_model: with a schema, which a checkpoint (the broadcast) needs */
    if (!cfg || rmtl_config_set_double(cfg, "optim.lr", 0.01) || !(m = mtl_model(cfg, 2)))
        die("model");
    rmtl_config_free(cfg);
    return m;
}

static uint64_t weights_hash(const rmtl__params *ps)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < ps->n; i++) {
        const unsigned char *p = (const unsigned char *)ps->p[i]->w;
        for (size_t k = 0; k < ps->p[i]->rows * ps->p[i]->cols * sizeof(float); k++)
            h = (h ^ p[k]) * 1099511628211ull;
    }
    return h;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    mpi_exchange x;
    if (mpi_exchange_init(&x, MPI_COMM_WORLD))
        return die("init");
    int R = x.size, r = x.rank;
    mtl_data d;
    mtl_data_make(&d, ROWS, 2, 7);
    /* identical initial weights: rank 0's checkpoint to everyone */
    rmtl_model *m = make_model();
    void *buf = NULL;
    size_t len = 0;
    if (r == 0 && rmtl_model_save_buffer(&buf, &len, m, RMTL_SAVE_TRAINING_STATE))
        return die("save");
    if (mpi_bcast_bytes(&buf, &len, MPI_COMM_WORLD))
        return die("bcast");
    if (r != 0) {
        rmtl_model_free(m);
        if (rmtl_model_load_buffer(&m, buf, len))
            return die("load");
        free(buf);
    } else {
        rmtl_free(buf);
    }
    rmtl_grad_exchange hooks = mpi_exchange_hooks(&x);
    if (rmtl_model_set_grad_exchange(m, &hooks))
        return die("register");
    size_t lo = (size_t)r * B / (size_t)R, hi = (size_t)(r + 1) * B / (size_t)R;
    double loss = 0.0;
    for (size_t s = 0; s < STEPS; s++) {
        size_t at = (s * 37) % (ROWS - B);
        rmtl_batch b = mtl_batch(&d, at + lo, hi - lo, 1);
        if (rmtl_model_train_step(m, &b, &loss))
            return die("train step");
    }
    uint64_t h = weights_hash(&m->net.ps), *all = calloc((size_t)R, sizeof *all);
    MPI_Gather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    int fail = 0;
    if (r == 0) {
        for (int q = 1; q < R; q++)
            if (all[q] != all[0]) {
                fprintf(stderr, "dist_equiv: rank %d's weights differ from rank 0's\n", q);
                fail = 1;
            }
        rmtl_model *one = make_model();
        double loss1 = 0.0;
        for (size_t s = 0; s < STEPS; s++) {
            rmtl_batch b = mtl_batch(&d, (s * 37) % (ROWS - B), B, 1);
            if (rmtl_model_train_step(one, &b, &loss1))
                return die("reference step");
        }
        double worst = 0.0;
        for (size_t i = 0; i < m->net.ps.n; i++) {
            const rmtl__param *p = m->net.ps.p[i], *q = one->net.ps.p[i];
            for (size_t k = 0; k < p->rows * p->cols; k++) {
                double e = fabs((double)p->w[k] - q->w[k]) / (1.0 + fabs(q->w[k]));
                worst = e > worst ? e : worst;
            }
        }
        printf("dist_equiv: %d ranks, global batch %d, %d steps: max |w_R - w_1|/(1+|w_1|) = "
               "%.3g (tolerance %g), loss %.6f vs %.6f, %llu dense + %llu sparse bytes/step\n",
               R, B, STEPS, worst, TOL, loss, loss1,
               (unsigned long long)(x.bytes_dense / STEPS),
               (unsigned long long)(x.bytes_sparse / STEPS));
        if (!(worst <= TOL) || fabs(loss - loss1) > 1e-5 * (1 + fabs(loss1)))
            fail = 1;
        rmtl_model_free(one);
    }
    MPI_Bcast(&fail, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(all);
    rmtl_model_free(m);
    mtl_data_free(&d);
    mpi_exchange_free(&x);
    MPI_Finalize();
    return fail;
}
