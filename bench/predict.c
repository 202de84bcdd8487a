/*
 * Prediction at the reference shape (see train.c) for every architecture:
 * samples/s at batch 2048 with a context of 1 and 2 threads, latency of a
 * single-row call (p50, p99 over many calls, 1 thread), and the GEMM-bound
 * limit (the same run's bli_sgemm rate over 2 FLOPs per multiply-add);
 * then the same with the serving cache (rmtl_model_fold_embeddings, every
 * field folded): its size, speeds and largest difference from the exact
 * probabilities ("folded").
 * `predict [arch...]` limits the run. JSON on stdout.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/refshape.h"

struct speed {
    double sps, p50, p99;
};

/* samples/s at batch 2048 (ctx) and single-row latency (ctx1) */
static struct speed time_model(const rmtl_model *m, rmtl_ctx *ctx, rmtl_ctx *ctx1,
                               const rmtl_dataset *ds, float *p)
{
    struct speed r;
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
    r.sps = (double)(calls * REF_BATCH) / t;
    enum { N1 = 2000 };
    static double lat[N1];
    for (size_t i = 0; i < N1; i++) {
        rmtl_dataset_batch(&b, ds, i % REF_BATCH, 1);
        double s = bench_now();
        rmtl_model_predict(m, ctx1, &b, p, 2);
        lat[i] = (bench_now() - s) * 1e6;
    }
    qsort(lat, N1, sizeof lat[0], bench_cmp_double);
    r.p50 = lat[N1 / 2];
    r.p99 = lat[N1 * 99 / 100];
    /* leave p holding the batch's predictions */
    rmtl_dataset_batch(&b, ds, 0, REF_BATCH);
    rmtl_model_predict(m, ctx, &b, p, REF_BATCH * 2);
    return r;
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
    float *p = malloc(REF_BATCH * 2 * sizeof *p), *q = malloc(REF_BATCH * 2 * sizeof *q);
    struct speed e = time_model(m, ctx, ctx1, ds, p);
    double limit = gflops * 1e9 / (2.0 * bench_model_macs(m)), rss = bench_peak_rss_mib();
    /* the serving cache: every field folded (the reference vocabularies
     * are small), then the same measurements */
    size_t used = 0;
    struct speed f = {0, 0, 0};
    double diff = 0.0;
    if (rmtl_model_fold_embeddings(m, (size_t)1 << 30, &used) == RMTL_OK) {
        f = time_model(m, ctx, ctx1, ds, q);
        for (size_t i = 0; i < REF_BATCH * 2; i++)
            diff = fabs((double)p[i] - q[i]) > diff ? fabs((double)p[i] - q[i]) : diff;
    }
    snprintf(out, cap,
             "{\"arch\":\"%s\",\"threads\":%d,\"gemm_gflops\":%.1f,\"samples_per_s\":%.0f,"
             "\"gemm_bound_samples_per_s\":%.0f,\"fraction_of_limit\":%.3f,"
             "\"batch1_p50_us\":%.1f,\"batch1_p99_us\":%.1f,\"peak_rss_mib\":%.1f,"
             "\"folded\":{\"cache_mib\":%.1f,\"samples_per_s\":%.0f,\"batch1_p50_us\":%.1f,"
             "\"batch1_p99_us\":%.1f,\"max_abs_diff\":%.2g,\"peak_rss_mib\":%.1f}}",
             j->arch, j->threads, gflops, e.sps, limit, e.sps / limit, e.p50, e.p99, rss,
             (double)used / (1 << 20), f.sps, f.p50, f.p99, diff, bench_peak_rss_mib());
    free(p);
    free(q);
    rmtl_ctx_free(ctx1);
    rmtl_ctx_free(ctx);
    rmtl_model_free(m);
    rmtl_dataset_free(ds);
}

int main(int argc, char **argv)
{
    return bench_run_archs("predict", argc, argv, measure);
}
