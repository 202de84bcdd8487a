/*
 * Prediction at the reference shape (see train.c) for every architecture:
 * samples/s at batch 2048 with a context of 1 and 2 threads, latency of a
 * single-row call (p50, p99 over many calls, 1 thread), and the GEMM-bound
 * limit (the same run's bli_sgemm rate over 2 FLOPs per multiply-add).
 * `predict [arch...]` limits the run. JSON on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/refshape.h"

struct job {
    const char *arch;
    int threads;
    double gflops;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void measure(const void *arg, char *out, size_t cap)
{
    const struct job *j = arg;
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
    double limit = j->gflops * 1e9 / (2.0 * bench_model_macs(m));
    snprintf(out, cap,
             "{\"arch\":\"%s\",\"threads\":%d,\"samples_per_s\":%.0f,"
             "\"gemm_bound_samples_per_s\":%.0f,\"fraction_of_limit\":%.3f,"
             "\"batch1_p50_us\":%.1f,\"batch1_p99_us\":%.1f,\"peak_rss_mib\":%.1f}",
             j->arch, j->threads, sps, limit, sps / limit, lat[N1 / 2], lat[N1 * 99 / 100],
             bench_peak_rss_mib());
    free(p);
    rmtl_ctx_free(ctx1);
    rmtl_ctx_free(ctx);
    rmtl_model_free(m);
    rmtl_dataset_free(ds);
}

int main(int argc, char **argv)
{
    double gflops[3] = {0, bench_gemm_gflops(1), bench_gemm_gflops(2)};
    printf("{\"bench\":\"predict\",\"build\":\"%s\",\"batch\":%d,"
           "\"gemm_gflops\":{\"1\":%.1f,\"2\":%.1f},\"results\":[",
           rmtl_build_info(), REF_BATCH, gflops[1], gflops[2]);
    int first = 1;
    for (int a = 0; a < 7; a++) {
        int wanted = argc == 1;
        for (int i = 1; i < argc; i++)
            wanted |= !strcmp(argv[i], ref_archs[a]);
        for (int th = 1; wanted && th <= 2; th++) {
            struct job j = {ref_archs[a], th, gflops[th]};
            char buf[1024];
            if (bench_in_child(measure, &j, buf, sizeof buf) == 0) {
                printf("%s%s", first ? "" : ",", buf);
                first = 0;
                fflush(stdout);
            }
        }
    }
    printf("]}\n");
    return 0;
}
