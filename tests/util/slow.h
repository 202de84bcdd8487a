/* Test cases too slow for the valgrind run. */
#ifndef RMTL_TESTS_SLOW_H
#define RMTL_TESTS_SLOW_H

#include <check.h>

/* A test case named `name`, tagged "slow" and added to `s`:
 * `make check-valgrind` leaves it out (CK_EXCLUDE_TAGS=slow); every other
 * run includes it. Timeout in seconds. */
TCase *rmtl_slow_tcase(Suite *s, const char *name, double timeout);

#endif
