/* A first librmtl program (docs/getting-started.md): a configuration,
 * a dataset built from arrays the host already holds, a view of its rows,
 * and the evaluation metrics of a placeholder scorer.
 *   cc first.c $(pkg-config --cflags --libs rmtl) */
#include <rmtl.h>
#include <stdio.h>

/* Every fallible call returns an rmtl_status; on failure the message says
 * what went wrong and where. */
#define TRY(call)                                                              \
    do {                                                                       \
        if ((call) != RMTL_OK) {                                               \
            fprintf(stderr, "%s failed: %s\n", #call, rmtl_last_error());      \
            goto done;                                                         \
        }                                                                      \
    } while (0)

enum { ROWS = 8, N_CAT = 2, N_NUM = 1, N_TASKS = 2 };

int main(int argc, char **argv)
{
    int status = 1;
    rmtl_config *cfg = NULL;
    rmtl_dataset *ds = NULL;

    /* 1. Configuration: defaults, a YAML text, then "key=value" overrides
     *    from the command line, e.g. ./first rl.gamma=0.9 */
    static const char yaml[] = "model: {arch: mmoe, embed_dim: 8}\n";
    TRY(rmtl_config_create(&cfg));
    TRY(rmtl_config_load_string(cfg, yaml, sizeof yaml - 1, "first.yaml"));
    for (int i = 1; i < argc; i++) {
        char key[128];
        const char *eq = argv[i];
        size_t k = 0;
        while (*eq && *eq != '=' && k < sizeof key - 1) key[k++] = *eq++;
        key[k] = '\0';
        TRY(rmtl_config_set(cfg, key, *eq == '=' ? eq + 1 : ""));
    }
    TRY(rmtl_config_validate(cfg));
    const char *arch;
    double gamma;
    TRY(rmtl_config_get_string(&arch, cfg, "model.arch"));
    TRY(rmtl_config_get_double(&gamma, cfg, "rl.gamma"));
    printf("model.arch = %s, rl.gamma = %g\n", arch, gamma);

    /* 2. A dataset from arrays: per row two categorical ids (user segment,
     *    item category; id 0 means unknown), one numerical feature (price,
     *    already standardised), two labels (click, purchase) and a session. */
    static const size_t vocab[N_CAT] = {4, 6};
    static const int32_t cat[ROWS * N_CAT] = {1, 2, 1, 5, 2, 2, 2, 3,
                                              3, 1, 3, 4, 1, 5, 0, 2};
    static const float num[ROWS * N_NUM] = {-0.9f, 0.4f, -1.1f, -0.6f, -0.5f, 1.9f, 0.2f, 0.9f};
    static const float labels[ROWS * N_TASKS] = {1, 0, 0, 0, 1, 1, 0, 0,
                                                 1, 0, 0, 0, 1, 1, 0, 0};
    static const int64_t session[ROWS] = {10, 10, 11, 11, 12, 12, 13, 13};
    TRY(rmtl_dataset_from_arrays(&ds, ROWS, N_CAT, vocab, cat, N_NUM, num, N_TASKS, labels,
                                 session));
    printf("dataset: %zu rows, %zu sessions, %zu tasks (%s, %s)\n", rmtl_dataset_rows(ds),
           rmtl_dataset_n_sessions(ds), rmtl_dataset_n_tasks(ds), rmtl_dataset_task_name(ds, 0),
           rmtl_dataset_task_name(ds, 1));

    /* 3. A batch: a view of rows, no copy. Models train and predict on these. */
    rmtl_batch batch = RMTL_BATCH_INIT;
    TRY(rmtl_dataset_batch(&batch, ds, 0, ROWS));

    /* 4. Scores for every row and task (row-major, rows x tasks). A model
     *    will produce them; this placeholder prefers cheap items. */
    float scores[ROWS * N_TASKS];
    for (size_t r = 0; r < batch.rows; r++)
        for (size_t t = 0; t < N_TASKS; t++)
            scores[r * N_TASKS + t] = (t ? 0.3f : 0.6f) - 0.2f * batch.num[r * N_NUM];

    /* 5. Metrics per task: task t's column starts at t, stride N_TASKS. */
    for (size_t t = 0; t < N_TASKS; t++) {
        double auc, logloss, session_logloss;
        TRY(rmtl_auc(&auc, scores + t, batch.labels + t, batch.rows, N_TASKS));
        TRY(rmtl_logloss(&logloss, scores + t, batch.labels + t, batch.rows, N_TASKS));
        TRY(rmtl_session_logloss(&session_logloss, scores + t, batch.labels + t, batch.rows,
                                 N_TASKS, batch.session));
        printf("%-8s AUC %.3f  log-loss %.3f  session log-loss %.3f\n",
               rmtl_dataset_task_name(ds, t), auc, logloss, session_logloss);
    }
    status = 0;
done:
    rmtl_dataset_free(ds);
    rmtl_config_free(cfg);
    return status;
}
