/* See refshape.h. */
#define _DEFAULT_SOURCE /* wait4 (bench_child_output) */
#include "util/refshape.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mtl/model.h"
#include "nn/gemm.h"

const char *const ref_archs[7] = {"single_task", "shared_bottom", "esmm", "omoe",
                                  "mmoe",        "ple",           "aitm"};

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

double bench_gemm_gflops(int threads)
{
    enum { M = 2048, K = 1024, N = 512 };
    float *a = calloc((size_t)M * K, 4), *b = calloc((size_t)K * N, 4), *c = calloc((size_t)M * N, 4);
    for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)(i % 7) * 0.01f;
    rmtl__rt rt = {threads};
    rmtl__blis_init(NULL);
    double best = 0.0;
    for (int r = 0; r < 5; r++) {
        double t = bench_now();
        int it = 0;
        do {
            rmtl__gemm(&rt, 0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
            it++;
        } while (bench_now() - t < 0.1);
        double g = 2.0 * M * N * K * it / (bench_now() - t) / 1e9;
        if (g > best)
            best = g;
    }
    free(a), free(b), free(c);
    return best;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

rmtl_dataset *bench_ref_data(size_t rows)
{
    static const size_t vocab[7] = {1000, 1000, 1000, 3, 1700, 500, 300};
    int32_t *cat = malloc(rows * 7 * sizeof *cat);
    float *num = malloc(rows * sizeof *num), *lab = malloc(rows * 2 * sizeof *lab);
    uint64_t s = 42;
    for (size_t i = 0; i < rows; i++) {
        for (int f = 0; f < 7; f++)
            cat[i * 7 + f] = (int32_t)(splitmix(&s) % vocab[f]);
        num[i] = (float)(splitmix(&s) % 1000) / 500.0f - 1.0f;
        int click = cat[i * 7] % 3 == 0 || splitmix(&s) % 5 == 0;
        lab[i * 2] = (float)click;
        lab[i * 2 + 1] = (float)(click && splitmix(&s) % 4 == 0);
    }
    rmtl_dataset *ds = NULL;
    if (rmtl_dataset_from_arrays(&ds, rows, 7, vocab, cat, 1, num, 2, lab, NULL) != RMTL_OK)
        fprintf(stderr, "bench: %s\n", rmtl_last_error());
    free(cat), free(num), free(lab);
    return ds;
}

rmtl_model *bench_ref_model(const char *arch, int threads, const rmtl_dataset *ds)
{
    rmtl_config *cfg = NULL;
    rmtl_model *m = NULL;
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "model: {arch: %s, embed_dim: 128, bottom: [512, 256], tower: [128, 64],\n"
             "        experts: {count: 8, shared: 4, specific: 4}}\n"
             "train: {batch_size: %d}\nruntime: {threads: %d}\n",
             arch, REF_BATCH, threads);
    if (rmtl_config_create(&cfg) != RMTL_OK ||
        rmtl_config_load_string(cfg, yaml, strlen(yaml), "bench") != RMTL_OK ||
        rmtl_model_create(&m, cfg, ds) != RMTL_OK)
        fprintf(stderr, "bench: %s: %s\n", arch, rmtl_last_error());
    rmtl_config_free(cfg);
    return m;
}

double bench_model_macs(const rmtl_model *m)
{
    double macs = 0.0;
    for (size_t i = 0; i < m->net.ps.n; i++) {
        const rmtl__param *p = m->net.ps.p[i];
        if (!p->sparse && p->rows > 1)
            macs += (double)p->rows * (double)p->cols;
    }
    return macs;
}

int bench_child_output(int pid, int fd, char *out, size_t cap, size_t *n, struct rusage *ru)
{
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fd, out + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = '\0';
    close(fd);
    *n = got;
    int st = 0;
    return wait4((pid_t)pid, &st, 0, ru) == (pid_t)pid ? st : -1;
}

/* Runs fn(j, out, cap) in a child and copies its text output into out.
 * 0 on success. */
static int bench_in_child(void (*fn)(const struct bench_job *j, char *out, size_t cap),
                          const struct bench_job *j, char *out, size_t cap)
{
    int fd[2];
    if (pipe(fd))
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fd[0]);
        char buf[4096] = "";
        fn(j, buf, sizeof buf);
        ssize_t w = write(fd[1], buf, strlen(buf));
        _exit(w < 0);
    }
    close(fd[1]);
    size_t n = 0;
    int st = bench_child_output(pid, fd[0], out, cap, &n, NULL);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && n > 0 ? 0 : -1;
}

int bench_run_archs(const char *name, int argc, char **argv,
                    void (*measure)(const struct bench_job *j, char *out, size_t cap))
{
    printf("{\"bench\":\"%s\",\"build\":\"%s\",\"batch\":%d,\"results\":[", name,
           rmtl_build_info(), REF_BATCH);
    /* RMTL_BENCH_THREADS=n measures only n threads (profiling, a busy
     * machine, thread scaling on a larger one): any n from 1 to 256. */
    const char *only = getenv("RMTL_BENCH_THREADS");
    int only_th = only ? atoi(only) : 0;
    if (only_th < 0 || only_th > 256)
        only_th = 0;
    int lo = only_th ? only_th : 1, hi = only_th ? only_th : 2;
    int first = 1;
    for (int a = 0; a < 7; a++) {
        int wanted = argc == 1;
        for (int i = 1; i < argc; i++)
            wanted |= !strcmp(argv[i], ref_archs[a]);
        for (int th = lo; wanted && th <= hi; th++) {
            struct bench_job j = {ref_archs[a], th};
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
