/* Public API of rmtl_config: defaults, setters/getters, YAML loading with
 * positioned errors, all-or-nothing updates, dump round trips, validate. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rmtl.h"

static rmtl_config *new_cfg(void)
{
    rmtl_config *c = NULL;
    ck_assert_int_eq(rmtl_config_create(&c), RMTL_OK);
    ck_assert_ptr_nonnull(c);
    return c;
}

static char *dump(const rmtl_config *c)
{
    char *s = NULL;
    size_t len = 0;
    ck_assert_int_eq(rmtl_config_dump(&s, &len, c), RMTL_OK);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(len, strlen(s));
    return s;
}

static int load(rmtl_config *c, const char *yaml)
{
    return rmtl_config_load_string(c, yaml, strlen(yaml), NULL);
}

/* Asserts that `rc` is RMTL_ECONFIG and the message contains `want`. */
#define ck_assert_config_error(rc, want)                                                  \
    do {                                                                                  \
        ck_assert_int_eq((rc), RMTL_ECONFIG);                                             \
        ck_assert_msg(strstr(rmtl_last_error(), (want)) != NULL,                          \
                      "message \"%s\" lacks \"%s\"", rmtl_last_error(), (want));          \
    } while (0)

static int64_t get_int(const rmtl_config *c, const char *key)
{
    int64_t v = -1;
    ck_assert_int_eq(rmtl_config_get_int(&v, c, key), RMTL_OK);
    return v;
}

static double get_double(const rmtl_config *c, const char *key)
{
    double v = -1;
    ck_assert_int_eq(rmtl_config_get_double(&v, c, key), RMTL_OK);
    return v;
}

static const char *get_string(const rmtl_config *c, const char *key)
{
    const char *v = NULL;
    ck_assert_int_eq(rmtl_config_get_string(&v, c, key), RMTL_OK);
    return v;
}

START_TEST(test_defaults)
{
    rmtl_config *c = new_cfg();
    ck_assert_str_eq(get_string(c, "model.arch"), "mmoe");
    ck_assert_int_eq(get_int(c, "model.embed_dim"), 128);
    ck_assert_int_eq(get_int(c, "model.experts.count"), 8);
    ck_assert(get_double(c, "model.dropout") == 0.2);
    ck_assert(get_double(c, "optim.lr") == 1e-3);
    ck_assert(get_double(c, "rl.gamma") == 0.9);
    ck_assert(get_double(c, "fusion.tau") == 0.005);
    ck_assert_int_eq(get_int(c, "rl.buffer_size"), 500000);
    ck_assert_int_eq(get_int(c, "runtime.seed"), 42);
    ck_assert_str_eq(get_string(c, "rl.reward"), "bce");
    ck_assert_str_eq(get_string(c, "fusion.granularity"), "pair");
    ck_assert_str_eq(get_string(c, "runtime.blis_arch"), "auto");
    int b = -1;
    ck_assert_int_eq(rmtl_config_get_bool(&b, c, "train.shuffle"), RMTL_OK);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(rmtl_config_get_bool(&b, c, "rl.ips"), RMTL_OK);
    ck_assert_int_eq(b, 0);

    int64_t v[8] = {0};
    size_t n = 0;
    ck_assert_int_eq(rmtl_config_get_int_list(&n, c, "model.bottom", v, 8), RMTL_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert(v[0] == 512 && v[1] == 256);
    /* A short buffer gets the first values and the full length. */
    int64_t one[1] = {0};
    ck_assert_int_eq(rmtl_config_get_int_list(&n, c, "rl.critic.tower", one, 1), RMTL_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(one[0], 128);
    ck_assert_int_eq(rmtl_config_get_int_list(&n, c, "fusion.reward_group", NULL, 0), RMTL_OK);
    ck_assert_uint_eq(n, 2);

    ck_assert_int_eq(rmtl_config_validate(c), RMTL_OK);
    char *s = dump(c);
    ck_assert_ptr_nonnull(strstr(s, "  tasks: [click, purchase]\n"));
    ck_assert_ptr_nonnull(strstr(s, "  reward_coef: [1.0, 5.0]\n"));
    ck_assert_ptr_nonnull(strstr(s, "rl:\n  gamma: 0.9\n"));
    ck_assert_ptr_nonnull(strstr(s, "  critic:\n    bottom: [512, 256]\n"));
    rmtl_free(s);
    rmtl_config_free(c);
}
END_TEST

START_TEST(test_setters_getters)
{
    rmtl_config *c = new_cfg();
    ck_assert_int_eq(rmtl_config_set_int(c, "model.embed_dim", 64), RMTL_OK);
    ck_assert_int_eq(get_int(c, "model.embed_dim"), 64);
    ck_assert_int_eq(rmtl_config_set_int(c, "runtime.seed", INT64_C(1) << 62), RMTL_OK);
    ck_assert_int_eq(get_int(c, "runtime.seed"), INT64_C(1) << 62);
    /* Ints are accepted for double keys. */
    ck_assert_int_eq(rmtl_config_set_int(c, "optim.clip_norm", 5), RMTL_OK);
    ck_assert(get_double(c, "optim.clip_norm") == 5.0);
    ck_assert_int_eq(rmtl_config_set_double(c, "rl.gamma", 0.99), RMTL_OK);
    ck_assert(get_double(c, "rl.gamma") == 0.99);
    ck_assert_int_eq(rmtl_config_set_double(c, "fusion.weight_min", -0.5), RMTL_OK);
    ck_assert(get_double(c, "fusion.weight_min") == -0.5);
    ck_assert_int_eq(rmtl_config_set_bool(c, "rl.ips", 7), RMTL_OK);
    int b = 0;
    ck_assert_int_eq(rmtl_config_get_bool(&b, c, "rl.ips"), RMTL_OK);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(rmtl_config_set_bool(c, "train.shuffle", 0), RMTL_OK);
    ck_assert_int_eq(rmtl_config_get_bool(&b, c, "train.shuffle"), RMTL_OK);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(rmtl_config_set_string(c, "model.arch", "ple"), RMTL_OK);
    ck_assert_str_eq(get_string(c, "model.arch"), "ple");
    ck_assert_int_eq(rmtl_config_set_string(c, "fusion.formula", "sum"), RMTL_OK);
    ck_assert_str_eq(get_string(c, "fusion.formula"), "sum");

    const int64_t widths[3] = {64, 32, 16};
    int64_t got[4] = {0};
    size_t n = 0;
    ck_assert_int_eq(rmtl_config_set_int_list(c, "model.bottom", widths, 3), RMTL_OK);
    ck_assert_int_eq(rmtl_config_get_int_list(&n, c, "model.bottom", got, 4), RMTL_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert(got[0] == 64 && got[1] == 32 && got[2] == 16);
    ck_assert_int_eq(rmtl_config_set_int_list(c, "model.tower", NULL, 0), RMTL_OK);
    ck_assert_int_eq(rmtl_config_get_int_list(&n, c, "model.tower", got, 4), RMTL_OK);
    ck_assert_uint_eq(n, 0);
    /* Int lists are accepted for double-list keys. */
    const int64_t coef[3] = {2, 3, -4};
    ck_assert_int_eq(rmtl_config_set_int_list(c, "fusion.reward_coef", coef, 3), RMTL_OK);

    /* Any key from YAML text. */
    ck_assert_int_eq(rmtl_config_set(c, "model.tasks", "[ctr, cvr, like]"), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set(c, "optim.lr", "2.5e-4"), RMTL_OK);
    ck_assert(get_double(c, "optim.lr") == 2.5e-4);
    ck_assert_int_eq(rmtl_config_set(c, "rl.critic", "{bottom: [64], tower: []}"), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set(c, "rl.reward", "abs"), RMTL_OK);
    ck_assert_str_eq(get_string(c, "rl.reward"), "abs");

    char *s = dump(c);
    ck_assert_ptr_nonnull(strstr(s, "  tasks: [ctr, cvr, like]\n"));
    ck_assert_ptr_nonnull(strstr(s, "  reward_coef: [2.0, 3.0, -4.0]\n"));
    ck_assert_ptr_nonnull(strstr(s, "  critic:\n    bottom: [64]\n    tower: []\n"));
    ck_assert_ptr_nonnull(strstr(s, "  bottom: [64, 32, 16]\n  tower: []\n"));
    rmtl_free(s);
    rmtl_config_free(c);
}
END_TEST

START_TEST(test_setter_errors)
{
    rmtl_config *c = new_cfg();
    char *before = dump(c);

    ck_assert_config_error(rmtl_config_set_int(c, "model.embed_dim", 0),
                           "model.embed_dim: 0 is out of range [1, 4096]");
    ck_assert_config_error(rmtl_config_set_int(c, "model.embed_dim", 4097), "[1, 4096]");
    ck_assert_config_error(rmtl_config_set_double(c, "optim.lr", 0.0),
                           "optim.lr: 0 is out of range (0, 10]");
    ck_assert_config_error(rmtl_config_set_double(c, "optim.beta1", 1.0), "[0, 1)");
    ck_assert_config_error(rmtl_config_set_double(c, "rl.gamma", NAN),
                           "rl.gamma: not a finite number");
    ck_assert_config_error(rmtl_config_set_double(c, "rl.gamma", INFINITY), "not a finite");
    ck_assert_config_error(rmtl_config_set_int(c, "rl.gamma", 2),
                           "rl.gamma: 2 is out of range [0, 1]");
    /* Type mismatches name the function that fits. */
    ck_assert_config_error(rmtl_config_set_double(c, "model.embed_dim", 3.0),
                           "rmtl_config_set_int");
    ck_assert_config_error(rmtl_config_set_bool(c, "rl.gamma", 1), "rmtl_config_set_double");
    ck_assert_config_error(rmtl_config_set_string(c, "rl.ips", "true"), "rmtl_config_set_bool");
    ck_assert_config_error(rmtl_config_set_int_list(c, "model.arch", NULL, 0),
                           "rmtl_config_set_string");
    ck_assert_config_error(rmtl_config_set_int(c, "model.tasks", 1),
                           "model.tasks: is a string list key; use rmtl_config_set");
    ck_assert_config_error(rmtl_config_set_string(c, "model.arch", "transformer"),
                           "model.arch: 'transformer' is not one of single_task, shared_bottom, "
                           "esmm, omoe, mmoe, ple, aitm");
    const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_config_error(rmtl_config_set_int_list(c, "model.bottom", nine, 9),
                           "model.bottom: 9 entries, expected 1 to 8");
    ck_assert_config_error(rmtl_config_set_int_list(c, "model.bottom", nine, 0),
                           "0 entries, expected 1 to 8");
    const int64_t bad[2] = {8, 0};
    ck_assert_config_error(rmtl_config_set_int_list(c, "model.bottom", bad, 2),
                           "model.bottom: element 2: 0 is out of range [1, 65536]");
    /* Unknown keys, with a suggestion when one is close. */
    ck_assert_config_error(rmtl_config_set_double(c, "rl.gama", 0.5),
                           "rl.gama: unknown key; did you mean rl.gamma?");
    ck_assert_config_error(rmtl_config_set_int(c, "model.embed_size", 5),
                           "did you mean model.embed_dim?");
    ck_assert_config_error(rmtl_config_set_double(c, "train.lr", 0.5), "did you mean optim.lr?");
    ck_assert_config_error(rmtl_config_set_int(c, "zzzzzz", 1), "zzzzzz: unknown key");
    ck_assert_config_error(rmtl_config_set(c, "rl.gama", "0.5"), "did you mean rl.gamma?");
    /* Getters of the wrong type. */
    int64_t i = 7;
    ck_assert_config_error(rmtl_config_get_int(&i, c, "rl.gamma"), "rmtl_config_get_double");
    ck_assert_int_eq(i, 0);
    const char *str = "x";
    ck_assert_config_error(rmtl_config_get_string(&str, c, "model.tasks"), "rmtl_config_dump");
    ck_assert_ptr_null(str);
    size_t n = 9;
    ck_assert_config_error(rmtl_config_get_int_list(&n, c, "fusion.reward_coef", NULL, 0),
                           "double list");
    /* rmtl_config_set parses the value like a YAML value. */
    ck_assert_config_error(rmtl_config_set(c, "rl.gamma", "abc"),
                           "rl.gamma: expected a number, got 'abc'");
    ck_assert_config_error(rmtl_config_set(c, "rl.gamma", ""), "rl.gamma: missing value");
    ck_assert_config_error(rmtl_config_set(c, "model.bottom", "[1, 2"), "model.bottom: <value>:");
    ck_assert_config_error(rmtl_config_set(c, "rl", "5"), "rl: expected a mapping of rl.* keys");
    ck_assert_config_error(rmtl_config_set(c, "rl", "{gamma: 0.5, tau: 0}"),
                           "rl.tau: 0 is out of range (0, 1]");

    char *after = dump(c); /* every failure above left the config alone */
    ck_assert_str_eq(before, after);
    rmtl_free(before);
    rmtl_free(after);
    rmtl_config_free(c);
}
END_TEST

static const char *const changed_yaml =
    "model: {arch: aitm, tasks: [ctr, cvr, \"yes\"], embed_dim: 32, bottom: [7], tower: []}\n"
    "optim: {lr: 0.0003, eps: 1.0e-10, weight_decay: 0}\n"
    "rl:\n"
    "  gamma: 0.333\n"
    "  ips: true\n"
    "  critic: {bottom: [9, 8, 7, 6, 5, 4, 3, 2]}\n"
    "fusion:\n"
    "  weight_min: -1.5\n"
    "  reward_coef: [0.1, -2, 1e5]\n"
    "  reward_group: [0, 1, 1]\n"
    "  state: {scores: false}\n"
    "runtime: {seed: 4611686018427387904, blis_arch: generic}\n";

START_TEST(test_dump_round_trip)
{
    rmtl_config *a = new_cfg();
    ck_assert_int_eq(load(a, changed_yaml), RMTL_OK);
    /* Doubles that need all 17 digits, or are subnormal, must survive. */
    ck_assert_int_eq(rmtl_config_set_double(a, "rl.tau", 1.0 / 3.0), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set_double(a, "fusion.kappa", 4.9406564584124654e-324), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set_double(a, "fusion.eta", 123456.789e-3), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set_double(a, "fusion.bias_max", 2.0), RMTL_OK);
    char *da = dump(a);
    /* Every double reads as a YAML float, even whole ones. */
    ck_assert_ptr_nonnull(strstr(da, "  bias_max: 2.0\n"));
    ck_assert_ptr_nonnull(strstr(da, "  weight_decay: 0.0\n"));
    ck_assert_ptr_nonnull(strstr(da, "  eps: 1.0e-10\n"));
    ck_assert_ptr_nonnull(strstr(da, "  reward_coef: [0.1, -2.0, 100000.0]\n"));
    /* A task named like a YAML 1.1 bool is quoted. */
    ck_assert_ptr_nonnull(strstr(da, "  tasks: [ctr, cvr, \"yes\"]\n"));

    rmtl_config *b = new_cfg();
    ck_assert_int_eq(rmtl_config_load_string(b, da, strlen(da), "dump"), RMTL_OK);
    char *db = dump(b);
    ck_assert_str_eq(da, db);
    ck_assert(get_double(b, "rl.tau") == 1.0 / 3.0);
    ck_assert(get_double(b, "fusion.kappa") == 4.9406564584124654e-324);
    ck_assert(get_double(b, "optim.lr") == 0.0003);
    ck_assert_str_eq(get_string(b, "model.arch"), "aitm");
    ck_assert_int_eq(get_int(b, "runtime.seed"), INT64_C(1) << 62);
    ck_assert_int_eq(rmtl_config_validate(b), RMTL_OK);

    /* Loading a dump onto a config with other values gives the same. */
    rmtl_config *c = new_cfg();
    ck_assert_int_eq(rmtl_config_set_int(c, "model.embed_dim", 5), RMTL_OK);
    ck_assert_int_eq(rmtl_config_load_string(c, da, strlen(da), NULL), RMTL_OK);
    char *dc = dump(c);
    ck_assert_str_eq(da, dc);

    /* Clones are deep and independent. */
    rmtl_config *d = NULL;
    ck_assert_int_eq(rmtl_config_clone(&d, b), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set_int(b, "model.embed_dim", 1), RMTL_OK);
    char *dd = dump(d);
    ck_assert_str_eq(da, dd);

    rmtl_free(da), rmtl_free(db), rmtl_free(dc), rmtl_free(dd);
    rmtl_config_free(a), rmtl_config_free(b), rmtl_config_free(c), rmtl_config_free(d);
}
END_TEST

START_TEST(test_load_file)
{
    char path[] = "/tmp/rmtl_cfg_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    static const char text[] = "# experiment 12\n"
                               "model:\n"
                               "  arch: ple   # progressive layered extraction\n"
                               "  experts:\n"
                               "    shared: 2\n"
                               "    specific: 3\n"
                               "  bottom:\n"
                               "    - 256\n"
                               "    - 128\n"
                               "rl.critic.tower: [32]\n"
                               "rl:\n"
                               "  # nothing else here\n"
                               "train:\n";
    ck_assert_int_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);

    rmtl_config *c = new_cfg();
    ck_assert_int_eq(rmtl_config_load_file(c, path), RMTL_OK);
    ck_assert_str_eq(get_string(c, "model.arch"), "ple");
    ck_assert_int_eq(get_int(c, "model.experts.shared"), 2);
    ck_assert_int_eq(get_int(c, "model.experts.specific"), 3);
    ck_assert_int_eq(get_int(c, "model.experts.count"), 8); /* untouched */
    int64_t v[4];
    size_t n;
    ck_assert_int_eq(rmtl_config_get_int_list(&n, c, "model.bottom", v, 4), RMTL_OK);
    ck_assert(n == 2 && v[0] == 256 && v[1] == 128);
    ck_assert_int_eq(rmtl_config_get_int_list(&n, c, "rl.critic.tower", v, 4), RMTL_OK);
    ck_assert(n == 1 && v[0] == 32);

    /* Errors in a file carry its path. */
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("model:\n  embed_dim: -3\n", f);
    fclose(f);
    char want[128];
    snprintf(want, sizeof want, "%s:2:14: model.embed_dim: -3 is out of range", path);
    ck_assert_config_error(rmtl_config_load_file(c, path), want);
    unlink(path);

    ck_assert_int_eq(rmtl_config_load_file(c, "/nonexistent/dir/cfg.yaml"), RMTL_EIO);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "/nonexistent/dir/cfg.yaml"));
    rmtl_config_free(c);
}
END_TEST

START_TEST(test_error_positions)
{
    rmtl_config *c = new_cfg();
    /* out of range */
    ck_assert_config_error(load(c, "# tuned\nrl:\n  gamma: 1.5\n"),
                           "<string>:3:10: rl.gamma: 1.5 is out of range [0, 1]");
    /* unknown key, nested, with suggestion */
    ck_assert_config_error(load(c, "model:\n  experts:\n    cuont: 4\n"),
                           "<string>:3:5: model.experts.cuont: unknown key; did you mean "
                           "model.experts.count?");
    ck_assert_config_error(load(c, "modle:\n  arch: ple\n"),
                           "<string>:1:1: modle: unknown key; did you mean model?");
    ck_assert_config_error(load(c, "optim: {lr: 0.1, momentum: 0.9}\n"),
                           "<string>:1:18: optim.momentum: unknown key");
    /* wrong types */
    ck_assert_config_error(load(c, "model:\n  embed_dim: 1.5\n"),
                           "<string>:2:14: model.embed_dim: expected an integer, got '1.5'");
    ck_assert_config_error(load(c, "model:\n  embed_dim: {a: 1}\n"),
                           "<string>:2:14: model.embed_dim: expected an integer, got a mapping");
    ck_assert_config_error(load(c, "model: {embed_dim: \"64\"}\n"),
                           "<string>:1:20: model.embed_dim: expected an integer, got the "
                           "quoted string '64'");
    ck_assert_config_error(load(c, "optim:\n  lr: fast\n"),
                           "<string>:2:7: optim.lr: expected a number, got 'fast'");
    ck_assert_config_error(load(c, "optim:\n  lr:\n"),
                           "<string>:2:6: optim.lr: expected a number, got nothing");
    ck_assert_config_error(load(c, "model:\n  bottom: 512\n"),
                           "<string>:2:11: model.bottom: expected a list");
    ck_assert_config_error(load(c, "model:\n  arch: [mmoe]\n"),
                           "<string>:2:9: model.arch: expected one name, got a list");
    ck_assert_config_error(load(c, "rl: [1, 2]\n"),
                           "<string>:1:5: rl: expected a mapping of rl.* keys, got a list");
    /* booleans are only true and false */
    ck_assert_config_error(load(c, "train:\n  shuffle: yes\n"),
                           "<string>:2:12: train.shuffle: expected true or false, got 'yes'");
    ck_assert_config_error(load(c, "train:\n  shuffle: 1\n"),
                           "train.shuffle: expected true or false");
    /* bad choice */
    ck_assert_config_error(load(c, "fusion:\n  formula: max\n"),
                           "<string>:2:12: fusion.formula: 'max' is not one of product, sum");
    /* lists */
    ck_assert_config_error(load(c, "model:\n  tower: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n"),
                           "<string>:2:10: model.tower: 9 entries, expected 0 to 8");
    ck_assert_config_error(load(c, "model:\n  tasks: []\n"),
                           "<string>:2:10: model.tasks: 0 entries, expected 1 to 16");
    ck_assert_config_error(load(c, "model:\n  bottom: [64, 0]\n"),
                           "<string>:2:16: model.bottom: element 2: 0 is out of range [1, 65536]");
    ck_assert_config_error(load(c, "model:\n  tasks: [click, click]\n"),
                           "<string>:2:18: model.tasks: element 2: 'click' repeats element 1");
    ck_assert_config_error(load(c, "model:\n  tasks: [click, add-to-cart]\n"),
                           "<string>:2:18: model.tasks: element 2: 'add-to-cart' may only contain");
    ck_assert_config_error(load(c, "fusion:\n  reward_coef: [1, x]\n"),
                           "<string>:2:20: fusion.reward_coef: element 2: expected a number, "
                           "got 'x'");
    /* duplicate keys, within a mapping and across spellings */
    ck_assert_config_error(load(c, "rl:\n  gamma: 0.5\n  gamma: 0.6\n"),
                           "<string>:3:3: rl.gamma: duplicate key (first at line 2, column 3)");
    ck_assert_config_error(load(c, "rl: {tau: 0.1}\nrl: {gamma: 0.1}\n"),
                           "<string>:2:1: rl: duplicate key (first at line 1, column 1)");
    ck_assert_config_error(load(c, "rl.gamma: 0.5\nrl: {gamma: 0.6}\n"),
                           "<string>:2:6: rl.gamma: set twice");
    /* structure */
    ck_assert_config_error(load(c, "- a\n- b\n"), "<string>:1:1: (top level): expected a mapping");
    ck_assert_config_error(load(c, "42\n"), "expected a mapping of configuration keys, got '42'");
    /* malformed YAML: the parser's own position */
    ck_assert_config_error(load(c, "rl:\n  gamma: [0.5\n  tau: 0.1\n"), "<string>:3:6: ");
    ck_assert_config_error(load(c, "rl:\n  gamma: 0.5\n tau: 0.1\n"), "<string>:3:");
    /* the name given labels messages */
    static const char y[] = "rl:\n  tau: 2\n";
    ck_assert_config_error(rmtl_config_load_string(c, y, sizeof y - 1, "exp.yaml"),
                           "exp.yaml:2:8: rl.tau: 2 is out of range (0, 1]");
    rmtl_config_free(c);
}
END_TEST

START_TEST(test_failed_load_unchanged)
{
    rmtl_config *c = new_cfg();
    ck_assert_int_eq(rmtl_config_set_int(c, "model.embed_dim", 99), RMTL_OK);
    char *before = dump(c);
    /* Valid keys before and after the bad one are all discarded. */
    static const char *const bad[] = {
        "model: {embed_dim: 16, arch: ple}\nrl: {gamma: 2}\ntrain: {epochs: 3}\n",
        ("model: {tasks: [a, b, c]}\nfusion: {reward_coef: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, "
         "12, 13, 14, 15, 16, 17]}\n"),
        "optim: {lr: 0.5}\nunknown: 1\n",
        "optim: {lr: 0.5}\noptim: {lr: 0.4}\n",
        "model: {embed_dim: 16}\nrl: {gamma: [0.5}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(load(c, bad[i]), RMTL_ECONFIG);
        char *after = dump(c);
        ck_assert_msg(!strcmp(before, after), "document %zu changed the config", i);
        rmtl_free(after);
    }
    ck_assert_int_eq(get_int(c, "model.embed_dim"), 99);
    /* Empty and comment-only documents change nothing and succeed. */
    ck_assert_int_eq(load(c, ""), RMTL_OK);
    ck_assert_int_eq(load(c, "# nothing yet\n\n"), RMTL_OK);
    ck_assert_int_eq(rmtl_config_load_string(c, "garbage", 0, NULL), RMTL_OK);
    char *after = dump(c);
    ck_assert_str_eq(before, after);
    rmtl_free(after);
    rmtl_free(before);
    rmtl_config_free(c);
}
END_TEST

START_TEST(test_validate)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"fusion: {reward_coef: [1, 2, 3]}",
         "fusion.reward_group: 2 entries but fusion.reward_coef has 3"},
        {"fusion: {reward_group: [0, 2]}", "fusion.reward_group: entry 2 is group 2 but "
                                           "fusion.critic_groups is 2"},
        {"fusion: {reward_group: [0, 0]}", "fusion.critic_groups: group 1 has no reward part"},
        {"fusion: {weight_min: 3}", "fusion.weight_min (3) exceeds fusion.weight_max (2)"},
        {"fusion: {bias_min: 0.5, bias_max: 0.25}",
         "fusion.bias_min (0.5) exceeds fusion.bias_max"},
        {"fusion: {bias_min: -0.5}",
         "fusion.bias_min: -0.5 is negative, but fusion.formula product"},
        {"fusion: {granularity: user, state: {user_dim: 0, context_dim: 0}}",
         "fusion.state.user_dim + fusion.state.context_dim"},
        {"fusion: {state: {user_dim: 0, item_dim: 0, context_dim: 0, scores: false}}",
         "fusion.state: the pair state is empty"},
        {"rl: {buffer_size: 100, batch_size: 101}", "rl.batch_size (101) exceeds rl.buffer_size"},
        {"sim: {candidates: 4}", "sim.top_l (5) exceeds sim.candidates (4)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rmtl_config *c = new_cfg();
        ck_assert_int_eq(load(c, cases[i].yaml), RMTL_OK);
        ck_assert_config_error(rmtl_config_validate(c), cases[i].want);
        rmtl_config_free(c);
    }
    /* The fixed versions pass. */
    rmtl_config *c = new_cfg();
    ck_assert_int_eq(load(c, "model: {arch: esmm}\n"
                             "fusion: {reward_coef: [1, 2, 3], reward_group: [0, 1, 1], "
                             "formula: sum, bias_min: -0.5, weight_min: 2}\n"
                             "rl: {buffer_size: 100, batch_size: 100}\n"
                             "sim: {candidates: 5}\n"),
                     RMTL_OK);
    ck_assert_int_eq(rmtl_config_validate(c), RMTL_OK);
    rmtl_config_free(c);
}
END_TEST

START_TEST(test_null_arguments)
{
    rmtl_config *c = new_cfg();
    rmtl_config *o = c;
    int64_t i;
    double d;
    int b;
    const char *s;
    size_t n;
    char *text;
    int64_t v[2] = {1, 2};
    ck_assert_int_eq(rmtl_config_create(NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_clone(NULL, c), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_clone(&o, NULL), RMTL_EINVAL);
    ck_assert_ptr_null(o);
    ck_assert_int_eq(rmtl_config_load_file(NULL, "x"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_load_file(c, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_load_string(NULL, "a", 1, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_load_string(c, NULL, 0, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set(NULL, "rl.gamma", "1"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set(c, NULL, "1"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set(c, "rl.gamma", NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_int(NULL, "model.embed_dim", 1), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_int(c, NULL, 1), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_double(NULL, "rl.gamma", 1), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_double(c, NULL, 1), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_bool(NULL, "rl.ips", 1), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_bool(c, NULL, 1), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_string(NULL, "model.arch", "ple"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_string(c, NULL, "ple"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_string(c, "model.arch", NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_int_list(NULL, "model.bottom", v, 2), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_int_list(c, NULL, v, 2), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_set_int_list(c, "model.bottom", NULL, 2), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_int(NULL, c, "model.embed_dim"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_int(&i, NULL, "model.embed_dim"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_int(&i, c, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_double(NULL, c, "rl.gamma"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_double(&d, NULL, "rl.gamma"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_double(&d, c, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_bool(NULL, c, "rl.ips"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_bool(&b, NULL, "rl.ips"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_bool(&b, c, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_string(NULL, c, "model.arch"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_string(&s, NULL, "model.arch"), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_string(&s, c, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_int_list(NULL, c, "model.bottom", v, 2), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_int_list(&n, NULL, "model.bottom", v, 2), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_int_list(&n, c, NULL, v, 2), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_get_int_list(&n, c, "model.bottom", NULL, 2), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_validate(NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_dump(NULL, NULL, c), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_config_dump(&text, NULL, NULL), RMTL_EINVAL);
    ck_assert_ptr_null(text);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "cfg"));
    /* len is optional */
    ck_assert_int_eq(rmtl_config_dump(&text, NULL, c), RMTL_OK);
    ck_assert_ptr_nonnull(text);
    rmtl_free(text);
    rmtl_config_free(NULL);
    rmtl_config_free(c);
}
END_TEST

Suite *rmtl_test_config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("api");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_setters_getters);
    tcase_add_test(tc, test_setter_errors);
    tcase_add_test(tc, test_dump_round_trip);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_error_positions);
    tcase_add_test(tc, test_failed_load_unchanged);
    tcase_add_test(tc, test_validate);
    tcase_add_test(tc, test_null_arguments);
    suite_add_tcase(s, tc);
    return s;
}
