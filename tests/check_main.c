/* Test runner: adds every suite listed in the generated RMTL_SUITES file. */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rmtl.h"

#define RMTL_SUITE(area) Suite *rmtl_test_##area##_suite(void);
#include RMTL_SUITES
#undef RMTL_SUITE

/* With RMTL_TEST_MESSAGES=FILE, every error message the library sets
 * (passed to the log callback at RMTL_LOG_DEBUG) is appended to FILE, one a
 * line, for .ci/check-messages to scan. One write(2) per line on an
 * O_APPEND descriptor, so the forked tests and their threads interleave
 * whole lines. A test that installs its own callback replaces this one for
 * its own run. */
static void record_message(int level, const char *message, void *payload)
{
    if (level != RMTL_LOG_DEBUG)
        return;
    char line[600];
    size_t n = strnlen(message, sizeof line - 2);
    memcpy(line, message, n);
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t rc = write(*(int *)payload, line, n);
    (void)rc;
}

int main(void)
{
    static int fd = -1;
    const char *messages = getenv("RMTL_TEST_MESSAGES");
    if (messages && *messages) {
        fd = open(messages, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0)
            rmtl_set_log_callback(record_message, &fd);
    }
    SRunner *sr = srunner_create(NULL);
#define RMTL_SUITE(area) srunner_add_suite(sr, rmtl_test_##area##_suite());
#include RMTL_SUITES
#undef RMTL_SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (fd >= 0)
        close(fd);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
