/* Public API of the session simulator: creation from a config, the host
 * loop, determinism, the ground truth behind the logged behaviours, the
 * leave mechanism, evaluation and logging. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rmtl.h"
#include "util/slow.h"

/* A small world unless the YAML says otherwise. */
static const char small_world[] = "sim: {users: 300, items: 400, candidates: 100}\n";

static rmtl_env *make_env(const char *yaml)
{
    rmtl_config *c = NULL;
    ck_assert_int_eq(rmtl_config_create(&c), RMTL_OK);
    if (yaml)
        ck_assert_msg(rmtl_config_load_string(c, yaml, strlen(yaml), NULL) == RMTL_OK, "%s",
                      rmtl_last_error());
    rmtl_env *env = NULL;
    int rc = rmtl_env_sim_create(&env, c);
    ck_assert_msg(rc == RMTL_OK, "create: %s", rmtl_last_error());
    ck_assert_ptr_nonnull(env);
    rmtl_config_free(c);
    return env;
}

static int create_rc(const char *yaml)
{
    rmtl_config *c = NULL;
    ck_assert_int_eq(rmtl_config_create(&c), RMTL_OK);
    ck_assert_msg(rmtl_config_load_string(c, yaml, strlen(yaml), NULL) == RMTL_OK, "%s",
                  rmtl_last_error());
    rmtl_env *env = (rmtl_env *)c; /* must be overwritten with NULL */
    int rc = rmtl_env_sim_create(&env, c);
    if (rc != RMTL_OK)
        ck_assert_ptr_null(env);
    rmtl_env_free(rc == RMTL_OK ? env : NULL);
    rmtl_config_free(c);
    return rc;
}

#define ck_assert_error(rc, code, want)                                                  \
    do {                                                                                 \
        ck_assert_int_eq((rc), (code));                                                  \
        ck_assert_msg(strstr(rmtl_last_error(), (want)) != NULL,                         \
                      "message \"%s\" lacks \"%s\"", rmtl_last_error(), (want));         \
    } while (0)

static rmtl_sim_info info_of(const rmtl_env *env)
{
    rmtl_sim_info info = RMTL_SIM_INFO_INIT;
    ck_assert_int_eq(rmtl_env_sim_info(&info, env), RMTL_OK);
    return info;
}

static rmtl_sim_request request_of(const rmtl_env *env)
{
    rmtl_sim_request req = RMTL_SIM_REQUEST_INIT;
    ck_assert_msg(rmtl_env_sim_request(&req, env) == RMTL_OK, "%s", rmtl_last_error());
    return req;
}

/* Σ_k c_k·P(k) from the public ground truth. */
static double true_value(const rmtl_env *env, const rmtl_sim_info *info, uint32_t user,
                         uint32_t item)
{
    float p[RMTL_SIM_MAX_TASKS];
    ck_assert_int_eq(rmtl_env_sim_true_probs(env, user, item, p, RMTL_SIM_MAX_TASKS), RMTL_OK);
    double v = 0.0;
    for (uint32_t k = 0; k < info->tasks; k++)
        v += info->reward_coef[k] * p[k];
    return v;
}

/* --- files ---------------------------------------------------------------- */
static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rmtl-check-sim-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Removes the test's directory and what it holds (plain files only). */
static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        ck_assert_int_eq(unlink(path), 0);
    }
    closedir(d);
    ck_assert_int_eq(rmdir(tmpdir), 0);
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

/* A parsed CSV: the header's names and every row's fields as numbers. */
typedef struct csv {
    char *text;
    size_t ncol, nrow;
    char *names[64];
    double *val; /* nrow × ncol */
} csv;

static void csv_read(csv *c, const char *path)
{
    memset(c, 0, sizeof *c);
    c->text = slurp(path, NULL);
    char *save = NULL, *line = strtok_r(c->text, "\n", &save);
    ck_assert_ptr_nonnull(line);
    for (char *p = line; p; c->ncol++) {
        ck_assert_uint_lt(c->ncol, 64);
        c->names[c->ncol] = p;
        p = strchr(p, ',');
        if (p)
            *p++ = '\0';
    }
    size_t cap = 1024;
    c->val = malloc(cap * c->ncol * sizeof *c->val);
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        if (c->nrow == cap)
            c->val = realloc(c->val, (cap *= 2) * c->ncol * sizeof *c->val);
        ck_assert_ptr_nonnull(c->val);
        char *p = line;
        for (size_t j = 0; j < c->ncol; j++) {
            char *end;
            c->val[c->nrow * c->ncol + j] = strtod(p, &end);
            ck_assert_msg(end != p && (*end == ',') == (j + 1 < c->ncol), "bad field in %s", line);
            p = end + 1;
        }
        c->nrow++;
    }
}

static size_t csv_col(const csv *c, const char *name)
{
    for (size_t j = 0; j < c->ncol; j++)
        if (!strcmp(c->names[j], name))
            return j;
    ck_abort_msg("no column %s", name);
    return 0;
}

static double csv_at(const csv *c, size_t row, size_t col) { return c->val[row * c->ncol + col]; }

static void csv_free(csv *c)
{
    free(c->text);
    free(c->val);
}

/* --- creation -------------------------------------------------------------- */
START_TEST(test_info_matches_config)
{
    rmtl_env *env = make_env("sim: {users: 300, items: 400, candidates: 100, top_l: 4, "
                             "tasks: 3, max_requests: 12, sessions: 77}\n"
                             "fusion: {reward_coef: [1, 4, 2], reward_group: [0, 1, 1], "
                             "state: {user_dim: 5, item_dim: 7, context_dim: 3}}\n");
    rmtl_sim_info info = info_of(env);
    ck_assert_uint_eq(info.users, 300);
    ck_assert_uint_eq(info.items, 400);
    ck_assert_uint_eq(info.candidates, 100);
    ck_assert_uint_eq(info.top_l, 4);
    ck_assert_uint_eq(info.tasks, 3);
    ck_assert_uint_eq(info.max_requests, 12);
    ck_assert_uint_eq(info.sessions, 77);
    ck_assert_uint_eq(info.user_dim, 5);
    ck_assert_uint_eq(info.item_dim, 7);
    ck_assert_uint_eq(info.context_dim, 3);
    ck_assert(info.reward_coef[0] == 1.0 && info.reward_coef[1] == 4.0 &&
              info.reward_coef[2] == 2.0);
    for (int i = 0; i < RMTL_SIM_USER_CATS; i++)
        ck_assert_uint_ge(info.user_card[i], 2);
    for (int i = 0; i < RMTL_SIM_ITEM_CATS; i++)
        ck_assert_uint_ge(info.item_card[i], 2);
    ck_assert(info.position_decay > 0.0);

    ck_assert_int_eq(rmtl_env_sim_reset(env), RMTL_OK);
    rmtl_sim_request req = request_of(env);
    ck_assert_uint_eq(req.n, 100);
    ck_assert_uint_eq(req.tasks, 3);
    ck_assert_uint_eq(req.user_dim, 5);
    ck_assert_uint_eq(req.item_dim, 7);
    ck_assert_uint_eq(req.context_dim, 3);
    ck_assert_uint_eq(req.n_user_cat, RMTL_SIM_USER_CATS);
    ck_assert_uint_eq(req.n_item_cat, RMTL_SIM_ITEM_CATS);

    rmtl_sim_info bad = RMTL_SIM_INFO_INIT;
    bad.version = 99;
    ck_assert_int_eq(rmtl_env_sim_info(&bad, env), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_info(NULL, env), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_info(&info, NULL), RMTL_EINVAL);
    rmtl_env_free(env);
    rmtl_env_free(NULL);
}
END_TEST

START_TEST(test_create_rejects_inconsistent_config)
{
    ck_assert_error(create_rc("sim: {top_l: 300, candidates: 200}\n"), RMTL_ECONFIG, "sim.top_l");
    ck_assert_error(create_rc("sim: {items: 100, candidates: 200}\n"), RMTL_ECONFIG,
                    "sim.candidates");
    ck_assert_error(create_rc("sim: {tasks: 3}\n"), RMTL_ECONFIG, "fusion.reward_coef");
    ck_assert_error(create_rc("sim: {tasks: 1}\n"), RMTL_ECONFIG, "fusion.reward_coef");
    ck_assert_error(create_rc("fusion: {state: {context_dim: 6}}\n"), RMTL_ECONFIG,
                    "fusion.state.context_dim");
    /* Out-of-range values never get past the config itself. */
    rmtl_config *c = NULL;
    ck_assert_int_eq(rmtl_config_create(&c), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set_int(c, "sim.items", 0), RMTL_ECONFIG);
    ck_assert_int_eq(rmtl_config_set_double(c, "sim.leave_base", 1.5), RMTL_ECONFIG);
    rmtl_env *env = NULL;
    ck_assert_int_eq(rmtl_env_sim_create(NULL, c), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_create(&env, NULL), RMTL_EINVAL);
    ck_assert_ptr_null(env);
    rmtl_config_free(c);
    ck_assert_int_eq(create_rc("sim: {tasks: 1}\nfusion: {reward_coef: [1], reward_group: [0], "
                               "critic_groups: 1}\n"),
                     RMTL_OK);
}
END_TEST

/* --- determinism --------------------------------------------------------- */
static void write_log(rmtl_env *env, const char *name, uint64_t seed, int oracle)
{
    char path[128];
    tmp_path(path, sizeof path, name);
    uint64_t state = 99;
    int rc = oracle ? rmtl_env_sim_log(NULL, env, path, 60, seed, 0, rmtl_env_sim_oracle_policy,
                                       env)
                    : rmtl_env_sim_log(NULL, env, path, 60, seed, 0, rmtl_env_sim_random_policy,
                                       &state);
    ck_assert_msg(rc == RMTL_OK, "log: %s", rmtl_last_error());
}

static int same_file(const char *a, const char *b)
{
    char pa[128], pb[128];
    tmp_path(pa, sizeof pa, a);
    tmp_path(pb, sizeof pb, b);
    size_t la, lb;
    char *x = slurp(pa, &la), *y = slurp(pb, &lb);
    int same = la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return same;
}

START_TEST(test_same_seed_same_world_and_logs)
{
    make_tmpdir();
    rmtl_env *a = make_env(small_world), *b = make_env(small_world);
    rmtl_env *c = make_env("sim: {users: 300, items: 400, candidates: 100}\nruntime: {seed: 43}\n");
    int differ = 0;
    for (uint32_t i = 0; i < 200; i++) {
        uint32_t u = (i * 37) % 300, it = (i * 101) % 400;
        float pa[2], pb[2], pc[2];
        ck_assert_int_eq(rmtl_env_sim_true_probs(a, u, it, pa, 2), RMTL_OK);
        ck_assert_int_eq(rmtl_env_sim_true_probs(b, u, it, pb, 2), RMTL_OK);
        ck_assert_int_eq(rmtl_env_sim_true_probs(c, u, it, pc, 2), RMTL_OK);
        ck_assert(!memcmp(pa, pb, sizeof pa));
        differ += memcmp(pa, pc, sizeof pa) != 0;
    }
    ck_assert_int_gt(differ, 150);

    write_log(a, "a_oracle.csv", 5, 1);
    write_log(b, "b_oracle.csv", 5, 1);
    write_log(a, "a_random.csv", 5, 0);
    write_log(b, "b_random.csv", 5, 0);
    write_log(a, "a_seed6.csv", 6, 1);
    write_log(c, "c_oracle.csv", 5, 1);
    ck_assert(same_file("a_oracle.csv", "b_oracle.csv"));
    ck_assert(same_file("a_random.csv", "b_random.csv"));
    ck_assert(!same_file("a_oracle.csv", "a_random.csv"));
    ck_assert(!same_file("a_oracle.csv", "a_seed6.csv"));
    ck_assert(!same_file("a_oracle.csv", "c_oracle.csv"));

    /* The host loops replay too, request by request. */
    ck_assert_int_eq(rmtl_env_sim_reset(a), RMTL_OK);
    ck_assert_int_eq(rmtl_env_sim_reset(b), RMTL_OK);
    for (int t = 0; t < 40; t++) {
        rmtl_sim_request ra = request_of(a), rb = request_of(b);
        ck_assert_uint_eq(ra.user, rb.user);
        ck_assert(!memcmp(ra.items, rb.items, ra.n * sizeof *ra.items));
        ck_assert(!memcmp(ra.item_feat, rb.item_feat, ra.n * ra.item_dim * sizeof(float)));
        ck_assert(!memcmp(ra.context, rb.context, ra.context_dim * sizeof(float)));
        float sa[100], sb[100];
        ck_assert_int_eq(rmtl_env_sim_oracle_policy(sa, &ra, a), RMTL_OK);
        ck_assert_int_eq(rmtl_env_sim_oracle_policy(sb, &rb, b), RMTL_OK);
        rmtl_sim_feedback fa = RMTL_SIM_FEEDBACK_INIT, fb = RMTL_SIM_FEEDBACK_INIT;
        ck_assert_int_eq(rmtl_env_sim_step(&fa, a, sa, ra.n), RMTL_OK);
        ck_assert_int_eq(rmtl_env_sim_step(&fb, b, sb, rb.n), RMTL_OK);
        ck_assert(!memcmp(fa.behaviours, fb.behaviours, fa.n_shown * fa.tasks * sizeof(float)));
        ck_assert_int_eq(fa.done, fb.done);
        if (fa.done) {
            ck_assert_int_eq(rmtl_env_sim_reset(a), RMTL_OK);
            ck_assert_int_eq(rmtl_env_sim_reset(b), RMTL_OK);
        }
    }
    rmtl_env_free(a);
    rmtl_env_free(b);
    rmtl_env_free(c);
    remove_tmpdir();
}
END_TEST

/* --- the host loop ------------------------------------------------------- */
START_TEST(test_host_loop_invariants)
{
    rmtl_env *env = make_env("sim: {users: 300, items: 400, candidates: 100, tasks: 3}\n"
                             "fusion: {reward_coef: [1, 5, 2], reward_group: [0, 1, 1]}\n");
    rmtl_sim_info info = info_of(env);
    rmtl_sim_request req = RMTL_SIM_REQUEST_INIT;
    ck_assert_error(rmtl_env_sim_request(&req, env), RMTL_ESTATE, "reset");
    float scores[100];
    rmtl_sim_feedback fb = RMTL_SIM_FEEDBACK_INIT;
    ck_assert_error(rmtl_env_sim_step(&fb, env, scores, 100), RMTL_ESTATE, "reset");
    uint64_t state = 5;
    unsigned char *shown = calloc(info.items, 1);
    ck_assert_ptr_nonnull(shown);
    size_t sessions = 0, purchases = 0, likes = 0;
    while (sessions < 40) {
        ck_assert_int_eq(rmtl_env_sim_reset(env), RMTL_OK);
        memset(shown, 0, info.items);
        double total = 0.0;
        for (uint32_t t = 0;; t++) {
            req = request_of(env);
            ck_assert_uint_eq(req.request, t);
            ck_assert_uint_lt(req.user, info.users);
            ck_assert_float_eq_tol(req.context[0], (float)t / (float)info.max_requests, 1e-6);
            for (size_t i = 0; i < RMTL_SIM_USER_CATS; i++)
                ck_assert(req.user_cat[i] >= 1 && (uint32_t)req.user_cat[i] < info.user_card[i]);
            for (size_t j = 0; j < req.n; j++) {
                ck_assert_uint_lt(req.items[j], info.items);
                ck_assert_msg(!shown[req.items[j]], "item shown earlier offered again");
                for (size_t i = 0; i < RMTL_SIM_ITEM_CATS; i++) {
                    int32_t id = req.item_cat[j * RMTL_SIM_ITEM_CATS + i];
                    ck_assert(id >= 1 && (uint32_t)id < info.item_card[i]);
                }
                ck_assert(req.price[j] > 0.0f);
                for (size_t k = 0; k < j; k++)
                    ck_assert_uint_ne(req.items[j], req.items[k]);
            }
            ck_assert_int_eq(rmtl_env_sim_random_policy(scores, &req, &state), RMTL_OK);
            uint32_t offered[100]; /* the view is gone after the step */
            memcpy(offered, req.items, sizeof offered);
            ck_assert_int_eq(rmtl_env_sim_step(&fb, env, scores, req.n), RMTL_OK);
            ck_assert_uint_eq(fb.request, t);
            ck_assert_uint_eq(fb.n_shown, info.top_l);
            ck_assert_uint_eq(fb.tasks, 3);
            double r = 0.0;
            for (size_t k = 0; k < fb.n_shown; k++) {
                /* best first */
                if (k > 0)
                    ck_assert(scores[fb.shown[k]] <= scores[fb.shown[k - 1]]);
                ck_assert_uint_eq(fb.items[k], offered[fb.shown[k]]);
                shown[fb.items[k]] = 1;
                const float *b = fb.behaviours + k * 3;
                for (int i = 0; i < 3; i++)
                    ck_assert(b[i] == 0.0f || b[i] == 1.0f);
                ck_assert(b[1] <= b[0] && b[2] <= b[0]); /* purchase and like follow a click */
                purchases += b[1] != 0.0f;
                likes += b[2] != 0.0f;
                double pr = 1.0 * b[0] + 5.0 * b[1] + 2.0 * b[2];
                ck_assert_double_eq_tol(fb.pair_reward[k], pr, 1e-9);
                r += pr;
            }
            /* nothing unshown scores above the shown minimum */
            float lowest = scores[fb.shown[fb.n_shown - 1]];
            size_t above = 0;
            for (size_t j = 0; j < req.n; j++)
                above += scores[j] > lowest;
            ck_assert_uint_le(above, fb.n_shown - 1);
            ck_assert_double_eq_tol(fb.reward, r, 1e-9);
            total += r;
            ck_assert_double_eq_tol(fb.session_reward, total, 1e-6);
            if (fb.done)
                break;
            ck_assert_uint_lt(t + 1, info.max_requests);
        }
        sessions++;
        ck_assert_error(rmtl_env_sim_request(&req, env), RMTL_ESTATE, "ended");
        ck_assert_error(rmtl_env_sim_step(&fb, env, scores, 100), RMTL_ESTATE, "ended");
    }
    ck_assert_uint_gt(purchases, 0);
    ck_assert_uint_gt(likes, 0);
    free(shown);
    rmtl_env_free(env);
}
END_TEST

START_TEST(test_ranking_ties_and_order)
{
    rmtl_env *env = make_env(small_world);
    ck_assert_int_eq(rmtl_env_sim_reset(env), RMTL_OK);
    float scores[100];
    for (size_t j = 0; j < 100; j++)
        scores[j] = 1.0f;
    scores[50] = -0.0f; /* equal to 0, below 1 */
    rmtl_sim_feedback fb = RMTL_SIM_FEEDBACK_INIT;
    ck_assert_int_eq(rmtl_env_sim_step(&fb, env, scores, 100), RMTL_OK);
    for (uint32_t k = 0; k < 5; k++)
        ck_assert_uint_eq(fb.shown[k], k); /* ties: lower index first */
    if (!fb.done) {
        for (size_t j = 0; j < 100; j++)
            scores[j] = (float)j;
        ck_assert_int_eq(rmtl_env_sim_step(&fb, env, scores, 100), RMTL_OK);
        for (uint32_t k = 0; k < 5; k++)
            ck_assert_uint_eq(fb.shown[k], 99 - k);
    }
    rmtl_env_free(env);
}
END_TEST

/* A failed step changes nothing: the env then behaves exactly like one
 * that never saw the bad call. */
START_TEST(test_bad_scores_change_nothing)
{
    rmtl_env *a = make_env(small_world), *b = make_env(small_world);
    ck_assert_int_eq(rmtl_env_sim_reset(a), RMTL_OK);
    ck_assert_int_eq(rmtl_env_sim_reset(b), RMTL_OK);
    rmtl_sim_request ra = request_of(a);
    float scores[101];
    for (size_t j = 0; j < 101; j++)
        scores[j] = (float)((j * 7919) % 101);
    rmtl_sim_feedback fa = RMTL_SIM_FEEDBACK_INIT, fb = RMTL_SIM_FEEDBACK_INIT;
    ck_assert_error(rmtl_env_sim_step(&fa, a, scores, 99), RMTL_EINVAL, "99 scores");
    ck_assert_error(rmtl_env_sim_step(&fa, a, scores, 101), RMTL_EINVAL, "101 scores");
    ck_assert_int_eq(rmtl_env_sim_step(&fa, a, NULL, 100), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_step(NULL, a, scores, 100), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_step(&fa, NULL, scores, 100), RMTL_EINVAL);
    float keep = scores[17];
    scores[17] = NAN;
    ck_assert_error(rmtl_env_sim_step(&fa, a, scores, 100), RMTL_ENUMERIC, "score 17");
    scores[17] = INFINITY;
    ck_assert_error(rmtl_env_sim_step(&fa, a, scores, 100), RMTL_ENUMERIC, "score 17");
    scores[17] = keep;
    rmtl_sim_request again = request_of(a);
    ck_assert_uint_eq(again.user, ra.user);
    ck_assert_uint_eq(again.request, 0);
    for (int t = 0; t < 3; t++) {
        ck_assert_int_eq(rmtl_env_sim_step(&fa, a, scores, 100), RMTL_OK);
        ck_assert_int_eq(rmtl_env_sim_step(&fb, b, scores, 100), RMTL_OK);
        ck_assert(!memcmp(fa.shown, fb.shown, 5 * sizeof *fa.shown));
        ck_assert(!memcmp(fa.behaviours, fb.behaviours, 5 * fa.tasks * sizeof(float)));
        ck_assert_int_eq(fa.done, fb.done);
        if (fa.done)
            break;
    }
    rmtl_env_free(a);
    rmtl_env_free(b);
}
END_TEST

/* --- ground truth ---------------------------------------------------------- */
START_TEST(test_true_probs)
{
    rmtl_env *env = make_env("sim: {users: 300, items: 400, candidates: 100, tasks: 3}\n"
                             "fusion: {reward_coef: [1, 5, 2], reward_group: [0, 1, 1]}\n");
    float p[3];
    double lo = 1.0, hi = 0.0;
    for (uint32_t u = 0; u < 300; u += 7)
        for (uint32_t i = 0; i < 400; i += 11) {
            ck_assert_int_eq(rmtl_env_sim_true_probs(env, u, i, p, 3), RMTL_OK);
            ck_assert(p[0] > 0.0f && p[0] < 1.0f);
            ck_assert(p[1] >= 0.0f && p[1] <= p[0]);
            ck_assert(p[2] >= 0.0f && p[2] <= p[0]);
            lo = p[0] < lo ? p[0] : lo;
            hi = p[0] > hi ? p[0] : hi;
        }
    ck_assert(hi - lo > 0.3); /* the truth varies, a model has something to learn */
    ck_assert_int_eq(rmtl_env_sim_true_probs(env, 300, 0, p, 3), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_true_probs(env, 0, 400, p, 3), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_true_probs(env, 0, 0, p, 2), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_true_probs(env, 0, 0, NULL, 3), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_true_probs(NULL, 0, 0, p, 3), RMTL_EINVAL);
    rmtl_env_free(env);
}
END_TEST

START_TEST(test_oracle_scores_expected_reward)
{
    rmtl_env *env = make_env(small_world);
    rmtl_sim_info info = info_of(env);
    ck_assert_int_eq(rmtl_env_sim_reset(env), RMTL_OK);
    rmtl_sim_request req = request_of(env);
    float s[100], s2[100];
    ck_assert_int_eq(rmtl_env_sim_oracle_policy(s, &req, env), RMTL_OK);
    for (size_t j = 0; j < req.n; j++)
        ck_assert_double_eq_tol(s[j], true_value(env, &info, req.user, req.items[j]), 1e-5);
    /* A request the host built itself (not one of the env's) works too. */
    uint32_t items[100];
    memcpy(items, req.items, sizeof items);
    rmtl_sim_request own = req;
    own.items = items;
    ck_assert_int_eq(rmtl_env_sim_oracle_policy(s2, &own, env), RMTL_OK);
    for (size_t j = 0; j < req.n; j++)
        ck_assert_double_eq_tol(s2[j], s[j], 1e-5);
    items[3] = 400;
    ck_assert_int_eq(rmtl_env_sim_oracle_policy(s2, &own, env), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_oracle_policy(s2, &req, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_oracle_policy(NULL, &req, env), RMTL_EINVAL);
    /* The random policy: its own state decides. */
    uint64_t st1 = 3, st2 = 3;
    ck_assert_int_eq(rmtl_env_sim_random_policy(s, &req, &st1), RMTL_OK);
    ck_assert_int_eq(rmtl_env_sim_random_policy(s2, &req, &st2), RMTL_OK);
    ck_assert(!memcmp(s, s2, sizeof s));
    ck_assert_int_eq(rmtl_env_sim_random_policy(s2, &req, &st2), RMTL_OK);
    ck_assert(memcmp(s, s2, sizeof s));
    ck_assert_int_eq(rmtl_env_sim_random_policy(s, &req, NULL), RMTL_EINVAL);
    rmtl_env_free(env);
}
END_TEST

/* The logged click and purchase counts match what the ground truth
 * expects for the items actually shown, at their positions. */
START_TEST(test_logged_rates_match_truth)
{
    make_tmpdir();
    rmtl_env *env = make_env(small_world);
    rmtl_sim_info info = info_of(env);
    char path[128];
    tmp_path(path, sizeof path, "rates.csv");
    uint64_t state = 11;
    rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
    ck_assert_int_eq(
        rmtl_env_sim_log(&st, env, path, 1500, 21, 0, rmtl_env_sim_random_policy, &state),
        RMTL_OK);
    csv c;
    csv_read(&c, path);
    ck_assert_uint_eq(c.nrow, st.impressions);
    size_t cu = csv_col(&c, "user_id"), ci = csv_col(&c, "item_id"),
           cp = csv_col(&c, "position"), cc = csv_col(&c, "click"),
           cb = csv_col(&c, "purchase");
    double obs[2] = {0, 0}, expect[2] = {0, 0}, var[2] = {0, 0};
    for (size_t r = 0; r < c.nrow; r++) {
        float p[2];
        ck_assert_int_eq(rmtl_env_sim_true_probs(env, (uint32_t)csv_at(&c, r, cu),
                                                 (uint32_t)csv_at(&c, r, ci), p, 2),
                         RMTL_OK);
        double exam = pow(1.0 + csv_at(&c, r, cp), -info.position_decay);
        for (int k = 0; k < 2; k++) {
            double q = exam * p[k];
            expect[k] += q;
            var[k] += q * (1.0 - q);
        }
        obs[0] += csv_at(&c, r, cc);
        obs[1] += csv_at(&c, r, cb);
        ck_assert(csv_at(&c, r, cb) <= csv_at(&c, r, cc));
    }
    for (int k = 0; k < 2; k++) {
        double z = (obs[k] - expect[k]) / sqrt(var[k]);
        ck_assert_msg(fabs(z) < 4.5, "task %d: %g observed, %g expected (z = %g)", k, obs[k],
                      expect[k], z);
        ck_assert_double_eq_tol(st.rate[k], obs[k] / (double)c.nrow, 1e-12);
    }
    ck_assert_double_gt(obs[1], 100.0); /* enough purchases for the test to mean something */
    csv_free(&c);
    rmtl_env_free(env);
    remove_tmpdir();
}
END_TEST

/* --- the leave mechanism -------------------------------------------------- */
START_TEST(test_oracle_outlasts_random)
{
    rmtl_env *env = make_env(NULL);
    for (uint64_t seed = 1; seed <= 10; seed++) {
        rmtl_sim_stats o = RMTL_SIM_STATS_INIT, r = RMTL_SIM_STATS_INIT;
        uint64_t state = seed * 1000;
        ck_assert_int_eq(rmtl_env_sim_evaluate(&o, env, 300, seed, rmtl_env_sim_oracle_policy, env),
                         RMTL_OK);
        ck_assert_int_eq(
            rmtl_env_sim_evaluate(&r, env, 300, seed, rmtl_env_sim_random_policy, &state),
            RMTL_OK);
        ck_assert_uint_eq(o.sessions, 300);
        ck_assert_msg(o.length_mean > r.length_mean, "seed %d: length %g vs %g", (int)seed,
                      o.length_mean, r.length_mean);
        ck_assert_msg(o.reward_mean > r.reward_mean, "seed %d: reward %g vs %g", (int)seed,
                      o.reward_mean, r.reward_mean);
        ck_assert(o.rate[0] > r.rate[0] && o.rate[1] > r.rate[1]);
        ck_assert_uint_eq(o.requests, (size_t)llround(o.length_mean * 300));
        ck_assert_uint_eq(o.impressions, o.requests * 5);
    }
    rmtl_env_free(env);
}
END_TEST

/* Without the reward term the leave decision no longer depends on the
 * policy: with common random numbers both play sessions of equal length. */
START_TEST(test_leave_depends_on_reward_only)
{
    rmtl_env *env = make_env("sim: {leave_reward_slope: 0}\n");
    rmtl_sim_stats o = RMTL_SIM_STATS_INIT, r = RMTL_SIM_STATS_INIT;
    uint64_t state = 1;
    ck_assert_int_eq(rmtl_env_sim_evaluate(&o, env, 200, 9, rmtl_env_sim_oracle_policy, env),
                     RMTL_OK);
    ck_assert_int_eq(rmtl_env_sim_evaluate(&r, env, 200, 9, rmtl_env_sim_random_policy, &state),
                     RMTL_OK);
    ck_assert_uint_eq(o.requests, r.requests);
    ck_assert(o.length_std == r.length_std);
    ck_assert(o.reward_mean > r.reward_mean);
    rmtl_env_free(env);

    env = make_env("sim: {leave_base: 1}\n");
    ck_assert_int_eq(rmtl_env_sim_evaluate(&o, env, 50, 1, rmtl_env_sim_oracle_policy, env),
                     RMTL_OK);
    ck_assert(o.length_mean == 1.0 && o.length_std == 0.0);
    rmtl_env_free(env);

    env = make_env("sim: {leave_base: 0, fatigue: 0, max_requests: 7}\n");
    ck_assert_int_eq(rmtl_env_sim_evaluate(&o, env, 50, 1, rmtl_env_sim_random_policy, &state),
                     RMTL_OK);
    ck_assert(o.length_mean == 7.0 && o.length_std == 0.0);
    rmtl_env_free(env);

    /* Fatigue shortens sessions. */
    rmtl_env *slow = make_env("sim: {fatigue: 0}\n"), *tired = make_env("sim: {fatigue: 0.3}\n");
    ck_assert_int_eq(rmtl_env_sim_evaluate(&o, slow, 300, 2, rmtl_env_sim_oracle_policy, slow),
                     RMTL_OK);
    ck_assert_int_eq(rmtl_env_sim_evaluate(&r, tired, 300, 2, rmtl_env_sim_oracle_policy, tired),
                     RMTL_OK);
    ck_assert(o.length_mean > r.length_mean);
    rmtl_env_free(slow);
    rmtl_env_free(tired);
}
END_TEST

/* --- evaluate and log ------------------------------------------------------ */
START_TEST(test_evaluate_log_and_host_agree)
{
    make_tmpdir();
    rmtl_env *env = make_env(small_world);
    /* The host's session survives a run. */
    ck_assert_int_eq(rmtl_env_sim_reset(env), RMTL_OK);
    rmtl_sim_request before = request_of(env);
    uint32_t items[100];
    memcpy(items, before.items, sizeof items);

    rmtl_sim_stats e = RMTL_SIM_STATS_INIT, l = RMTL_SIM_STATS_INIT;
    ck_assert_int_eq(rmtl_env_sim_evaluate(&e, env, 80, 42, rmtl_env_sim_oracle_policy, env),
                     RMTL_OK);
    char path[128];
    tmp_path(path, sizeof path, "agree.csv");
    ck_assert_int_eq(rmtl_env_sim_log(&l, env, path, 80, 42, 0, rmtl_env_sim_oracle_policy, env),
                     RMTL_OK);
    ck_assert(!memcmp(&e, &l, sizeof e));

    rmtl_sim_request after = request_of(env);
    ck_assert_uint_eq(after.user, before.user);
    ck_assert(!memcmp(after.items, items, sizeof items));

    /* Reset k of a fresh env plays session k of the stream runtime.seed
     * (42 by default). */
    rmtl_env *host = make_env(small_world);
    double total = 0.0;
    size_t requests = 0;
    float s[100];
    for (int k = 0; k < 80; k++) {
        ck_assert_int_eq(rmtl_env_sim_reset(host), RMTL_OK);
        rmtl_sim_feedback fb = RMTL_SIM_FEEDBACK_INIT;
        do {
            rmtl_sim_request req = request_of(host);
            ck_assert_int_eq(rmtl_env_sim_oracle_policy(s, &req, host), RMTL_OK);
            ck_assert_int_eq(rmtl_env_sim_step(&fb, host, s, req.n), RMTL_OK);
            requests++;
        } while (!fb.done);
        total += fb.session_reward;
    }
    ck_assert_uint_eq(requests, e.requests);
    ck_assert_double_eq_tol(total / 80.0, e.reward_mean, 1e-9 * (1.0 + total));
    rmtl_env_free(host);
    rmtl_env_free(env);
    remove_tmpdir();
}
END_TEST

typedef struct policy_ctx {
    int calls;
    rmtl_env *env;
    int code;   /* returned from call `at` on */
    int at;
    int nan;    /* write a NaN instead */
} policy_ctx;

static int scripted_policy(float *scores, const rmtl_sim_request *req, void *payload)
{
    policy_ctx *p = payload;
    int rc = rmtl_env_sim_oracle_policy(scores, req, p->env);
    if (rc || ++p->calls < p->at)
        return rc;
    if (p->nan) {
        scores[req->n / 2] = NAN;
        return 0;
    }
    return p->code;
}

START_TEST(test_policy_errors)
{
    make_tmpdir();
    rmtl_env *env = make_env(small_world);
    rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
    policy_ctx p = {0, env, RMTL_EIO, 4, 0};
    ck_assert_error(rmtl_env_sim_evaluate(&st, env, 10, 1, scripted_policy, &p), RMTL_EIO,
                    "policy failed at session");
    ck_assert_uint_eq(st.sessions, 0); /* untouched */
    p = (policy_ctx){0, env, 7, 2, 0};
    ck_assert_error(rmtl_env_sim_evaluate(&st, env, 10, 1, scripted_policy, &p), RMTL_ERROR,
                    "policy returned 7");
    p = (policy_ctx){0, env, 0, 5, 1};
    ck_assert_error(rmtl_env_sim_evaluate(&st, env, 10, 1, scripted_policy, &p), RMTL_ENUMERIC,
                    "policy scores");
    ck_assert_int_eq(rmtl_env_sim_evaluate(&st, env, 0, 1, rmtl_env_sim_oracle_policy, env),
                     RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_evaluate(&st, env, 10, 1, NULL, env), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_evaluate(NULL, env, 10, 1, rmtl_env_sim_oracle_policy, env),
                     RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_evaluate(&st, NULL, 10, 1, rmtl_env_sim_oracle_policy, env),
                     RMTL_EINVAL);

    /* A failed log leaves the previous file as it was, and no temp file. */
    char path[128], tmp[160];
    tmp_path(path, sizeof path, "keep.csv");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("old\n", f);
    fclose(f);
    p = (policy_ctx){0, env, RMTL_ENOMEM, 30, 0};
    ck_assert_int_eq(rmtl_env_sim_log(NULL, env, path, 10, 1, 0, scripted_policy, &p),
                     RMTL_ENOMEM);
    char *text = slurp(path, NULL);
    ck_assert_str_eq(text, "old\n");
    free(text);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.csv", tmpdir);
    ck_assert_error(rmtl_env_sim_log(NULL, env, bad, 10, 1, 0, rmtl_env_sim_oracle_policy, env),
                    RMTL_EIO, "no/such/dir/x.csv");
    ck_assert_int_eq(rmtl_env_sim_log(NULL, env, NULL, 10, 1, 0, rmtl_env_sim_oracle_policy, env),
                     RMTL_EINVAL);
    ck_assert_int_eq(rmtl_env_sim_log(NULL, env, path, 10, 1, 5000, rmtl_env_sim_oracle_policy,
                                      env),
                     RMTL_EINVAL);
    rmtl_env_free(env);
    remove_tmpdir();
}
END_TEST

/* Fusion actions and trust boxes: the policy fills them per candidate and
 * the log keeps the rows of the shown ones. */
static int action_policy(float *scores, const rmtl_sim_request *req, void *payload)
{
    ck_assert_uint_eq(req->action_dim, 2);
    ck_assert_ptr_nonnull(req->action);
    for (size_t j = 0; j < req->n; j++)
        for (size_t a = 0; a < 2; a++) {
            float v = (float)req->items[j] * 0.5f + (float)a;
            req->action[j * 2 + a] = v;
            req->box_lo[j * 2 + a] = v - 0.25f;
            req->box_hi[j * 2 + a] = v + 0.25f;
        }
    return rmtl_env_sim_oracle_policy(scores, req, payload);
}

START_TEST(test_log_columns_and_actions)
{
    make_tmpdir();
    rmtl_env *env = make_env(small_world);
    char path[128];
    tmp_path(path, sizeof path, "actions.csv");
    ck_assert_int_eq(rmtl_env_sim_log(NULL, env, path, 30, 3, 2, action_policy, env), RMTL_OK);
    csv c;
    csv_read(&c, path);
    static const char *const want[] = {
        "session_id", "request",    "timestamp",         "user_id",         "item_id",
        "user_segment", "user_activity", "user_region",   "item_category",   "item_brand",
        "item_price_bucket", "item_pop_bucket", "price", "position",        "click",
        "purchase"};
    static const char *const want_tail[] = {"action_0", "action_1", "box_lo_0",
                                            "box_lo_1", "box_hi_0", "box_hi_1"};
    rmtl_sim_info info = RMTL_SIM_INFO_INIT;
    ck_assert_int_eq(rmtl_env_sim_info(&info, env), RMTL_OK);
    size_t nw = sizeof want / sizeof want[0], nf = info.user_dim + info.item_dim + info.context_dim;
    ck_assert_uint_eq(c.ncol, nw + nf + 6);
    for (size_t j = 0; j < nw; j++)
        ck_assert_str_eq(c.names[j], want[j]);
    for (size_t j = 0; j < 6; j++)
        ck_assert_str_eq(c.names[nw + nf + j], want_tail[j]);
    /* every feature of the request is in the log: the user's, the shown
     * item's and the request's context (checked on the first row) */
    ck_assert_str_eq(c.names[nw], "user_f_0");
    ck_assert_str_eq(c.names[nw + info.user_dim], "item_f_0");
    ck_assert_str_eq(c.names[nw + info.user_dim + info.item_dim], "context_0");
    ck_assert_str_eq(c.names[nw + nf - 1], info.context_dim ? "context_3" : c.names[nw + nf - 1]);
    ck_assert_double_eq(csv_at(&c, 0, csv_col(&c, "request")), 0.0);
    ck_assert_double_eq(csv_at(&c, 0, csv_col(&c, "context_0")), 0.0); /* t / max_requests */
    size_t ci = csv_col(&c, "item_id"), ca = csv_col(&c, "action_0");
    size_t cs = csv_col(&c, "session_id"), cr = csv_col(&c, "request"),
           ct = csv_col(&c, "timestamp"), cp = csv_col(&c, "position");
    for (size_t r = 0; r < c.nrow; r++) {
        double item = csv_at(&c, r, ci);
        ck_assert_double_eq(csv_at(&c, r, ca), item * 0.5);
        ck_assert_double_eq(csv_at(&c, r, ca + 1), item * 0.5 + 1.0);
        ck_assert_double_eq(csv_at(&c, r, ca + 2), item * 0.5 - 0.25);
        ck_assert_double_eq(csv_at(&c, r, ca + 5), item * 0.5 + 1.25);
        /* positions 0..4 in every request */
        double pos = r == 0 ? 0.0 : (double)(((int)csv_at(&c, r - 1, cp) + 1) % 5);
        ck_assert_double_eq(csv_at(&c, r, cp), pos);
        if (r > 0) {
            ck_assert(csv_at(&c, r, ct) > csv_at(&c, r - 1, ct)); /* timestamps increase */
            ck_assert(csv_at(&c, r, cs) >= csv_at(&c, r - 1, cs));
            if (csv_at(&c, r, cs) == csv_at(&c, r - 1, cs))
                ck_assert(csv_at(&c, r, cr) >= csv_at(&c, r - 1, cr));
        }
    }
    csv_free(&c);

    /* Every column of a plain log has a role in the committed schema. */
    tmp_path(path, sizeof path, "plain.csv");
    ck_assert_int_eq(rmtl_env_sim_log(NULL, env, path, 5, 3, 0, rmtl_env_sim_oracle_policy, env),
                     RMTL_OK);
    csv_read(&c, path);
    char *schema = slurp(RMTL_SOURCE_DIR "/examples/schemas/sim.yaml", NULL);
    for (size_t j = 0; j < c.ncol; j++) {
        char key[64];
        snprintf(key, sizeof key, "\n  %s: {role: ", c.names[j]);
        ck_assert_msg(strstr(schema, key) != NULL, "schema lacks column %s", c.names[j]);
    }
    free(schema);
    csv_free(&c);
    rmtl_env_free(env);
    remove_tmpdir();
}
END_TEST

Suite *rmtl_test_sim_suite(void)
{
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_info_matches_config);
    tcase_add_test(tc, test_create_rejects_inconsistent_config);
    tcase_add_test(tc, test_same_seed_same_world_and_logs);
    tcase_add_test(tc, test_ranking_ties_and_order);
    tcase_add_test(tc, test_bad_scores_change_nothing);
    tcase_add_test(tc, test_true_probs);
    tcase_add_test(tc, test_oracle_scores_expected_reward);
    tcase_add_test(tc, test_evaluate_log_and_host_agree);
    tcase_add_test(tc, test_policy_errors);
    tcase_add_test(tc, test_log_columns_and_actions);
    suite_add_tcase(s, tc);
    TCase *slow = rmtl_slow_tcase(s, "api_slow", 120);
    tcase_add_test(slow, test_host_loop_invariants);
    tcase_add_test(slow, test_logged_rates_match_truth);
    tcase_add_test(slow, test_oracle_outlasts_random);
    tcase_add_test(slow, test_leave_depends_on_reward_only);
    return s;
}
