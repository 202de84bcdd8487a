/* Shared pieces of the model benchmarks: the reference shape, the
 * same run's GEMM rate, FLOP counting over a model's dense weights, peak
 * RSS, and one child process per measurement so RSS is per architecture. */
#ifndef RMTL_BENCH_REFSHAPE_H
#define RMTL_BENCH_REFSHAPE_H

#include <stddef.h>

#include "rmtl.h"

enum { REF_BATCH = 2048, REF_ROWS = 8 * 2048 };

extern const char *const ref_archs[7];

double bench_now(void);
/* qsort order of doubles, ascending (latencies, ratios). */
int bench_cmp_double(const void *a, const void *b);
/* Peak resident set of this process, MiB. */
double bench_peak_rss_mib(void);
/* Best GFLOP/s of the 2048×1024 · 1024×512 product at `threads`. */
double bench_gemm_gflops(int threads);
/* Synthetic data of the reference shape: 7 fields (1000, 1000, 1000, 3,
 * 1700, 500, 300), 1 numerical feature, 2 tasks. */
rmtl_dataset *bench_ref_data(size_t rows);
/* A model of `arch` at the reference widths with `threads` BLIS threads. */
rmtl_model *bench_ref_model(const char *arch, int threads, const rmtl_dataset *ds);
/* Multiply-adds per sample of every dense weight matrix of the model
 * (embedding tables excluded: they are look-ups, not products). */
double bench_model_macs(const rmtl_model *m);
/* One measurement: an architecture at a thread count. */
struct bench_job {
    const char *arch;
    int threads;
};
/* The driver of the model benchmarks: for each architecture named in argv
 * (all when none) and 1 and 2 threads, runs measure() in a child process,
 * so each has its own peak RSS and its own BLIS threads, and prints one
 * JSON object {"bench": name, ..., "results": [what measure() wrote]}. */
/* Reads a child's output from `fd` (the read end of its pipe) until end
 * of file into out (NUL-terminated, at most cap - 1 bytes), closes fd and
 * reaps `pid`, with its resource use in *ru when ru is not NULL. Returns
 * the wait status, or -1 when the child could not be reaped. *n gets the
 * bytes read. */
struct rusage;
int bench_child_output(int pid, int fd, char *out, size_t cap, size_t *n, struct rusage *ru);

int bench_run_archs(const char *name, int argc, char **argv,
                    void (*measure)(const struct bench_job *j, char *out, size_t cap));

#endif
