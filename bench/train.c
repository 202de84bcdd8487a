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
#include <string.h>

#include "util/refshape.h"

struct job {
    const char *arch;
    int threads;
    double gflops;
};

static void measure(const void *arg, char *out, size_t cap)
{
    const struct job *j = arg;
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
    double limit = j->gflops * 1e9 / (6.0 * macs);
    snprintf(out, cap,
             "{\"arch\":\"%s\",\"threads\":%d,\"samples_per_s\":%.0f,\"ms_per_step\":%.2f,"
             "\"mflop_per_sample\":%.2f,\"gemm_bound_samples_per_s\":%.0f,"
             "\"fraction_of_limit\":%.3f,\"peak_rss_mib\":%.1f}",
             j->arch, j->threads, sps, 1e3 * t / (double)steps, 6.0 * macs / 1e6, limit,
             sps / limit, bench_peak_rss_mib());
    rmtl_model_free(m);
    rmtl_dataset_free(ds);
}

int main(int argc, char **argv)
{
    double gflops[3] = {0, bench_gemm_gflops(1), bench_gemm_gflops(2)};
    printf("{\"bench\":\"train\",\"build\":\"%s\",\"batch\":%d,"
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
