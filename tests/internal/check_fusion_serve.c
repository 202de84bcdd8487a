/* Fusion internals: the gemv/gemm agreement the single-pair path relies
 * on, the probe's choice and its fallback, allocation-free serving and
 * training steps, and clean failures at every allocation. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "fusion/fusion.h"
#include "nn/gemm.h"
#include "util/fd.h"
#include "util/fusion_data.h"

#define SMALL                                                                             \
    "fusion: {actor_hidden: [32, 16], critic_hidden: [16], critic_groups: 2,"            \
    " critic_ensemble: 2, state: {user_dim: 5, item_dim: 4, context_dim: 3}}\n"          \
    "runtime: {threads: 1}\n"

static int is_skx(void) { return !strcmp(rmtl__blis_arch(), "skx"); }

/* With output widths that are multiples of 8, BLIS's gemv computes what
 * its gemm computes for a row (skx kernels; elsewhere: close). */
START_TEST(test_gemv_row_matches_gemm)
{
    static const size_t ks[] = {1, 3, 7, 27, 67, 256};
    static const size_t ns[] = {8, 16, 24, 40, 128, 264};
    unsigned long long seed = 1;
    rmtl__rt rt = {1};
    for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
            size_t k = ks[a], n = ns[b], m = 37;
            float *x = malloc(m * k * sizeof *x), *w = malloc(k * n * sizeof *w);
            float *ym = malloc(m * n * sizeof *ym), *y1 = malloc(n * sizeof *y1);
            float *yr = malloc(n * sizeof *yr);
            fd_fill(x, m * k, -1, 1, &seed);
            fd_fill(w, k * n, -1, 1, &seed);
            rmtl__gemm(&rt, RMTL__NOTRANS, RMTL__NOTRANS, m, n, k, 1.0f, x, k, w, n, 0.0f, ym, n);
            for (size_t r = 0; r < m; r += 9) {
                rmtl__gemv_row(n, k, x + r * k, w, n, 0.0f, y1);
                rmtl__gemm_ref(RMTL__NOTRANS, RMTL__NOTRANS, 1, n, k, 1.0f, x + r * k, k, w, n,
                               0.0f, yr, n);
                for (size_t j = 0; j < n; j++)
                    ck_assert_float_eq_tol(y1[j], yr[j], 1e-4f);
                if (is_skx())
                    ck_assert_msg(!memcmp(y1, ym + r * n, n * sizeof *y1),
                                  "k=%zu n=%zu row %zu: gemv and gemm differ", k, n, r);
            }
            /* beta = 1 adds, k = 0 clears */
            float *y0 = malloc(n * sizeof *y0);
            memcpy(y0, y1, n * sizeof *y0);
            rmtl__gemv_row(n, k, x, w, n, 1.0f, y1);
            rmtl__gemm_ref(RMTL__NOTRANS, RMTL__NOTRANS, 1, n, k, 1.0f, x, k, w, n, 0.0f, yr, n);
            for (size_t j = 0; j < n; j++)
                ck_assert_float_eq_tol(y1[j], y0[j] + yr[j], 1e-4f);
            free(y0);
            rmtl__gemv_row(n, 0, x, w, n, 0.0f, ym);
            for (size_t j = 0; j < n; j++)
                ck_assert_float_eq(ym[j], 0.0f);
            free(x);
            free(w);
            free(ym);
            free(y1);
            free(yr);
        }
}
END_TEST

START_TEST(test_probe_choice_and_fallback)
{
    rmtl_fusion *f = fx_fusion(NULL); /* [256, 128] */
    if (is_skx())
        ck_assert_int_eq(f->serve.gemv_exact, 1);
    /* the fallback (GEMM with m = 1) is exact too */
    f->serve.gemv_exact = 0;
    fx_request r;
    fx_request_make(&r, f, 40, 2);
    float fused[40], row[64], one;
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &r.req, fused, 40, NULL, 0), RMTL_OK);
    for (size_t i = 0; i < 40; i++) {
        fx_state_row(&r, i, row);
        ck_assert_int_eq(rmtl_fuse_scores(&one, f, row, f->state_dim, r.scores + 2 * i, 2, NULL, 0),
                         RMTL_OK);
        ck_assert_mem_eq(&one, fused + i, sizeof one);
    }
    fx_request_free(&r);
    rmtl_fusion_free(f);
}
END_TEST

/* Serving calls (with a warm context) and training steps (after the
 * first at a batch size) allocate nothing. */
START_TEST(test_no_allocation)
{
    rmtl_fusion *f = fx_fusion(SMALL);
    fx_request r;
    fx_request_make(&r, f, 200, 3);
    float fused[200], act[800], lo[800], hi[800], row[12], one;
    rmtl_ctx *ctx;
    ck_assert_int_eq(rmtl_ctx_create(&ctx, 1), RMTL_OK);
    uint64_t noise = 5;
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, ctx, &r.req, fused, 200, act, 800), RMTL_OK);
    ck_assert_int_eq(rmtl_fusion_explore(f, ctx, &r.req, &noise, fused, act, lo, hi, 200),
                     RMTL_OK);
    fx_batch b;
    fx_batch_make(&b, f, 3, 4, 5, 9);
    ck_assert_int_eq(rmtl_fusion_train_step(f, &b.b, NULL), RMTL_OK);
    rmtl__alloc_fail_after(0);
    for (int i = 0; i < 100; i++) {
        fx_state_row(&r, (size_t)i, row);
        ck_assert_int_eq(rmtl_fuse_scores(&one, f, row, 12, r.scores + 2 * i, 2, act, 4), RMTL_OK);
        ck_assert_int_eq(rmtl_fuse_scores_batch(f, ctx, &r.req, fused, 200, act, 800), RMTL_OK);
        r.req.n = 1 + (size_t)i % 200; /* smaller requests fit the same context */
        ck_assert_int_eq(rmtl_fusion_explore(f, ctx, &r.req, &noise, fused, act, lo, hi, 200),
                         RMTL_OK);
        r.req.n = 200;
    }
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rmtl_fusion_train_step(f, &b.b, NULL), RMTL_OK);
    ck_assert_uint_eq(rmtl__alloc_fail_after(0), 0);
    fx_batch_free(&b);
    rmtl_ctx_free(ctx);
    fx_request_free(&r);
    rmtl_fusion_free(f);
}
END_TEST

/* Every allocation of create, training, saving, loading, deploying and a
 * context-less batched call can fail: RMTL_ENOMEM, nothing leaked (ASan),
 * the handle still usable. */
START_TEST(test_allocation_failures)
{
    rmtl_config *c = fx_config(SMALL);
    int rc = RMTL_ENOMEM;
    size_t fails = 0;
    for (size_t n = 1; rc == RMTL_ENOMEM; n++, fails++) {
        rmtl_fusion *f = NULL;
        rmtl__alloc_fail_after(n);
        rc = rmtl_fusion_create(&f, c);
        rmtl__alloc_fail_after(0);
        ck_assert(rc == RMTL_OK || (rc == RMTL_ENOMEM && f == NULL));
        rmtl_fusion_free(f);
    }
    ck_assert_uint_gt(fails, 10);
    rmtl_config_free(c);

    rmtl_fusion *f = fx_fusion(SMALL);
    fx_batch b;
    fx_batch_make(&b, f, 2, 3, 4, 1);
    fx_request r;
    fx_request_make(&r, f, 30, 2);
    float fused[30];
    rc = RMTL_ENOMEM;
    for (size_t n = 1; rc == RMTL_ENOMEM; n++) {
        rmtl__alloc_fail_after(n);
        rc = rmtl_fusion_train_step(f, &b.b, NULL);
        rmtl__alloc_fail_after(0);
        ck_assert(rc == RMTL_OK || rc == RMTL_ENOMEM);
    }
    void *buf = NULL;
    size_t len = 0;
    rc = RMTL_ENOMEM;
    for (size_t n = 1; rc == RMTL_ENOMEM; n++) {
        rmtl__alloc_fail_after(n);
        rc = rmtl_fusion_save_buffer(&buf, &len, f, RMTL_SAVE_TRAINING_STATE);
        rmtl__alloc_fail_after(0);
        ck_assert(rc == RMTL_OK || (rc == RMTL_ENOMEM && buf == NULL));
    }
    rc = RMTL_ENOMEM;
    for (size_t n = 1; rc == RMTL_ENOMEM; n++) {
        rmtl_fusion *g = NULL;
        rmtl__alloc_fail_after(n);
        rc = rmtl_fusion_load_buffer(&g, buf, len);
        rmtl__alloc_fail_after(0);
        ck_assert(rc == RMTL_OK || (rc == RMTL_ENOMEM && g == NULL));
        rmtl_fusion_free(g);
    }
    rmtl_free(buf);
    rc = RMTL_ENOMEM;
    for (size_t n = 1; rc == RMTL_ENOMEM; n++) {
        rmtl__alloc_fail_after(n);
        rc = rmtl_fusion_deploy(f);
        rmtl__alloc_fail_after(0);
        ck_assert(rc == RMTL_OK || rc == RMTL_ENOMEM);
    }
    rc = RMTL_ENOMEM;
    for (size_t n = 1; rc == RMTL_ENOMEM; n++) {
        rmtl__alloc_fail_after(n);
        rc = rmtl_fuse_scores_batch(f, NULL, &r.req, fused, 30, NULL, 0);
        rmtl__alloc_fail_after(0);
        ck_assert(rc == RMTL_OK || rc == RMTL_ENOMEM);
    }
    int64_t user[3] = {1, 1, 1};
    float score[3] = {0.1f, 0.2f, 0.3f}, label[3] = {0, 1, 1};
    double g;
    rmtl__alloc_fail_after(1);
    ck_assert_int_eq(rmtl_fusion_gauc(&g, user, score, label, 3), RMTL_ENOMEM);
    rmtl__alloc_fail_after(0);
    /* still usable */
    ck_assert_int_eq(rmtl_fusion_train_step(f, &b.b, NULL), RMTL_OK);
    ck_assert_int_eq(rmtl_fuse_scores_batch(f, NULL, &r.req, fused, 30, NULL, 0), RMTL_OK);
    fx_request_free(&r);
    fx_batch_free(&b);
    rmtl_fusion_free(f);
}
END_TEST

Suite *rmtl_test_fusion_serve_suite(void)
{
    Suite *s = suite_create("fusion_serve");
    TCase *tc = tcase_create("fusion_serve");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_gemv_row_matches_gemm);
    tcase_add_test(tc, test_probe_choice_and_fallback);
    tcase_add_test(tc, test_no_allocation);
    tcase_add_test(tc, test_allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}
