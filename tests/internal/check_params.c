/* The descriptor table itself, value formatting, and the config's
 * behaviour when allocations fail. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "core/params_desc.h"

START_TEST(test_table_is_sound)
{
    struct rmtl__settings def;
    rmtl__params_defaults(&def);
    ck_assert_uint_le(rmtl__param_count, RMTL__PARAM_MAX);
    char msg[256];
    for (size_t i = 0; i < rmtl__param_count; i++) {
        const struct rmtl__param_desc *d = &rmtl__param_table[i];
        ck_assert_msg(d->doc && *d->doc && !strchr(d->doc, '\n'), "%s: doc", d->key);
        ck_assert_ptr_eq(rmtl__param_find(d->key), d); /* keys are unique */
        /* A key is never also a section ("rl.critic" vs "rl.critic.x"). */
        ck_assert_msg(!rmtl__param_is_section(d->key), "%s is also a section", d->key);
        /* Sections are contiguous, or dump would repeat a mapping key. */
        if (i > 0) {
            const char *dot = strrchr(d->key, '.');
            size_t sec = dot ? (size_t)(dot - d->key) : 0;
            for (size_t j = 0; j + 1 < i; j++) {
                const char *k = rmtl__param_table[j].key;
                const char *prev = rmtl__param_table[i - 1].key;
                int in_j = !strncmp(k, d->key, sec) && k[sec] == '.';
                int in_prev = !strncmp(prev, d->key, sec) && prev[sec] == '.';
                ck_assert_msg(!in_j || in_prev, "section of %s is split", d->key);
            }
        }
        /* Defaults satisfy their own limits. */
        const void *f = rmtl__param_cfield(&def, d);
        switch (d->type) {
        case RMTL__T_BOOL: ck_assert(d->idef == 0 || d->idef == 1); break;
        case RMTL__T_CHOICE:
            ck_assert(d->nchoices > 0 && d->idef >= 0 && (size_t)d->idef < d->nchoices);
            break;
        case RMTL__T_INT:
            ck_assert_msg(!rmtl__param_check_int(d, *(const int64_t *)f, msg, sizeof msg), "%s: %s",
                          d->key, msg);
            break;
        case RMTL__T_DOUBLE:
            ck_assert_msg(!rmtl__param_check_double(d, *(const double *)f, msg, sizeof msg),
                          "%s: %s", d->key, msg);
            break;
        case RMTL__T_INT_LIST:
            ck_assert_uint_le(d->len_max, RMTL__LIST_CAP);
            ck_assert(!rmtl__param_check_len(d, d->ndef, msg, sizeof msg));
            for (size_t j = 0; j < d->ndef; j++)
                ck_assert(!rmtl__param_check_int(d, d->ilist[j], msg, sizeof msg));
            break;
        case RMTL__T_DOUBLE_LIST:
            ck_assert_uint_le(d->len_max, RMTL__LIST_CAP);
            ck_assert(!rmtl__param_check_len(d, d->ndef, msg, sizeof msg));
            for (size_t j = 0; j < d->ndef; j++)
                ck_assert(!rmtl__param_check_double(d, d->dlist[j], msg, sizeof msg));
            break;
        case RMTL__T_STR_LIST:
            ck_assert_uint_le(d->len_max, RMTL__NAMES_CAP);
            ck_assert(!rmtl__param_check_len(d, d->ndef, msg, sizeof msg));
            for (size_t j = 0; j < d->ndef; j++)
                ck_assert(!rmtl__param_check_name(d->slist[j], msg, sizeof msg));
            break;
        }
    }
    ck_assert_int_eq(rmtl__params_validate(&def), 0);
}
END_TEST

START_TEST(test_defaults_and_equal)
{
    rmtl_config *c = NULL;
    ck_assert_int_eq(rmtl_config_create(&c), 0);
    struct rmtl__settings def, other;
    rmtl__params_defaults(&def);
    const struct rmtl__settings *p = rmtl__config_params(c);
    ck_assert(rmtl__params_equal(p, &def));
    ck_assert_int_eq(p->model.arch, RMTL__ARCH_MMOE);
    ck_assert_int_eq(p->model.tasks.n, 2);
    ck_assert_str_eq(p->model.tasks.v[1], "purchase");
    ck_assert_int_eq(p->rl.critic.bottom.v[0], 512);
    ck_assert(p->fusion.reward_coef.v[1] == 5.0);
    ck_assert_int_eq(p->fusion.state.scores, 1);
    ck_assert_int_eq(p->runtime.blis_arch, RMTL__BLIS_AUTO);
    ck_assert_str_eq(rmtl__params_choice_name("model.arch", p->model.arch), "mmoe");
    ck_assert_str_eq(rmtl__params_choice_name("runtime.blis_arch", RMTL__BLIS_ZEN3), "zen3");
    ck_assert_ptr_null(rmtl__params_choice_name("model.arch", RMTL__ARCH_COUNT));
    ck_assert_ptr_null(rmtl__params_choice_name("rl.gamma", 0));

    /* equal looks at every kind of field, and ignores slots past a list's end */
    other = def;
    other.model.bottom.v[5] = 77;
    ck_assert(rmtl__params_equal(&other, &def));
    other.fusion.reward_coef.v[0] = -0.0 * def.fusion.reward_coef.v[0] + 1.0;
    ck_assert(rmtl__params_equal(&other, &def));
    other.optim.clip_norm = -0.0; /* bitwise, so -0.0 != 0.0 */
    ck_assert(!rmtl__params_equal(&other, &def));
    other = def;
    strcpy(other.model.tasks.v[0], "clicks");
    ck_assert(!rmtl__params_equal(&other, &def));
    other = def;
    other.fusion.reward_group.n = 1;
    ck_assert(!rmtl__params_equal(&other, &def));

    /* A loaded dump gives back an equal struct. */
    ck_assert_int_eq(rmtl_config_set(c, "fusion", "{reward_coef: [0.1, 1e-300], eta: 3.25}"), 0);
    char *text;
    size_t len;
    ck_assert_int_eq(rmtl_config_dump(&text, &len, c), 0);
    rmtl_config *d = NULL;
    ck_assert_int_eq(rmtl_config_create(&d), 0);
    ck_assert_int_eq(rmtl_config_load_string(d, text, len, NULL), 0);
    ck_assert(rmtl__params_equal(rmtl__config_params(c), rmtl__config_params(d)));
    ck_assert(!rmtl__params_equal(rmtl__config_params(c), &def));
    rmtl_free(text);
    rmtl_config_free(c);
    rmtl_config_free(d);
}
END_TEST

static double bits_to_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

START_TEST(test_format_double)
{
    char buf[40];
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.0, "0.0"},         {-0.0, "-0.0"},        {2.0, "2.0"},
        {0.1, "0.1"},         {1e-8, "1.0e-08"},     {1e6, "1000000.0"},
        {-2.5, "-2.5"},       {1.0 / 3, "0.3333333333333333"},
        {123456.0, "123456.0"}, {1.5e300, "1.5e+300"}, {1e17, "1.0e+17"},
        {-1e-5, "-1.0e-05"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rmtl__format_double(buf, cases[i].v);
        ck_assert_str_eq(buf, cases[i].text);
    }
    /* Random finite doubles come back bit for bit. */
    uint64_t s = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double v = bits_to_double(s);
        if (!isfinite(v))
            continue;
        rmtl__format_double(buf, v);
        char *e = strchr(buf, 'e');
        ck_assert_msg(memchr(buf, '.', e ? (size_t)(e - buf) : strlen(buf)), "%s", buf);
        double back = strtod(buf, NULL);
        ck_assert_msg(!memcmp(&back, &v, sizeof v), "%s", buf);
    }
}
END_TEST

START_TEST(test_suggest)
{
    char buf[RMTL__SUGGEST_BUF];
    ck_assert_str_eq(rmtl__param_suggest("rl.gama", buf, sizeof buf), "rl.gamma");
    ck_assert_str_eq(rmtl__param_suggest("modle", buf, sizeof buf), "model");
    ck_assert_str_eq(rmtl__param_suggest("rl.critc", buf, sizeof buf), "rl.critic");
    ck_assert_str_eq(rmtl__param_suggest("fusion.state.userdim", buf, sizeof buf),
                     "fusion.state.user_dim");
    ck_assert_str_eq(rmtl__param_suggest("train.lr", buf, sizeof buf), "optim.lr");
    ck_assert_ptr_null(rmtl__param_suggest("qqqqqqqq", buf, sizeof buf));
    ck_assert_ptr_null(rmtl__param_suggest("", buf, sizeof buf));
    char longkey[200];
    memset(longkey, 'a', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    ck_assert_ptr_null(rmtl__param_suggest(longkey, buf, sizeof buf));
}
END_TEST

/* Every allocation in create, clone, load (string and file) and dump may
 * fail: the call then returns RMTL_ENOMEM, leaves no leak (ASan checks)
 * and leaves the config as it was. */
START_TEST(test_out_of_memory)
{
    static const char yaml[] = "model: {arch: ple, bottom: [64, 32]}\nrl: {gamma: 0.5}\n";
    char path[] = "/tmp/rmtl_oom_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(yaml, f);
    fclose(f);
    int failures = 0;
    for (size_t n = 1;; n++) {
        rmtl__alloc_fail_after(n);
        rmtl_config *c = NULL, *k = NULL;
        char *text = NULL;
        int rc = rmtl_config_create(&c);
        if (rc == 0)
            rc = rmtl_config_load_string(c, yaml, sizeof yaml - 1, NULL);
        if (rc == 0)
            rc = rmtl_config_set(c, "optim.lr", "0.25");
        if (rc == 0)
            rc = rmtl_config_load_file(c, path);
        if (rc == 0)
            rc = rmtl_config_clone(&k, c);
        if (rc == 0)
            rc = rmtl_config_dump(&text, NULL, k);
        size_t made = rmtl__alloc_fail_after(0);
        if (rc) {
            ck_assert_msg(rc == RMTL_ENOMEM, "n=%zu: rc %d (%s)", n, rc, rmtl_last_error());
            ck_assert_ptr_null(text);
            failures++;
            /* A failed step changed nothing: the earlier steps' values hold. */
            if (c) {
                const struct rmtl__settings *p = rmtl__config_params(c);
                ck_assert(p->model.arch == RMTL__ARCH_MMOE || p->model.arch == RMTL__ARCH_PLE);
                ck_assert(p->rl.gamma == 0.9 || p->rl.gamma == 0.5);
            }
        } else {
            ck_assert_ptr_nonnull(strstr(text, "  arch: ple\n"));
            ck_assert_ptr_nonnull(strstr(text, "  lr: 0.25\n"));
        }
        rmtl_free(text);
        rmtl_config_free(k);
        rmtl_config_free(c);
        if (rc == 0 && made < n)
            break; /* no injected failure was reached: every site is covered */
        ck_assert_uint_lt(n, 10000);
    }
    ck_assert_int_ge(failures, 5);
    unlink(path);
}
END_TEST

Suite *rmtl_test_params_suite(void)
{
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_table_is_sound);
    tcase_add_test(tc, test_defaults_and_equal);
    tcase_add_test(tc, test_format_double);
    tcase_add_test(tc, test_suggest);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}
