/* Loops across the runtime's threads (nn/par.h): every index exactly once,
 * at most rt->threads ranges of at least `grain`, serial inside a loop,
 * and the same results at 1 and 2 threads for the loops that use it (the
 * folded gathers, Adam). */
#include <blis.h>
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mtl/fold.h"
#include "mtl/model.h"
#include "nn/adam.h"
#include "nn/par.h"
#include "util/mtl.h"

enum { MAXR = 8 };

typedef struct cover {
    const rmtl__rt *rt;
    int *count;
    size_t ranges, begin[MAXR], end[MAXR];
    pthread_t who[MAXR];
    int inner[MAXR];
    pthread_mutex_t lock;
} cover;

static void cover_fn(void *ctx, size_t b, size_t e)
{
    cover *c = ctx;
    for (size_t i = b; i < e; i++)
        c->count[i]++; /* ranges are disjoint: no two threads share an index */
    pthread_mutex_lock(&c->lock);
    if (c->ranges < MAXR) {
        c->begin[c->ranges] = b;
        c->end[c->ranges] = e;
        c->who[c->ranges] = pthread_self();
        c->inner[c->ranges] = rmtl__par_threads(c->rt);
    }
    c->ranges++;
    pthread_mutex_unlock(&c->lock);
}

START_TEST(test_par_covers_once)
{
    static const size_t ns[] = {0, 1, 15, 16, 17, 1000};
    for (int threads = 1; threads <= 3; threads++)
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            rmtl__rt rt = {threads};
            size_t n = ns[k], grain = 8;
            cover c = {.rt = &rt, .count = calloc(n + 1, sizeof(int))};
            pthread_mutex_init(&c.lock, NULL);
            rmtl__par_for(&rt, n, grain, cover_fn, &c);
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(c.count[i] == 1, "threads %d n %zu: index %zu run %d times",
                              threads, n, i, c.count[i]);
            size_t t = (size_t)rmtl__par_threads(&rt), want = n / grain < t ? n / grain : t;
            ck_assert_uint_eq(c.ranges, n ? (want ? want : 1) : 0);
            for (size_t r = 0; r < c.ranges && c.ranges > 1; r++) {
                ck_assert_uint_ge(c.end[r] - c.begin[r], grain);
                ck_assert_int_eq(c.inner[r], 1); /* a loop inside a loop is serial */
            }
            /* ranges on distinct threads, the caller's among them */
            int caller = 0;
            for (size_t r = 0; r < c.ranges; r++) {
                caller |= pthread_equal(c.who[r], pthread_self());
                for (size_t q = 0; q < r; q++)
                    ck_assert(!pthread_equal(c.who[r], c.who[q]));
            }
            ck_assert(c.ranges == 0 || caller);
            pthread_mutex_destroy(&c.lock);
            free(c.count);
        }
    rmtl__rt one = {1}, two = {2};
    ck_assert_int_eq(rmtl__par_threads(&one), 1);
    ck_assert_int_eq(rmtl__par_threads(NULL), 1);
#if RMTL_TEST_OPENMP
    /* built with OpenMP (the Makefile says): loops use BLIS's team if it has one */
    ck_assert_int_eq(rmtl__par_threads(&two), bli_info_get_enable_openmp() ? 2 : 1);
#else
    ck_assert_int_eq(rmtl__par_threads(&two), 1);
#endif
}
END_TEST

/* The folded gathers split by row: bit for bit the serial result. */
START_TEST(test_fold_rows_threads)
{
    rmtl_config *cfg = mtl_small_config("mmoe", 9);
    ck_assert_ptr_nonnull(cfg);
    rmtl_model *m = mtl_model(cfg, 2);
    ck_assert_ptr_nonnull(m);
    rmtl_config_free(cfg);
    mtl_data d;
    mtl_data_make(&d, 300, 2, 5);
    rmtl__rt one = {1}, two = {2};
    rmtl__fold *f = NULL;
    ck_assert_int_eq(rmtl__fold_build(&f, &m->net, &one, SIZE_MAX, SIZE_MAX, NULL), 0);
    ck_assert_ptr_nonnull(f);
    size_t n = d.rows;
    float *H1 = malloc(n * f->width * sizeof *H1), *H2 = malloc(n * f->width * sizeof *H2);
    rmtl__fold_pre(f, &one, n, d.cat, d.num, NULL, 0, H1);
    rmtl__fold_pre(f, &two, n, d.cat, d.num, NULL, 0, H2);
    ck_assert(memcmp(H1, H2, n * f->width * sizeof *H1) == 0);
    free(H1);
    free(H2);
    rmtl__fold_free(f);
    rmtl_model_free(m);
    mtl_data_free(&d);
}
END_TEST

/* Adam split across threads: bit for bit the serial update, for a dense
 * parameter and the touched rows of a sparse one, over three steps. */
START_TEST(test_adam_threads)
{
    rmtl__params ps[2];
    rmtl__adam opt[2];
    for (int k = 0; k < 2; k++) {
        rmtl__params_init(&ps[k]);
        rmtl__param *d, *sp;
        ck_assert_int_eq(rmtl__params_add(&ps[k], &d, "dense.w", 300, 257, 0), 0);
        ck_assert_int_eq(rmtl__params_add(&ps[k], &sp, "table.w", 2000, 33, 1), 0);
        for (size_t i = 0; i < 300 * 257; i++)
            d->w[i] = (float)((int)(i * 2654435761u >> 21) % 201 - 100) / 50.0f;
        for (size_t i = 0; i < 2000 * 33; i++)
            sp->w[i] = (float)((int)(i * 40503u >> 7) % 101 - 50) / 25.0f;
        rmtl__adam_init(&opt[k], 0.01, 0.001);
        opt[k].clip_norm = 5.0;
    }
    rmtl__rt one = {1}, two = {2};
    for (int step = 0; step < 3; step++) {
        for (int k = 0; k < 2; k++) {
            rmtl__params_zero_grad(&ps[k]);
            rmtl__param *d = ps[k].p[0], *sp = ps[k].p[1];
            for (size_t i = 0; i < 300 * 257; i++)
                d->g[i] = (float)((int)((i + 7u * (unsigned)step) * 2246822519u >> 22) % 61 - 30) /
                          40.0f;
            for (size_t r = 0; r < 2000; r += 1 + (size_t)step) { /* rows touched */
                for (size_t j = 0; j < 33; j++)
                    sp->g[r * 33 + j] = (float)((int)((r * 33 + j) * 3266489917u >> 23) % 41 - 20);
                rmtl__param_touch(sp, r);
            }
            double norm;
            ck_assert_int_eq(rmtl__adam_step(&opt[k], k ? &two : &one, &ps[k], &norm), 0);
        }
        for (size_t i = 0; i < 2; i++) {
            const rmtl__param *a = ps[0].p[i], *b = ps[1].p[i];
            size_t m = a->rows * a->cols;
            ck_assert(memcmp(a->w, b->w, m * sizeof(float)) == 0);
            ck_assert(memcmp(a->m, b->m, m * sizeof(float)) == 0);
            ck_assert(memcmp(a->v, b->v, m * sizeof(float)) == 0);
        }
    }
    for (int k = 0; k < 2; k++)
        rmtl__params_free(&ps[k]);
}
END_TEST

Suite *rmtl_test_par_suite(void)
{
    Suite *s = suite_create("par");
    TCase *tc = tcase_create("par");
    tcase_add_test(tc, test_par_covers_once);
    tcase_add_test(tc, test_fold_rows_threads);
    tcase_add_test(tc, test_adam_threads);
    suite_add_tcase(s, tc);
    return s;
}
