/*
 * Neural-core benchmark: raw rmtl__gemm GFLOP/s on the MLP shapes (batch
 * 2048; forward X·W and the two backward products Xᵀ·dY, dY·Wᵀ), and the
 * same shapes through the Linear layer (forward + backward, with bias,
 * the bias gradient and the numeric guard), as a fraction of the raw GEMM
 * rate measured in the same run. One JSON object on stdout.
 *
 * Each measurement is the best of 7 rounds of ~0.045 s (≈0.3 s in all),
 * raw and layer rounds interleaved so that clock drift and other load hit
 * both alike. The fraction compares the layer with the three raw products
 * timed together in the same sequence (not a sum of separate minima).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/gemm.h"
#include "nn/linear.h"

enum { BATCH = 2048, ROUNDS = 7 };
#define ROUND_S 0.045
#define TARGET 0.90

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct job {
    const rmtl__rt *rt;
    const rmtl__linear *lin;
    size_t in, out;
    float *x, *w, *y, *dy, *dx, *dw;
} job;

enum { RAW_FWD, RAW_DW, RAW_DX, RAW_ALL, LAYER, N_KIND };

static void run_once(const job *j, int kind)
{
    size_t in = j->in, out = j->out;
    switch (kind) {
    case RAW_FWD:
        rmtl__gemm(j->rt, RMTL__NOTRANS, RMTL__NOTRANS, BATCH, out, in, 1.0f, j->x, in, j->w,
                   out, 0.0f, j->y, out);
        break;
    case RAW_DW:
        rmtl__gemm(j->rt, RMTL__TRANS, RMTL__NOTRANS, in, out, BATCH, 1.0f, j->x, in, j->dy, out,
                   1.0f, j->dw, out);
        break;
    case RAW_DX:
        rmtl__gemm(j->rt, RMTL__NOTRANS, RMTL__TRANS, BATCH, in, out, 1.0f, j->dy, out, j->w,
                   out, 0.0f, j->dx, in);
        break;
    case RAW_ALL: /* the three products in the layer's order, timed as one */
        run_once(j, RAW_FWD);
        run_once(j, RAW_DW);
        run_once(j, RAW_DX);
        break;
    default:
        if (rmtl__linear_forward(j->lin, j->rt, BATCH, j->x, in, j->y, out) ||
            rmtl__linear_backward(j->lin, j->rt, BATCH, j->x, in, j->dy, out, j->dx, in, 0)) {
            fprintf(stderr, "bench: linear layer failed\n");
            exit(1);
        }
    }
}

/* Seconds per call: one round of ~ROUND_S. */
static double round_time(const job *j, int kind)
{
    int reps = 1;
    for (;;) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            run_once(j, kind);
        double dt = now() - t0;
        if (dt >= ROUND_S)
            return dt / reps;
        reps = dt <= 0 ? reps * 2 : (int)(reps * ROUND_S / dt * 1.1) + 1;
    }
}

static void fill(float *x, size_t n, unsigned *s)
{
    for (size_t i = 0; i < n; i++) {
        *s = *s * 1103515245u + 12345u;
        x[i] = (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

int main(void)
{
    static const size_t shapes[][2] = {{1024, 512}, {512, 256}, {256, 128}, {128, 64}};
    static const int threads[] = {1, 2};
    if (rmtl__blis_init(NULL) != 0) {
        fprintf(stderr, "bench: BLIS initialisation failed\n");
        return 1;
    }
    int all_met = 1;
    printf("{\"bench\":\"nn\",\"blis_arch\":\"%s\",\"batch\":%d,\"target_fraction\":%.2f,"
           "\"results\":[",
           rmtl__blis_arch(), BATCH, TARGET);
    int first = 1;
    for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            size_t in = shapes[s][0], out = shapes[s][1];
            rmtl__params ps;
            rmtl__params_init(&ps);
            rmtl__rng rng;
            rmtl__rng_seed(&rng, 1, RMTL__STREAM_INIT);
            rmtl__linear lin;
            if (rmtl__linear_init(&lin, &ps, "bench", in, out, 1, &rng)) {
                fprintf(stderr, "bench: out of memory\n");
                return 1;
            }
            rmtl__rt rt = {threads[ti]};
            job j = {&rt, &lin, in, out, NULL, lin.w->w, NULL, NULL, NULL, lin.w->g};
            j.x = malloc(BATCH * in * sizeof(float));
            j.dx = malloc(BATCH * in * sizeof(float));
            j.y = malloc(BATCH * out * sizeof(float));
            j.dy = malloc(BATCH * out * sizeof(float));
            if (!j.x || !j.dx || !j.y || !j.dy) {
                fprintf(stderr, "bench: out of memory\n");
                return 1;
            }
            unsigned seed = 7;
            fill(j.x, BATCH * in, &seed);
            /* small upstream gradients keep dW bounded over many
             * accumulating repetitions */
            fill(j.dy, BATCH * out, &seed);
            for (size_t i = 0; i < BATCH * out; i++)
                j.dy[i] *= 1e-6f;
            double best[N_KIND];
            for (int k = 0; k < N_KIND; k++) {
                run_once(&j, k); /* warm-up: BLIS buffers, caches, threads */
                run_once(&j, k);
                best[k] = 1e30;
            }
            for (int r = 0; r < ROUNDS; r++)
                for (int k = 0; k < N_KIND; k++) {
                    double t = round_time(&j, k);
                    best[k] = t < best[k] ? t : best[k];
                }
            double flop = 2.0 * BATCH * (double)in * (double)out;
            double gemm_rate = 3 * flop / best[RAW_ALL] * 1e-9, lin_rate = 3 * flop / best[LAYER] * 1e-9;
            double frac = lin_rate / gemm_rate;
            if (frac < TARGET)
                all_met = 0;
            printf("%s{\"threads\":%d,\"in\":%zu,\"out\":%zu,"
                   "\"gemm_gflops\":{\"forward\":%.1f,\"backward_dw\":%.1f,\"backward_dx\":%.1f,"
                   "\"combined\":%.1f},\"linear_gflops\":%.1f,\"linear_fraction\":%.3f}",
                   first ? "" : ",", threads[ti], in, out, flop / best[RAW_FWD] * 1e-9,
                   flop / best[RAW_DW] * 1e-9, flop / best[RAW_DX] * 1e-9, gemm_rate, lin_rate,
                   frac);
            first = 0;
            free(j.x), free(j.dx), free(j.y), free(j.dy);
            rmtl__params_free(&ps);
        }
    printf("],\"all_met\":%s}\n", all_met ? "true" : "false");
    return 0;
}
