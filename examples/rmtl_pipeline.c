/* The RMTL pipeline (docs/rmtl.md) on a dataset with sessions:
 *   1. split by session 60/20/20, pre-train an MTL model with early
 *      stopping on validation AUC;
 *   2. build the session MDP over the training sessions and fill a replay
 *      buffer with random actions (the reference's offline warm-up);
 *   3. train the critics (and the actor) with rmtl_agent_update();
 *   4. fine-tune the pre-trained model with the RMTL loss: per-sample,
 *      per-task weights 1 − λ·Q_k(s, ŷ_k) from the critics; and, for a fair
 *      comparison, the same fine-tuning with plain BCE;
 *   5. report AUC, log-loss and session log-loss on the test sessions.
 *
 *   rmtl_pipeline --data views.csv --schema diginetica.yaml [--config rl.yaml]
 *                 [--set key=value]... [--updates N] [--fill N]
 *   rmtl_pipeline --sim SESSIONS [--schema examples/schemas/sim.yaml] ...
 *
 * --sim logs SESSIONS sessions of the session simulator (sim.* keys) with a
 * random policy and runs the pipeline on that log: data with a known
 * ground truth, where users' behaviour depends on their and the items'
 * features.
 *
 * Everything here goes through the public API (include/rmtl.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <rmtl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

#define MAX_TASKS 16

static int fail(const char *what, int rc)
{
    fprintf(stderr, "rmtl_pipeline: %s: %s: %s\n", what, rmtl_strerror(rc), rmtl_last_error());
    return rc;
}

#define TRY(what, call)                    \
    do {                                   \
        int rc_ = (call);                  \
        if (rc_ != RMTL_OK) {              \
            status = fail((what), rc_);    \
            goto done;                     \
        }                                  \
    } while (0)

static int64_t get_int(const rmtl_config *cfg, const char *key)
{
    int64_t v = 0;
    rmtl_config_get_int(&v, cfg, key);
    return v;
}

static double mean_auc(const rmtl_model *m, rmtl_ctx *ctx, const rmtl_dataset *ds)
{
    double auc[MAX_TASKS], s = 0.0;
    size_t T = rmtl_model_num_tasks(m);
    if (rmtl_model_evaluate(m, ctx, ds, auc, NULL, NULL, MAX_TASKS) != RMTL_OK)
        return NAN;
    for (size_t k = 0; k < T; k++)
        s += auc[k] / (double)T;
    return s;
}

/* One epoch over `train` (shuffled with `seed`), each batch weighted by the
 * agent's critics when `agent` is given (the RMTL loss), else plain BCE. */
static int finetune_epoch(rmtl_model *m, rmtl_dataset *train, const rmtl_agent *agent,
                          rmtl_ctx *ctx, size_t batch, uint64_t seed, float *w, double *loss)
{
    int rc = rmtl_dataset_shuffle(train, seed);
    size_t rows = rmtl_dataset_rows(train), T = rmtl_model_num_tasks(m), n = 0;
    double total = 0.0;
    for (size_t start = 0; !rc && start < rows; start += batch) {
        rmtl_batch b = RMTL_BATCH_INIT;
        double l = 0.0;
        rc = rmtl_dataset_batch(&b, train, start, batch);
        if (!rc && agent) {
            rc = rmtl_agent_loss_weights(agent, m, ctx, &b, w, batch * T);
            b.weights = w;
        }
        if (!rc)
            rc = rmtl_model_train_step(m, &b, &l);
        total += l, n++;
    }
    *loss = n ? total / (double)n : NAN;
    return rc;
}

/* Fine-tunes a copy of `pre` for up to `epochs` epochs with early stopping
 * on validation AUC; *out is the best copy. */
static int finetune(rmtl_model **out, const rmtl_model *pre, rmtl_dataset *train,
                    const rmtl_dataset *val, const rmtl_agent *agent, rmtl_ctx *ctx,
                    size_t batch, int64_t epochs, int64_t patience, const char *name)
{
    rmtl_model *m = NULL;
    *out = NULL;
    float *w = malloc(batch * MAX_TASKS * sizeof *w);
    int rc = w ? rmtl_model_clone(&m, pre) : RMTL_ENOMEM;
    double best = mean_auc(pre, ctx, val);
    int since = 0;
    if (!rc)
        rc = rmtl_model_clone(out, pre);
    for (int64_t e = 1; !rc && e <= epochs; e++) {
        double loss;
        rc = finetune_epoch(m, train, agent, ctx, batch, 1000 + (uint64_t)e, w, &loss);
        double auc = rc ? NAN : mean_auc(m, ctx, val);
        if (rc)
            break;
        printf("  %-9s epoch %2lld  loss %.4f  validation mean AUC %.4f\n", name, (long long)e,
               loss, auc);
        if (auc > best) {
            best = auc, since = 0;
            rmtl_model_free(*out);
            rc = rmtl_model_clone(out, m);
        } else if (++since > patience) {
            break;
        }
    }
    rmtl_model_free(m);
    free(w);
    return rc;
}

static void report(const char *name, const rmtl_model *m, rmtl_ctx *ctx, const rmtl_dataset *ds)
{
    double auc[MAX_TASKS], ll[MAX_TASKS], sll[MAX_TASKS];
    if (rmtl_model_evaluate(m, ctx, ds, auc, ll, sll, MAX_TASKS) != RMTL_OK) {
        fail("evaluation", RMTL_ERROR);
        return;
    }
    for (size_t k = 0; k < rmtl_model_num_tasks(m); k++)
        printf("%-14s %-10s %8.4f %9.4f %13.4f\n", name, rmtl_model_task_name(m, k), auc[k],
               ll[k], sll[k]);
}

static void usage(void)
{
    fprintf(stderr, "usage: rmtl_pipeline (--data CSV --schema YAML | --sim SESSIONS)\n"
                    "                     [--config YAML] [--set key=value]... [--updates N]\n"
                    "                     [--fill N]\n");
}

/* Logs `sessions` simulator sessions played by a random policy to `path`. */
static int sim_log(const rmtl_config *cfg, const char *path, size_t sessions)
{
    rmtl_env *sim = NULL;
    rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
    uint64_t state = 12345;
    int rc = rmtl_env_sim_create(&sim, cfg);
    if (!rc)
        rc = rmtl_env_sim_log(&st, sim, path, sessions, 1, 0, rmtl_env_sim_random_policy,
                              &state);
    if (!rc)
        printf("simulator: %zu sessions, %zu impressions, click rate %.3f, purchase rate "
               "%.4f\n",
               st.sessions, st.impressions, st.rate[0], st.rate[1]);
    rmtl_env_free(sim);
    return rc;
}

int main(int argc, char **argv)
{
    const char *data = NULL, *schema = NULL;
    long updates = 300, fill = 100000, sim = 0;
    char sim_path[64] = "";
    rmtl_config *cfg = NULL;
    rmtl_dataset *all = NULL, *train = NULL, *val = NULL, *test = NULL;
    rmtl_model *model = NULL, *best = NULL, *rmtl = NULL, *plain = NULL;
    rmtl_env *env = NULL;
    rmtl_replay *rb = NULL;
    rmtl_agent *agent = NULL;
    rmtl_ctx *ctx = NULL;
    int status = 1;

    struct bar bar = BAR_INIT;
    rmtl_set_log_callback(log_warnings, "rmtl_pipeline");
    if (rmtl_config_create(&cfg) != RMTL_OK)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            goto done;
        }
        i++;
        if (!strcmp(a, "--data"))
            data = v;
        else if (!strcmp(a, "--schema"))
            schema = v;
        else if (!strcmp(a, "--updates"))
            updates = strtol(v, NULL, 10);
        else if (!strcmp(a, "--fill"))
            fill = strtol(v, NULL, 10);
        else if (!strcmp(a, "--sim"))
            sim = strtol(v, NULL, 10);
        else if (!strcmp(a, "--config"))
            TRY("--config", rmtl_config_load_file(cfg, v));
        else if (!strcmp(a, "--set")) {
            char key[128];
            const char *eq = strchr(v, '=');
            if (!eq || (size_t)(eq - v) >= sizeof key) {
                usage();
                goto done;
            }
            memcpy(key, v, (size_t)(eq - v));
            key[eq - v] = '\0';
            TRY("--set", rmtl_config_set(cfg, key, eq + 1));
        } else {
            usage();
            goto done;
        }
    }
    if (sim > 0) {
        snprintf(sim_path, sizeof sim_path, "/tmp/rmtl_pipeline_%ld.csv", (long)getpid());
        TRY("simulator", sim_log(cfg, sim_path, (size_t)sim));
        data = sim_path;
        if (!schema)
            schema = "examples/schemas/sim.yaml"; /* run from the source tree */
    }
    if (!data || !schema || updates < 0 || fill < 1) {
        usage();
        goto done;
    }
    TRY("config", rmtl_config_validate(cfg));
    uint64_t seed = (uint64_t)get_int(cfg, "runtime.seed");
    bar_label(&bar, "loading");
    rmtl_load_options lo = RMTL_LOAD_OPTIONS_INIT;
    lo.progress = bar_progress, lo.payload = &bar;
    TRY(data, rmtl_dataset_load(&all, data, schema, NULL, &lo));
    TRY("split", rmtl_dataset_split_sessions(&train, &val, &test, all, 0.6, 0.2, seed));
    TRY("context", rmtl_ctx_create(&ctx, 0));
    printf("%zu impressions in %zu sessions: train %zu, validation %zu, test %zu rows\n",
           rmtl_dataset_rows(all), rmtl_dataset_n_sessions(all), rmtl_dataset_rows(train),
           rmtl_dataset_rows(val), rmtl_dataset_rows(test));

    /* 1. supervised pre-training, early stopping on validation AUC */
    int64_t epochs = get_int(cfg, "train.epochs"), patience = get_int(cfg, "train.patience");
    TRY("model", rmtl_model_create(&model, cfg, train));
    double best_auc = -1.0;
    int since = 0;
    for (int64_t e = 1; e <= epochs; e++) {
        double loss;
        bar_label(&bar, "pre-train %lld", (long long)e);
        TRY("pre-training", rmtl_model_train_epoch(&loss, model, train, bar_progress, &bar));
        double auc = mean_auc(model, ctx, val);
        printf("pre-train epoch %2lld  loss %.4f  validation mean AUC %.4f\n", (long long)e, loss,
               auc);
        if (auc > best_auc) {
            best_auc = auc, since = 0;
            rmtl_model_free(best);
            best = NULL;
            TRY("clone", rmtl_model_clone(&best, model));
        } else if (patience && ++since > patience) {
            break;
        }
    }

    /* 2. the MDP over the training sessions and a replay buffer of random
     *    actions */
    size_t T = rmtl_model_num_tasks(best), cap = (size_t)get_int(cfg, "rl.buffer_size");
    size_t batch = (size_t)get_int(cfg, "rl.batch_size");
    if ((size_t)fill < cap)
        cap = (size_t)fill;
    if (batch > cap)
        batch = cap;
    TRY("env", rmtl_env_create(&env, cfg, train, 0));
    TRY("replay", rmtl_replay_create(&rb, cap, rmtl_dataset_n_cat(train),
                                     rmtl_dataset_n_num(train), T, seed));
    TRY("replay fill", rmtl_replay_fill_random(rb, env, cap));

    /* 3. critics (and actor): `updates` steps on batches sampled from the
     *    buffer (rmtl_agent_train() is the sample-and-update loop) */
    TRY("agent", rmtl_agent_create(&agent, cfg, best));
    rmtl_agent_report last = RMTL_AGENT_REPORT_INIT;
    bar_label(&bar, "agent");
    TRY("agent training", rmtl_agent_train(&last, agent, rb, (size_t)updates, bar_progress, &bar));
    if (updates > 0) {
        printf("agent: %ld updates of %zu transitions, last critic loss", updates, batch);
        for (size_t k = 0; k < T; k++)
            printf(" %.4f", last.critic_loss[k]);
        printf("\n");
    }
    /* the env borrowed `train`, which fine-tuning shuffles */
    rmtl_env_free(env);
    env = NULL;

    /* 4. fine-tuning: the RMTL loss, and plain BCE for comparison */
    size_t tb = (size_t)get_int(cfg, "train.batch_size");
    TRY("RMTL fine-tuning",
        finetune(&rmtl, best, train, val, agent, ctx, tb, epochs, patience, "RMTL"));
    TRY("BCE fine-tuning",
        finetune(&plain, best, train, val, NULL, ctx, tb, epochs, patience, "BCE"));

    /* 5. test sessions */
    printf("\n%-14s %-10s %8s %9s %13s\n", "model", "task", "AUC", "log-loss", "session-loss");
    report("pre-trained", best, ctx, test);
    report("BCE-tuned", plain, ctx, test);
    report("RMTL-tuned", rmtl, ctx, test);
    status = 0;
done:
    rmtl_agent_free(agent);
    rmtl_replay_free(rb);
    rmtl_env_free(env);
    rmtl_model_free(plain);
    rmtl_model_free(rmtl);
    rmtl_model_free(best);
    rmtl_model_free(model);
    rmtl_ctx_free(ctx);
    rmtl_dataset_free(test);
    rmtl_dataset_free(val);
    rmtl_dataset_free(train);
    rmtl_dataset_free(all);
    rmtl_config_free(cfg);
    if (sim_path[0])
        remove(sim_path);
    return status ? 1 : 0;
}
