/* The simulator's logs are learnable: an MTL model trained on one log
 * predicts, on the impressions of another, probabilities that correlate
 * with the simulator's ground truth (issue: simulator, "an MTL model
 * trained on the logs reaches a correlation the test asserts"). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rmtl.h"

#define SCHEMA RMTL_SOURCE_DIR "/examples/schemas/sim.yaml"

static void write_log(rmtl_env *env, const char *path, uint64_t seed, size_t sessions)
{
    uint64_t state = seed;
    rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
    ck_assert_msg(rmtl_env_sim_log(&st, env, path, sessions, seed, 0,
                                   rmtl_env_sim_random_policy, &state) == RMTL_OK,
                  "%s", rmtl_last_error());
}

/* user_id and item_id of every data row, from the CSV header's positions. */
static size_t read_pairs(const char *path, uint32_t *user, uint32_t *item, size_t cap)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char line[4096];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    int cu = -1, ci = -1, c = 0;
    for (char *tok = strtok(line, ",\r\n"); tok; tok = strtok(NULL, ",\r\n"), c++) {
        if (!strcmp(tok, "user_id"))
            cu = c;
        if (!strcmp(tok, "item_id"))
            ci = c;
    }
    ck_assert(cu >= 0 && ci >= 0);
    size_t n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        c = 0;
        for (char *tok = strtok(line, ",\r\n"); tok; tok = strtok(NULL, ",\r\n"), c++) {
            if (c == cu)
                user[n] = (uint32_t)strtoul(tok, NULL, 10);
            if (c == ci)
                item[n] = (uint32_t)strtoul(tok, NULL, 10);
        }
        n++;
    }
    fclose(f);
    return n;
}

static double pearson(const float *x, size_t sx, const float *y, size_t n)
{
    double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n; i++)
        mx += x[i * sx], my += y[i];
    mx /= (double)n, my /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double a = x[i * sx] - mx, b = y[i] - my;
        sxx += a * a, syy += b * b, sxy += a * b;
    }
    return sxy / sqrt(sxx * syy);
}

START_TEST(test_model_learns_simulated_truth)
{
    char dir[] = "/tmp/rmtl_simlog_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char train_csv[64], test_csv[64];
    snprintf(train_csv, sizeof train_csv, "%s/train.csv", dir);
    snprintf(test_csv, sizeof test_csv, "%s/test.csv", dir);

    rmtl_config *cfg = NULL;
    static const char yaml[] =
        "sim: {users: 400, items: 300, candidates: 50, max_requests: 20}\n"
        "model: {arch: shared_bottom, embed_dim: 8, bottom: [32], tower: [16], dropout: 0.0}\n"
        "train: {batch_size: 256}\nruntime: {threads: 1, seed: 11}\n";
    ck_assert_int_eq(rmtl_config_create(&cfg), RMTL_OK);
    ck_assert_int_eq(rmtl_config_load_string(cfg, yaml, sizeof yaml - 1, "t"), RMTL_OK);
    rmtl_env *env = NULL;
    ck_assert_msg(rmtl_env_sim_create(&env, cfg) == RMTL_OK, "%s", rmtl_last_error());
    write_log(env, train_csv, 1, 3000);
    write_log(env, test_csv, 2, 500);

    rmtl_dataset *train = NULL, *test = NULL;
    ck_assert_msg(rmtl_dataset_load(&train, train_csv, SCHEMA, NULL, NULL) == RMTL_OK, "%s",
                  rmtl_last_error());
    ck_assert_int_eq(rmtl_dataset_load(&test, test_csv, NULL, train, NULL), RMTL_OK);
    rmtl_model *m = NULL;
    ck_assert_int_eq(rmtl_model_create(&m, cfg, train), RMTL_OK);
    for (int e = 0; e < 4; e++)
        ck_assert_int_eq(rmtl_model_train_epoch(NULL, m, train, NULL, NULL), RMTL_OK);

    size_t n = rmtl_dataset_rows(test);
    ck_assert_uint_gt(n, 1000);
    float *pred = malloc(n * 2 * sizeof *pred), *truth = malloc(n * 2 * sizeof *truth);
    uint32_t *user = malloc(n * sizeof *user), *item = malloc(n * sizeof *item);
    rmtl_batch b = RMTL_BATCH_INIT;
    ck_assert_int_eq(rmtl_dataset_batch(&b, test, 0, n), RMTL_OK);
    ck_assert_int_eq(rmtl_model_predict(m, NULL, &b, pred, n * 2), RMTL_OK);
    ck_assert_uint_eq(read_pairs(test_csv, user, item, n), n);
    float *tclick = malloc(n * sizeof *tclick), *tbuy = malloc(n * sizeof *tbuy);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(rmtl_env_sim_true_probs(env, user[i], item[i], truth + 2 * i, 2),
                         RMTL_OK);
        tclick[i] = truth[2 * i], tbuy[i] = truth[2 * i + 1];
    }
    double r_click = pearson(pred, 2, tclick, n), r_buy = pearson(pred + 1, 2, tbuy, n);
    printf("sim: model vs ground truth over %zu impressions: r(click) %.3f, r(purchase) %.3f\n",
           n, r_click, r_buy);
    ck_assert_msg(r_click > 0.6, "click correlation %.3f", r_click);
    ck_assert_msg(r_buy > 0.4, "purchase correlation %.3f", r_buy);

    free(pred), free(truth), free(user), free(item), free(tclick), free(tbuy);
    rmtl_model_free(m);
    rmtl_dataset_free(test);
    rmtl_dataset_free(train);
    rmtl_env_free(env);
    rmtl_config_free(cfg);
    unlink(train_csv), unlink(test_csv), rmdir(dir);
}
END_TEST

Suite *rmtl_test_sim_model_suite(void)
{
    Suite *s = suite_create("sim_model");
    TCase *tc = tcase_create("truth");
    tcase_set_tags(tc, "slow"); /* left out under valgrind */
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_model_learns_simulated_truth);
    suite_add_tcase(s, tc);
    return s;
}
