/* Public API: status codes, per-thread messages, version queries. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmtl.h"

_Static_assert(RMTL_OK == 0 && RMTL_EINVAL == -2 && RMTL_ENUMERIC == -9, "codes are pinned");

START_TEST(test_strerror_all_codes)
{
    for (int c = RMTL_ENUMERIC; c <= RMTL_OK; c++) {
        const char *s = rmtl_strerror(c);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_ne(s, "unknown error code");
    }
    ck_assert_str_eq(rmtl_strerror(-1000), "unknown error code");
}
END_TEST

START_TEST(test_version)
{
    ck_assert_uint_eq(rmtl_version_number(), RMTL_VERSION_NUMBER);
    ck_assert_str_eq(rmtl_version_string(), RMTL_VERSION_STRING);
    const char *info = rmtl_build_info();
    ck_assert_ptr_nonnull(strstr(info, "rmtl=" RMTL_VERSION_STRING));
    ck_assert_ptr_nonnull(strstr(info, "blis_arch="));
    ck_assert_ptr_nonnull(strstr(info, "yaml="));
}
END_TEST

/* A failing call on one thread must not touch another thread's message. */
static void *thread_fail(void *arg)
{
    (void)arg;
    rmtl_error_clear();
    int rc = rmtl_config_create(NULL);
    static char copy[512];
    snprintf(copy, sizeof copy, "%d|%s", rc, rmtl_last_error());
    return copy;
}

START_TEST(test_last_error_per_thread)
{
    rmtl_error_clear();
    ck_assert_str_eq(rmtl_last_error(), "");
    pthread_t t;
    char *res;
    pthread_create(&t, NULL, thread_fail, NULL);
    pthread_join(t, (void **)&res);
    ck_assert_int_eq(atoi(res), RMTL_EINVAL);
    ck_assert_ptr_nonnull(strstr(res, "rmtl_config_create"));
    /* This thread still has its empty message. */
    ck_assert_str_eq(rmtl_last_error(), "");
    ck_assert_int_eq(rmtl_config_create(NULL), RMTL_EINVAL);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "out"));
}
END_TEST

static int log_calls;
static void count_log(int level, const char *msg, void *payload)
{
    (void)level;
    (void)msg;
    *(int *)payload += 1;
}

START_TEST(test_free_null_and_log_callback)
{
    rmtl_free(NULL);
    rmtl_config_free(NULL);
    rmtl_set_log_callback(count_log, &log_calls);
    rmtl_set_log_callback(NULL, NULL);
}
END_TEST

Suite *rmtl_test_errors_suite(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_strerror_all_codes);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_last_error_per_thread);
    tcase_add_test(tc, test_free_null_and_log_callback);
    suite_add_tcase(s, tc);
    return s;
}
