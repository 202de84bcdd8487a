/* Test helpers for the data layer: temporary files and the shared data. */
#include "util/tdata.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tdata_dir[64];
static char tdata_files[64][128];
static size_t tdata_nfiles;

static const char *tdata_slot(void)
{
    static char slots[8][512];
    static unsigned next;
    return slots[next++ % 8];
}

const char *rmtl_tdata_write(const char *name, const void *data, size_t len)
{
    if (!tdata_dir[0]) {
        snprintf(tdata_dir, sizeof tdata_dir, "/tmp/rmtl-test-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tdata_dir));
    }
    char *path = (char *)tdata_slot();
    snprintf(path, 512, "%s/%s", tdata_dir, name);
    if (len == (size_t)-1)
        len = strlen(data);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    if (tdata_nfiles < 64)
        snprintf(tdata_files[tdata_nfiles++], 128, "%s", path);
    return path;
}

const char *rmtl_tdata_shared(const char *rel)
{
    char *path = (char *)tdata_slot();
    snprintf(path, 512, "%s/../shared/data/%s", RMTL_SOURCE_DIR, rel);
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("SKIP: %s is absent (the shared data folder is not here)\n", path);
        return NULL;
    }
    return path;
}

const char *rmtl_tdata_repo(const char *rel)
{
    char *path = (char *)tdata_slot();
    snprintf(path, 512, "%s/%s", RMTL_SOURCE_DIR, rel);
    return path;
}

char *rmtl_tdata_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap)
            buf = realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

void rmtl_tdata_cleanup(void)
{
    for (size_t i = 0; i < tdata_nfiles; i++)
        unlink(tdata_files[i]);
    tdata_nfiles = 0;
    if (tdata_dir[0])
        rmdir(tdata_dir);
    tdata_dir[0] = '\0';
}
