/* Slow test cases (see slow.h). */
#include "util/slow.h"

TCase *rmtl_slow_tcase(Suite *s, const char *name, double timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_tags(tc, "slow");
    tcase_set_timeout(tc, timeout);
    suite_add_tcase(s, tc);
    return tc;
}
