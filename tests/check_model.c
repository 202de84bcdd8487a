/* The multi-task model through the public API: creation from a dataset,
 * learning on a synthetic problem for every architecture, determinism,
 * clones, threads, checkpoints (round trip, resume, damage), bad input. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmtl.h"
#include "util/mtl.h"
#include "util/tdata.h"

#define OK(call) ck_assert_msg((call) == RMTL_OK, "%s: %s", #call, rmtl_last_error())

static rmtl_dataset *make_ds(const mtl_data *d, size_t start, size_t rows)
{
    rmtl_dataset *ds = NULL;
    OK(rmtl_dataset_from_arrays(&ds, rows, MTL_N_CAT, mtl_vocab, d->cat + start * MTL_N_CAT,
                                MTL_N_NUM, d->num + start * MTL_N_NUM, d->T,
                                d->labels + start * d->T, NULL));
    return ds;
}

/* A small model of `arch` over T tasks (data in *d, 256 rows). */
static rmtl_model *small_model(const char *arch, size_t T, double dropout, uint64_t seed,
                               mtl_data *d)
{
    rmtl_config *cfg = mtl_small_config(arch, seed);
    ck_assert_ptr_nonnull(cfg);
    OK(rmtl_config_set_double(cfg, "model.dropout", dropout));
    OK(rmtl_config_set_double(cfg, "optim.lr", 0.01));
    mtl_data_make(d, 256, T, 5);
    rmtl_dataset *ds = make_ds(d, 0, 256);
    rmtl_model *m = NULL;
    OK(rmtl_model_create(&m, cfg, ds));
    rmtl_dataset_free(ds);
    rmtl_config_free(cfg);
    return m;
}

static float *predict_all(const rmtl_model *m, const mtl_data *d, size_t rows)
{
    float *p = malloc(rows * d->T * sizeof *p);
    rmtl_batch b = mtl_batch(d, 0, rows, 0);
    OK(rmtl_model_predict(m, NULL, &b, p, rows * d->T));
    return p;
}

static void train_steps(rmtl_model *m, const mtl_data *d, size_t steps, size_t first)
{
    for (size_t s = first; s < first + steps; s++) {
        rmtl_batch b = mtl_batch(d, (s * 32) % 224, 32, s % 2);
        OK(rmtl_model_train_step(m, &b, NULL));
    }
}

static int same_floats(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* --- creation ------------------------------------------------------------- */

/* Parameter counts of the small configuration with T = 2 (embed 4, 3 fields
 * of 5 + 7 + 4 ids, 2 numerical features: D0 = 16; bottom [6, 5], tower [4],
 * 3 experts, PLE 2 specific + 1 shared): they pin the wiring, e.g. PLE
 * builds no shared gate at its last level (that would add 6·5 + 5). */
static const size_t expected_params[MTL_N_ARCH] = {
    408,  /* single_task: embed 76, 2 bottoms 2·137, 2 towers 2·29 */
    271,  /* shared_bottom: 76 + 137 + 58 */
    408,  /* esmm: as single_task */
    596,  /* omoe: 76 + 3 experts 411 + gate 51 + 58 */
    647,  /* mmoe: 76 + 411 + 2 gates 102 + 58 */
    1048, /* ple: 76 + level 0 (5 experts 510, gates 102 + 85) + level 1 (175 + 42) + 58 */
    476,  /* aitm: 76 + 274 + tower MLPs 48 + transfer 20 + attention 48 + outputs 10 */
};

START_TEST(test_create)
{
    mtl_data d;
    rmtl_model *m = small_model(mtl_archs[_i], 2, 0.0, 1, &d);
    ck_assert_uint_eq(rmtl_model_num_tasks(m), 2);
    ck_assert_str_eq(rmtl_model_task_name(m, 0), "task_0");
    ck_assert_str_eq(rmtl_model_task_name(m, 1), "task_1");
    ck_assert_ptr_null(rmtl_model_task_name(m, 2));
    ck_assert_uint_eq(rmtl_model_num_params(m), expected_params[_i]);
    const rmtl_dataset *schema = rmtl_model_schema(m);
    ck_assert_ptr_nonnull(schema);
    ck_assert_uint_eq(rmtl_dataset_rows(schema), 0);
    ck_assert_uint_eq(rmtl_dataset_n_cat(schema), MTL_N_CAT);
    ck_assert_uint_eq(rmtl_dataset_vocab_size(schema, 1), 7);
    rmtl_model_free(m);
    mtl_data_free(&d);
}
END_TEST

START_TEST(test_create_errors)
{
    mtl_data d;
    mtl_data_make(&d, 16, 2, 1);
    rmtl_dataset *ds = make_ds(&d, 0, 16);
    rmtl_config *cfg = mtl_small_config("mmoe", 1);
    rmtl_model *m = (rmtl_model *)1;
    ck_assert_int_eq(rmtl_model_create(&m, NULL, ds), RMTL_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(rmtl_model_create(&m, cfg, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_model_create(NULL, cfg, ds), RMTL_EINVAL);
    /* a config that fails its cross-key checks */
    OK(rmtl_config_set_int(cfg, "rl.buffer_size", 10));
    OK(rmtl_config_set_int(cfg, "rl.batch_size", 20));
    ck_assert_int_eq(rmtl_model_create(&m, cfg, ds), RMTL_ECONFIG);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "rl.batch_size"));
    rmtl_model_free(NULL);
    rmtl_ctx_free(NULL);
    ck_assert_uint_eq(rmtl_model_num_tasks(NULL), 0);
    ck_assert_ptr_null(rmtl_model_schema(NULL));
    rmtl_ctx *ctx = (rmtl_ctx *)1;
    ck_assert_int_eq(rmtl_ctx_create(&ctx, -1), RMTL_EINVAL);
    ck_assert_ptr_null(ctx);
    rmtl_config_free(cfg);
    rmtl_dataset_free(ds);
    mtl_data_free(&d);
}
END_TEST

/* --- learning ------------------------------------------------------------- */

static int count_calls(const rmtl_progress *p, void *payload)
{
    size_t *n = payload;
    ck_assert_uint_le(p->done, p->total);
    ++*n;
    return 0;
}

/* Every architecture learns the synthetic signal: the epoch loss falls and
 * held-out AUC is far above chance for every task. */
START_TEST(test_learns)
{
    const char *arch = mtl_archs[_i];
    const size_t T = 3, n_train = 3000, n_test = 1000;
    mtl_data d;
    mtl_data_make(&d, n_train + n_test, T, 11);
    rmtl_dataset *train = make_ds(&d, 0, n_train), *test = make_ds(&d, n_train, n_test);
    rmtl_config *cfg = mtl_small_config(arch, 3);
    int64_t bottom[2] = {16, 8}, tower[1] = {8};
    OK(rmtl_config_set_int(cfg, "model.embed_dim", 8));
    OK(rmtl_config_set_int_list(cfg, "model.bottom", bottom, 2));
    OK(rmtl_config_set_int_list(cfg, "model.tower", tower, 1));
    OK(rmtl_config_set_double(cfg, "model.dropout", 0.1));
    OK(rmtl_config_set_double(cfg, "optim.lr", 0.01));
    OK(rmtl_config_set_int(cfg, "train.batch_size", 64));
    rmtl_model *m;
    OK(rmtl_model_create(&m, cfg, train));
    double first = 0, loss = 0;
    size_t calls = 0;
    for (int e = 0; e < 6; e++) {
        OK(rmtl_model_train_epoch(&loss, m, train, count_calls, &calls));
        if (e == 0)
            first = loss;
    }
    ck_assert_uint_ge(calls, 6); /* at least once per epoch, at its end */
    ck_assert_msg(loss < 0.9 * first, "%s: loss %.4f after 6 epochs, %.4f after 1", arch, loss,
                  first);
    double auc[3], ll[3], sll[3];
    OK(rmtl_model_evaluate(m, NULL, test, auc, ll, sll, 3));
    for (size_t k = 0; k < T; k++) {
        ck_assert_msg(auc[k] > 0.78, "%s: task %zu AUC %.3f", arch, k, auc[k]);
        ck_assert(isfinite(ll[k]) && ll[k] > 0);
        /* every row is its own session here */
        ck_assert_double_eq_tol(sll[k], ll[k], 1e-9);
    }
    /* the evaluation agrees with predictions scored by the test's own AUC */
    float *p = malloc(n_test * T * sizeof *p);
    rmtl_batch b = mtl_batch(&d, n_train, n_test, 0);
    OK(rmtl_model_predict(m, NULL, &b, p, n_test * T));
    ck_assert_double_eq_tol(mtl_auc(p, b.labels, n_test, T), auc[0], 1e-9);
    free(p);
    rmtl_model_free(m);
    rmtl_config_free(cfg);
    rmtl_dataset_free(train);
    rmtl_dataset_free(test);
    mtl_data_free(&d);
}
END_TEST

static int cancel_at_once(const rmtl_progress *p, void *payload)
{
    (void)p;
    (void)payload;
    return 1;
}

START_TEST(test_epoch_and_evaluate_errors)
{
    mtl_data d;
    rmtl_model *m = small_model("shared_bottom", 2, 0.0, 1, &d);
    rmtl_dataset *ds = make_ds(&d, 0, 256);
    double loss = 0;
    ck_assert_int_eq(rmtl_model_train_epoch(&loss, m, ds, cancel_at_once, NULL), RMTL_ESTATE);
    ck_assert(isnan(loss));
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "cancelled"));
    double auc[2];
    ck_assert_int_eq(rmtl_model_evaluate(m, NULL, ds, auc, NULL, NULL, 1), RMTL_EINVAL);
    /* a dataset of another layout */
    mtl_data d3;
    mtl_data_make(&d3, 16, 3, 2);
    rmtl_dataset *other = make_ds(&d3, 0, 16);
    ck_assert_int_eq(rmtl_model_train_epoch(NULL, m, other, NULL, NULL), RMTL_EINVAL);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "3 tasks"));
    ck_assert_int_eq(rmtl_model_evaluate(m, NULL, other, auc, NULL, NULL, 2), RMTL_EINVAL);
    /* without labels */
    rmtl_dataset *unlabelled;
    OK(rmtl_dataset_from_arrays(&unlabelled, 16, MTL_N_CAT, mtl_vocab, d.cat, MTL_N_NUM, d.num,
                                2, NULL, NULL));
    ck_assert_int_eq(rmtl_model_evaluate(m, NULL, unlabelled, auc, NULL, NULL, 2), RMTL_EINVAL);
    /* one class only: AUC is NaN, log-loss is not */
    float *ones = malloc(16 * 2 * sizeof *ones);
    for (size_t i = 0; i < 32; i++)
        ones[i] = 1.0f;
    rmtl_dataset *constant;
    OK(rmtl_dataset_from_arrays(&constant, 16, MTL_N_CAT, mtl_vocab, d.cat, MTL_N_NUM, d.num, 2,
                                ones, NULL));
    double ll[2];
    OK(rmtl_model_evaluate(m, NULL, constant, auc, ll, NULL, 2));
    ck_assert(isnan(auc[0]) && isnan(auc[1]));
    ck_assert(isfinite(ll[0]) && isfinite(ll[1]));
    free(ones);
    rmtl_dataset_free(constant);
    rmtl_dataset_free(unlabelled);
    rmtl_dataset_free(other);
    rmtl_dataset_free(ds);
    rmtl_model_free(m);
    mtl_data_free(&d3);
    mtl_data_free(&d);
}
END_TEST

/* --- determinism, clones, threads ------------------------------------------ */

START_TEST(test_deterministic)
{
    const char *arch = mtl_archs[_i];
    mtl_data d, d2, d3;
    rmtl_model *a = small_model(arch, 2, 0.3, 7, &d), *b = small_model(arch, 2, 0.3, 7, &d2);
    rmtl_model *c = small_model(arch, 2, 0.3, 8, &d3);
    train_steps(a, &d, 12, 0);
    train_steps(b, &d, 12, 0);
    train_steps(c, &d, 12, 0);
    float *pa = predict_all(a, &d, 256), *pb = predict_all(b, &d, 256);
    float *pc = predict_all(c, &d, 256);
    ck_assert_msg(same_floats(pa, pb, 512), "%s: same seed, different predictions", arch);
    ck_assert_msg(!same_floats(pa, pc, 512), "%s: the seed changes nothing", arch);
    /* a clone predicts the same, and trains on the same way */
    rmtl_model *k;
    OK(rmtl_model_clone(&k, a));
    float *pk = predict_all(k, &d, 256);
    ck_assert(same_floats(pa, pk, 512));
    ck_assert_uint_eq(rmtl_model_num_params(k), rmtl_model_num_params(a));
    ck_assert_ptr_nonnull(rmtl_model_schema(k));
    train_steps(a, &d, 5, 12);
    float *pa2 = predict_all(a, &d, 256), *pk2 = predict_all(k, &d, 256);
    ck_assert_msg(same_floats(pk, pk2, 512), "training the original changed the clone");
    train_steps(k, &d, 5, 12);
    free(pk2);
    pk2 = predict_all(k, &d, 256);
    ck_assert_msg(same_floats(pa2, pk2, 512), "%s: clone trains differently", arch);
    free(pa), free(pb), free(pc), free(pk), free(pa2), free(pk2);
    rmtl_model_free(a), rmtl_model_free(b), rmtl_model_free(c), rmtl_model_free(k);
    mtl_data_free(&d), mtl_data_free(&d2), mtl_data_free(&d3);
}
END_TEST

/* A single row runs through gemv, a batch through gemm: the serving
 * latency path and the batch path must give the same probabilities up to
 * float summation order. */
START_TEST(test_single_row_matches_batch)
{
    const char *arch = mtl_archs[_i];
    mtl_data d;
    rmtl_model *m = small_model(arch, 2, 0.0, 11, &d);
    train_steps(m, &d, 8, 0);
    float *pb = predict_all(m, &d, 64);
    for (size_t r = 0; r < 64; r++) {
        float p1[2];
        rmtl_batch b = mtl_batch(&d, r, 1, 0);
        OK(rmtl_model_predict(m, NULL, &b, p1, 2));
        for (size_t k = 0; k < 2; k++)
            ck_assert_msg(fabsf(p1[k] - pb[r * 2 + k]) <= 1e-6f,
                          "%s row %zu task %zu: alone %.9g, in a batch %.9g", arch, r, k,
                          (double)p1[k], (double)pb[r * 2 + k]);
    }
    free(pb);
    rmtl_model_free(m);
    mtl_data_free(&d);
}
END_TEST

/* The folded input layer (rmtl_model_fold_embeddings) at every budget
 * from everything to nothing: the same probabilities as the exact path up
 * to summation order, alone and in a batch; once the weights move, the
 * exact path again, bit for bit the same as an unfolded twin. */
START_TEST(test_fold_predictions)
{
    const char *arch = mtl_archs[_i];
    mtl_data d;
    rmtl_model *m = small_model(arch, 2, 0.0, 13, &d);
    train_steps(m, &d, 8, 0);
    rmtl_model *twin = NULL;
    OK(rmtl_model_clone(&twin, m));
    float *exact = predict_all(m, &d, 64);
    size_t full = 0, used = 0, budget = 0, distinct = 0, last = SIZE_MAX;
    OK(rmtl_model_fold_embeddings(m, SIZE_MAX, &full));
    ck_assert_uint_gt(full, 0);
    for (budget = full; budget > 0; budget = budget * 2 / 3) {
        OK(rmtl_model_fold_embeddings(m, budget, &used));
        ck_assert_uint_le(used, budget);
        distinct += used != last;
        last = used;
        float *pb = predict_all(m, &d, 64);
        for (size_t r = 0; r < 64; r++) {
            float p1[2];
            rmtl_batch b = mtl_batch(&d, r, 1, 0);
            OK(rmtl_model_predict(m, NULL, &b, p1, 2));
            for (size_t k = 0; k < 2; k++) {
                float e = exact[r * 2 + k];
                ck_assert_msg(fabsf(pb[r * 2 + k] - e) <= 2e-6f && fabsf(p1[k] - e) <= 2e-6f,
                              "%s, %zu bytes folded, row %zu task %zu: batch %.9g, alone "
                              "%.9g, exact %.9g",
                              arch, used, r, k, (double)pb[r * 2 + k], (double)p1[k],
                              (double)e);
            }
        }
        free(pb);
    }
    ck_assert_uint_eq(used, 0);
    ck_assert_uint_ge(distinct, 4); /* all, some fields, fixed rows only, none */
    float *none = predict_all(m, &d, 64);
    ck_assert_msg(same_floats(none, exact, 128), "%s: unfolded predictions changed", arch);
    /* stale after a step: the exact path, as the twin that never folded */
    OK(rmtl_model_fold_embeddings(m, full, &used));
    train_steps(m, &d, 1, 8);
    train_steps(twin, &d, 1, 8);
    float *pm = predict_all(m, &d, 64), *pt = predict_all(twin, &d, 64);
    ck_assert_msg(same_floats(pm, pt, 128), "%s: a stale fold was used", arch);
    ck_assert_int_eq(rmtl_model_fold_embeddings(NULL, 1, &used), RMTL_EINVAL);
    ck_assert_uint_eq(used, 0);
    free(exact), free(none), free(pm), free(pt);
    rmtl_model_free(m);
    rmtl_model_free(twin);
    mtl_data_free(&d);
}
END_TEST

typedef struct predictor {
    const rmtl_model *m;
    const mtl_data *d;
    float *out;
    int rc;
} predictor;

static void *predict_thread(void *arg)
{
    predictor *p = arg;
    rmtl_ctx *ctx;
    p->rc = rmtl_ctx_create(&ctx, 0);
    for (int rep = 0; rep < 20 && !p->rc; rep++) {
        /* varying batch sizes: the context grows and is reused */
        size_t rows = rep % 2 ? 256 : 17 + rep;
        rmtl_batch b = mtl_batch(p->d, 0, rows, 0);
        p->rc = rmtl_model_predict(p->m, ctx, &b, p->out, 256 * p->d->T);
    }
    rmtl_ctx_free(ctx);
    return NULL;
}

START_TEST(test_threads)
{
    mtl_data d;
    rmtl_model *m = small_model(mtl_archs[_i], 2, 0.2, 3, &d);
    train_steps(m, &d, 8, 0);
    float *ref = predict_all(m, &d, 256);
    enum { N = 4 };
    predictor p[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        p[i] = (predictor){m, &d, malloc(512 * sizeof(float)), -1};
        ck_assert_int_eq(pthread_create(&th[i], NULL, predict_thread, &p[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(p[i].rc, 0);
        ck_assert_msg(same_floats(p[i].out, ref, 512), "thread %d differs", i);
        free(p[i].out);
    }
    free(ref);
    rmtl_model_free(m);
    mtl_data_free(&d);
}
END_TEST

/* --- checkpoints ------------------------------------------------------------ */

START_TEST(test_save_load)
{
    const char *arch = mtl_archs[_i];
    mtl_data d;
    rmtl_model *m = small_model(arch, 3, 0.2, 4, &d);
    train_steps(m, &d, 6, 0);
    float *ref = predict_all(m, &d, 256);
    void *buf;
    size_t len;
    OK(rmtl_model_save_buffer(&buf, &len, m, 0));
    rmtl_model *l;
    OK(rmtl_model_load_buffer(&l, buf, len));
    float *got = predict_all(l, &d, 256);
    ck_assert_msg(same_floats(ref, got, 768), "%s: loaded model predicts differently", arch);
    ck_assert_uint_eq(rmtl_model_num_params(l), rmtl_model_num_params(m));
    ck_assert_str_eq(rmtl_model_task_name(l, 2), "task_2");
    ck_assert_uint_eq(rmtl_dataset_vocab_size(rmtl_model_schema(l), 2), 4);
    /* canonical: saving the loaded model gives the same bytes */
    void *again;
    size_t len2;
    OK(rmtl_model_save_buffer(&again, &len2, l, 0));
    ck_assert_uint_eq(len, len2);
    ck_assert_int_eq(memcmp(buf, again, len), 0);
    /* through a file */
    const char *path = rmtl_tdata_write("model.rmtl", "", 0);
    OK(rmtl_model_save(m, path, RMTL_SAVE_TRAINING_STATE));
    rmtl_model *f;
    OK(rmtl_model_load(&f, path));
    free(got);
    got = predict_all(f, &d, 256);
    ck_assert(same_floats(ref, got, 768));
    rmtl_model_free(f);
    ck_assert_int_eq(rmtl_model_save(m, "/nonexistent-dir/x.rmtl", 0), RMTL_EIO);
    ck_assert_int_eq(rmtl_model_load(&f, "/nonexistent-dir/x.rmtl"), RMTL_EIO);
    ck_assert_ptr_null(f);
    rmtl_free(again);
    ck_assert_int_eq(rmtl_model_save_buffer(&again, &len2, m, 2), RMTL_EINVAL);
    ck_assert_ptr_null(again);
    rmtl_free(buf);
    free(ref);
    free(got);
    rmtl_model_free(l);
    rmtl_model_free(m);
    mtl_data_free(&d);
    rmtl_tdata_cleanup();
}
END_TEST

/* largest |a − b| over n floats */
static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0.0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

/* rmtl_model_set_lr: later steps are smaller; clones and checkpoints keep
 * the rate; bad rates change nothing. */
START_TEST(test_set_lr)
{
    mtl_data d;
    rmtl_model *m = small_model("mmoe", 2, 0.0, 3, &d), *fast, *slow, *copy, *loaded;
    train_steps(m, &d, 4, 0);
    float *p0 = predict_all(m, &d, 256);
    OK(rmtl_model_clone(&fast, m));
    OK(rmtl_model_clone(&slow, m));
    OK(rmtl_model_set_lr(slow, 1e-5));
    ck_assert_int_eq(rmtl_model_set_lr(slow, 0.0), RMTL_ECONFIG);
    ck_assert_int_eq(rmtl_model_set_lr(slow, 11.0), RMTL_ECONFIG);
    ck_assert_int_ne(rmtl_model_set_lr(slow, NAN), RMTL_OK);
    ck_assert_int_eq(rmtl_model_set_lr(NULL, 1e-3), RMTL_EINVAL);
    OK(rmtl_model_clone(&copy, slow));
    void *buf;
    size_t len;
    OK(rmtl_model_save_buffer(&buf, &len, slow, RMTL_SAVE_TRAINING_STATE));
    OK(rmtl_model_load_buffer(&loaded, buf, len));
    train_steps(fast, &d, 4, 4);
    train_steps(slow, &d, 4, 4);
    train_steps(copy, &d, 4, 4);
    train_steps(loaded, &d, 4, 4);
    float *pf = predict_all(fast, &d, 256), *ps = predict_all(slow, &d, 256);
    float *pc = predict_all(copy, &d, 256), *pl = predict_all(loaded, &d, 256);
    double df = max_diff(p0, pf, 512), ds = max_diff(p0, ps, 512);
    ck_assert_msg(df > 1e-3 && ds < df / 100.0, "moved %g at lr 0.01, %g at 1e-5", df, ds);
    ck_assert_msg(same_floats(ps, pc, 512), "the clone lost the learning rate");
    ck_assert_msg(same_floats(ps, pl, 512), "the checkpoint lost the learning rate");
    rmtl_free(buf);
    free(p0);
    free(pf);
    free(ps);
    free(pc);
    free(pl);
    rmtl_model_free(loaded);
    rmtl_model_free(copy);
    rmtl_model_free(slow);
    rmtl_model_free(fast);
    rmtl_model_free(m);
    mtl_data_free(&d);
}
END_TEST

/* Saved with the training state, a model continues exactly as if never
 * interrupted (dropout on, so the random stream matters too); without it,
 * Adam restarts and the continuation differs. */
START_TEST(test_resume)
{
    const char *arch = mtl_archs[_i];
    mtl_data d;
    rmtl_model *a = small_model(arch, 2, 0.3, 9, &d);
    /* before any step: no moments yet, still a valid trainer checkpoint */
    void *fresh;
    size_t fresh_len;
    OK(rmtl_model_save_buffer(&fresh, &fresh_len, a, RMTL_SAVE_TRAINING_STATE));
    rmtl_model *f;
    OK(rmtl_model_load_buffer(&f, fresh, fresh_len));
    train_steps(f, &d, 7, 0);
    rmtl_free(fresh);
    train_steps(a, &d, 7, 0);
    float *pf = predict_all(f, &d, 256), *pa0 = predict_all(a, &d, 256);
    ck_assert(same_floats(pf, pa0, 512));
    free(pf), free(pa0);
    rmtl_model_free(f);
    void *full, *plain;
    size_t full_len, plain_len;
    OK(rmtl_model_save_buffer(&full, &full_len, a, RMTL_SAVE_TRAINING_STATE));
    OK(rmtl_model_save_buffer(&plain, &plain_len, a, 0));
    ck_assert_uint_gt(full_len, plain_len);
    rmtl_model *b, *c;
    OK(rmtl_model_load_buffer(&b, full, full_len));
    OK(rmtl_model_load_buffer(&c, plain, plain_len));
    train_steps(a, &d, 9, 7);
    train_steps(b, &d, 9, 7);
    train_steps(c, &d, 9, 7);
    float *pa = predict_all(a, &d, 256), *pb = predict_all(b, &d, 256);
    float *pc = predict_all(c, &d, 256);
    ck_assert_msg(same_floats(pa, pb, 512), "%s: resumed training differs", arch);
    ck_assert_msg(!same_floats(pa, pc, 512), "%s: the training state changed nothing", arch);
    void *sa, *sb;
    size_t la, lb;
    OK(rmtl_model_save_buffer(&sa, &la, a, RMTL_SAVE_TRAINING_STATE));
    OK(rmtl_model_save_buffer(&sb, &lb, b, RMTL_SAVE_TRAINING_STATE));
    ck_assert(la == lb && memcmp(sa, sb, la) == 0);
    rmtl_free(full), rmtl_free(plain), rmtl_free(sa), rmtl_free(sb);
    free(pa), free(pb), free(pc);
    rmtl_model_free(a), rmtl_model_free(b), rmtl_model_free(c);
    mtl_data_free(&d);
}
END_TEST

/* Every single damaged byte and every truncation is RMTL_EFORMAT. */
START_TEST(test_damaged_checkpoint)
{
    mtl_data d;
    rmtl_model *m = small_model(_i ? "aitm" : "ple", 2, 0.0, 2, &d);
    train_steps(m, &d, 2, 0);
    void *buf;
    size_t len;
    OK(rmtl_model_save_buffer(&buf, &len, m, RMTL_SAVE_TRAINING_STATE));
    unsigned char *bad = malloc(len);
    for (size_t i = 0; i < len; i += 3) {
        memcpy(bad, buf, len);
        bad[i] ^= (unsigned char)(1u << (i % 8));
        rmtl_model *l = (rmtl_model *)1;
        int rc = rmtl_model_load_buffer(&l, bad, len);
        ck_assert_msg(rc == RMTL_EFORMAT, "byte %zu flipped: %d (%s)", i, rc, rmtl_last_error());
        ck_assert_ptr_null(l);
    }
    for (size_t n = 0; n < len; n += n < 64 ? 1 : 61) {
        rmtl_model *l;
        ck_assert_int_eq(rmtl_model_load_buffer(&l, buf, n), RMTL_EFORMAT);
        ck_assert_ptr_null(l);
    }
    rmtl_model *l;
    ck_assert_int_eq(rmtl_model_load_buffer(&l, NULL, 0), RMTL_EFORMAT);
    ck_assert_int_eq(rmtl_model_load_buffer(NULL, buf, len), RMTL_EINVAL);
    free(bad);
    rmtl_free(buf);
    rmtl_model_free(m);
    mtl_data_free(&d);
}
END_TEST

/* A model trained on CSV carries its schema: loaded back, it reads the
 * same CSV through rmtl_model_schema() and predicts the same. */
START_TEST(test_csv_schema_travels)
{
    const char *csv = "color,size,price,click,buy\n"
                      "red,s,1.5,1,0\nblue,m,2.5,0,0\nred,l,0.5,1,1\ngreen,s,3.0,0,0\n"
                      "blue,l,1.0,1,1\nred,m,2.0,0,0\ngreen,m,0.7,1,0\nblue,s,2.2,0,0\n";
    const char *schema = "columns:\n  color: categorical\n  size: categorical\n"
                         "  price: numerical\n  click: {role: label, threshold: 0.5}\n"
                         "  buy: {role: label, threshold: 0.5}\n";
    const char *csv_path = rmtl_tdata_write("train.csv", csv, (size_t)-1);
    rmtl_dataset *ds;
    OK(rmtl_dataset_load_schema_string(&ds, csv_path, schema, strlen(schema), NULL, NULL));
    rmtl_config *cfg = mtl_small_config("esmm", 1);
    rmtl_model *m;
    OK(rmtl_model_create(&m, cfg, ds));
    ck_assert_str_eq(rmtl_model_task_name(m, 1), "buy");
    for (int i = 0; i < 3; i++)
        OK(rmtl_model_train_epoch(NULL, m, ds, NULL, NULL));
    void *buf;
    size_t len;
    OK(rmtl_model_save_buffer(&buf, &len, m, 0));
    rmtl_model *l;
    OK(rmtl_model_load_buffer(&l, buf, len));
    rmtl_dataset *again;
    OK(rmtl_dataset_load(&again, csv_path, NULL, rmtl_model_schema(l), NULL));
    rmtl_batch b1 = RMTL_BATCH_INIT, b2 = RMTL_BATCH_INIT;
    OK(rmtl_dataset_batch(&b1, ds, 0, 8));
    OK(rmtl_dataset_batch(&b2, again, 0, 8));
    float p1[16], p2[16];
    OK(rmtl_model_predict(m, NULL, &b1, p1, 16));
    OK(rmtl_model_predict(l, NULL, &b2, p2, 16));
    ck_assert(same_floats(p1, p2, 16));
    for (int i = 0; i < 8; i++) /* ESMM: p(buy) = p(click)·p(buy | click) */
        ck_assert_float_le(p1[2 * i + 1], p1[2 * i]);
    rmtl_free(buf);
    rmtl_dataset_free(again);
    rmtl_model_free(l);
    rmtl_model_free(m);
    rmtl_config_free(cfg);
    rmtl_dataset_free(ds);
    rmtl_tdata_cleanup();
}
END_TEST

/* --- bad input -------------------------------------------------------------- */

static void expect(int rc, int want, const char *needle)
{
    ck_assert_msg(rc == want, "got %d, want %d (%s)", rc, want, rmtl_last_error());
    ck_assert_msg(strstr(rmtl_last_error(), needle), "message '%s' lacks '%s'", rmtl_last_error(),
                  needle);
}

START_TEST(test_bad_batches)
{
    mtl_data d;
    rmtl_model *m = small_model("mmoe", 2, 0.0, 1, &d);
    float out[64];
    float *before = predict_all(m, &d, 256);
    rmtl_batch b = mtl_batch(&d, 0, 8, 0);
    expect(rmtl_model_predict(m, NULL, NULL, out, 64), RMTL_EINVAL, "batch is NULL");
    expect(rmtl_model_predict(m, NULL, &b, NULL, 64), RMTL_EINVAL, "out");
    expect(rmtl_model_predict(m, NULL, &b, out, 15), RMTL_EINVAL, "need 16");
    rmtl_batch x = b;
    x.version = 0;
    expect(rmtl_model_predict(m, NULL, &x, out, 64), RMTL_EINVAL, "RMTL_BATCH_INIT");
    x = b;
    x.rows = 0;
    expect(rmtl_model_train_step(m, &x, NULL), RMTL_EINVAL, "0 rows");
    x = b;
    x.cat = NULL;
    expect(rmtl_model_predict(m, NULL, &x, out, 64), RMTL_EINVAL, "cat is NULL");
    x = b;
    x.num = NULL;
    expect(rmtl_model_predict(m, NULL, &x, out, 64), RMTL_EINVAL, "num is NULL");
    int32_t cat[8 * MTL_N_CAT];
    memcpy(cat, b.cat, sizeof cat);
    cat[1 * MTL_N_CAT + 2] = 4; /* field 2 has ids 0..3 */
    x = b;
    x.cat = cat;
    expect(rmtl_model_predict(m, NULL, &x, out, 64), RMTL_EINVAL, "cat[row 1, field 2] = 4");
    cat[1 * MTL_N_CAT + 2] = -1;
    expect(rmtl_model_train_step(m, &x, NULL), RMTL_EINVAL, "cat[row 1, field 2] = -1");
    x = b;
    x.labels = NULL;
    expect(rmtl_model_train_step(m, &x, NULL), RMTL_EINVAL, "labels are NULL");
    float labels[16];
    memcpy(labels, b.labels, sizeof labels);
    labels[5] = 0.5f;
    x = b;
    x.labels = labels;
    expect(rmtl_model_train_step(m, &x, NULL), RMTL_EINVAL, "labels[row 2, task 'task_1']");
    float weights[16];
    for (int i = 0; i < 16; i++)
        weights[i] = 1.0f;
    weights[3] = -1.0f;
    x = b;
    x.weights = weights;
    expect(rmtl_model_train_step(m, &x, NULL), RMTL_EINVAL, "negative");
    weights[3] = NAN;
    expect(rmtl_model_train_step(m, &x, NULL), RMTL_ENUMERIC, "weights[row 1, task 'task_1']");
    float num[8 * MTL_N_NUM];
    memcpy(num, b.num, sizeof num);
    num[7] = NAN;
    x = b;
    x.num = num;
    expect(rmtl_model_predict(m, NULL, &x, out, 64), RMTL_ENUMERIC, "num[row 3, feature 1]");
    expect(rmtl_model_train_step(m, &x, NULL), RMTL_ENUMERIC, "num[row 3, feature 1]");
    num[7] = INFINITY;
    expect(rmtl_model_train_step(m, &x, NULL), RMTL_ENUMERIC, "inf");
    ck_assert_int_eq(rmtl_model_train_step(NULL, &b, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_model_predict(NULL, NULL, &b, out, 64), RMTL_EINVAL);
    float *after = predict_all(m, &d, 256);
    ck_assert_msg(same_floats(before, after, 512), "a refused call changed the model");
    /* and the model still trains */
    double loss = 0;
    OK(rmtl_model_train_step(m, &b, &loss));
    ck_assert(loss > 0 && isfinite(loss));
    free(before);
    free(after);
    rmtl_model_free(m);
    mtl_data_free(&d);
}
END_TEST

Suite *rmtl_test_model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("create");
    tcase_add_loop_test(tc, test_create, 0, MTL_N_ARCH);
    tcase_add_test(tc, test_create_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("learn");
    tcase_set_tags(tc, "slow"); /* left out under valgrind */
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_learns, 0, MTL_N_ARCH);
    tcase_add_test(tc, test_epoch_and_evaluate_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("determinism");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_deterministic, 0, MTL_N_ARCH);
    tcase_add_loop_test(tc, test_threads, 0, MTL_N_ARCH);
    tcase_add_loop_test(tc, test_single_row_matches_batch, 0, MTL_N_ARCH);
    tcase_add_loop_test(tc, test_fold_predictions, 0, MTL_N_ARCH);
    suite_add_tcase(s, tc);
    tc = tcase_create("checkpoint");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_save_load, 0, MTL_N_ARCH);
    tcase_add_loop_test(tc, test_resume, 0, MTL_N_ARCH);
    tcase_add_test(tc, test_set_lr);
    tcase_add_loop_test(tc, test_damaged_checkpoint, 0, 2);
    tcase_add_test(tc, test_csv_schema_travels);
    suite_add_tcase(s, tc);
    tc = tcase_create("input");
    tcase_add_test(tc, test_bad_batches);
    suite_add_tcase(s, tc);
    return s;
}
