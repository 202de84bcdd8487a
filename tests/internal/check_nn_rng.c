/* The generator: known answers, streams, distributions, state round trip. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "rmtl.h"
#include "util/slow.h"

START_TEST(test_known_answers)
{
    /* splitmix64 from 0, and xoshiro256** from the state {1, 2, 3, 4}: the
     * values of the authors' reference code. */
    uint64_t sm = 0;
    ck_assert_uint_eq(rmtl__splitmix64(&sm), 0xe220a8397b1dcdafu);
    ck_assert_uint_eq(rmtl__splitmix64(&sm), 0x6e789e6aa1b965f4u);
    rmtl__rng r;
    uint64_t st[4] = {1, 2, 3, 4};
    ck_assert_int_eq(rmtl__rng_set_state(&r, st), 0);
    static const uint64_t want[6] = {11520u, 0u, 1509978240u, 1215971899390074240u,
                                     1216172134540287360u, 607988272756665600u};
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(rmtl__rng_u64(&r), want[i]);
    /* seeding and jumps (computed with an independent implementation) */
    rmtl__rng_seed(&r, 42, 0);
    ck_assert_uint_eq(rmtl__rng_u64(&r), 0x15780b2e0c2ec716u);
    ck_assert_uint_eq(rmtl__rng_u64(&r), 0x6104d9866d113a7eu);
    rmtl__rng_seed(&r, 42, 2);
    ck_assert_uint_eq(rmtl__rng_u64(&r), 0x8677623ee7544e81u);
    ck_assert_uint_eq(rmtl__rng_u64(&r), 0x1f591f213a3cb979u);
}
END_TEST

START_TEST(test_streams_and_state)
{
    rmtl__rng a, b, c;
    rmtl__rng_seed(&a, 7, RMTL__STREAM_INIT);
    rmtl__rng_seed(&b, 7, RMTL__STREAM_DROPOUT);
    rmtl__rng_seed(&c, 8, RMTL__STREAM_INIT);
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rmtl__rng_u64(&a), y = rmtl__rng_u64(&b), z = rmtl__rng_u64(&c);
        same_ab += x == y;
        same_ac += x == z;
    }
    ck_assert_int_eq(same_ab, 0);
    ck_assert_int_eq(same_ac, 0);
    /* a stream is the seed jumped: stream 1 == stream 0 + one jump */
    rmtl__rng j;
    rmtl__rng_seed(&j, 7, 0);
    rmtl__rng_jump(&j);
    rmtl__rng_seed(&b, 7, 1);
    ck_assert(memcmp(j.s, b.s, sizeof j.s) == 0);
    /* the state round-trips and resumes the same sequence */
    uint64_t saved[4];
    rmtl__rng_get_state(&a, saved);
    uint64_t next[5];
    for (int i = 0; i < 5; i++)
        next[i] = rmtl__rng_u64(&a);
    rmtl__rng r;
    ck_assert_int_eq(rmtl__rng_set_state(&r, saved), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(rmtl__rng_u64(&r), next[i]);
    uint64_t zero[4] = {0, 0, 0, 0};
    uint64_t before[4];
    rmtl__rng_get_state(&r, before);
    ck_assert_int_eq(rmtl__rng_set_state(&r, zero), RMTL_EINVAL);
    ck_assert(memcmp(before, r.s, sizeof before) == 0); /* refused: unchanged */
}
END_TEST

START_TEST(test_uniform_moments)
{
    rmtl__rng r;
    rmtl__rng_seed(&r, 1, RMTL__STREAM_SAMPLE);
    const int n = 1000000;
    double sd = 0, sd2 = 0, sf = 0, sf2 = 0, sn = 0, sn2 = 0;
    for (int i = 0; i < n; i++) {
        double d = rmtl__rng_double(&r);
        float f = rmtl__rng_float(&r);
        double g = rmtl__rng_normal(&r);
        ck_assert(d >= 0.0 && d < 1.0);
        ck_assert(f >= 0.0f && f < 1.0f);
        ck_assert(isfinite(g));
        sd += d, sd2 += d * d, sf += f, sf2 += (double)f * f, sn += g, sn2 += g * g;
    }
    /* standard errors: mean 2.9e-4 (uniform), 1e-3 (normal) */
    double md = sd / n, mf = sf / n, mn = sn / n;
    ck_assert_msg(fabs(md - 0.5) < 0.002, "double mean %g", md);
    ck_assert_msg(fabs(sd2 / n - md * md - 1.0 / 12) < 0.002, "double variance");
    ck_assert_msg(fabs(mf - 0.5) < 0.002, "float mean %g", mf);
    ck_assert_msg(fabs(sf2 / n - mf * mf - 1.0 / 12) < 0.002, "float variance");
    ck_assert_msg(fabs(mn) < 0.006, "normal mean %g", mn);
    ck_assert_msg(fabs(sn2 / n - mn * mn - 1.0) < 0.01, "normal variance %g", sn2 / n);
}
END_TEST

/* χ² of `draws` values of below(n) grouped into k equal-probability bins. */
static double chi2_bins(rmtl__rng *r, uint64_t n, int k, int draws, uint64_t width)
{
    long count[16] = {0};
    for (int i = 0; i < draws; i++) {
        uint64_t x = rmtl__rng_below(r, n);
        ck_assert(x < n);
        count[x / width]++;
    }
    double e = (double)draws / k, chi2 = 0;
    for (int b = 0; b < k; b++)
        chi2 += (count[b] - e) * (count[b] - e) / e;
    return chi2;
}

START_TEST(test_integer_range_unbiased)
{
    rmtl__rng r;
    rmtl__rng_seed(&r, 3, RMTL__STREAM_SAMPLE);
    /* 7 values: χ²(6) < 22.46 at p = 0.001 */
    double c7 = chi2_bins(&r, 7, 7, 70000, 1);
    ck_assert_msg(c7 < 22.46, "chi2 %g", c7);
    /* n = 3·2^62: plain x % n would put half of the mass in the first
     * third (χ² in the thousands); unbiased thirds give χ²(2) < 13.8. */
    uint64_t n = 3ull << 62;
    double c3 = chi2_bins(&r, n, 3, 30000, 1ull << 62);
    ck_assert_msg(c3 < 13.8, "chi2 %g", c3);
    ck_assert_uint_eq(rmtl__rng_below(&r, 1), 0);
    ck_assert_uint_eq(rmtl__rng_below(&r, 0), 0);
}
END_TEST

Suite *rmtl_test_nn_rng_suite(void)
{
    Suite *s = suite_create("nn_rng");
    TCase *tc = tcase_create("rng");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_known_answers);
    tcase_add_test(tc, test_streams_and_state);
    tcase_add_test(tc, test_integer_range_unbiased);
    suite_add_tcase(s, tc);
    TCase *slow = rmtl_slow_tcase(s, "rng_slow", 60);
    tcase_add_test(slow, test_uniform_moments);
    return s;
}
