/* Test runner: adds every suite listed in the generated RMTL_SUITES file. */
#include <check.h>
#include <stdlib.h>

#define RMTL_SUITE(area) Suite *rmtl_test_##area##_suite(void);
#include RMTL_SUITES
#undef RMTL_SUITE

int main(void)
{
    SRunner *sr = srunner_create(NULL);
#define RMTL_SUITE(area) srunner_add_suite(sr, rmtl_test_##area##_suite());
#include RMTL_SUITES
#undef RMTL_SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
