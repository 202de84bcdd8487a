/* RMTL fine-tuning does not hurt (issue #6, quality criterion), in small:
 * on simulator sessions split 60/20/20 by session, an ESMM pre-trained
 * with early stopping reaches a test AUC floor, the trained critics' loss
 * weights (1 − λ·Q) are at least 1 and vary across samples, and fine-tuning
 * with them at a tenth of the learning rate, selected on validation, gains
 * validation AUC and lowers no task's test AUC by more than 0.002. The full
 * experiment (4 architectures, 5 seeds, Diginetica too) is
 * bench/rmtl_quality.c (docs/rmtl.md, "Quality experiment"). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rmtl.h"
#include "util/rmtlq.h"

#define SCHEMA RMTL_SOURCE_DIR "/examples/schemas/sim_ids.yaml"

START_TEST(test_rmtl_finetune_keeps_auc)
{
    static const char yaml[] =
        "sim: {users: 400, items: 300, candidates: 50, max_requests: 20}\n"
        "model: {arch: esmm, embed_dim: 8, bottom: [32, 16], tower: [16], dropout: 0.1}\n"
        "train: {batch_size: 512, epochs: 10, patience: 1}\n"
        "rl: {batch_size: 512, critic: {bottom: [32, 16], tower: [16]}, init_training_step: 50,\n"
        "     lambda: 0.5}\n"
        "runtime: {threads: 1, seed: 1}\n";
    char dir[] = "/tmp/rmtl_quality_XXXXXX", all[64], part[3][64];
    const char *parts[3] = {part[0], part[1], part[2]};
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(all, sizeof all, "%s/all.csv", dir);
    for (int p = 0; p < 3; p++)
        snprintf(part[p], sizeof part[p], "%s/%d.csv", dir, p);

    rmtl_config *cfg = NULL;
    rmtl_env *sim = NULL;
    uint64_t state = 7;
    ck_assert_int_eq(rmtl_config_create(&cfg), RMTL_OK);
    ck_assert_int_eq(rmtl_config_load_string(cfg, yaml, sizeof yaml - 1, "t"), RMTL_OK);
    ck_assert_int_eq(rmtl_env_sim_create(&sim, cfg), RMTL_OK);
    ck_assert_msg(rmtl_env_sim_log(NULL, sim, all, 1500, 1, 0, rmtl_env_sim_random_policy,
                                   &state) == RMTL_OK,
                  "%s", rmtl_last_error());
    ck_assert_int_eq(rmtlq_split_csv(all, "session_id", 0.6, 0.2, 1, parts), RMTL_OK);

    rmtl_dataset *train = NULL, *val = NULL, *test = NULL;
    ck_assert_msg(rmtl_dataset_load(&train, part[0], SCHEMA, NULL) == RMTL_OK, "%s",
                  rmtl_last_error());
    ck_assert_int_eq(rmtl_dataset_load(&val, part[1], NULL, train), RMTL_OK);
    ck_assert_int_eq(rmtl_dataset_load(&test, part[2], NULL, train), RMTL_OK);
    ck_assert_uint_eq(rmtl_dataset_n_sessions(train), 900);

    rmtlq_opts o = {.fill = 20000, .updates = 100, .ft_epochs = 5, .ft_patience = 1,
                    .ft_batch = 4096, .ft_lr = 1e-4};
    rmtlq_result r;
    ck_assert_msg(rmtlq_run(&r, cfg, train, val, test, &o) == RMTL_OK, "%s", rmtl_last_error());
    printf("rmtl_quality: test AUC click %.4f -> %.4f, purchase %.4f -> %.4f (epoch %d, %.1f s); "
           "weights %.3f ± %.3f, %.3f ± %.3f\n",
           r.base[0], r.rmtl[0], r.base[1], r.rmtl[1], r.rmtl_epoch, r.seconds, r.w_mean[0],
           r.w_std[0], r.w_mean[1], r.w_std[1]);
    ck_assert_uint_eq(r.T, 2);
    ck_assert_msg(r.base[0] > 0.60 && r.base[1] > 0.60, "base AUC %.4f / %.4f", r.base[0],
                  r.base[1]);
    for (size_t k = 0; k < r.T; k++) {
        /* Q ≤ 0, so every weight is at least 1; and the critics tell the
         * samples apart (near-constant weights would make RMTL a rescaled
         * BCE, which Adam does not see) */
        ck_assert_msg(r.w_min[k] >= 1.0 && r.w_max[k] > r.w_min[k], "task %zu: weights in [%g, %g]",
                      k, r.w_min[k], r.w_max[k]);
        ck_assert_msg(r.w_std[k] > 0.01 * r.w_mean[k], "task %zu: weights %g ± %g", k,
                      r.w_mean[k], r.w_std[k]);
        ck_assert_msg(r.rmtl[k] >= r.base[k] - 0.002, "task %zu: %.4f -> %.4f", k, r.base[k],
                      r.rmtl[k]);
    }
    /* at the reduced rate fine-tuning gains on validation (at optim.lr it
     * overfits at once and the pre-trained model would be kept), and the
     * selection never trades validation AUC away */
    ck_assert_int_ge(r.rmtl_epoch, 1);
    ck_assert(r.val_rmtl[0] + r.val_rmtl[1] > r.val_base[0] + r.val_base[1]);

    rmtl_dataset_free(test);
    rmtl_dataset_free(val);
    rmtl_dataset_free(train);
    rmtl_env_free(sim);
    rmtl_config_free(cfg);
    unlink(all);
    for (int p = 0; p < 3; p++)
        unlink(part[p]);
    rmdir(dir);
}
END_TEST

Suite *rmtl_test_rmtl_quality_suite(void)
{
    Suite *s = suite_create("rmtl_quality");
    TCase *tc = tcase_create("finetune");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rmtl_finetune_keeps_auc);
    suite_add_tcase(s, tc);
    return s;
}
