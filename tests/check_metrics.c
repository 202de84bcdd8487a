/* Public API: AUC (exact, ties averaged), log-loss, session log-loss. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rmtl.h"

#define ASSERT_OK(expr) ck_assert_msg((expr) == RMTL_OK, "%s: %s", #expr, rmtl_last_error())

static double auc(const float *s, const float *y, size_t n)
{
    double out = -1;
    ASSERT_OK(rmtl_auc(&out, s, y, n, 1));
    return out;
}

START_TEST(test_auc_hand_computed)
{
    /* every positive above every negative but one pair: 3 of 4 pairs */
    const float s1[] = {0.1f, 0.4f, 0.35f, 0.8f}, y1[] = {0, 0, 1, 1};
    ck_assert_double_eq_tol(auc(s1, y1, 4), 0.75, 1e-12);
    /* a tie between a positive and a negative counts one half: 3.5 / 4 */
    const float s2[] = {0.2f, 0.5f, 0.5f, 0.9f}, y2[] = {0, 0, 1, 1};
    ck_assert_double_eq_tol(auc(s2, y2, 4), 0.875, 1e-12);
    /* all scores equal */
    const float s3[] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f}, y3[] = {0, 1, 0, 1, 1};
    ck_assert_double_eq_tol(auc(s3, y3, 5), 0.5, 1e-12);
    /* perfect and reversed */
    const float s4[] = {0.9f, 0.1f, 0.8f, 0.2f}, y4[] = {1, 0, 1, 0};
    ck_assert_double_eq_tol(auc(s4, y4, 4), 1.0, 1e-12);
    const float y5[] = {0, 1, 0, 1};
    ck_assert_double_eq_tol(auc(s4, y5, 4), 0.0, 1e-12);
    /* ties inside one class do not matter: pos {0.7, 0.7}, neg {0.7, 0.1}:
     * pairs (0.7,0.7)=.5 ×2, (0.7,0.1)=1 ×2 -> 3/4 */
    const float s6[] = {0.7f, 0.7f, 0.7f, 0.1f}, y6[] = {1, 1, 0, 0};
    ck_assert_double_eq_tol(auc(s6, y6, 4), 0.75, 1e-12);
}
END_TEST

START_TEST(test_auc_stride)
{
    /* two tasks interleaved: task 1 is the reverse of task 0 */
    const float s[] = {0.9f, 0.1f, 0.1f, 0.9f, 0.8f, 0.3f, 0.2f, 0.7f};
    const float y[] = {1, 0, 0, 1, 1, 0, 0, 1};
    double a0, a1;
    ASSERT_OK(rmtl_auc(&a0, s, y, 4, 2));
    ASSERT_OK(rmtl_auc(&a1, s + 1, y + 1, 4, 2));
    ck_assert_double_eq_tol(a0, 1.0, 1e-12);
    ck_assert_double_eq_tol(a1, 1.0, 1e-12);
    const float y_rev[] = {1, 1, 0, 0, 1, 1, 0, 0};
    ASSERT_OK(rmtl_auc(&a1, s + 1, y_rev + 1, 4, 2));
    ck_assert_double_eq_tol(a1, 0.0, 1e-12);
}
END_TEST

/* O(n²) reference: the fraction of (positive, negative) pairs ordered
 * right, ties counting one half. */
static double auc_pairwise(const float *s, const float *y, size_t n)
{
    double good = 0, pairs = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (y[i] == 1 && y[j] == 0) {
                pairs++;
                good += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
            }
    return good / pairs;
}

START_TEST(test_auc_matches_pairwise)
{
    uint64_t st = 88172645463325252u;
    for (int trial = 0; trial < 40; trial++) {
        size_t n = 2 + (size_t)(trial * 37 % 500);
        float *s = malloc(n * sizeof *s), *y = malloc(n * sizeof *y);
        int levels = trial % 3 == 0 ? 5 : 1000; /* many ties in a third of the trials */
        for (size_t i = 0; i < n; i++) {
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            s[i] = (float)(st % (uint64_t)levels) / (float)levels;
            y[i] = (st >> 32) % 3 == 0 ? 1.0f : 0.0f;
            /* labels correlated with scores, so the AUC is not ~0.5 only */
            if (trial % 2 && s[i] > 0.6f)
                y[i] = 1.0f;
        }
        y[0] = 1, y[1] = 0;
        ck_assert_double_eq_tol(auc(s, y, n), auc_pairwise(s, y, n), 1e-12);
        free(s), free(y);
    }
}
END_TEST

START_TEST(test_auc_errors)
{
    const float s[] = {0.1f, 0.2f, 0.3f}, ones[] = {1, 1, 1}, half[] = {0, 0.5f, 1};
    const float nan_s[] = {0.1f, NAN, 0.3f}, y[] = {0, 1, 1};
    double out = 42;
    ck_assert_int_eq(rmtl_auc(&out, s, ones, 3, 1), RMTL_EINVAL);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "all 3 labels are 1"));
    ck_assert_int_eq(rmtl_auc(&out, s, half, 3, 1), RMTL_EINVAL);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "row 1"));
    ck_assert_int_eq(rmtl_auc(&out, nan_s, y, 3, 1), RMTL_ENUMERIC);
    ck_assert_int_eq(rmtl_auc(&out, s, y, 0, 1), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_auc(&out, s, y, 3, 0), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_auc(NULL, s, y, 3, 1), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_auc(&out, s, NULL, 3, 1), RMTL_EINVAL);
    ck_assert_double_eq(out, 42); /* untouched on error */
}
END_TEST

START_TEST(test_logloss)
{
    const float s[] = {0.5f, 0.9f, 0.2f}, y[] = {1, 1, 0};
    double out;
    ASSERT_OK(rmtl_logloss(&out, s, y, 3, 1));
    double want = (log(2.0) - log((double)0.9f) - log(1.0 - (double)0.2f)) / 3.0;
    ck_assert_double_eq_tol(out, want, 1e-12);
    /* clamping: a confident mistake costs -ln(1e-7), not infinity */
    const float s2[] = {0.0f, 1.0f}, y2[] = {1, 0};
    ASSERT_OK(rmtl_logloss(&out, s2, y2, 2, 1));
    ck_assert_double_eq_tol(out, -log(1e-7), 1e-6);
    const float y3[] = {0, 1};
    ASSERT_OK(rmtl_logloss(&out, s2, y3, 2, 1));
    ck_assert_double_eq_tol(out, -log(1.0 - 1e-7), 1e-9);
    /* soft labels are allowed, labels out of [0,1] are not */
    const float ys[] = {0.25f}, sp[] = {0.5f}, bad[] = {1.5f};
    ASSERT_OK(rmtl_logloss(&out, sp, ys, 1, 1));
    ck_assert_double_eq_tol(out, log(2.0), 1e-12);
    ck_assert_int_eq(rmtl_logloss(&out, sp, bad, 1, 1), RMTL_EINVAL);
    const float sn[] = {NAN};
    ck_assert_int_eq(rmtl_logloss(&out, sn, ys, 1, 1), RMTL_ENUMERIC);
    ck_assert_int_eq(rmtl_logloss(&out, sp, ys, 0, 1), RMTL_EINVAL);
}
END_TEST

static double bce(double p, double y) { return -(y * log(p) + (1 - y) * log(1 - p)); }

START_TEST(test_session_logloss)
{
    /* sessions 7: rows 0, 2, 3; 3: row 1 (not contiguous) */
    const float s[] = {0.8f, 0.3f, 0.6f, 0.1f}, y[] = {1, 1, 0, 0};
    const int64_t sid[] = {7, 3, 7, 7};
    double out;
    ASSERT_OK(rmtl_session_logloss(&out, s, y, 4, 1, sid));
    double s7 = (bce(0.8f, 1) + bce(0.6f, 0) + bce(0.1f, 0)) / 3.0, s3 = bce(0.3f, 1);
    ck_assert_double_eq_tol(out, (s7 + s3) / 2.0, 1e-12);
    /* one row per session: the plain log-loss */
    const int64_t own[] = {1, 2, 3, 4};
    double plain;
    ASSERT_OK(rmtl_session_logloss(&out, s, y, 4, 1, own));
    ASSERT_OK(rmtl_logloss(&plain, s, y, 4, 1));
    ck_assert_double_eq_tol(out, plain, 1e-12);
    /* stride applies to scores and labels, not to session ids */
    const float s2[] = {0.8f, 0, 0.3f, 0, 0.6f, 0, 0.1f, 0}, y2[] = {1, 0, 1, 0, 0, 0, 0, 0};
    double strided;
    ASSERT_OK(rmtl_session_logloss(&strided, s2, y2, 4, 2, sid));
    ck_assert_double_eq_tol(strided, (s7 + s3) / 2.0, 1e-12);
    ck_assert_int_eq(rmtl_session_logloss(&out, s, y, 4, 1, NULL), RMTL_EINVAL);
}
END_TEST

Suite *rmtl_test_metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_auc_hand_computed);
    tcase_add_test(tc, test_auc_stride);
    tcase_add_test(tc, test_auc_matches_pairwise);
    tcase_add_test(tc, test_auc_errors);
    tcase_add_test(tc, test_logloss);
    tcase_add_test(tc, test_session_logloss);
    suite_add_tcase(s, tc);
    return s;
}
