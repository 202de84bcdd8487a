/* The BLIS wrapper against the reference GEMM, all transpose combinations. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "nn/gemm.h"
#include "util/slow.h"

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void check_case(int ta, int tb, size_t m, size_t n, size_t k, float beta, int threads)
{
    unsigned seed = (unsigned)(m * 131 + n * 17 + k + ta * 7 + tb * 3);
    size_t lda = ta ? m + 1 : k + 2, ldb = tb ? k + 3 : n + 1, ldc = n + 2;
    size_t arows = ta ? k : m, brows = tb ? n : k;
    float *a = malloc(arows * lda * sizeof *a), *b = malloc(brows * ldb * sizeof *b);
    float *c1 = malloc(m * ldc * sizeof *c1), *c2 = malloc(m * ldc * sizeof *c2);
    for (size_t i = 0; i < arows * lda; i++) a[i] = frand(&seed);
    for (size_t i = 0; i < brows * ldb; i++) b[i] = frand(&seed);
    for (size_t i = 0; i < m * ldc; i++) c1[i] = c2[i] = frand(&seed);
    if (beta == 0.0f) /* beta == 0 must ignore NaN in C */
        c1[0] = c2[0] = NAN;
    rmtl__rt rt = {threads};
    rmtl__gemm(&rt, ta, tb, m, n, k, 0.75f, a, lda, b, ldb, beta, c1, ldc);
    rmtl__gemm_ref(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, beta, c2, ldc);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            float x = c1[i * ldc + j], y = c2[i * ldc + j];
            ck_assert_msg(isfinite(x), "non-finite at %zu,%zu", i, j);
            ck_assert_msg(fabsf(x - y) <= 1e-5f * (1.0f + fabsf(y)) * sqrtf((float)k + 1),
                          "ta=%d tb=%d m=%zu n=%zu k=%zu: %g vs %g", ta, tb, m, n, k, x, y);
        }
    free(a), free(b), free(c1), free(c2);
}

START_TEST(test_gemm_matches_reference)
{
    static const size_t shapes[][3] = {{1, 1, 1}, {1, 7, 5}, {3, 1, 9}, {17, 13, 31},
                                       {64, 33, 128}, {5, 64, 1}, {129, 65, 67}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                check_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 0.0f, 1);
                check_case(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 0.5f, 2);
            }
}
END_TEST

START_TEST(test_gemm_k_zero)
{
    float c[4] = {1, 2, 3, 4};
    rmtl__rt rt = {1};
    rmtl__gemm(&rt, 0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.5f, c, 2);
    ck_assert(c[0] == 0.5f && c[3] == 2.0f);
    rmtl__gemm(&rt, 0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.0f, c, 2);
    ck_assert(c[0] == 0.0f && c[3] == 0.0f);
}
END_TEST

START_TEST(test_blis_arch_reported)
{
    int host_chose = getenv("BLIS_ARCH_TYPE") != NULL;
    const char *arch = rmtl__blis_arch();
    ck_assert_ptr_nonnull(arch);
    ck_assert_uint_gt(strlen(arch), 0);
    /* Where auto picks a kernel set and the host did not override it, that
     * set must be the one running. */
    const char *want = rmtl__blis_arch_auto();
    if (want && !host_chose)
        ck_assert_str_eq(arch, want);
    ck_assert_int_eq(rmtl__blis_init("no-such-arch"), 0); /* already fixed: ignored */
}
END_TEST

/* An explicit choice wins over auto. Only meaningful in a fresh process:
 * BLIS fixes its kernels once, so under CK_FORK=no it cannot be tested. */
START_TEST(test_blis_arch_override)
{
    const char *fork = getenv("CK_FORK");
    if (fork && !strcmp(fork, "no"))
        return;
    unsetenv("BLIS_ARCH_TYPE");
    ck_assert_int_eq(rmtl__blis_init("generic"), 0);
    ck_assert_str_eq(rmtl__blis_arch(), "generic");
    /* Products still agree with the reference on the generic kernels. */
    check_case(0, 1, 33, 17, 65, 0.5f, 2);
}
END_TEST

START_TEST(test_blis_arch_rejects_unknown)
{
    const char *fork = getenv("CK_FORK");
    if (fork && !strcmp(fork, "no"))
        return;
    ck_assert_int_eq(rmtl__blis_init("pentium4"), RMTL_ECONFIG);
}
END_TEST

Suite *rmtl_test_gemm_suite(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("blis");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gemm_k_zero);
    tcase_add_test(tc, test_blis_arch_reported);
    tcase_add_test(tc, test_blis_arch_override);
    tcase_add_test(tc, test_blis_arch_rejects_unknown);
    suite_add_tcase(s, tc);
    TCase *slow = rmtl_slow_tcase(s, "blis_slow", 60);
    tcase_add_test(slow, test_gemm_matches_reference);
    return s;
}
