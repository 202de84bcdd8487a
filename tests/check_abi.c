/* The exported symbols are exactly the committed list (abi/symbols.txt), and
 * every function the header declares is exported. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmtl.h"

#define MAXSYM 1024

static size_t read_lines(FILE *f, char (*out)[256], size_t cap, int nm_format)
{
    char line[512];
    size_t n = 0;
    while (fgets(line, sizeof line, f) && n < cap) {
        char name[256];
        if (nm_format) {
            char addr[64], type[8];
            if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3)
                continue;
        } else if (sscanf(line, "%255s", name) != 1) {
            continue;
        }
        snprintf(out[n++], 256, "%s", name);
    }
    return n;
}

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

START_TEST(test_exported_symbols_match_list)
{
    static char got[MAXSYM][256], want[MAXSYM][256];
    FILE *p = popen("nm -D --defined-only '" RMTL_LIB_PATH "' 2>/dev/null", "r");
    ck_assert_ptr_nonnull(p);
    size_t ng = read_lines(p, got, MAXSYM, 1);
    ck_assert_int_eq(pclose(p), 0);
    FILE *f = fopen(RMTL_SOURCE_DIR "/abi/symbols.txt", "r");
    ck_assert_msg(f != NULL, "abi/symbols.txt missing");
    size_t nw = read_lines(f, want, MAXSYM, 0);
    fclose(f);
    qsort(got, ng, sizeof got[0], cmp);
    qsort(want, nw, sizeof want[0], cmp);
    for (size_t i = 0; i < ng || i < nw; i++)
        ck_assert_msg(i < ng && i < nw && !strcmp(got[i], want[i]),
                      "exported symbols differ from abi/symbols.txt near '%s' vs '%s' "
                      "(see docs/abi.md: `make abi-dump` after a deliberate change)",
                      i < ng ? got[i] : "(end)", i < nw ? want[i] : "(end)");
}
END_TEST

/* Every `RMTL_API ... rmtl_name(` in the header must be exported, so a
 * function cannot be declared and forgotten in src/rmtl.map. */
START_TEST(test_header_functions_exported)
{
    FILE *h = fopen(RMTL_SOURCE_DIR "/include/rmtl.h", "r");
    ck_assert_ptr_nonnull(h);
    FILE *p = popen("nm -D --defined-only '" RMTL_LIB_PATH "' 2>/dev/null", "r");
    ck_assert_ptr_nonnull(p);
    static char got[MAXSYM][256];
    size_t ng = read_lines(p, got, MAXSYM, 1);
    pclose(p);
    char line[512];
    int declared = 0, in_experimental = 0;
    while (fgets(line, sizeof line, h)) {
        if (strstr(line, "#ifdef RMTL_ENABLE_EXPERIMENTAL"))
            in_experimental = 1;
        if (strncmp(line, "RMTL_API", 8) || in_experimental)
            continue;
        char *s = strstr(line, "rmtl_");
        while (s) {
            size_t len = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
            if (s[len] == '(') {
                char name[128];
                snprintf(name, sizeof name, "%.*s@@", (int)len, s);
                int found = 0;
                for (size_t i = 0; i < ng && !found; i++)
                    found = !strncmp(got[i], name, strlen(name));
                ck_assert_msg(found, "%.*s is declared in rmtl.h but not exported", (int)len, s);
                declared++;
                break;
            }
            s = strstr(s + len, "rmtl_");
        }
    }
    fclose(h);
    ck_assert_int_gt(declared, 10);
}
END_TEST

Suite *rmtl_test_abi_suite(void)
{
    Suite *s = suite_create("abi");
    TCase *tc = tcase_create("symbols");
    tcase_add_test(tc, test_exported_symbols_match_list);
    tcase_add_test(tc, test_header_functions_exported);
    suite_add_tcase(s, tc);
    return s;
}
