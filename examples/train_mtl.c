/* Train any multi-task architecture on a CSV + schema, with early stopping
 * on validation AUC, and save the best model.
 *
 *   train_mtl --train train.csv.gz --val val.csv.gz --schema census.yaml \
 *             [--config model.yaml] [--set model.arch=ple]... [--out model.rmtl]
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

static int fail(const char *what, int rc)
{
    fprintf(stderr, "train_mtl: %s: %s: %s\n", what, rmtl_strerror(rc), rmtl_last_error());
    return 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: train_mtl --train CSV --schema YAML [--val CSV] [--config YAML]\n"
                    "                 [--set key=value]... [--out FILE]\n");
}

int main(int argc, char **argv)
{
    const char *train_path = NULL, *val_path = NULL, *schema = NULL, *config = NULL;
    const char *out_path = NULL;
    rmtl_config *cfg = NULL;
    rmtl_dataset *train = NULL, *val = NULL;
    rmtl_model *model = NULL, *best = NULL;
    rmtl_ctx *ctx = NULL;
    int rc, status = 1;

    rmtl_set_log_callback(log_warnings, "train_mtl");
    if ((rc = rmtl_config_create(&cfg)) != RMTL_OK)
        return fail("config", rc);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            goto done;
        }
        i++;
        if (!strcmp(a, "--train"))
            train_path = v;
        else if (!strcmp(a, "--val"))
            val_path = v;
        else if (!strcmp(a, "--schema"))
            schema = v;
        else if (!strcmp(a, "--out"))
            out_path = v;
        else if (!strcmp(a, "--config")) {
            config = v;
            if ((rc = rmtl_config_load_file(cfg, config)) != RMTL_OK) {
                status = fail("--config", rc);
                goto done;
            }
        } else if (!strcmp(a, "--set")) {
            char key[128];
            const char *eq = strchr(v, '=');
            if (!eq || (size_t)(eq - v) >= sizeof key) {
                usage();
                goto done;
            }
            memcpy(key, v, (size_t)(eq - v));
            key[eq - v] = '\0';
            if ((rc = rmtl_config_set(cfg, key, eq + 1)) != RMTL_OK) {
                status = fail("--set", rc);
                goto done;
            }
        } else {
            usage();
            goto done;
        }
    }
    if (!train_path || !schema) {
        usage();
        goto done;
    }
    if ((rc = rmtl_config_validate(cfg)) != RMTL_OK) {
        status = fail("config", rc);
        goto done;
    }
    struct bar bar = BAR_INIT;
    bar_label(&bar, "loading train");
    rmtl_load_options lo = RMTL_LOAD_OPTIONS_INIT;
    lo.progress = bar_progress, lo.payload = &bar;
    if ((rc = rmtl_dataset_load(&train, train_path, schema, NULL, &lo)) != RMTL_OK) {
        status = fail(train_path, rc);
        goto done;
    }
    bar_label(&bar, "loading val");
    if (val_path && (rc = rmtl_dataset_load(&val, val_path, NULL, train, &lo)) != RMTL_OK) {
        status = fail(val_path, rc);
        goto done;
    }
    if ((rc = rmtl_model_create(&model, cfg, train)) != RMTL_OK ||
        (rc = rmtl_ctx_create(&ctx, 0)) != RMTL_OK) {
        status = fail("model", rc);
        goto done;
    }
    const rmtl_dataset *eval = val ? val : train;
    size_t T = rmtl_model_num_tasks(model);
    int64_t epochs = 10, patience = 2;
    const char *arch = "?";
    rmtl_config_get_int(&epochs, cfg, "train.epochs");
    rmtl_config_get_int(&patience, cfg, "train.patience");
    rmtl_config_get_string(&arch, cfg, "model.arch");
    printf("%s: %zu rows, %zu tasks, %zu weights; evaluating on %s\n", arch,
           rmtl_dataset_rows(train), T, rmtl_model_num_params(model),
           val ? "validation" : "training data");

    double best_auc = -1.0;
    int since_best = 0;
    double auc[16], ll[16], sll[16];
    for (int e = 1; e <= epochs; e++) {
        double loss;
        bar_label(&bar, "epoch %d/%d", e, (int)epochs);
        if ((rc = rmtl_model_train_epoch(&loss, model, train, bar_progress, &bar)) != RMTL_OK) {
            status = fail("training", rc);
            goto done;
        }
        if ((rc = rmtl_model_evaluate(model, ctx, eval, auc, ll, NULL, 16)) != RMTL_OK) {
            status = fail("evaluation", rc);
            goto done;
        }
        double mean = 0.0;
        printf("epoch %2d  loss %.4f ", e, loss);
        for (size_t k = 0; k < T; k++) {
            printf(" %s AUC %.4f", rmtl_model_task_name(model, k), auc[k]);
            mean += auc[k] / (double)T;
        }
        printf("\n");
        fflush(stdout);
        if (mean > best_auc) {
            best_auc = mean, since_best = 0;
            rmtl_model_free(best);
            best = NULL;
            if ((rc = rmtl_model_clone(&best, model)) != RMTL_OK) {
                status = fail("clone", rc);
                goto done;
            }
        } else if (++since_best > patience) {
            printf("early stop: no AUC gain for %d epochs\n", since_best);
            break;
        }
    }
    if ((rc = rmtl_model_evaluate(best, ctx, eval, auc, ll, sll, 16)) != RMTL_OK) {
        status = fail("evaluation", rc);
        goto done;
    }
    printf("\n%-16s %8s %9s %13s\n", "task", "AUC", "log-loss", "session-loss");
    for (size_t k = 0; k < T; k++)
        printf("%-16s %8.4f %9.4f %13.4f\n", rmtl_model_task_name(best, k), auc[k], ll[k], sll[k]);
    if (out_path) {
        if ((rc = rmtl_model_save(best, out_path, 0)) != RMTL_OK) {
            status = fail(out_path, rc);
            goto done;
        }
        printf("saved %s\n", out_path);
    }
    status = 0;
done:
    rmtl_ctx_free(ctx);
    rmtl_model_free(best);
    rmtl_model_free(model);
    rmtl_dataset_free(val);
    rmtl_dataset_free(train);
    rmtl_config_free(cfg);
    return status;
}
