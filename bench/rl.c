/*
 * One rmtl_agent_update at batch 2048 with an ESMM actor at the reference
 * shape (7 categorical fields, vocabularies 1000, 1000, 1000, 3, 1700, 500,
 * 300 + 1 numerical, 2 tasks, embed 128, bottom [512, 256], tower [128,
 * 64]; critics bottom [512, 256], tower [128, 64]), at 1 and 2 threads:
 * ms per update and transitions/s over the default schedule (the actor
 * steps every rl.actor_update_freq = 2 updates, from the first), and the
 * GEMM-bound limit: the same run's bli_sgemm rate divided by the FLOPs of
 * an average update, counted from the dense weights:
 *   target actor π'(s')                       1 forward of the actor  (A)
 *   each critic: Q'(s',a'), Q(s',a'); fit Q   2 forwards + 1 forward and
 *                                             2 backward products      (5C)
 *   every 2nd update, the actor: π(s) and its
 *   backward, each critic's Q and dQ/da       3A + T·2C, halved
 * with 2 FLOPs per multiply-add. The transitions come from a replay buffer
 * (sampling is not timed). Each measurement runs in its own process.
 * JSON on stdout.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rl/agent.h"
#include "util/refshape.h"

/* Multiply-adds per transition of every dense weight matrix of a list. */
static double dense_macs(const rmtl__params *ps)
{
    double macs = 0.0;
    for (size_t i = 0; i < ps->n; i++)
        if (!ps->p[i]->sparse && ps->p[i]->rows > 1)
            macs += (double)ps->p[i]->rows * (double)ps->p[i]->cols;
    return macs;
}

/* A replay buffer of transitions s = row i, s' = row i + 1 of the data,
 * uniform actions, BCE rewards, a session end every 20 rows. */
static rmtl_replay *fill(const rmtl_dataset *ds)
{
    size_t n = rmtl_dataset_rows(ds) - 1;
    rmtl_batch all = RMTL_BATCH_INIT;
    rmtl_replay *rb = NULL;
    if (rmtl_dataset_batch(&all, ds, 0, n + 1) || rmtl_replay_create(&rb, n, 7, 1, 2, 1))
        return NULL;
    float *act = malloc(n * 2 * sizeof *act), *rew = malloc(n * 2 * sizeof *rew);
    uint8_t *done = malloc(n);
    uint64_t s = 7;
    for (size_t i = 0; i < n; i++) {
        done[i] = i % 20 == 19;
        for (int k = 0; k < 2; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            float a = (float)((s >> 40) & 0xffff) / 65536.0f, y = all.labels[i * 2 + k];
            act[i * 2 + k] = a;
            rew[i * 2 + k] = y > 0.5f ? logf(a > 1e-4f ? a : 1e-4f)
                                      : logf(1 - a > 1e-4f ? 1 - a : 1e-4f);
        }
    }
    rmtl_transitions t = RMTL_TRANSITIONS_INIT;
    t.rows = n;
    t.cat = all.cat;
    t.num = all.num;
    t.action = act;
    t.next_cat = all.cat + 7;
    t.next_num = all.num + 1;
    t.reward = rew;
    t.done = done;
    t.labels = all.labels;
    if (rmtl_replay_store(rb, &t)) {
        rmtl_replay_free(rb);
        rb = NULL;
    }
    free(act), free(rew), free(done);
    return rb;
}

static void measure(const struct bench_job *j, char *out, size_t cap)
{
    /* Measured here, in the child: libgomp's threads do not survive a
     * fork, so the parent never runs BLIS. */
    double gflops = bench_gemm_gflops(j->threads);
    rmtl_dataset *ds = bench_ref_data(REF_ROWS);
    rmtl_model *m = ds ? bench_ref_model(j->arch, j->threads, ds) : NULL;
    rmtl_replay *rb = m ? fill(ds) : NULL;
    rmtl_config *cfg = NULL;
    rmtl_agent *ag = NULL;
    char yaml[256];
    snprintf(yaml, sizeof yaml, "rl: {init_training_step: 0}\nruntime: {threads: %d}\n",
             j->threads);
    if (!rb || rmtl_config_create(&cfg) ||
        rmtl_config_load_string(cfg, yaml, strlen(yaml), "bench") ||
        rmtl_agent_create(&ag, cfg, m)) {
        fprintf(stderr, "bench: %s\n", rmtl_last_error());
        goto done;
    }
    rmtl_transitions b = RMTL_TRANSITIONS_INIT;
    for (int i = 0; i < 2; i++) { /* warm-up: workspaces, Adam moments, both kinds of step */
        rmtl_replay_sample(&b, rb, REF_BATCH);
        rmtl_agent_update(ag, &b, NULL);
    }
    double t = 0.0;
    size_t updates = 0;
    do {
        rmtl_replay_sample(&b, rb, REF_BATCH);
        double t0 = bench_now();
        if (rmtl_agent_update(ag, &b, NULL) != RMTL_OK) {
            fprintf(stderr, "bench: %s\n", rmtl_last_error());
            goto done;
        }
        t += bench_now() - t0;
        updates++;
    } while (t < 3.0 || updates < 4 || updates % 2);
    double A = dense_macs(&ag->actor->model->net.ps), C = dense_macs(&ag->critics[0]->net.ps);
    double T = (double)ag->n_tasks, freq = (double)ag->hp.actor_update_freq;
    double macs = A + T * 5.0 * C + (3.0 * A + T * 2.0 * C) / freq;
    double tps = (double)(updates * REF_BATCH) / t, limit = gflops * 1e9 / (2.0 * macs);
    snprintf(out, cap,
             "{\"threads\":%d,\"gemm_gflops\":%.1f,\"ms_per_update\":%.1f,"
             "\"transitions_per_s\":%.0f,\"mflop_per_transition\":%.2f,"
             "\"gemm_bound_transitions_per_s\":%.0f,\"fraction_of_limit\":%.3f,"
             "\"peak_rss_mib\":%.1f}",
             j->threads, gflops, 1e3 * t / (double)updates, tps, 2.0 * macs / 1e6, limit,
             tps / limit, bench_peak_rss_mib());
done:
    rmtl_agent_free(ag);
    rmtl_config_free(cfg);
    rmtl_replay_free(rb);
    rmtl_model_free(m);
    rmtl_dataset_free(ds);
}

int main(void)
{
    /* The reference agent: an ESMM actor at the reference shape. */
    char *args[] = {"rl", "esmm"};
    return bench_run_archs("rl", 2, args, measure);
}
