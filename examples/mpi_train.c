/*
 * Data-parallel training over MPI (docs/distributed.md):
 *
 *   mpirun -np 4 build/examples/mpi_train [--quick] [--out DIR] [--cache FILE]
 *
 * A seeded synthetic log (the same on every rank: no file to distribute)
 * is sharded by session: rank r keeps the training sessions s with
 * s mod R = r, so a session's transitions stay on one rank. With --cache,
 * the log comes from a dataset cache file instead, as it would at scale:
 * rank 0 writes the training log there first (if the file is absent), and
 * each rank loads only its rows of it (rmtl_dataset_load_cache with
 * part = rank of parts = R; docs/data.md "Sharded loading"). Rank 0 builds
 * each handle and broadcasts its checkpoint (identical initial weights);
 * every rank registers the MPI gradient exchange (mpi_exchange.c) and
 * trains on its shard with a per-rank batch of B/R, so each step is one
 * step of global batch B. Then rank 0 evaluates and saves:
 *   1. an MMoE model;   2. an RMTL agent on it;   3. a fusion policy.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mpi_exchange.h"

enum { N_CAT = 3, T = 2 };
static const size_t vocab[N_CAT] = {50, 20, 8};

static int rank_ = 0;

static void ok(int rc, const char *what)
{
    if (rc != RMTL_OK) {
        fprintf(stderr, "mpi_train[%d]: %s: %s: %s\n", rank_, what, rmtl_strerror(rc),
                rmtl_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

static double uni(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) * 0x1.0p-53;
}

/* Sessions [lo, hi) of a log of `sessions` sessions of 8 impressions, of
 * which the keep-th of every `of` (of = 0: all). Click and purchase follow
 * a logistic model of the features. */
static rmtl_dataset *make_log(size_t sessions, size_t lo, size_t hi, size_t keep, size_t of)
{
    size_t rows = 0, cap = sessions * 8;
    int32_t *cat = malloc(cap * N_CAT * sizeof *cat);
    float *num = malloc(cap * sizeof *num), *lab = malloc(cap * T * sizeof *lab);
    int64_t *sess = malloc(cap * sizeof *sess);
    uint64_t s = 42;
    for (size_t q = 0; q < sessions; q++)
        for (size_t i = 0; i < 8; i++) {
            int32_t c[N_CAT];
            for (size_t f = 0; f < N_CAT; f++)
                c[f] = 1 + (int32_t)(uni(&s) * (double)(vocab[f] - 1));
            double x = uni(&s) * 2 - 1, u1 = uni(&s), u2 = uni(&s);
            double z = 0.8 * x + sin((double)c[0]) + 0.3 * (c[1] % 3) - 1.0;
            int click = u1 < 1 / (1 + exp(-z)), buy = click && u2 < 1 / (1 + exp(1.5 - z));
            if (q < lo || q >= hi || (of && q % of != keep))
                continue;
            memcpy(cat + rows * N_CAT, c, sizeof c);
            num[rows] = (float)x;
            lab[rows * T] = (float)click;
            lab[rows * T + 1] = (float)buy;
            sess[rows++] = (int64_t)q;
        }
    rmtl_dataset *ds = NULL;
    ok(rmtl_dataset_from_arrays(&ds, rows, N_CAT, vocab, cat, 1, num, T, lab, sess), "data");
    free(cat), free(num), free(lab), free(sess);
    return ds;
}

/* The min over ranks of a local count: every rank takes as many steps. */
static size_t min_all(size_t n)
{
    unsigned long long v = n;
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    return (size_t)v;
}

/* Rank 0's checkpoint bytes to everyone. */
static void *bcast(void *buf, size_t *len)
{
    ok(mpi_bcast_bytes(&buf, len, MPI_COMM_WORLD) ? RMTL_ENOMEM : 0, "broadcast");
    return buf;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int quick = 0;
    const char *out = "build/mpi_train", *cache = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--cache") && i + 1 < argc)
            cache = argv[++i];
    }
    mpi_exchange x;
    ok(mpi_exchange_init(&x, MPI_COMM_WORLD) ? RMTL_ENOMEM : 0, "init");
    rank_ = x.rank;
    size_t R = (size_t)x.size, B = 256, sessions = quick ? 400 : 4000;
    size_t local_b = B / R ? B / R : 1;
    rmtl_grad_exchange hooks = mpi_exchange_hooks(&x);
    /* training sessions: the first 80%; rank r keeps s mod R = r of them */
    size_t n_train = sessions * 4 / 5;
    rmtl_dataset *shard = NULL;
    if (cache) { /* this rank's rows of a cache file: it reads no others */
        struct stat st;
        if (x.rank == 0 && stat(cache, &st) != 0) {
            mkdir(out, 0755); /* the file may live there */
            rmtl_dataset *all = make_log(sessions, 0, n_train, 0, 0);
            ok(rmtl_dataset_save(all, cache), "save cache");
            rmtl_dataset_free(all);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        rmtl_load_options lo = RMTL_LOAD_OPTIONS_INIT;
        lo.part = (uint32_t)x.rank, lo.parts = (uint32_t)R;
        ok(rmtl_dataset_load_cache(&shard, cache, &lo), "load cache shard");
    } else {
        shard = make_log(sessions, 0, n_train, (size_t)x.rank, R);
    }
    rmtl_config *cfg = NULL;
    ok(rmtl_config_create(&cfg), "config");
    static const char yaml[] =
        "model: {arch: mmoe, tasks: [click, purchase], embed_dim: 8, bottom: [32, 16],"
        " tower: [8], experts: {count: 4}, dropout: 0.1}\n"
        "optim: {lr: 0.003}\ntrain: {batch_size: 256}\n"
        "rl: {init_training_step: 0, critic: {bottom: [16], tower: [8]}}\n"
        "runtime: {threads: 1, seed: 7}\n";
    ok(rmtl_config_load_string(cfg, yaml, sizeof yaml - 1, "mpi_train"), "config");
    if (x.rank == 0)
        mkdir(out, 0755);
    char path[1024];

    /* 1. the multi-task model */
    rmtl_model *m = NULL;
    void *buf = NULL;
    size_t len = 0;
    if (x.rank == 0) {
        ok(rmtl_model_create(&m, cfg, shard), "model");
        ok(rmtl_model_save_buffer(&buf, &len, m, RMTL_SAVE_TRAINING_STATE), "save");
    }
    buf = bcast(buf, &len);
    if (x.rank != 0)
        ok(rmtl_model_load_buffer(&m, buf, len), "load");
    x.rank == 0 ? rmtl_free(buf) : free(buf);
    ok(rmtl_model_set_grad_exchange(m, &hooks), "register");
    size_t steps = min_all(rmtl_dataset_rows(shard) / local_b), epochs = quick ? 1 : 3;
    double t0 = MPI_Wtime(), loss = 0;
    for (size_t e = 0; e < epochs; e++)
        for (size_t s = 0; s < steps; s++) {
            rmtl_batch b = RMTL_BATCH_INIT;
            ok(rmtl_dataset_batch(&b, shard, s * local_b, local_b), "batch");
            ok(rmtl_model_train_step(m, &b, &loss), "train step");
        }
    double secs = MPI_Wtime() - t0;
    rmtl_dataset *test = NULL;
    if (x.rank == 0) {
        test = make_log(sessions, n_train, sessions, 0, 0);
        double auc[T];
        ok(rmtl_model_evaluate(m, NULL, test, auc, NULL, NULL, T), "evaluate");
        snprintf(path, sizeof path, "%s/model.rmtl", out);
        ok(rmtl_model_save(m, path, 0), "save model");
        printf("model: %d ranks x %zu rows, %zu steps in %.2fs, loss %.4f, test AUC %.3f/%.3f, "
               "%s\n",
               x.size, local_b, epochs * steps, secs, loss, auc[0], auc[1], path);
    }
    ok(rmtl_model_set_grad_exchange(m, NULL), "unregister");

    /* 2. the RMTL agent on the model: transitions from the local shard */
    rmtl_agent *ag = NULL;
    if (x.rank == 0) {
        ok(rmtl_agent_create(&ag, cfg, m), "agent");
        ok(rmtl_agent_save_buffer(&buf, &len, ag), "save agent");
    }
    buf = bcast(buf, &len);
    if (x.rank != 0)
        ok(rmtl_agent_load_buffer(&ag, buf, len), "load agent");
    x.rank == 0 ? rmtl_free(buf) : free(buf);
    ok(rmtl_agent_set_grad_exchange(ag, &hooks), "register agent");
    rmtl_env *env = NULL;
    rmtl_replay *rb = NULL;
    ok(rmtl_env_create(&env, cfg, shard, 0), "env");
    ok(rmtl_replay_create(&rb, 20000, N_CAT, 1, T, 100 + (uint64_t)x.rank), "replay");
    ok(rmtl_replay_fill_random(rb, env, rmtl_dataset_rows(shard)), "fill");
    size_t updates = quick ? 20 : 300;
    rmtl_agent_report rep = RMTL_AGENT_REPORT_INIT;
    t0 = MPI_Wtime();
    for (size_t u = 0; u < updates; u++) {
        rmtl_transitions t = RMTL_TRANSITIONS_INIT;
        ok(rmtl_replay_sample(&t, rb, local_b), "sample");
        ok(rmtl_agent_update(ag, &t, &rep), "agent update");
    }
    if (x.rank == 0) {
        snprintf(path, sizeof path, "%s/agent.rmtl", out);
        ok(rmtl_agent_save(ag, path), "save agent");
        printf("agent: %zu updates in %.2fs, critic losses %.4f/%.4f, %s\n", updates,
               MPI_Wtime() - t0, rep.critic_loss[0], rep.critic_loss[1], path);
    }

    /* 3. a fusion policy on logged requests: rank r takes requests q mod R = r */
    rmtl_fusion *f = NULL;
    rmtl_config *fcfg = NULL;
    static const char fyaml[] =
        "model: {tasks: [click, purchase]}\n"
        "fusion: {granularity: pair, actor_hidden: [16, 8], critic_hidden: [16, 8],"
        " state: {user_dim: 2, item_dim: 2, context_dim: 1}}\n"
        "runtime: {threads: 1, seed: 7}\n";
    ok(rmtl_config_create(&fcfg), "fusion config");
    ok(rmtl_config_load_string(fcfg, fyaml, sizeof fyaml - 1, "fusion"), "fusion config");
    if (x.rank == 0) {
        ok(rmtl_fusion_create(&f, fcfg), "fusion");
        ok(rmtl_fusion_save_buffer(&buf, &len, f, RMTL_SAVE_TRAINING_STATE), "save fusion");
    }
    buf = bcast(buf, &len);
    if (x.rank != 0)
        ok(rmtl_fusion_load_buffer(&f, buf, len), "load fusion");
    x.rank == 0 ? rmtl_free(buf) : free(buf);
    ok(rmtl_fusion_set_grad_exchange(f, &hooks), "register fusion");
    rmtl_fusion_info fi = RMTL_FUSION_INFO_INIT;
    ok(rmtl_fusion_describe(&fi, f), "describe");
    /* requests of 4 shown pairs in sessions of 4 requests */
    size_t nreq = 512 / R, shown = 4, n = nreq * shown, S = fi.state_dim, A = fi.action_dim;
    size_t *rows = malloc(2 * nreq * sizeof *rows), *next = malloc(2 * nreq * sizeof *next);
    float *st = malloc(n * S * sizeof *st), *sc = malloc(n * T * sizeof *sc);
    float *act = malloc(n * A * sizeof *act), *lo = malloc(n * A * sizeof *lo);
    float *hi = malloc(n * A * sizeof *hi), *rew = malloc(n * fi.reward_dim * sizeof *rew);
    uint64_t seed = 9 + (uint64_t)x.rank;
    for (size_t q = 0; q < nreq; q++) {
        int last = q % 4 == 3;
        rows[2 * q] = q * shown, rows[2 * q + 1] = (q + 1) * shown;
        next[2 * q] = last ? 0 : (q + 1) * shown, next[2 * q + 1] = last ? 0 : (q + 2) * shown;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < S; k++)
            st[i * S + k] = (float)(uni(&seed) * 2 - 1);
        for (size_t k = 0; k < T; k++)
            sc[i * T + k] = (float)uni(&seed);
        for (size_t k = 0; k < A; k++) {
            act[i * A + k] = (float)(0.5 + uni(&seed));
            lo[i * A + k] = act[i * A + k] - 0.1f, hi[i * A + k] = act[i * A + k] + 0.1f;
        }
        for (size_t k = 0; k < fi.reward_dim; k++)
            rew[i * fi.reward_dim + k] = (float)(uni(&seed) < sc[i * T + k % T]);
    }
    rmtl_fusion_batch fb = RMTL_FUSION_BATCH_INIT;
    fb.requests = nreq, fb.rows = rows, fb.next_rows = next, fb.n_rows = n;
    fb.state_dim = S, fb.state = st, fb.tasks = T, fb.scores = sc;
    fb.action_dim = A, fb.action = act, fb.box_lo = lo, fb.box_hi = hi;
    fb.reward_dim = fi.reward_dim, fb.reward = rew;
    rmtl_fusion_stats fs = RMTL_FUSION_STATS_INIT;
    size_t fsteps = quick ? 10 : 200;
    t0 = MPI_Wtime();
    for (size_t s = 0; s < fsteps; s++)
        ok(rmtl_fusion_train_step(f, &fb, &fs), "fusion step");
    if (x.rank == 0) {
        ok(rmtl_fusion_deploy(f), "deploy");
        snprintf(path, sizeof path, "%s/fusion.rmtl", out);
        ok(rmtl_fusion_save(f, path, 0), "save fusion");
        printf("fusion: %zu steps in %.2fs, critic loss %.4f, actor loss %.4f, %s\n", fsteps,
               MPI_Wtime() - t0, fs.critic_loss, fs.actor_loss, path);
        printf("exchanged by rank 0: %.1f MB dense, %.1f MB rows, %.2fs in MPI\n",
               (double)x.bytes_dense / 1e6, (double)x.bytes_sparse / 1e6, x.seconds);
    }
    free(rows), free(next), free(st), free(sc), free(act), free(lo), free(hi), free(rew);
    rmtl_fusion_free(f);
    rmtl_config_free(fcfg);
    rmtl_replay_free(rb);
    rmtl_env_free(env);
    rmtl_agent_free(ag);
    rmtl_dataset_free(test);
    rmtl_model_free(m);
    rmtl_dataset_free(shard);
    rmtl_config_free(cfg);
    mpi_exchange_free(&x);
    MPI_Finalize();
    return 0;
}
