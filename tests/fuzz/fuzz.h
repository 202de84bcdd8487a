/* Shared declarations of the fuzz harnesses (docs/reliability.md).
 *
 * Each harness defines LLVMFuzzerTestOneInput and is linked either with
 * libFuzzer (clang -fsanitize=fuzzer: `make fuzz`) or with replay.c, a
 * plain main() that feeds it the seed corpus and the regression inputs
 * (`make check`). A harness aborts when the library breaks a promise it
 * can check (an unknown status, a failure without a message, a round trip
 * that changes bytes); sanitizers catch the rest. With FUZZ_VERBOSE set in
 * the environment every checked call prints its status and message. */
#ifndef RMTL_TESTS_FUZZ_H
#define RMTL_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* util.c: aborts unless `rc` is a status of the public header and, when it is a
 * failure, the thread's message says something. `what` names the call. */
void fuzz_check_status(int rc, const char *what);
/* Aborts with "fuzz: <what>" on stderr when `ok` is false. */
void fuzz_require(int ok, const char *what);
/* Rewrites the section, table and header CRCs of a raw checkpoint
 * container in place (entries that lie inside the buffer), so mutations
 * reach the parsers behind the CRCs. */
void fuzz_fix_crcs(unsigned char *b, size_t len);

#endif
