/*
 * Prediction at the reference shape (see train.c) for every architecture:
 * samples/s at batch 2048 with a context of 1 and 2 threads, latency of a
 * single-row call (p50, p99 over many calls, 1 thread), and the GEMM-bound
 * limit (the same run's bli_sgemm rate over 2 FLOPs per multiply-add).
 * `predict [arch...]` limits the run. JSON on stdout.
 */
#include <stdio.h>
#include <stdlib.h>

#include "util/refshape.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void measure(const struct bench_job *j, char *out, size_t cap)
{
    /* Measured here, in the child: libgomp's threads do not survive a
     * fork, so the parent never runs BLIS. */
    double gflops = bench_gemm_gflops(j->threads);
    rmtl_dataset *ds = bench_ref_data(REF_BATCH);
    rmtl_model *m = ds ? bench_ref_model(j->arch, j->threads, ds) : NULL;
    rmtl_ctx *ctx = NULL, *ctx1 = NULL;
    if (!m || rmtl_ctx_create(&ctx, j->threads) || rmtl_ctx_create(&ctx1, 1))
        return;
    float *p = malloc(REF_BATCH * 2 * sizeof *p);
    rmtl_batch b = RMTL_BATCH_INIT;
    rmtl_dataset_batch(&b, ds, 0, REF_BATCH);
    rmtl_model_predict(m, ctx, &b, p, REF_BATCH * 2);
    size_t calls = 0;
    double t0 = bench_now(), t = 0.0;
    do {
        rmtl_model_predict(m, ctx, &b, p, REF_BATCH * 2);
        calls++;
        t = bench_now() - t0;
    } while (t < 1.0 || calls < 3);
    double sps = (double)(calls * REF_BATCH) / t;
    enum { N1 = 2000 };
    static double lat[N1];
    for (size_t i = 0; i < N1; i++) {
        rmtl_dataset_batch(&b, ds, i % REF_BATCH, 1);
        double s = bench_now();
        rmtl_model_predict(m, ctx1, &b, p, 2);
        lat[i] = (bench_now() - s) * 1e6;
    }
    qsort(lat, N1, sizeof lat[0], cmp_double);
    double limit = gflops * 1e9 / (2.0 * bench_model_macs(m));
    snprintf(out, cap,
             "{\"arch\":\"%s\",\"threads\":%d,\"gemm_gflops\":%.1f,\"samples_per_s\":%.0f,"
             "\"gemm_bound_samples_per_s\":%.0f,\"fraction_of_limit\":%.3f,"
             "\"batch1_p50_us\":%.1f,\"batch1_p99_us\":%.1f,\"peak_rss_mib\":%.1f}",
             j->arch, j->threads, gflops, sps, limit, sps / limit, lat[N1 / 2], lat[N1 * 99 / 100],
             bench_peak_rss_mib());
    free(p);
    rmtl_ctx_free(ctx1);
    rmtl_ctx_free(ctx);
    rmtl_model_free(m);
    rmtl_dataset_free(ds);
}

int main(int argc, char **argv)
{
    return bench_run_archs("predict", argc, argv, measure);
}
