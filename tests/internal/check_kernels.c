/* The blocked row kernels (the AVX2/AVX-512 clones the loader picks) against
 * plain reference loops, on widths around the 16-wide blocks, with padded
 * strides and non-finite values where the guard must see them. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"

static float val(unsigned i) { return (float)((int)(i * 2654435761u >> 20) % 201 - 100) / 37.0f; }

static const size_t widths[] = {1, 7, 15, 16, 17, 31, 33, 64, 100};

START_TEST(test_bias_act_matches_reference)
{
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++)
        for (int relu = 0; relu < 2; relu++)
            for (int has_b = 0; has_b < 2; has_b++) {
                size_t n = 3, m = widths[w], ld = m + 5;
                float *y = malloc(n * ld * sizeof *y), *r = malloc(n * ld * sizeof *r);
                float *b = malloc(m * sizeof *b);
                for (size_t i = 0; i < n * ld; i++) y[i] = r[i] = val((unsigned)i);
                for (size_t j = 0; j < m; j++) b[j] = val((unsigned)j + 999);
                ck_assert_int_eq(rmtl__bias_act(n, m, y, ld, has_b ? b : NULL, relu), 0);
                for (size_t i = 0; i < n; i++)
                    for (size_t j = 0; j < ld; j++) {
                        float want = r[i * ld + j];
                        if (j < m) {
                            want += has_b ? b[j] : 0.0f;
                            if (relu && !(want > 0.0f))
                                want = 0.0f;
                        }
                        ck_assert_msg(y[i * ld + j] == want, "m=%zu relu=%d b=%d at %zu,%zu", m,
                                      relu, has_b, i, j);
                    }
                y[(n - 1) * ld + m - 1] = NAN; /* the last element of the last row */
                ck_assert_int_ne(rmtl__bias_act(n, m, y, ld, NULL, relu), 0);
                free(y), free(r), free(b);
            }
}
END_TEST

START_TEST(test_colsum_and_nonfinite)
{
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        size_t n = 5, m = widths[w], ld = m + 3;
        float *dy = malloc(n * ld * sizeof *dy), *db = calloc(m, sizeof *db);
        for (size_t i = 0; i < n * ld; i++) dy[i] = val((unsigned)i * 7);
        ck_assert_int_eq(rmtl__colsum(n, m, dy, ld, db), 0);
        for (size_t j = 0; j < m; j++) {
            float want = 0.0f;
            for (size_t i = 0; i < n; i++) want += dy[i * ld + j];
            ck_assert_msg(fabsf(db[j] - want) <= 1e-5f * (1 + fabsf(want)), "m=%zu j=%zu", m, j);
        }
        ck_assert_int_eq(rmtl__nonfinite(n, m, dy, ld), 0);
        dy[2 * ld + m / 2] = -INFINITY;
        ck_assert_int_ne(rmtl__nonfinite(n, m, dy, ld), 0);
        dy[2 * ld + m / 2] = 0.0f;
        dy[ld - 1] = NAN; /* in the padding: not part of the block */
        ck_assert_int_eq(rmtl__nonfinite(n, m, dy, ld), 0);
        free(dy), free(db);
    }
}
END_TEST

START_TEST(test_relu_grad_matches_reference)
{
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        size_t n = 4, m = widths[w], ldh = m + 1, ldg = m + 2, ldz = m + 3;
        float *h = malloc(n * ldh * sizeof *h), *g = malloc(n * ldg * sizeof *g);
        float *z = malloc(n * ldz * sizeof *z);
        for (size_t i = 0; i < n * ldh; i++) h[i] = val((unsigned)i * 3) > 0 ? val((unsigned)i) : 0;
        for (size_t i = 0; i < n * ldg; i++) g[i] = val((unsigned)i * 5 + 1);
        g[0] = h[0] > 0.0f ? g[0] : NAN; /* masked out: must give 0, not NaN */
        rmtl__relu_grad(n, m, h, ldh, g, ldg, z, ldz, 1.25f);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < m; j++) {
                float want = h[i * ldh + j] > 0.0f ? g[i * ldg + j] * 1.25f : 0.0f;
                ck_assert_msg(z[i * ldz + j] == want, "m=%zu at %zu,%zu", m, i, j);
            }
        free(h), free(g), free(z);
    }
}
END_TEST

/* The gather-add of the folded input layer against plain double sums,
 * for every mix of plain and scaled rows, fresh and added-to outputs. */
START_TEST(test_rows_sum_matches_reference)
{
    enum { R = 5 };
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        size_t m = widths[w];
        float *src = malloc(2 * R * (m + 1) * sizeof *src), *y = malloc((m + 1) * sizeof *y);
        const float *rows[R], *scaled[R];
        float a[R];
        for (size_t i = 0; i < 2 * R * (m + 1); i++)
            src[i] = val((unsigned)i * 7 + 2);
        for (size_t r = 0; r < R; r++) {
            rows[r] = src + r * (m + 1);
            scaled[r] = src + (R + r) * (m + 1) + 1; /* unaligned */
            a[r] = val((unsigned)r + 99);
        }
        for (size_t nr = 0; nr <= R; nr++)
            for (size_t ns = 0; ns <= 2; ns++)
                for (int add = 0; add < 2; add++) {
                    for (size_t j = 0; j <= m; j++)
                        y[j] = val((unsigned)j + 40);
                    rmtl__rows_sum(m, y, add, rows, nr, a, scaled, ns);
                    for (size_t j = 0; j < m; j++) {
                        double want = add ? val((unsigned)j + 40) : 0.0;
                        for (size_t r = 0; r < nr; r++)
                            want += rows[r][j];
                        for (size_t r = 0; r < ns; r++)
                            want += (double)a[r] * scaled[r][j];
                        ck_assert_msg(fabs(y[j] - want) <= 1e-5 * (1 + fabs(want)),
                                      "m=%zu rows %zu scaled %zu add %d at %zu: %g vs %g", m,
                                      nr, ns, add, j, (double)y[j], want);
                    }
                    ck_assert(y[m] == val((unsigned)m + 40)); /* past the end: untouched */
                }
        free(src), free(y);
    }
}
END_TEST

Suite *rmtl_test_kernels_suite(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("reference");
    tcase_add_test(tc, test_bias_act_matches_reference);
    tcase_add_test(tc, test_colsum_and_nonfinite);
    tcase_add_test(tc, test_relu_grad_matches_reference);
    tcase_add_test(tc, test_rows_sum_matches_reference);
    suite_add_tcase(s, tc);
    return s;
}
