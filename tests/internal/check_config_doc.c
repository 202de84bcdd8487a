/* docs/config.md is generated from the descriptor table; this test keeps
 * the committed file identical to the generated text. RMTL_UPDATE_DOCS=1
 * rewrites the file instead of failing. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/params.h"

#define DOC_PATH RMTL_SOURCE_DIR "/docs/config.md"

static char *read_all(const char *path, size_t *len)
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
        if (!got)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

START_TEST(test_config_doc_is_current)
{
    char *gen = NULL;
    size_t glen = 0;
    ck_assert_int_eq(rmtl__config_doc_markdown(&gen, &glen), 0);
    ck_assert_uint_eq(glen, strlen(gen));
    const char *update = getenv("RMTL_UPDATE_DOCS");
    if (update && !strcmp(update, "1")) {
        FILE *f = fopen(DOC_PATH, "wb");
        ck_assert_msg(f != NULL, "cannot write %s", DOC_PATH);
        ck_assert_uint_eq(fwrite(gen, 1, glen, f), glen);
        ck_assert_int_eq(fclose(f), 0);
    }
    size_t flen = 0;
    char *file = read_all(DOC_PATH, &flen);
    ck_assert_msg(file != NULL, "%s is missing; regenerate it with RMTL_UPDATE_DOCS=1 make check",
                  DOC_PATH);
    size_t i = 0, line = 1;
    while (i < glen && i < flen && gen[i] == file[i])
        line += gen[i++] == '\n';
    ck_assert_msg(i == glen && i == flen,
                  "%s differs from the descriptor table (first at line %zu); regenerate it "
                  "with RMTL_UPDATE_DOCS=1 make check",
                  DOC_PATH, line);
    free(file);
    rmtl__free(gen);
}
END_TEST

START_TEST(test_config_doc_content)
{
    char *gen = NULL;
    ck_assert_int_eq(rmtl__config_doc_markdown(&gen, NULL), 0);
    /* One row per key with default and range, grouped by section. */
    ck_assert_ptr_nonnull(strstr(gen, "\n## rl: "));
    ck_assert_ptr_nonnull(strstr(gen, "| `rl.gamma` | double | `0.9` | [0, 1] |"));
    ck_assert_ptr_nonnull(strstr(gen, "| `optim.lr` | double | `0.001` | (0, 10] |"));
    ck_assert_ptr_nonnull(strstr(gen, "| `model.bottom` | int list | `[512, 256]` | 1 to 8 values "
                                      "in [1, 65536] |"));
    ck_assert_ptr_nonnull(strstr(gen, "`single_task`, `shared_bottom`, `esmm`, `omoe`, `mmoe`, "
                                      "`ple`, `aitm`"));
    ck_assert_ptr_nonnull(strstr(gen, "| `rl.gamma` | double | `0.9` | [0, 1] | discount factor"));
    rmtl__free(gen);
}
END_TEST

START_TEST(test_config_doc_out_of_memory)
{
    for (size_t n = 1;; n++) {
        char *gen = NULL;
        rmtl__alloc_fail_after(n);
        int rc = rmtl__config_doc_markdown(&gen, NULL);
        size_t made = rmtl__alloc_fail_after(0);
        if (rc == 0) {
            ck_assert_ptr_nonnull(gen);
            rmtl__free(gen);
            if (made < n)
                break;
        } else {
            ck_assert_int_eq(rc, RMTL_ENOMEM);
            ck_assert_ptr_null(gen);
        }
        ck_assert_uint_lt(n, 1000);
    }
}
END_TEST

Suite *rmtl_test_config_doc_suite(void)
{
    Suite *s = suite_create("config_doc");
    TCase *tc = tcase_create("doc");
    tcase_add_test(tc, test_config_doc_is_current);
    tcase_add_test(tc, test_config_doc_content);
    tcase_add_test(tc, test_config_doc_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}
