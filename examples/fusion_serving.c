/*
 * Serving multi-task fusion from several threads.
 *
 *   fusion_serving [checkpoint.rmtl]
 *
 * Loads a fusion checkpoint (rmtl_fusion_save), or, without an argument,
 * first trains a small one on synthetic logged requests and saves it as
 * fusion_serving.rmtl. Then scores one request of 200 candidates: batched
 * from 4 threads at once (one rmtl_ctx each, one shared handle), checks
 * that every thread got the same scores and that the single-pair call
 * agrees with the batched one, and prints the top items and the timing.
 *   cc fusion_serving.c $(pkg-config --cflags --libs rmtl) -lpthread
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <rmtl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { N = 200, THREADS = 4, CALLS = 200, TOP = 10 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static unsigned long long rng = 42;
static float uniform(float lo, float hi)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (float)((rng >> 40) & 0xffffff) / 16777216.0f;
}

static int fail(const char *what)
{
    fprintf(stderr, "fusion_serving: %s: %s\n", what, rmtl_last_error());
    return 1;
}

/* Synthetic logs: sessions of 4 requests of 5 shown pairs, random
 * features and scores, the logged action drawn around the middle of the
 * bounds with its trust box, and behaviours drawn from the task scores. */
static int train_small(rmtl_fusion **out)
{
    static const char yaml[] =
        "fusion: {critic_hidden: [64], critic_ensemble: 4, actor_lr: 0.0005}\n"
        "runtime: {seed: 7, threads: 1}\n"; /* small networks: one BLIS thread is fastest */
    rmtl_config *cfg = NULL;
    if (rmtl_config_create(&cfg) || rmtl_config_load_string(cfg, yaml, sizeof yaml - 1, "cfg") ||
        rmtl_fusion_create(out, cfg)) {
        rmtl_config_free(cfg);
        return fail("create");
    }
    rmtl_config_free(cfg);
    rmtl_fusion_info in = RMTL_FUSION_INFO_INIT;
    rmtl_fusion_describe(&in, *out);
    enum { REQ = 64, SHOWN = 5, LEN = 4, ROWS = REQ * SHOWN };
    size_t A = in.action_dim, S = in.state_dim, T = in.tasks, R = in.reward_dim;
    size_t rows[2 * REQ], next[2 * REQ];
    float *state = malloc(ROWS * S * sizeof *state), *scores = malloc(ROWS * T * sizeof *scores);
    float *act = malloc(ROWS * A * sizeof *act), *lo = malloc(ROWS * A * sizeof *lo);
    float *hi = malloc(ROWS * A * sizeof *hi), *rew = malloc(ROWS * R * sizeof *rew);
    if (!state || !scores || !act || !lo || !hi || !rew)
        return fprintf(stderr, "out of memory\n"), 1;
    for (size_t r = 0; r < REQ; r++) {
        rows[2 * r] = r * SHOWN;
        rows[2 * r + 1] = (r + 1) * SHOWN;
        int last = r % LEN == LEN - 1;
        next[2 * r] = last ? 0 : (r + 1) * SHOWN;
        next[2 * r + 1] = last ? 0 : (r + 2) * SHOWN;
    }
    rmtl_fusion_batch b = RMTL_FUSION_BATCH_INIT;
    b.requests = REQ;
    b.rows = rows;
    b.next_rows = next;
    b.n_rows = ROWS;
    b.state_dim = S;
    b.state = state;
    b.tasks = T;
    b.scores = scores;
    b.action_dim = A;
    b.action = act;
    b.box_lo = lo;
    b.box_hi = hi;
    b.reward_dim = R;
    b.reward = rew;
    rmtl_fusion_stats st = RMTL_FUSION_STATS_INIT;
    int rc = 0;
    for (int step = 0; step < 100 && !rc; step++) {
        for (size_t i = 0; i < ROWS; i++) {
            for (size_t k = 0; k < S; k++)
                state[i * S + k] = uniform(-1, 1);
            for (size_t k = 0; k < T; k++)
                scores[i * T + k] = uniform(0, 1);
            for (size_t k = 0; k < A; k++) {
                float mid = k < T ? 1.0f : 0.5f; /* weights in [0, 2], biases in [0, 1] */
                act[i * A + k] = mid + uniform(-0.15f, 0.15f);
                lo[i * A + k] = mid - 0.15f;
                hi[i * A + k] = mid + 0.15f;
            }
            for (size_t k = 0; k < R; k++)
                rew[i * R + k] = uniform(0, 1) < scores[i * T + (k < T ? k : T - 1)] ? 1.0f : 0.0f;
        }
        rc = rmtl_fusion_train_step(*out, &b, &st);
    }
    free(state);
    free(scores);
    free(act);
    free(lo);
    free(hi);
    free(rew);
    if (rc || rmtl_fusion_deploy(*out))
        return fail("training");
    printf("trained 100 steps: critic loss %.4f, actor loss %.4f\n", st.critic_loss,
           st.actor_loss);
    return 0;
}

typedef struct job {
    const rmtl_fusion *f;
    const rmtl_fusion_request *req;
    float fused[N];
    double seconds;
    int rc;
} job;

static void *serve(void *arg)
{
    job *j = arg;
    rmtl_ctx *ctx = NULL;
    j->rc = rmtl_ctx_create(&ctx, 1);
    double t0 = now();
    for (int c = 0; c < CALLS && !j->rc; c++)
        j->rc = rmtl_fuse_scores_batch(j->f, ctx, j->req, j->fused, N, NULL, 0);
    j->seconds = now() - t0;
    rmtl_ctx_free(ctx);
    return NULL;
}

int main(int argc, char **argv)
{
    rmtl_fusion *f = NULL;
    if (argc > 1) {
        if (rmtl_fusion_load(&f, argv[1]))
            return fail(argv[1]);
        printf("loaded %s\n", argv[1]);
    } else {
        if (train_small(&f))
            return 1;
        if (rmtl_fusion_save(f, "fusion_serving.rmtl", 0))
            return fail("save");
        printf("saved fusion_serving.rmtl\n");
    }
    rmtl_fusion_info in = RMTL_FUSION_INFO_INIT;
    rmtl_fusion_describe(&in, f);
    printf("fusion: %zu tasks, state %zu (user %zu, item %zu, context %zu), %s granularity, "
           "%s formula\n", in.tasks, in.state_dim, in.user_dim, in.item_dim, in.context_dim,
           in.granularity == RMTL_FUSION_PAIR ? "pair" : "user",
           in.formula == RMTL_FUSION_PRODUCT ? "product" : "sum");

    /* one request: a user, a context, N candidates with MTL scores */
    float *user = malloc((in.user_dim + 1) * sizeof *user);
    float *context = malloc((in.context_dim + 1) * sizeof *context);
    float *items = malloc((N * in.item_dim + 1) * sizeof *items);
    float *scores = malloc(N * in.tasks * sizeof *scores);
    float *state = malloc((in.state_dim + 1) * sizeof *state);
    if (!user || !context || !items || !scores || !state)
        return fprintf(stderr, "out of memory\n"), 1;
    for (size_t i = 0; i < in.user_dim; i++)
        user[i] = uniform(-1, 1);
    for (size_t i = 0; i < in.context_dim; i++)
        context[i] = uniform(-1, 1);
    for (size_t i = 0; i < N * in.item_dim; i++)
        items[i] = uniform(-1, 1);
    for (size_t i = 0; i < N * in.tasks; i++)
        scores[i] = uniform(0, 1);
    rmtl_fusion_request req = RMTL_FUSION_REQUEST_INIT;
    req.n = N;
    req.user_dim = in.user_dim;
    req.user = user;
    req.context_dim = in.context_dim;
    req.context = context;
    req.item_dim = in.item_dim;
    req.items = items;
    req.tasks = in.tasks;
    req.scores = scores;

    static job jobs[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t].f = f;
        jobs[t].req = &req;
        pthread_create(&th[t], NULL, serve, &jobs[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++) {
        if (jobs[t].rc)
            return fail("batched fusion");
        if (memcmp(jobs[t].fused, jobs[0].fused, sizeof jobs[0].fused)) {
            fprintf(stderr, "thread %d disagrees\n", t);
            return 1;
        }
        printf("thread %d: %d requests of %d candidates in %.1f ms (%.1f us per request)\n", t,
               CALLS, N, jobs[t].seconds * 1e3, jobs[t].seconds * 1e6 / CALLS);
    }

    /* the single-pair call gives the same scores, one pair at a time */
    const float *fused = jobs[0].fused;
    double t0 = now();
    for (size_t i = 0; i < N; i++) {
        float one;
        memcpy(state, user, in.user_dim * sizeof *state);
        memcpy(state + in.user_dim, items + i * in.item_dim, in.item_dim * sizeof *state);
        memcpy(state + in.user_dim + in.item_dim, context, in.context_dim * sizeof *state);
        if (rmtl_fuse_scores(&one, f, state, in.state_dim, scores + i * in.tasks, in.tasks, NULL,
                             0))
            return fail("single-pair fusion");
        if (memcmp(&one, &fused[i], sizeof one)) {
            fprintf(stderr, "single-pair score of candidate %zu differs\n", i);
            return 1;
        }
    }
    printf("single-pair calls: %.2f us per pair, equal to the batched scores\n",
           (now() - t0) * 1e6 / N);

    /* top items by fused score */
    int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    for (int i = 0; i < TOP; i++)
        for (int j = i + 1; j < N; j++)
            if (fused[order[j]] > fused[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    float action[64];
    printf("top %d of %d:\n  rank  item  fused    scores          action (w..., b...)\n", TOP, N);
    for (int r = 0; r < TOP; r++) {
        int i = order[r];
        memcpy(state, user, in.user_dim * sizeof *state);
        memcpy(state + in.user_dim, items + (size_t)i * in.item_dim, in.item_dim * sizeof *state);
        memcpy(state + in.user_dim + in.item_dim, context, in.context_dim * sizeof *state);
        float one;
        rmtl_fuse_scores(&one, f, state, in.state_dim, scores + (size_t)i * in.tasks, in.tasks,
                         action, 64);
        printf("  %4d  %4d  %7.4f ", r + 1, i, (double)one);
        for (size_t k = 0; k < in.tasks; k++)
            printf(" %.3f", (double)scores[(size_t)i * in.tasks + k]);
        printf("   ");
        for (size_t k = 0; k < in.action_dim; k++)
            printf(" %.3f", (double)action[k]);
        printf("\n");
    }
    free(user);
    free(context);
    free(items);
    free(scores);
    free(state);
    rmtl_fusion_free(f);
    return 0;
}
