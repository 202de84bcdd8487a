/* Quality floor on real data: every architecture, trained briefly through
 * the public API on UCI Census-Income (KDD), must reach the AUC
 * floors on the validation split: income >= 0.93, marital status >= 0.98.
 * Smaller widths and a few epochs keep it under a minute per model; the
 * closing notes report the full-size results. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rmtl.h"

#define DATA RMTL_SOURCE_DIR "/../shared/data/census/"
#define SCHEMA RMTL_SOURCE_DIR "/examples/schemas/census.yaml"

static const char *const archs[] = {"single_task", "shared_bottom", "esmm", "omoe",
                                    "mmoe",        "ple",           "aitm"};

START_TEST(test_census_auc_floor)
{
    if (access(DATA "train.csv.gz", R_OK) || access(DATA "val.csv.gz", R_OK)) {
        printf("census: skipped: %s not found\n", DATA);
        return;
    }
    const char *arch = archs[_i];
    rmtl_dataset *train = NULL, *val = NULL;
    ck_assert_int_eq(rmtl_dataset_load(&train, DATA "train.csv.gz", SCHEMA, NULL, NULL), RMTL_OK);
    ck_assert_int_eq(rmtl_dataset_load(&val, DATA "val.csv.gz", NULL, train, NULL), RMTL_OK);
    ck_assert_str_eq(rmtl_dataset_task_name(train, 0), "marital_stat");
    ck_assert_str_eq(rmtl_dataset_task_name(train, 1), "income_50k");

    rmtl_config *cfg = NULL;
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "model: {arch: %s, embed_dim: 8, bottom: [64, 32], tower: [16], dropout: 0.1,\n"
             "        experts: {count: 4, shared: 2, specific: 2}}\n"
             "train: {batch_size: 256}\nruntime: {threads: 2, seed: 7}\n",
             arch);
    ck_assert_int_eq(rmtl_config_create(&cfg), RMTL_OK);
    ck_assert_int_eq(rmtl_config_load_string(cfg, yaml, strlen(yaml), "census"), RMTL_OK);
    rmtl_model *m = NULL;
    ck_assert_msg(rmtl_model_create(&m, cfg, train) == RMTL_OK, "%s", rmtl_last_error());
    double auc[2] = {0, 0}, ll[2], before[2];
    ck_assert_int_eq(rmtl_model_evaluate(m, NULL, val, before, NULL, NULL, 2), RMTL_OK);
    for (int e = 0; e < 3; e++) {
        double loss;
        ck_assert_msg(rmtl_model_train_epoch(&loss, m, train, NULL, NULL) == RMTL_OK, "%s",
                      rmtl_last_error());
        ck_assert(isfinite(loss));
    }
    ck_assert_int_eq(rmtl_model_evaluate(m, NULL, val, auc, ll, NULL, 2), RMTL_OK);
    printf("census %-13s income AUC %.4f (untrained %.4f)  marital AUC %.4f (untrained %.4f)\n",
           arch, auc[1], before[1], auc[0], before[0]);
    ck_assert_msg(auc[1] >= 0.93, "%s: income AUC %.4f < 0.93", arch, auc[1]);
    ck_assert_msg(auc[0] >= 0.98, "%s: marital AUC %.4f < 0.98", arch, auc[0]);
    ck_assert(ll[0] < 0.3 && ll[1] < 0.3);
    rmtl_model_free(m);
    rmtl_config_free(cfg);
    rmtl_dataset_free(val);
    rmtl_dataset_free(train);
}
END_TEST

Suite *rmtl_test_census_suite(void)
{
    Suite *s = suite_create("census");
    TCase *tc = tcase_create("auc_floor");
    tcase_set_tags(tc, "slow"); /* left out under valgrind */
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_census_auc_floor, 0, (int)(sizeof archs / sizeof archs[0]));
    suite_add_tcase(s, tc);
    return s;
}
