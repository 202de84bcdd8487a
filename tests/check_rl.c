/* Public API of RMTL's reinforcement learning: the replay buffer (ring
 * overwrite, uniform sampling without replacement, bad input), the
 * session environment over a dataset (time order, done flags, rewards,
 * bad input), and critics, actor and agent driven by a host loop
 * (schedule, behaviour policy, RMTL loss weights, checkpoints, bad input). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmtl.h"
#include "util/tdata.h"
#include "util/slow.h"

#define ck_assert_error(rc, code, want)                                                   \
    do {                                                                                  \
        ck_assert_int_eq((rc), (code));                                                   \
        ck_assert_msg(strstr(rmtl_last_error(), (want)) != NULL,                          \
                      "message \"%s\" lacks \"%s\"", rmtl_last_error(), (want));          \
    } while (0)

/* ---- replay buffer ------------------------------------------------------------ */

/* Transitions of 2 categorical fields, 1 numerical value and 2 tasks whose
 * every field encodes the transition's number v, so a sample shows which
 * transitions it drew and that their fields stayed together. */
typedef struct {
    int32_t cat[2 * 64], ncat[2 * 64];
    float num[64], nnum[64], act[2 * 64], rew[2 * 64], lab[2 * 64];
    uint8_t done[64];
    rmtl_transitions t;
} trows;

static void make_rows(trows *r, size_t n, int first)
{
    ck_assert_uint_le(n, 64);
    for (size_t i = 0; i < n; i++) {
        int v = first + (int)i;
        r->cat[2 * i] = v;
        r->cat[2 * i + 1] = -v;
        r->ncat[2 * i] = v + 1000;
        r->ncat[2 * i + 1] = v + 2000;
        r->num[i] = (float)v * 0.5f;
        r->nnum[i] = (float)v * 0.25f;
        r->act[2 * i] = (float)(v % 101) / 100.0f;
        r->act[2 * i + 1] = 1.0f - r->act[2 * i];
        r->rew[2 * i] = -(float)v;
        r->rew[2 * i + 1] = -2.0f * (float)v;
        r->lab[2 * i] = (float)(v & 1);
        r->lab[2 * i + 1] = (float)((v >> 1) & 1);
        r->done[i] = (uint8_t)(v % 3 == 0);
    }
    rmtl_transitions t = RMTL_TRANSITIONS_INIT;
    t.rows = n;
    t.cat = r->cat;
    t.num = r->num;
    t.action = r->act;
    t.next_cat = r->ncat;
    t.next_num = r->nnum;
    t.reward = r->rew;
    t.done = r->done;
    t.labels = r->lab;
    r->t = t;
}

/* Asserts row i of t is transition v and returns v. */
static int check_row(const rmtl_transitions *t, size_t i)
{
    int v = t->cat[2 * i];
    ck_assert_int_eq(t->cat[2 * i + 1], -v);
    ck_assert_int_eq(t->next_cat[2 * i], v + 1000);
    ck_assert_int_eq(t->next_cat[2 * i + 1], v + 2000);
    ck_assert_float_eq(t->num[i], (float)v * 0.5f);
    ck_assert_float_eq(t->next_num[i], (float)v * 0.25f);
    ck_assert_float_eq(t->action[2 * i], (float)(v % 101) / 100.0f);
    ck_assert_float_eq(t->reward[2 * i + 1], -2.0f * (float)v);
    ck_assert_float_eq(t->labels[2 * i], (float)(v & 1));
    ck_assert_float_eq(t->labels[2 * i + 1], (float)((v >> 1) & 1));
    ck_assert_uint_eq(t->done[i], (uint8_t)(v % 3 == 0));
    return v;
}

static rmtl_replay *new_replay(size_t cap, uint64_t seed)
{
    rmtl_replay *rb = NULL;
    ck_assert_int_eq(rmtl_replay_create(&rb, cap, 2, 1, 2, seed), RMTL_OK);
    ck_assert_ptr_nonnull(rb);
    return rb;
}

START_TEST(test_replay_ring)
{
    rmtl_replay *rb = new_replay(4, 1);
    ck_assert_uint_eq(rmtl_replay_capacity(rb), 4);
    ck_assert_uint_eq(rmtl_replay_size(rb), 0);
    trows r;
    for (int v = 0; v < 6; v++) { /* one at a time: 0..5, the ring wraps */
        make_rows(&r, 1, v);
        ck_assert_int_eq(rmtl_replay_store(rb, &r.t), RMTL_OK);
        ck_assert_uint_eq(rmtl_replay_size(rb), v < 4 ? (size_t)v + 1 : 4);
    }
    rmtl_transitions g = RMTL_TRANSITIONS_INIT;
    for (size_t i = 0; i < 4; i++) { /* the oldest two were overwritten */
        ck_assert_int_eq(rmtl_replay_get(&g, rb, i), RMTL_OK);
        ck_assert_uint_eq(g.rows, 1);
        ck_assert_int_eq(check_row(&g, 0), 2 + (int)i);
    }
    ck_assert_error(rmtl_replay_get(&g, rb, 4), RMTL_EINVAL, "index 4");
    /* a batch of the whole buffer is a permutation of what it holds */
    rmtl_transitions s = RMTL_TRANSITIONS_INIT;
    ck_assert_int_eq(rmtl_replay_sample(&s, rb, 4), RMTL_OK);
    int seen = 0;
    for (size_t i = 0; i < 4; i++)
        seen |= 1 << (check_row(&s, i) - 2);
    ck_assert_int_eq(seen, 0xF);
    /* more rows than the capacity in one call: the last four stay */
    make_rows(&r, 7, 100);
    ck_assert_int_eq(rmtl_replay_store(rb, &r.t), RMTL_OK);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(rmtl_replay_get(&g, rb, i), RMTL_OK);
        ck_assert_int_eq(check_row(&g, 0), 103 + (int)i);
    }
    rmtl_replay_free(rb);
}
END_TEST

/* χ² of the draws over 20 transitions, batches of 5 without replacement:
 * every transition and every batch position equally likely. */
START_TEST(test_replay_uniform)
{
    enum { N = 20, B = 5, ROUNDS = 4000 };
    rmtl_replay *rb = new_replay(32, 12345);
    trows r;
    make_rows(&r, N, 0);
    ck_assert_int_eq(rmtl_replay_store(rb, &r.t), RMTL_OK);
    static long count[N], pos[B][N];
    memset(count, 0, sizeof count);
    memset(pos, 0, sizeof pos);
    rmtl_transitions s = RMTL_TRANSITIONS_INIT;
    for (int k = 0; k < ROUNDS; k++) {
        ck_assert_int_eq(rmtl_replay_sample(&s, rb, B), RMTL_OK);
        ck_assert_uint_eq(s.rows, B);
        int in_batch[N] = {0};
        for (size_t i = 0; i < B; i++) {
            int v = check_row(&s, i);
            ck_assert_msg(!in_batch[v], "transition %d drawn twice in one batch", v);
            in_batch[v] = 1;
            count[v]++;
            pos[i][v]++;
        }
    }
    /* 19 degrees of freedom: P(χ² > 43.82) = 0.001 */
    double e = (double)ROUNDS * B / N, chi = 0;
    for (int v = 0; v < N; v++)
        chi += (count[v] - e) * (count[v] - e) / e;
    ck_assert_msg(chi < 43.82, "chi-square %g over transitions", chi);
    for (int i = 0; i < B; i++) {
        double ep = (double)ROUNDS / N, cp = 0;
        for (int v = 0; v < N; v++)
            cp += (pos[i][v] - ep) * (pos[i][v] - ep) / ep;
        ck_assert_msg(cp < 43.82, "chi-square %g at batch position %d", cp, i);
    }
    rmtl_replay_free(rb);
}
END_TEST

START_TEST(test_replay_sampling_is_seeded)
{
    rmtl_replay *a = new_replay(50, 7), *b = new_replay(50, 7), *c = new_replay(50, 8);
    trows r;
    make_rows(&r, 40, 0);
    ck_assert_int_eq(rmtl_replay_store(a, &r.t), RMTL_OK);
    ck_assert_int_eq(rmtl_replay_store(b, &r.t), RMTL_OK);
    ck_assert_int_eq(rmtl_replay_store(c, &r.t), RMTL_OK);
    rmtl_transitions sa = RMTL_TRANSITIONS_INIT, sb = RMTL_TRANSITIONS_INIT;
    rmtl_transitions sc = RMTL_TRANSITIONS_INIT;
    int differs = 0;
    for (int k = 0; k < 5; k++) {
        ck_assert_int_eq(rmtl_replay_sample(&sa, a, 10), RMTL_OK);
        ck_assert_int_eq(rmtl_replay_sample(&sb, b, 10), RMTL_OK);
        ck_assert_int_eq(rmtl_replay_sample(&sc, c, 10), RMTL_OK);
        ck_assert(memcmp(sa.cat, sb.cat, 20 * sizeof(int32_t)) == 0);
        differs |= memcmp(sa.cat, sc.cat, 20 * sizeof(int32_t)) != 0;
    }
    ck_assert(differs);
    rmtl_replay_free(a);
    rmtl_replay_free(b);
    rmtl_replay_free(c);
}
END_TEST

START_TEST(test_replay_bad_input)
{
    rmtl_replay *rb = NULL;
    ck_assert_error(rmtl_replay_create(&rb, 0, 2, 1, 2, 1), RMTL_EINVAL, "capacity 0");
    ck_assert_ptr_null(rb);
    ck_assert_error(rmtl_replay_create(&rb, 8, 2, 1, 0, 1), RMTL_EINVAL, "0 tasks");
    ck_assert_error(rmtl_replay_create(NULL, 8, 2, 1, 2, 1), RMTL_EINVAL, "out");
    rb = new_replay(8, 1);
    trows r;
    make_rows(&r, 3, 0);
    ck_assert_int_eq(rmtl_replay_store(rb, &r.t), RMTL_OK);
    /* sampling more than it holds, or than it could ever hold */
    rmtl_transitions s = RMTL_TRANSITIONS_INIT;
    ck_assert_error(rmtl_replay_sample(&s, rb, 4), RMTL_ESTATE, "larger than the 3");
    ck_assert_error(rmtl_replay_sample(&s, rb, 9), RMTL_EINVAL, "capacity 8");
    ck_assert_error(rmtl_replay_sample(&s, rb, 0), RMTL_EINVAL, "batch 0");
    rmtl_transitions bad = RMTL_TRANSITIONS_INIT;
    bad.version = 0;
    ck_assert_error(rmtl_replay_sample(&bad, rb, 1), RMTL_EINVAL, "RMTL_TRANSITIONS_INIT");
    /* every bad row is refused before anything is stored */
    make_rows(&r, 4, 10);
    r.act[5] = 1.5f; /* row 2, task 1 */
    ck_assert_error(rmtl_replay_store(rb, &r.t), RMTL_EINVAL, "task 1 at row 2");
    r.act[5] = -0.01f;
    ck_assert_error(rmtl_replay_store(rb, &r.t), RMTL_EINVAL, "outside [0, 1]");
    r.act[5] = NAN;
    ck_assert_error(rmtl_replay_store(rb, &r.t), RMTL_ENUMERIC, "non-finite action at row 2");
    r.act[5] = 0.5f;
    r.rew[0] = INFINITY;
    ck_assert_error(rmtl_replay_store(rb, &r.t), RMTL_ENUMERIC, "non-finite reward");
    r.rew[0] = -1.0f;
    r.done[3] = 2;
    ck_assert_error(rmtl_replay_store(rb, &r.t), RMTL_EINVAL, "done flag 2 at row 3");
    r.done[3] = 1;
    r.t.next_cat = NULL;
    ck_assert_error(rmtl_replay_store(rb, &r.t), RMTL_EINVAL, "'next_cat'");
    r.t.next_cat = r.ncat;
    r.t.rows = 0;
    ck_assert_error(rmtl_replay_store(rb, &r.t), RMTL_EINVAL, "rows = 0");
    ck_assert_error(rmtl_replay_store(rb, NULL), RMTL_EINVAL, "RMTL_TRANSITIONS_INIT");
    ck_assert_uint_eq(rmtl_replay_size(rb), 3);
    rmtl_transitions g = RMTL_TRANSITIONS_INIT;
    ck_assert_int_eq(rmtl_replay_get(&g, rb, 2), RMTL_OK);
    ck_assert_int_eq(check_row(&g, 0), 2);
    ck_assert_uint_eq(rmtl_replay_size(NULL), 0);
    rmtl_replay_free(rb);
    rmtl_replay_free(NULL);
}
END_TEST

/* ---- session environment over a dataset --------------------------------------- */

#define OTTO_SCHEMA RMTL_SOURCE_DIR "/examples/schemas/otto.yaml"

/* The otto events, or return from the test (skipped: the shared data
 * folder is absent; the reason is printed). */
#define OTTO_OR_SKIP(csv)                                                     \
    const char *csv = rmtl_tdata_shared("sessions/otto/events.csv");          \
    if (!csv)                                                                 \
        return

/* The otto events as the test reads them itself: per CSV row, the session
 * id, the timestamp and the three labels. */
typedef struct {
    size_t n;
    long long session[1024], ts[1024];
    float y[1024][3];
} otto_rows;

static void read_otto(otto_rows *o, const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f)); /* header */
    o->n = 0;
    while (fgets(line, sizeof line, f)) {
        ck_assert_uint_lt(o->n, 1024);
        long long sess, aid, ts, pos;
        char type[32];
        int c, k, d;
        ck_assert_int_eq(sscanf(line, "%lld,%lld,%lld,%31[^,],%lld,%d,%d,%d", &sess, &aid, &ts,
                                type, &pos, &c, &k, &d),
                         8);
        o->session[o->n] = sess;
        o->ts[o->n] = ts;
        o->y[o->n][0] = (float)c;
        o->y[o->n][1] = (float)k;
        o->y[o->n][2] = (float)d;
        o->n++;
    }
    fclose(f);
}

static rmtl_config *env_cfg(const char *reward, int64_t seed)
{
    rmtl_config *cfg = NULL;
    ck_assert_int_eq(rmtl_config_create(&cfg), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set_string(cfg, "rl.reward", reward), RMTL_OK);
    ck_assert_int_eq(rmtl_config_set_int(cfg, "runtime.seed", seed), RMTL_OK);
    return cfg;
}

static rmtl_env *new_env(const rmtl_dataset *ds, const char *reward, int64_t seed,
                         uint32_t flags)
{
    rmtl_config *cfg = env_cfg(reward, seed);
    rmtl_env *env = NULL;
    ck_assert_msg(rmtl_env_create(&env, cfg, ds, flags) == RMTL_OK, "%s", rmtl_last_error());
    rmtl_config_free(cfg);
    return env;
}

/* BCE rewards of the actions A for labels 0/1, by hand:
 * log(0.8), log(0.3), log(0.5) for y = 1 and log(0.2), log(0.7), log(0.5)
 * for y = 0. */
static const float A[3] = {0.8f, 0.3f, 0.5f};
static const float R1[3] = {-0.22314355f, -1.2039728f, -0.69314718f};
static const float R0[3] = {-1.6094379f, -0.35667494f, -0.69314718f};

/* Walks every session once in evaluation order and checks it against the
 * CSV: sessions by first timestamp, rows by timestamp (ties in file
 * order), every row once, done on the last row only, BCE rewards. `line`
 * maps a dataset row to its CSV row. */
static void walk_sessions(rmtl_env *env, const rmtl_dataset *ds, const otto_rows *o,
                          const size_t *line)
{
    size_t S = rmtl_dataset_n_sessions(ds), visited = 0;
    ck_assert_uint_eq(S, 20);
    static int seen[1024];
    memset(seen, 0, sizeof seen);
    long long prev_first = -1;
    for (size_t s = 0; s < S; s++) {
        rmtl_env_state st = RMTL_ENV_STATE_INIT;
        ck_assert_int_eq(rmtl_env_reset(&st, env), RMTL_OK);
        ck_assert_uint_eq(st.session, s);
        ck_assert_uint_eq(st.step, 0);
        ck_assert_uint_eq(st.n_cat, rmtl_dataset_n_cat(ds));
        ck_assert_uint_eq(st.n_num, rmtl_dataset_n_num(ds));
        size_t L = line[st.row];
        long long sess = o->session[L], prev_ts = o->ts[L];
        size_t prev_line = L, len = 0, rows_in_csv = 0;
        for (size_t i = 0; i < o->n; i++)
            rows_in_csv += o->session[i] == sess;
        ck_assert_msg(o->ts[L] >= prev_first, "session %zu starts before session %zu", s, s - 1);
        prev_first = o->ts[L];
        const int32_t *cat = st.cat;
        for (;;) {
            rmtl_env_step_result r = RMTL_ENV_STEP_INIT;
            ck_assert_int_eq(rmtl_env_step(&r, env, A, 3), RMTL_OK);
            ck_assert_uint_eq(r.n_tasks, 3);
            ck_assert(!seen[L]);
            seen[L] = 1;
            visited++;
            len++;
            for (int k = 0; k < 3; k++) {
                ck_assert_float_eq(r.labels[k], o->y[L][k]);
                float want = o->y[L][k] > 0.5f ? R1[k] : R0[k];
                ck_assert_msg(fabsf(r.reward[k] - want) < 1e-6f, "reward %g, want %g",
                              r.reward[k], want);
            }
            if (r.done) {
                ck_assert_uint_eq(len, rows_in_csv); /* done exactly on the last row */
                ck_assert_ptr_eq(r.next_cat, cat);   /* s' = s at the end */
                rmtl_env_step_result again = RMTL_ENV_STEP_INIT;
                ck_assert_error(rmtl_env_step(&again, env, A, 3), RMTL_ESTATE, "episode is done");
                rmtl_env_state cur = RMTL_ENV_STATE_INIT;
                ck_assert_error(rmtl_env_current(&cur, env), RMTL_ESTATE, "done");
                break;
            }
            ck_assert_uint_lt(len, rows_in_csv);
            ck_assert_uint_eq(r.next_step, len);
            size_t NL = line[r.next_row];
            ck_assert_int_eq(o->session[NL], sess); /* same session */
            ck_assert(o->ts[NL] > prev_ts || (o->ts[NL] == prev_ts && NL > prev_line));
            rmtl_env_state cur = RMTL_ENV_STATE_INIT;
            ck_assert_int_eq(rmtl_env_current(&cur, env), RMTL_OK);
            ck_assert_uint_eq(cur.row, r.next_row);
            ck_assert_ptr_eq(cur.cat, r.next_cat);
            cat = r.next_cat;
            prev_ts = o->ts[NL];
            prev_line = NL;
            L = NL;
        }
    }
    ck_assert_uint_eq(visited, o->n);
    /* evaluation order wraps around */
    rmtl_env_state st = RMTL_ENV_STATE_INIT;
    ck_assert_int_eq(rmtl_env_reset(&st, env), RMTL_OK);
    ck_assert_uint_eq(st.session, 0);
}

START_TEST(test_env_otto_walk)
{
    OTTO_OR_SKIP(OTTO_CSV);
    otto_rows *o = malloc(sizeof *o);
    read_otto(o, OTTO_CSV);
    rmtl_dataset *ds = NULL;
    ck_assert_msg(rmtl_dataset_load(&ds, OTTO_CSV, OTTO_SCHEMA, NULL, NULL) == RMTL_OK, "%s",
                  rmtl_last_error());
    ck_assert_uint_eq(rmtl_dataset_rows(ds), o->n);
    static size_t line[1024];
    for (size_t i = 0; i < o->n; i++)
        line[i] = i; /* rows are in file order */
    rmtl_env *env = new_env(ds, "bce", 1, RMTL_ENV_EVAL);
    walk_sessions(env, ds, o, line);
    rmtl_env_free(env);
    rmtl_dataset_free(ds);
    free(o);
}
END_TEST

/* The same events written in a scrambled order: the env must sort them. */
START_TEST(test_env_sorts_by_time)
{
    OTTO_OR_SKIP(OTTO_CSV);
    otto_rows *o = malloc(sizeof *o), *sh = malloc(sizeof *sh);
    read_otto(o, OTTO_CSV);
    FILE *in = fopen(OTTO_CSV, "r");
    ck_assert_ptr_nonnull(in);
    static char lines[1024][128];
    char header[256];
    ck_assert_ptr_nonnull(fgets(header, sizeof header, in));
    size_t n = 0;
    while (n < 1024 && fgets(lines[n], sizeof lines[n], in))
        n++;
    fclose(in);
    ck_assert_uint_eq(n, o->n);
    static size_t perm[1024];
    for (size_t i = 0; i < n; i++)
        perm[i] = (i * 389 + 17) % n; /* 389 is prime and does not divide 862 */
    static char text[1024 * 128 + 256];
    size_t len = 0;
    len += (size_t)snprintf(text + len, sizeof text - len, "%s", header);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%s", lines[perm[i]]);
    const char *path = rmtl_tdata_write("otto_scrambled.csv", text, len);
    read_otto(sh, path);
    rmtl_dataset *ds = NULL;
    ck_assert_msg(rmtl_dataset_load(&ds, path, OTTO_SCHEMA, NULL, NULL) == RMTL_OK, "%s",
                  rmtl_last_error());
    rmtl_tdata_cleanup();
    remove(path);
    static size_t line[1024];
    for (size_t i = 0; i < n; i++)
        line[i] = i;
    rmtl_env *env = new_env(ds, "bce", 1, RMTL_ENV_EVAL);
    walk_sessions(env, ds, sh, line);
    rmtl_env_free(env);
    rmtl_dataset_free(ds);
    free(o);
    free(sh);
}
END_TEST

START_TEST(test_env_random_sessions)
{
    OTTO_OR_SKIP(OTTO_CSV);
    rmtl_dataset *ds = NULL;
    ck_assert_int_eq(rmtl_dataset_load(&ds, OTTO_CSV, OTTO_SCHEMA, NULL, NULL), RMTL_OK);
    rmtl_env *a = new_env(ds, "bce", 5, 0), *b = new_env(ds, "bce", 5, 0);
    rmtl_env *c = new_env(ds, "bce", 6, 0);
    int hits[20] = {0}, differs = 0;
    for (int k = 0; k < 400; k++) {
        rmtl_env_state sa = RMTL_ENV_STATE_INIT, sb = RMTL_ENV_STATE_INIT;
        rmtl_env_state sc = RMTL_ENV_STATE_INIT;
        ck_assert_int_eq(rmtl_env_reset(&sa, a), RMTL_OK);
        ck_assert_int_eq(rmtl_env_reset(&sb, b), RMTL_OK);
        ck_assert_int_eq(rmtl_env_reset(&sc, c), RMTL_OK);
        ck_assert_uint_eq(sa.session, sb.session); /* seeded */
        ck_assert_uint_eq(sa.row, sb.row);
        ck_assert_uint_eq(sa.step, 0);
        differs |= sa.session != sc.session;
        hits[sa.session]++;
    }
    ck_assert(differs);
    for (int s = 0; s < 20; s++) /* 400 draws of 20: each expected 20 times */
        ck_assert_msg(hits[s] > 3, "session %d drawn %d times", s, hits[s]);
    rmtl_env_free(a);
    rmtl_env_free(b);
    rmtl_env_free(c);
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_env_abs_reward)
{
    OTTO_OR_SKIP(OTTO_CSV);
    rmtl_dataset *ds = NULL;
    ck_assert_int_eq(rmtl_dataset_load(&ds, OTTO_CSV, OTTO_SCHEMA, NULL, NULL), RMTL_OK);
    rmtl_env *env = new_env(ds, "abs", 1, RMTL_ENV_EVAL);
    rmtl_env_state st = RMTL_ENV_STATE_INIT;
    ck_assert_int_eq(rmtl_env_reset(&st, env), RMTL_OK);
    /* session 0's first event: clicked, not carted, not ordered */
    rmtl_env_step_result r = RMTL_ENV_STEP_INIT;
    const float a[3] = {0.25f, 0.75f, 0.0f};
    ck_assert_int_eq(rmtl_env_step(&r, env, a, 3), RMTL_OK);
    ck_assert_float_eq(r.labels[0], 1.0f);
    ck_assert_float_eq(r.labels[1], 0.0f);
    ck_assert_float_eq(r.reward[0], -0.75f);
    ck_assert_float_eq(r.reward[1], -0.75f);
    ck_assert_float_eq(r.reward[2], 0.0f);
    ck_assert(!r.done);
    rmtl_env_free(env);
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_env_bad_input)
{
    OTTO_OR_SKIP(OTTO_CSV);
    rmtl_dataset *ds = NULL;
    ck_assert_int_eq(rmtl_dataset_load(&ds, OTTO_CSV, OTTO_SCHEMA, NULL, NULL), RMTL_OK);
    rmtl_env *env = new_env(ds, "bce", 1, RMTL_ENV_EVAL);
    rmtl_env_step_result r = RMTL_ENV_STEP_INIT;
    rmtl_env_state st = RMTL_ENV_STATE_INIT;
    ck_assert_error(rmtl_env_step(&r, env, A, 3), RMTL_ESTATE, "rmtl_env_reset first");
    ck_assert_error(rmtl_env_current(&st, env), RMTL_ESTATE, "rmtl_env_reset first");
    ck_assert_int_eq(rmtl_env_reset(&st, env), RMTL_OK);
    float a[3] = {0.5f, 1.5f, 0.5f};
    ck_assert_error(rmtl_env_step(&r, env, a, 3), RMTL_EINVAL, "action 1.5 of task 1");
    a[1] = -0.25f;
    ck_assert_error(rmtl_env_step(&r, env, a, 3), RMTL_EINVAL, "outside [0, 1]");
    a[1] = NAN;
    ck_assert_error(rmtl_env_step(&r, env, a, 3), RMTL_ENUMERIC, "task 1 is nan");
    a[1] = 0.5f;
    ck_assert_error(rmtl_env_step(&r, env, a, 2), RMTL_EINVAL, "2 actions given");
    ck_assert_error(rmtl_env_step(&r, env, NULL, 3), RMTL_EINVAL, "'action'");
    rmtl_env_step_result bad = RMTL_ENV_STEP_INIT;
    bad.version = 0;
    ck_assert_error(rmtl_env_step(&bad, env, a, 3), RMTL_EINVAL, "RMTL_ENV_STEP_INIT");
    /* the refused calls changed nothing: the episode is still at step 0 */
    ck_assert_int_eq(rmtl_env_current(&st, env), RMTL_OK);
    ck_assert_uint_eq(st.step, 0);
    ck_assert_int_eq(rmtl_env_step(&r, env, a, 3), RMTL_OK);
    ck_assert_uint_eq(r.next_step, 1);
    rmtl_env_free(env);

    /* no session column: the same events with the session column ignored */
    static const char schema[] =
        "columns:\n  session: ignore\n  aid: {role: item, feature: true}\n"
        "  ts_ms: timestamp\n  type: categorical\n  pos_in_session: numerical\n"
        "  pair_clicked: {role: label, threshold: 0.5}\n"
        "  pair_carted: {role: label, threshold: 0.5}\n"
        "  pair_ordered: {role: label, threshold: 0.5}\n"
        "tasks: [pair_clicked, pair_carted, pair_ordered]\n";
    rmtl_dataset *flat = NULL;
    ck_assert_msg(rmtl_dataset_load_schema_string(&flat, OTTO_CSV, schema, strlen(schema),
                                                  "flat.yaml", NULL) == RMTL_OK,
                  "%s", rmtl_last_error());
    rmtl_config *cfg = env_cfg("bce", 1);
    env = (rmtl_env *)1;
    ck_assert_error(rmtl_env_create(&env, cfg, flat, 0), RMTL_EINVAL, "no session column");
    ck_assert_ptr_null(env);
    /* from arrays: without session ids, and without labels */
    const size_t vocab[1] = {4};
    const int32_t cat[3] = {1, 2, 3};
    const float lab[3] = {1, 0, 1};
    const int64_t sess[3] = {7, 7, 9};
    rmtl_dataset *arr = NULL;
    ck_assert_int_eq(rmtl_dataset_from_arrays(&arr, 3, 1, vocab, cat, 0, NULL, 1, lab, NULL),
                     RMTL_OK);
    ck_assert_error(rmtl_env_create(&env, cfg, arr, 0), RMTL_EINVAL, "no session column");
    rmtl_dataset_free(arr);
    ck_assert_int_eq(rmtl_dataset_from_arrays(&arr, 3, 1, vocab, cat, 0, NULL, 1, NULL, sess),
                     RMTL_OK);
    ck_assert_error(rmtl_env_create(&env, cfg, arr, 0), RMTL_EINVAL, "no labels");
    rmtl_dataset_free(arr);
    /* with session ids it works: sessions {7: two rows} and {9: one row} */
    ck_assert_int_eq(rmtl_dataset_from_arrays(&arr, 3, 1, vocab, cat, 0, NULL, 1, lab, sess),
                     RMTL_OK);
    ck_assert_int_eq(rmtl_env_create(&env, cfg, arr, RMTL_ENV_EVAL), RMTL_OK);
    ck_assert_int_eq(rmtl_env_reset(&st, env), RMTL_OK);
    ck_assert_ptr_null(st.num);
    ck_assert_int_eq(st.cat[0], 1);
    const float one = 1.0f;
    ck_assert_int_eq(rmtl_env_step(&r, env, &one, 1), RMTL_OK);
    ck_assert(!r.done);
    ck_assert_int_eq(r.next_cat[0], 2);
    ck_assert_int_eq(rmtl_env_step(&r, env, &one, 1), RMTL_OK);
    ck_assert(r.done);
    ck_assert_float_eq(r.reward[0], logf(1e-4f)); /* label 0, action 1: clamped */
    rmtl_env *other = NULL;
    ck_assert_error(rmtl_env_create(&other, cfg, arr, 4), RMTL_EINVAL, "flags");
    ck_assert_error(rmtl_env_create(&other, cfg, NULL, 0), RMTL_EINVAL, "'ds'");
    ck_assert_ptr_null(other);
    ck_assert_error(rmtl_env_reset(&st, NULL), RMTL_EINVAL, "'env'");
    /* the two kinds of env refuse each other's calls */
    ck_assert_int_ne(rmtl_env_sim_reset(env), RMTL_OK);
    rmtl_env *sim = NULL;
    ck_assert_msg(rmtl_env_sim_create(&sim, cfg) == RMTL_OK, "%s", rmtl_last_error());
    ck_assert_error(rmtl_env_reset(&st, sim), RMTL_EINVAL, "simulator");
    ck_assert_error(rmtl_env_step(&r, sim, &one, 1), RMTL_EINVAL, "simulator");
    rmtl_replay *rb = NULL;
    ck_assert_int_eq(rmtl_replay_create(&rb, 4, 1, 0, 1, 1), RMTL_OK);
    ck_assert_error(rmtl_replay_fill_random(rb, sim, 1), RMTL_EINVAL, "simulator");
    rmtl_replay_free(rb);
    rmtl_env_free(sim);
    rmtl_env_free(env);
    rmtl_env_free(NULL);
    rmtl_dataset_free(arr);
    rmtl_dataset_free(flat);
    rmtl_config_free(cfg);
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_replay_fill_random)
{
    OTTO_OR_SKIP(OTTO_CSV);
    rmtl_dataset *ds = NULL;
    ck_assert_int_eq(rmtl_dataset_load(&ds, OTTO_CSV, OTTO_SCHEMA, NULL, NULL), RMTL_OK);
    size_t nc = rmtl_dataset_n_cat(ds), nn = rmtl_dataset_n_num(ds);
    rmtl_env *env = new_env(ds, "bce", 1, RMTL_ENV_EVAL), *env2 = new_env(ds, "bce", 1, RMTL_ENV_EVAL);
    rmtl_replay *rb = NULL, *rb2 = NULL, *bad = NULL;
    ck_assert_int_eq(rmtl_replay_create(&rb, 1000, nc, nn, 3, 9), RMTL_OK);
    ck_assert_int_eq(rmtl_replay_create(&rb2, 1000, nc, nn, 3, 9), RMTL_OK);
    /* 700 transitions cross several session ends */
    ck_assert_int_eq(rmtl_replay_fill_random(rb, env, 700), RMTL_OK);
    ck_assert_uint_eq(rmtl_replay_size(rb), 700);
    size_t dones = 0;
    for (size_t i = 0; i < 700; i++) {
        rmtl_transitions t = RMTL_TRANSITIONS_INIT, u = RMTL_TRANSITIONS_INIT;
        ck_assert_int_eq(rmtl_replay_get(&t, rb, i), RMTL_OK);
        for (int k = 0; k < 3; k++) {
            float a = t.action[k], y = t.labels[k];
            ck_assert(a >= 0.0f && a < 1.0f);
            double want = y > 0.5f ? log(fmax(a, 1e-4)) : log(fmax(1.0 - a, 1e-4));
            ck_assert(fabs(t.reward[k] - want) < 1e-5);
        }
        dones += t.done[0];
        if (i + 1 < 700) { /* s' is the next transition's s, unless the session ended */
            ck_assert_int_eq(rmtl_replay_get(&u, rb, i + 1), RMTL_OK);
            if (!t.done[0])
                ck_assert(memcmp(t.next_cat, u.cat, nc * sizeof(int32_t)) == 0);
            else
                ck_assert(memcmp(t.next_cat, t.cat, nc * sizeof(int32_t)) == 0);
        }
    }
    ck_assert_uint_gt(dones, 2);
    /* filling in two calls continues the episode: the same transitions */
    ck_assert_int_eq(rmtl_replay_fill_random(rb2, env2, 300), RMTL_OK);
    ck_assert_int_eq(rmtl_replay_fill_random(rb2, env2, 400), RMTL_OK);
    for (size_t i = 0; i < 700; i++) {
        rmtl_transitions t = RMTL_TRANSITIONS_INIT, u = RMTL_TRANSITIONS_INIT;
        ck_assert_int_eq(rmtl_replay_get(&t, rb, i), RMTL_OK);
        ck_assert_int_eq(rmtl_replay_get(&u, rb2, i), RMTL_OK);
        ck_assert(memcmp(t.cat, u.cat, nc * sizeof(int32_t)) == 0);
        ck_assert(memcmp(t.action, u.action, 3 * sizeof(float)) == 0);
        ck_assert_uint_eq(t.done[0], u.done[0]);
    }
    /* shapes must agree */
    ck_assert_int_eq(rmtl_replay_create(&bad, 10, nc, nn, 2, 1), RMTL_OK);
    ck_assert_error(rmtl_replay_fill_random(bad, env, 5), RMTL_EINVAL, "2 tasks");
    ck_assert_error(rmtl_replay_fill_random(NULL, env, 5), RMTL_EINVAL, "'rb'");
    ck_assert_error(rmtl_replay_fill_random(rb, NULL, 5), RMTL_EINVAL, "'env'");
    rmtl_replay_free(bad);
    rmtl_replay_free(rb);
    rmtl_replay_free(rb2);
    rmtl_env_free(env);
    rmtl_env_free(env2);
    rmtl_dataset_free(ds);
}
END_TEST

/* ---- critics, actor and agent over the otto sessions ---------------------------- */

/* A small ESMM over the otto events, an env, a replay buffer filled with
 * random actions, and an agent whose schedule runs the actor early. */
typedef struct {
    rmtl_config *cfg;
    rmtl_dataset *ds;
    rmtl_model *model;
    rmtl_env *env;
    rmtl_replay *rb;
    rmtl_agent *agent;
    size_t nc, nn;
} otto_rl;

static rmtl_config *rl_cfg(void)
{
    rmtl_config *cfg = NULL;
    ck_assert_int_eq(rmtl_config_create(&cfg), RMTL_OK);
    static const char yaml[] =
        "model: {arch: esmm, embed_dim: 8, bottom: [16, 8], tower: [8], dropout: 0.1}\n"
        "rl: {critic: {bottom: [16, 8], tower: [8]}, init_training_step: 2,\n"
        "     actor_update_freq: 2, soft_update_freq: 2, actor_lr: 0.001, lambda: 0.5}\n"
        "runtime: {threads: 1, seed: 7}\n";
    ck_assert_msg(rmtl_config_load_string(cfg, yaml, strlen(yaml), "rl.yaml") == RMTL_OK, "%s",
                  rmtl_last_error());
    return cfg;
}

static void otto_rl_init(otto_rl *o, const char *csv)
{
    memset(o, 0, sizeof *o);
    o->cfg = rl_cfg();
    ck_assert_int_eq(rmtl_dataset_load(&o->ds, csv, OTTO_SCHEMA, NULL, NULL), RMTL_OK);
    o->nc = rmtl_dataset_n_cat(o->ds);
    o->nn = rmtl_dataset_n_num(o->ds);
    ck_assert_msg(rmtl_model_create(&o->model, o->cfg, o->ds) == RMTL_OK, "%s",
                  rmtl_last_error());
    ck_assert_int_eq(rmtl_env_create(&o->env, o->cfg, o->ds, 0), RMTL_OK);
    ck_assert_int_eq(rmtl_replay_create(&o->rb, 2000, o->nc, o->nn, 3, 3), RMTL_OK);
    ck_assert_int_eq(rmtl_replay_fill_random(o->rb, o->env, 600), RMTL_OK);
    ck_assert_msg(rmtl_agent_create(&o->agent, o->cfg, o->model) == RMTL_OK, "%s",
                  rmtl_last_error());
}

static void otto_rl_free(otto_rl *o)
{
    rmtl_agent_free(o->agent);
    rmtl_replay_free(o->rb);
    rmtl_env_free(o->env);
    rmtl_model_free(o->model);
    rmtl_dataset_free(o->ds);
    rmtl_config_free(o->cfg);
}

START_TEST(test_agent_host_loop)
{
    OTTO_OR_SKIP(OTTO_CSV);
    otto_rl o;
    otto_rl_init(&o, OTTO_CSV);
    rmtl_actor *actor = rmtl_agent_actor(o.agent);
    ck_assert_ptr_nonnull(actor);
    ck_assert_ptr_null(rmtl_agent_critic(o.agent, 3));
    for (size_t k = 0; k < 3; k++)
        ck_assert_uint_eq(rmtl_critic_task(rmtl_agent_critic(o.agent, k)), k);
    /* the schedule: init 2, actor every 2nd step from then, targets every 2nd */
    for (int step = 0; step < 8; step++) {
        rmtl_transitions b = RMTL_TRANSITIONS_INIT;
        ck_assert_int_eq(rmtl_replay_sample(&b, o.rb, 64), RMTL_OK);
        rmtl_agent_report r = RMTL_AGENT_REPORT_INIT;
        ck_assert_msg(rmtl_agent_update(o.agent, &b, &r) == RMTL_OK, "%s", rmtl_last_error());
        ck_assert_uint_eq(r.step, (uint64_t)step + 1);
        ck_assert_int_eq(r.actor_updated, step >= 2 && step % 2 == 1);
        ck_assert_int_eq(r.targets_updated, step % 2 == 1);
        for (int k = 0; k < 3; k++)
            ck_assert(isfinite(r.critic_loss[k]) && r.critic_loss[k] >= 0);
    }
    ck_assert_uint_eq(rmtl_agent_steps(o.agent), 8);
    ck_assert_uint_eq(rmtl_actor_updates(actor), 3);
    /* the actor's model is a model: predict with it; its actions are
     * probabilities, and exploration stays within the noise clip */
    rmtl_batch b = RMTL_BATCH_INIT;
    ck_assert_int_eq(rmtl_dataset_batch(&b, o.ds, 0, 50), RMTL_OK);
    float p[150], act[150], ex[150];
    ck_assert_int_eq(rmtl_model_predict(rmtl_actor_model(actor), NULL, &b, p, 150), RMTL_OK);
    ck_assert_int_eq(rmtl_actor_act(actor, &b, 0, act, 150), RMTL_OK);
    ck_assert(memcmp(p, act, sizeof p) == 0);
    ck_assert_int_eq(rmtl_actor_act(actor, &b, 1, ex, 150), RMTL_OK);
    int moved = 0;
    for (int i = 0; i < 150; i++) {
        ck_assert(ex[i] >= 0.0f && ex[i] <= 1.0f);
        ck_assert(fabsf(ex[i] - act[i]) <= 0.5f + 1e-6f); /* rl.noise_clip */
        moved += ex[i] != act[i];
    }
    ck_assert_int_gt(moved, 100);
    /* the behaviour policy: the actor with noise walks the env */
    ck_assert_int_eq(rmtl_replay_fill_actor(o.rb, o.env, actor, 300), RMTL_OK);
    ck_assert_uint_eq(rmtl_replay_size(o.rb), 900);
    rmtl_transitions g = RMTL_TRANSITIONS_INIT;
    ck_assert_int_eq(rmtl_replay_get(&g, o.rb, 899), RMTL_OK);
    for (int k = 0; k < 3; k++)
        ck_assert(g.action[k] >= 0.0f && g.action[k] <= 1.0f);
    /* the RMTL loss weights: 1 − λ·Q_k(s, ŷ_k) ≥ 1, Q from the critics */
    float w[150], q[50];
    ck_assert_int_eq(rmtl_agent_loss_weights(o.agent, o.model, NULL, &b, w, 150), RMTL_OK);
    ck_assert_int_eq(rmtl_model_predict(o.model, NULL, &b, p, 150), RMTL_OK);
    for (size_t k = 0; k < 3; k++) {
        rmtl_critic *c = rmtl_agent_critic(o.agent, k);
        ck_assert_int_eq(rmtl_critic_q(c, NULL, &b, p + k, 3, q, 50), RMTL_OK);
        for (int i = 0; i < 50; i++) {
            ck_assert(q[i] <= 0.0f);
            ck_assert(w[i * 3 + k] >= 1.0f);
            ck_assert(fabsf(w[i * 3 + k] - (1.0f - 0.5f * q[i])) < 1e-6f);
        }
    }
    /* ... which the model's training step takes as loss weights */
    rmtl_model *tuned = NULL;
    ck_assert_int_eq(rmtl_model_clone(&tuned, o.model), RMTL_OK);
    b.weights = w;
    double lw, l1;
    ck_assert_int_eq(rmtl_model_train_step(tuned, &b, &lw), RMTL_OK);
    rmtl_model_free(tuned);
    ck_assert_int_eq(rmtl_model_clone(&tuned, o.model), RMTL_OK);
    b.weights = NULL;
    ck_assert_int_eq(rmtl_model_train_step(tuned, &b, &l1), RMTL_OK);
    ck_assert(lw >= l1); /* every weight is >= 1 */
    rmtl_model_free(tuned);
    otto_rl_free(&o);
}
END_TEST

START_TEST(test_agent_checkpoint_files)
{
    OTTO_OR_SKIP(OTTO_CSV);
    otto_rl o;
    otto_rl_init(&o, OTTO_CSV);
    rmtl_transitions b = RMTL_TRANSITIONS_INIT;
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(rmtl_replay_sample(&b, o.rb, 32), RMTL_OK);
        ck_assert_int_eq(rmtl_agent_update(o.agent, &b, NULL), RMTL_OK);
    }
    const char *path = rmtl_tdata_write("agent.rmtl", "", 0);
    ck_assert_msg(rmtl_agent_save(o.agent, path) == RMTL_OK, "%s", rmtl_last_error());
    rmtl_agent *copy = NULL;
    ck_assert_msg(rmtl_agent_load(&copy, path) == RMTL_OK, "%s", rmtl_last_error());
    ck_assert_uint_eq(rmtl_agent_steps(copy), 4);
    /* the same batches give the same numbers, bit for bit */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(rmtl_replay_sample(&b, o.rb, 32), RMTL_OK);
        rmtl_agent_report r1 = RMTL_AGENT_REPORT_INIT, r2 = RMTL_AGENT_REPORT_INIT;
        ck_assert_int_eq(rmtl_agent_update(o.agent, &b, &r1), RMTL_OK);
        ck_assert_int_eq(rmtl_agent_update(copy, &b, &r2), RMTL_OK);
        ck_assert(memcmp(r1.critic_loss, r2.critic_loss, 3 * sizeof(double)) == 0);
        ck_assert_int_eq(r1.actor_updated, r2.actor_updated);
        ck_assert(r1.actor_updated ? r1.actor_loss == r2.actor_loss : isnan(r2.actor_loss));
    }
    /* critics and actors on their own */
    const char *cpath = rmtl_tdata_write("critic.rmtl", "", 0);
    ck_assert_int_eq(rmtl_critic_save(rmtl_agent_critic(o.agent, 2), cpath), RMTL_OK);
    rmtl_critic *c = NULL;
    ck_assert_int_eq(rmtl_critic_load(&c, cpath), RMTL_OK);
    ck_assert_uint_eq(rmtl_critic_task(c), 2);
    ck_assert_uint_eq(rmtl_critic_updates(c), 9);
    const char *apath = rmtl_tdata_write("actor.rmtl", "", 0);
    ck_assert_int_eq(rmtl_actor_save(rmtl_agent_actor(o.agent), apath), RMTL_OK);
    rmtl_actor *a = NULL;
    ck_assert_int_eq(rmtl_actor_load(&a, apath), RMTL_OK);
    ck_assert_uint_eq(rmtl_actor_updates(a), rmtl_actor_updates(rmtl_agent_actor(o.agent)));
    /* each kind refuses the others, and models refuse them all */
    rmtl_agent *bad = NULL;
    /* each names the path, the kind it found and the call that loads it */
    ck_assert_error(rmtl_agent_load(&bad, cpath), RMTL_EFORMAT,
                    "holds a critic, not an agent: load it with rmtl_critic_load");
    ck_assert(strstr(rmtl_last_error(), cpath) == rmtl_last_error());
    rmtl_critic *badc = NULL;
    ck_assert_error(rmtl_critic_load(&badc, apath), RMTL_EFORMAT,
                    "holds an actor, not a critic: load it with rmtl_actor_load");
    ck_assert(strstr(rmtl_last_error(), apath) == rmtl_last_error());
    rmtl_model *m = NULL;
    /* the model loader knows an agent's checkpoint (its MODL section is
     * not a newer format's) */
    ck_assert_error(rmtl_model_load(&m, path), RMTL_EFORMAT,
                    "holds an agent, not a model: load it with rmtl_agent_load");
    ck_assert(strstr(rmtl_last_error(), path) == rmtl_last_error());
    const char *mpath = rmtl_tdata_write("model.rmtl", "", 0);
    ck_assert_int_eq(rmtl_model_save(o.model, mpath, 0), RMTL_OK);
    ck_assert_error(rmtl_agent_load(&bad, mpath), RMTL_EFORMAT,
                    "holds a model, not an agent: load it with rmtl_model_load");
    ck_assert(strstr(rmtl_last_error(), mpath) == rmtl_last_error());
    ck_assert_ptr_null(bad);
    ck_assert_int_eq(rmtl_model_save(o.model, mpath, RMTL_SAVE_TRAINING_STATE), RMTL_OK);
    ck_assert_error(rmtl_agent_load(&bad, mpath), RMTL_EFORMAT, "rmtl_model_load");
    ck_assert_error(rmtl_agent_load(&bad, "/nonexistent/agent.rmtl"), RMTL_EIO, "agent.rmtl");
    ck_assert_int_eq(rmtl_agent_load_buffer(&bad, "garbage", 7), RMTL_EFORMAT);
    rmtl_tdata_cleanup();
    rmtl_actor_free(a);
    rmtl_critic_free(c);
    rmtl_agent_free(copy);
    otto_rl_free(&o);
}
END_TEST

START_TEST(test_rl_bad_input)
{
    OTTO_OR_SKIP(OTTO_CSV);
    otto_rl o;
    otto_rl_init(&o, OTTO_CSV);
    rmtl_actor *actor = rmtl_agent_actor(o.agent);
    rmtl_critic *c[3] = {rmtl_agent_critic(o.agent, 0), rmtl_agent_critic(o.agent, 1),
                         rmtl_agent_critic(o.agent, 2)};
    rmtl_transitions b = RMTL_TRANSITIONS_INIT;
    ck_assert_int_eq(rmtl_replay_sample(&b, o.rb, 16), RMTL_OK);
    double loss;
    /* critics: one per task, any order */
    ck_assert_error(rmtl_actor_update(actor, c, 2, &b, &loss), RMTL_EINVAL, "2 critics");
    rmtl_critic *dup[3] = {c[0], c[0], c[2]};
    ck_assert_error(rmtl_actor_update(actor, dup, 3, &b, &loss), RMTL_EINVAL, "two critics");
    rmtl_critic *rev[3] = {c[2], c[1], c[0]};
    ck_assert_int_eq(rmtl_actor_update(actor, rev, 3, &b, &loss), RMTL_OK);
    ck_assert(isfinite(loss));
    ck_assert_int_eq(rmtl_critic_update(c[1], actor, &b, &loss), RMTL_OK);
    ck_assert_int_eq(rmtl_critic_soft_update(c[1]), RMTL_OK);
    ck_assert_int_eq(rmtl_actor_soft_update(actor), RMTL_OK);
    rmtl_critic *cc = NULL;
    ck_assert_error(rmtl_critic_create(&cc, o.cfg, o.model, 3), RMTL_EINVAL, "task 3");
    ck_assert_ptr_null(cc);
    /* transitions: a NaN, an action outside [0, 1], an unknown id */
    static float act[16 * 3];
    static int32_t cat[64];
    memcpy(act, b.action, sizeof act);
    rmtl_transitions t = b;
    t.action = act;
    act[4] = NAN;
    ck_assert_error(rmtl_agent_update(o.agent, &t, NULL), RMTL_ENUMERIC, "non-finite action");
    act[4] = 2.0f;
    ck_assert_error(rmtl_critic_update(c[0], actor, &t, &loss), RMTL_EINVAL, "outside [0, 1]");
    act[4] = 0.5f;
    ck_assert_uint_le(16 * o.nc, 64);
    memcpy(cat, b.next_cat, 16 * o.nc * sizeof(int32_t));
    t.next_cat = cat;
    cat[o.nc] = 1 << 30;
    ck_assert_error(rmtl_agent_update(o.agent, &t, NULL), RMTL_EINVAL, "next states");
    ck_assert_uint_eq(rmtl_agent_steps(o.agent), 0); /* nothing happened */
    rmtl_agent_report r = RMTL_AGENT_REPORT_INIT;
    r.version = 0;
    ck_assert_error(rmtl_agent_update(o.agent, &b, &r), RMTL_EINVAL, "RMTL_AGENT_REPORT_INIT");
    /* loss weights */
    rmtl_batch sb = RMTL_BATCH_INIT;
    ck_assert_int_eq(rmtl_dataset_batch(&sb, o.ds, 0, 10), RMTL_OK);
    float w[30];
    const rmtl_critic *cc3[3] = {c[0], c[1], c[2]};
    ck_assert_error(rmtl_critic_loss_weights(cc3, 3, o.model, NULL, &sb, -1.0, w, 30),
                    RMTL_EINVAL, "lambda");
    ck_assert_error(rmtl_critic_loss_weights(cc3, 2, o.model, NULL, &sb, 0.5, w, 30),
                    RMTL_EINVAL, "2 critics");
    ck_assert_int_ne(rmtl_critic_loss_weights(cc3, 3, o.model, NULL, &sb, 0.5, w, 29), RMTL_OK);
    ck_assert_int_eq(rmtl_critic_loss_weights(cc3, 3, o.model, NULL, &sb, 0.0, w, 30), RMTL_OK);
    for (int i = 0; i < 30; i++)
        ck_assert_float_eq(w[i], 1.0f); /* λ = 0: plain BCE */
    /* NULL handles */
    ck_assert_error(rmtl_agent_update(NULL, &b, NULL), RMTL_EINVAL, "agent");
    ck_assert_error(rmtl_agent_create(NULL, o.cfg, o.model), RMTL_EINVAL, "out");
    rmtl_agent *ag = NULL;
    ck_assert_error(rmtl_agent_create(&ag, o.cfg, NULL), RMTL_EINVAL, "pretrained");
    ck_assert_uint_eq(rmtl_agent_steps(NULL), 0);
    ck_assert_ptr_null(rmtl_actor_model(NULL));
    rmtl_agent_free(NULL);
    rmtl_actor_free(NULL);
    rmtl_critic_free(NULL);
    otto_rl_free(&o);
}
END_TEST

Suite *rmtl_test_rl_suite(void)
{
    Suite *s = suite_create("rl");
    TCase *tc = tcase_create("replay");
    tcase_add_test(tc, test_replay_ring);
    tcase_add_test(tc, test_replay_sampling_is_seeded);
    tcase_add_test(tc, test_replay_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("env");
    tcase_add_test(tc, test_env_otto_walk);
    tcase_add_test(tc, test_env_sorts_by_time);
    tcase_add_test(tc, test_env_random_sessions);
    tcase_add_test(tc, test_env_abs_reward);
    tcase_add_test(tc, test_env_bad_input);
    tcase_add_test(tc, test_replay_fill_random);
    suite_add_tcase(s, tc);
    tc = tcase_create("agent");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_agent_host_loop);
    tcase_add_test(tc, test_agent_checkpoint_files);
    tcase_add_test(tc, test_rl_bad_input);
    suite_add_tcase(s, tc);
    TCase *slow = rmtl_slow_tcase(s, "replay_slow", 60);
    tcase_add_test(slow, test_replay_uniform);
    return s;
}
