/* Checks shared by the harnesses (fuzz.h). */
#include "fuzz/fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/bytes.h"
#include "core/ckpt.h"
#include "core/crc32.h"
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

/* Rewrites the section, table and header CRCs of a raw container in place
 * (for entries that lie inside the buffer). */
void fuzz_fix_crcs(unsigned char *b, size_t len)
{
    if (len < RMTL__CKPT_HEADER_SIZE)
        return;
    uint32_t count = rmtl__load_u32le(b + 20);
    size_t max = (len - RMTL__CKPT_HEADER_SIZE) / RMTL__CKPT_ENTRY_SIZE;
    if (count > max)
        count = (uint32_t)max;
    for (uint32_t i = 0; i < count; i++) {
        unsigned char *e = b + RMTL__CKPT_HEADER_SIZE + (size_t)i * RMTL__CKPT_ENTRY_SIZE;
        uint64_t off = rmtl__load_u64le(e + 8), slen = rmtl__load_u64le(e + 16);
        if (off <= len && slen <= len - off)
            rmtl__store_u32le(e + 24, rmtl__crc32(0, b + off, (size_t)slen));
    }
    size_t table = (size_t)count * RMTL__CKPT_ENTRY_SIZE;
    rmtl__store_u32le(b + 28, rmtl__crc32(0, b + RMTL__CKPT_HEADER_SIZE, table));
    rmtl__store_u32le(b + 24, rmtl__crc32(0, b, 24));
}
