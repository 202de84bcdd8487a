/* A fusion handle from a model: T and the task names follow the model, a
 * config or handle that disagrees is an error naming both sides, and an
 * empty state serves fixed weights without a dummy vector. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rmtl.h"

#define ck_assert_error(rc, code, ...)                                                  \
    do {                                                                                \
        int rc_ = (rc);                                                                 \
        ck_assert_msg(rc_ == (code), "got %d (%s), want %d", rc_, rmtl_last_error(),    \
                      (code));                                                          \
        const char *want_[] = {__VA_ARGS__};                                            \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof want_[0]; i_++)                  \
            ck_assert_msg(strstr(rmtl_last_error(), want_[i_]) != NULL,                 \
                          "message \"%s\" lacks \"%s\"", rmtl_last_error(), want_[i_]); \
    } while (0)

/* A 3-task model over arrays (tasks task_0..task_2). */
static rmtl_model *three_task_model(void)
{
    enum { R = 8 };
    const size_t vocab[] = {4};
    int32_t cat[R];
    float labels[R * 3];
    for (int r = 0; r < R; r++) {
        cat[r] = r % 4;
        for (int k = 0; k < 3; k++)
            labels[r * 3 + k] = (float)((r + k) % 2);
    }
    rmtl_dataset *ds = NULL;
    ck_assert_int_eq(rmtl_dataset_from_arrays(&ds, R, 1, vocab, cat, 0, NULL, 3, labels, NULL),
                     RMTL_OK);
    rmtl_config *cfg = NULL;
    ck_assert_int_eq(rmtl_config_create(&cfg), RMTL_OK);
    const char y[] = "model: {arch: shared_bottom, embed_dim: 4, bottom: [8], tower: [4]}\n"
                     "runtime: {threads: 1}\n";
    ck_assert_int_eq(rmtl_config_load_string(cfg, y, strlen(y), NULL), RMTL_OK);
    rmtl_model *m = NULL;
    ck_assert_msg(rmtl_model_create(&m, cfg, ds) == RMTL_OK, "%s", rmtl_last_error());
    rmtl_config_free(cfg);
    rmtl_dataset_free(ds);
    return m;
}

static rmtl_config *fcfg(const char *yaml)
{
    rmtl_config *c = NULL;
    ck_assert_int_eq(rmtl_config_create(&c), RMTL_OK);
    const char base[] = "fusion: {actor_hidden: [8], critic_hidden: [8]}\nruntime: {threads: 1}\n";
    ck_assert_int_eq(rmtl_config_load_string(c, base, strlen(base), NULL), RMTL_OK);
    if (yaml)
        ck_assert_msg(rmtl_config_load_string(c, yaml, strlen(yaml), NULL) == RMTL_OK, "%s",
                      rmtl_last_error());
    return c;
}

START_TEST(test_fusion_for_model_tasks)
{
    rmtl_model *m = three_task_model();
    rmtl_config *c = fcfg(NULL);
    rmtl_fusion *f = NULL;
    ck_assert_msg(rmtl_fusion_create_for_model(&f, c, m) == RMTL_OK, "%s", rmtl_last_error());
    rmtl_fusion_info in = RMTL_FUSION_INFO_INIT;
    ck_assert_int_eq(rmtl_fusion_describe(&in, f), RMTL_OK);
    ck_assert_uint_eq(in.tasks, 3);
    ck_assert_uint_eq(in.action_dim, 6);
    ck_assert_int_eq(rmtl_fusion_check_model(f, m), RMTL_OK);
    /* the caller's config is not changed: a plain handle has its T = 2 */
    rmtl_fusion *plain = NULL;
    ck_assert_int_eq(rmtl_fusion_create(&plain, c), RMTL_OK);
    ck_assert_error(rmtl_fusion_check_model(plain, m), RMTL_EINVAL, "rmtl_fusion_check_model",
                    "2 tasks", "predicts 3");
    rmtl_fusion_free(plain);
    /* scores of the wrong count name both numbers */
    float state[16 + 16 + 4] = {0}, scores[3] = {0.5f, 0.25f, 0.125f}, fused = NAN;
    ck_assert_int_eq(rmtl_fuse_scores(&fused, f, state, in.state_dim, scores, 3, NULL, 0), RMTL_OK);
    ck_assert(isfinite(fused));
    ck_assert_error(rmtl_fuse_scores(&fused, f, state, in.state_dim, scores, 2, NULL, 0),
                    RMTL_EINVAL, "2", "3");
    /* a checkpoint keeps the names */
    void *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(rmtl_fusion_save_buffer(&buf, &len, f, 0), RMTL_OK);
    rmtl_fusion *back = NULL;
    ck_assert_int_eq(rmtl_fusion_load_buffer(&back, buf, len), RMTL_OK);
    rmtl_free(buf);
    ck_assert_int_eq(rmtl_fusion_check_model(back, m), RMTL_OK);
    rmtl_fusion_free(back);
    rmtl_fusion_free(f);
    rmtl_config_free(c);

    /* a config that names tasks must name the model's */
    c = fcfg("model: {tasks: [click, buy, like, share]}\n");
    ck_assert_error(rmtl_fusion_create_for_model(&f, c, m), RMTL_ECONFIG, "4 tasks",
                    "predicts 3");
    ck_assert_ptr_null(f);
    rmtl_config_free(c);
    c = fcfg("model: {tasks: [task_0, task_1, like]}\n");
    ck_assert_error(rmtl_fusion_create_for_model(&f, c, m), RMTL_ECONFIG, "task 2", "'like'",
                    "'task_2'");
    rmtl_config_free(c);
    c = fcfg("model: {tasks: [task_0, task_1, task_2]}\n");
    ck_assert_int_eq(rmtl_fusion_create_for_model(&f, c, m), RMTL_OK);
    rmtl_fusion_free(f);
    f = NULL;
    ck_assert_error(rmtl_fusion_create_for_model(NULL, c, m), RMTL_EINVAL, "out");
    ck_assert_error(rmtl_fusion_create_for_model(&f, NULL, m), RMTL_EINVAL, "cfg");
    ck_assert_error(rmtl_fusion_create_for_model(&f, c, NULL), RMTL_EINVAL, "model");
    ck_assert_error(rmtl_fusion_check_model(NULL, m), RMTL_EINVAL, "f");
    rmtl_config_free(c);
    rmtl_model_free(m);
}
END_TEST

START_TEST(test_fusion_for_model_empty_state)
{
    rmtl_model *m = three_task_model();
    rmtl_config *c = fcfg("fusion: {state: {user_dim: 0, item_dim: 0, context_dim: 0}}\n");
    rmtl_fusion *f = NULL;
    ck_assert_msg(rmtl_fusion_create_for_model(&f, c, m) == RMTL_OK, "%s", rmtl_last_error());
    rmtl_fusion_info in = RMTL_FUSION_INFO_INIT;
    ck_assert_int_eq(rmtl_fusion_describe(&in, f), RMTL_OK);
    ck_assert_uint_eq(in.state_dim, 0);
    /* fixed weights: log fused = Σ w_i log(p_i + b_i) */
    const float a[6] = {1.0f, 0.5f, 2.0f, 0.0f, 0.0f, 0.0f};
    ck_assert_int_eq(rmtl_fusion_set_fixed(f, a, 6), RMTL_OK);
    const float p[3] = {0.5f, 0.25f, 0.125f};
    float fused = NAN;
    ck_assert_msg(rmtl_fuse_scores(&fused, f, NULL, 0, p, 3, NULL, 0) == RMTL_OK, "%s",
                  rmtl_last_error());
    double want = log(0.5) + 0.5 * log(0.25) + 2.0 * log(0.125);
    ck_assert_double_eq_tol(fused, want, 1e-6);
    /* batched, no state either */
    rmtl_fusion_request req = RMTL_FUSION_REQUEST_INIT;
    req.n = 1;
    req.tasks = 3;
    req.scores = p;
    float fb = NAN;
    ck_assert_msg(rmtl_fuse_scores_batch(f, NULL, &req, &fb, 1, NULL, 0) == RMTL_OK, "%s",
                  rmtl_last_error());
    ck_assert_float_eq(fb, fused);
    /* the actor on the scores alone also serves */
    ck_assert_int_eq(rmtl_fusion_set_fixed(f, NULL, 0), RMTL_OK);
    ck_assert_int_eq(rmtl_fuse_scores(&fused, f, NULL, 0, p, 3, NULL, 0), RMTL_OK);
    ck_assert(isfinite(fused));
    rmtl_fusion_free(f);
    rmtl_config_free(c);
    rmtl_model_free(m);
}
END_TEST

Suite *rmtl_test_fusion_model_suite(void)
{
    Suite *s = suite_create("fusion_model");
    TCase *tc = tcase_create("create");
    tcase_add_test(tc, test_fusion_for_model_tasks);
    tcase_add_test(tc, test_fusion_for_model_empty_state);
    suite_add_tcase(s, tc);
    return s;
}
