/*
 * Training throughput of every architecture at the reference shape (7
 * categorical fields + 1 numerical, 2 tasks, embed 128, bottom [512, 256],
 * tower [128, 64], 8 experts, PLE 4 shared + 4 per task, batch 2048), at 1
 * and 2 threads: samples/s, peak RSS (each run in its own process), and the
 * GEMM-bound limit: the same run's bli_sgemm rate divided by the 6 FLOPs per
 * multiply-add of a training step (forward, and both backward products).
 * `train [arch...]` limits the run to some architectures. JSON on stdout.
 */
#include <stdio.h>
#include <stdlib.h>

#include "util/refshape.h"

static void measure(const struct bench_job *j, char *out, size_t cap)
{
    /* Measured here, in the child: libgomp's threads do not survive a
     * fork, so the parent never runs BLIS. */
    double gflops = bench_gemm_gflops(j->threads);
    rmtl_dataset *ds = bench_ref_data(REF_ROWS);
    rmtl_model *m = ds ? bench_ref_model(j->arch, j->threads, ds) : NULL;
    if (!m)
        return;
    rmtl_batch b = RMTL_BATCH_INIT;
    size_t nb = REF_ROWS / REF_BATCH, steps = 0;
    for (size_t i = 0; i < 2; i++) { /* warm-up: workspaces, Adam moments */
        rmtl_dataset_batch(&b, ds, (i % nb) * REF_BATCH, REF_BATCH);
        rmtl_model_train_step(m, &b, NULL);
    }
    double t0 = bench_now(), t = 0.0;
    do {
        rmtl_dataset_batch(&b, ds, (steps % nb) * REF_BATCH, REF_BATCH);
        if (rmtl_model_train_step(m, &b, NULL) != RMTL_OK) {
            fprintf(stderr, "bench: %s\n", rmtl_last_error());
            break;
        }
        steps++;
        t = bench_now() - t0;
    } while (t < 2.0 || steps < 3);
    double sps = (double)(steps * REF_BATCH) / t;
    double macs = bench_model_macs(m);
    double limit = gflops * 1e9 / (6.0 * macs);
    snprintf(out, cap,
             "{\"arch\":\"%s\",\"threads\":%d,\"gemm_gflops\":%.1f,\"samples_per_s\":%.0f,\"ms_per_step\":%.2f,"
             "\"mflop_per_sample\":%.2f,\"gemm_bound_samples_per_s\":%.0f,"
             "\"fraction_of_limit\":%.3f,\"peak_rss_mib\":%.1f}",
             j->arch, j->threads, gflops, sps, 1e3 * t / (double)steps, 6.0 * macs / 1e6, limit,
             sps / limit, bench_peak_rss_mib());
    rmtl_model_free(m);
    rmtl_dataset_free(ds);
}

int main(int argc, char **argv)
{
    return bench_run_archs("train", argc, argv, measure);
}
