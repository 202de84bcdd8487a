/* Checks shared by the harnesses (fuzz.h). */
#include "fuzz/fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "rmtl.h"

void fuzz_require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz: %s\n", what);
        abort();
    }
}

void fuzz_check_status(int rc, const char *what)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "%s: %s%s%s\n", what, rmtl_strerror(rc), rc ? ": " : "",
                rc ? rmtl_last_error() : "");
    if (rc == RMTL_OK)
        return;
    if (rc > RMTL_OK || rc < RMTL_ENUMERIC) {
        fprintf(stderr, "fuzz: %s returned %d, not an rmtl_status\n", what, rc);
        abort();
    }
    if (rmtl_last_error()[0] == '\0') {
        fprintf(stderr, "fuzz: %s failed (%s) without a message\n", what, rmtl_strerror(rc));
        abort();
    }
    rmtl_error_clear();
}
