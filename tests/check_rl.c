/* Public API of RMTL's reinforcement learning: the replay buffer (ring
 * overwrite, uniform sampling without replacement, bad input). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmtl.h"

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

Suite *rmtl_test_rl_suite(void)
{
    Suite *s = suite_create("rl");
    TCase *tc = tcase_create("replay");
    tcase_add_test(tc, test_replay_ring);
    tcase_add_test(tc, test_replay_uniform);
    tcase_add_test(tc, test_replay_sampling_is_seeded);
    tcase_add_test(tc, test_replay_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
