/* Test helpers for the data layer: temporary files and the shared data. */
#ifndef RMTL_TESTS_TDATA_H
#define RMTL_TESTS_TDATA_H

#include <stddef.h>

/* Writes `len` bytes (len == (size_t)-1: strlen) to a file `name` in this
 * process's temporary directory and returns its path (static storage per
 * call slot: up to 8 paths live at once). Aborts the test on failure. */
const char *rmtl_tdata_write(const char *name, const void *data, size_t len);
/* Path of ../shared/data/<rel>, or NULL (with the reason printed, so the
 * calling test can return: "skipped") when it is absent. */
const char *rmtl_tdata_shared(const char *rel);
/* Path of <repo>/<rel> (e.g. "examples/schemas/census.yaml"). */
const char *rmtl_tdata_repo(const char *rel);
/* Reads a whole file (gzip transparently is NOT done); malloc'd, or NULL. */
char *rmtl_tdata_read(const char *path, size_t *len);
/* Removes the files written so far and the directory. */
void rmtl_tdata_cleanup(void);

#endif
