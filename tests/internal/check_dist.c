/* The gradient-exchange hook without MPI: R threads of one process play
 * R ranks (tests/util/fakeworld.h), each training its copy of a handle on
 * its shard of every global batch; after the steps every rank must hold
 * bit-identical weights, and these must equal one handle trained on the
 * whole batches up to float summation order (DIST_TOL). Model (every
 * architecture, row gather and dense fallback, uneven shards, weighted
 * losses), agent (critics, actor with the BC term, targets) and fusion
 * (pair and user granularity); failing callbacks and sinks; registration
 * errors; no allocation per step. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "fusion/fusion.h"
#include "mtl/model.h"
#include "rl/agent.h"
#include "util/fakeworld.h"
#include "util/fusion_data.h"
#include "util/mtl.h"

/* |w_ranks − w_one| <= DIST_TOL·(1 + |w_one|) for every weight. The two
 * runs differ only in how float sums are split (per-shard GEMM sums, the
 * n_r-weighted exchange, the clip norm's order), a few ulps (~1e-7
 * relative) per gradient per step; Adam normalises each update to about
 * lr, so 50 steps at lr 0.01 move weights apart by well under 1e-5
 * (measured: docs/distributed.md). */
#define DIST_TOL 1e-5

#define OK(call) ck_assert_msg((call) == RMTL_OK, "%s: %s", #call, rmtl_last_error())

/* Largest |a − b| / (1 + |b|) over two parameter lists of one shape. */
static double params_dist(const rmtl__params *a, const rmtl__params *b)
{
    double worst = 0.0;
    ck_assert_uint_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        for (size_t j = 0; j < a->p[i]->rows * a->p[i]->cols; j++) {
            double d = fabs((double)a->p[i]->w[j] - b->p[i]->w[j]) / (1.0 + fabs(b->p[i]->w[j]));
            worst = d > worst ? d : worst;
        }
    return worst;
}

static int params_identical(const rmtl__params *a, const rmtl__params *b)
{
    for (size_t i = 0; i < a->n; i++)
        if (memcmp(a->p[i]->w, b->p[i]->w, a->p[i]->rows * a->p[i]->cols * sizeof(float)))
            return 0;
    return 1;
}

/* ---- model ---------------------------------------------------------------- */

enum { DROWS = 256, STEPS = 50 };

typedef struct mjob {
    fw_world w;
    fw_rank rk[FW_MAX];
    rmtl_model *m[FW_MAX];
    const mtl_data *d;
    size_t B, steps, cut[FW_MAX + 1]; /* rank r trains rows [cut[r], cut[r+1]) of a batch */
    int weighted;
    int rc[FW_MAX];
    double loss[FW_MAX];
} mjob;

static size_t batch_start(size_t s, size_t B) { return (s * 37) % (DROWS - B); }

static void model_rank(size_t r, void *arg)
{
    mjob *j = arg;
    for (size_t s = 0; s < j->steps; s++) {
        size_t at = batch_start(s, j->B) + j->cut[r];
        rmtl_batch b = mtl_batch(j->d, at, j->cut[r + 1] - j->cut[r], j->weighted);
        j->rc[r] = rmtl_model_train_step(j->m[r], &b, &j->loss[r]);
        if (j->rc[r])
            return;
    }
}

static rmtl_model *small_model(const char *arch, uint64_t seed)
{
    rmtl_config *cfg = mtl_small_config(arch, seed);
    ck_assert_ptr_nonnull(cfg);
    OK(rmtl_config_set_double(cfg, "optim.lr", 0.01));
    rmtl__layout lay;
    OK(rmtl__layout_init(&lay, MTL_N_CAT, mtl_vocab, MTL_N_NUM, 2, NULL));
    rmtl_model *m = NULL;
    OK(rmtl__model_create_layout(&m, cfg, &lay));
    rmtl__layout_free(&lay);
    rmtl_config_free(cfg);
    return m;
}

/* R ranks with shards `sizes` (summing to B) against one model on B. */
static void check_model(const char *arch, size_t R, const size_t *sizes, int rows, int weighted)
{
    mtl_data d;
    mtl_data_make(&d, DROWS, 2, 7);
    mjob *j = calloc(1, sizeof *j);
    fw_init(&j->w, R);
    j->d = &d;
    j->steps = STEPS;
    j->weighted = weighted;
    for (size_t r = 0; r < R; r++) {
        j->cut[r + 1] = j->cut[r] + sizes[r];
        j->m[r] = small_model(arch, 3);
        j->rk[r] = (fw_rank){&j->w, r};
        rmtl_grad_exchange x = fw_exchange(&j->rk[r], rows);
        x.rank = 0; /* dropout is off; keep the streams as the reference's */
        OK(rmtl_model_set_grad_exchange(j->m[r], &x));
    }
    j->B = j->cut[R];
    fw_run(&j->w, model_rank, j);
    for (size_t r = 0; r < R; r++)
        ck_assert_msg(j->rc[r] == 0, "%s rank %zu: %s", arch, r, rmtl_last_error());
    rmtl_model *one = small_model(arch, 3);
    double loss = 0.0;
    for (size_t s = 0; s < STEPS; s++) {
        rmtl_batch b = mtl_batch(&d, batch_start(s, j->B), j->B, weighted);
        OK(rmtl_model_train_step(one, &b, &loss));
    }
    for (size_t r = 1; r < R; r++)
        ck_assert_msg(params_identical(&j->m[r]->net.ps, &j->m[0]->net.ps),
                      "%s: rank %zu's weights differ from rank 0's", arch, r);
    double dist = params_dist(&j->m[0]->net.ps, &one->net.ps);
    ck_assert_msg(dist <= DIST_TOL, "%s, %zu ranks%s: weights %g apart from one process", arch,
                  R, rows ? "" : " (dense tables)", dist);
    ck_assert_msg(fabs(j->loss[0] - loss) <= 1e-5 * (1 + fabs(loss)), "%s: loss %g vs %g", arch,
                  j->loss[0], loss);
    ck_assert_uint_eq(j->m[0]->opt.t, one->opt.t);
    rmtl_model_free(one);
    for (size_t r = 0; r < R; r++)
        rmtl_model_free(j->m[r]);
    fw_destroy(&j->w);
    free(j);
    mtl_data_free(&d);
}

START_TEST(test_model_two_ranks)
{
    static const size_t half[2] = {16, 16};
    for (int a = 0; a < MTL_N_ARCH; a++)
        check_model(mtl_archs[a], 2, half, 1, a % 2);
}
END_TEST

START_TEST(test_model_dense_tables_uneven)
{
    static const size_t half[2] = {16, 16}, uneven[3] = {5, 11, 16};
    check_model("mmoe", 2, half, 0, 0);
    check_model("mmoe", 3, uneven, 1, 1);
    check_model("ple", 3, uneven, 0, 0);
}
END_TEST

/* ---- failures and registration ------------------------------------------- */

static int identity_allreduce(float *buf, size_t n, void *payload)
{
    (void)buf, (void)n, (void)payload;
    return 0;
}

static int own_rows(const uint64_t *ids, const float *values, size_t n_rows, size_t dim,
                    rmtl_grad_sink *sink, void *payload)
{
    (void)dim, (void)payload;
    return rmtl_grad_sink_add(sink, ids, values, n_rows);
}

static int bad_rows(const uint64_t *ids, const float *values, size_t n_rows, size_t dim,
                    rmtl_grad_sink *sink, void *payload)
{
    (void)ids, (void)n_rows, (void)dim, (void)payload;
    uint64_t id = 1u << 30;
    return rmtl_grad_sink_add(sink, &id, values, 1);
}

static int failing_allreduce(float *buf, size_t n, void *payload)
{
    (void)buf, (void)n, (void)payload;
    return 42;
}

/* A failed exchange leaves weights, moments, step and dropout stream. */
static void check_fails(rmtl_model *m, const rmtl_grad_exchange *x, int want, const char *what)
{
    mtl_data d;
    mtl_data_make(&d, 64, 2, 9);
    rmtl_batch b = mtl_batch(&d, 0, 32, 0);
    OK(rmtl_model_set_grad_exchange(m, NULL));
    OK(rmtl_model_train_step(m, &b, NULL)); /* moments exist */
    rmtl_model *before = NULL;
    OK(rmtl_model_clone(&before, m));
    OK(rmtl_model_set_grad_exchange(m, x));
    int rc = rmtl_model_train_step(m, &b, NULL);
    ck_assert_msg(rc == want, "%s: got %d (%s)", what, rc, rmtl_last_error());
    ck_assert_msg(params_identical(&m->net.ps, &before->net.ps), "%s: weights moved", what);
    for (size_t i = 0; i < m->net.ps.n; i++) {
        const rmtl__param *p = m->net.ps.p[i], *q = before->net.ps.p[i];
        size_t n = p->rows * p->cols;
        ck_assert(!memcmp(p->m, q->m, n * sizeof(float)) && !memcmp(p->v, q->v, n * sizeof(float)));
        for (size_t k = 0; k < n; k++)
            ck_assert_msg(p->g[k] == 0.0f, "%s: gradient left in '%s'", what, p->name);
        ck_assert_uint_eq(p->sparse ? p->n_touched : 0, 0);
    }
    ck_assert_uint_eq(m->opt.t, before->opt.t);
    ck_assert(!memcmp(&m->drop, &before->drop, sizeof m->drop));
    rmtl_model_free(before);
    mtl_data_free(&d);
}

START_TEST(test_failures)
{
    rmtl_model *m = small_model("mmoe", 5);
    rmtl_grad_exchange x = RMTL_GRAD_EXCHANGE_INIT;
    x.allreduce = failing_allreduce;
    check_fails(m, &x, RMTL_EIO, "allreduce fails");
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "42"));
    x.allreduce = identity_allreduce;
    x.gather_rows = bad_rows;
    check_fails(m, &x, RMTL_EINVAL, "sink refuses an id");
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "embed"));
    rmtl_model_free(m);
}
END_TEST

START_TEST(test_register)
{
    rmtl_model *m = small_model("mmoe", 5);
    rmtl_grad_exchange x = RMTL_GRAD_EXCHANGE_INIT;
    ck_assert_int_eq(rmtl_model_set_grad_exchange(m, &x), RMTL_EINVAL); /* no allreduce */
    x.allreduce = identity_allreduce;
    x.version = 0;
    ck_assert_int_eq(rmtl_model_set_grad_exchange(m, &x), RMTL_EINVAL);
    x.version = RMTL_GRAD_EXCHANGE_VERSION + 1;
    ck_assert_int_eq(rmtl_model_set_grad_exchange(m, &x), RMTL_EINVAL);
    x.version = RMTL_GRAD_EXCHANGE_VERSION;
    ck_assert_int_eq(rmtl_model_set_grad_exchange(NULL, &x), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_agent_set_grad_exchange(NULL, &x), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_fusion_set_grad_exchange(NULL, &x), RMTL_EINVAL);
    ck_assert_int_eq(rmtl_grad_sink_add(NULL, NULL, NULL, 0), RMTL_EINVAL);
    /* rank > 0 re-seeds the dropout stream, rank 0 keeps it */
    rmtl__rng d0 = m->drop;
    OK(rmtl_model_set_grad_exchange(m, &x));
    ck_assert(!memcmp(&d0, &m->drop, sizeof d0));
    x.rank = 1;
    OK(rmtl_model_set_grad_exchange(m, &x));
    ck_assert(memcmp(&d0, &m->drop, sizeof d0));
    OK(rmtl_model_set_grad_exchange(m, NULL));
    ck_assert(!m->gx.on && !m->gx.buf);
    rmtl_model_free(m);
}
END_TEST

/* After the first step, steps allocate nothing, exchange included. */
START_TEST(test_no_alloc_per_step)
{
    for (int rows = 0; rows < 2; rows++) {
        rmtl_model *m = small_model("mmoe", 5);
        rmtl_grad_exchange x = RMTL_GRAD_EXCHANGE_INIT;
        x.allreduce = identity_allreduce;
        x.gather_rows = rows ? own_rows : NULL;
        OK(rmtl_model_set_grad_exchange(m, &x));
        mtl_data d;
        mtl_data_make(&d, 64, 2, 9);
        rmtl_batch b = mtl_batch(&d, 0, 32, 0);
        OK(rmtl_model_train_step(m, &b, NULL));
        rmtl__alloc_fail_after(0);
        for (int s = 0; s < 3; s++) {
            b = mtl_batch(&d, (size_t)s * 8, 32, 0);
            OK(rmtl_model_train_step(m, &b, NULL));
        }
        ck_assert_uint_eq(rmtl__alloc_fail_after(0), 0);
        /* and its first step refuses cleanly when out of memory */
        rmtl_model *m2 = small_model("mmoe", 5);
        OK(rmtl_model_set_grad_exchange(m2, &x));
        for (size_t n = 1;; n++) {
            rmtl__alloc_fail_after(n);
            int rc = rmtl_model_train_step(m2, &b, NULL);
            rmtl__alloc_fail_after(0);
            if (rc == 0)
                break;
            ck_assert_int_eq(rc, RMTL_ENOMEM);
            ck_assert_uint_eq(m2->opt.t, 0);
        }
        rmtl_model_free(m2);
        mtl_data_free(&d);
        rmtl_model_free(m);
    }
}
END_TEST

/* ---- agent ------------------------------------------------------------------ */

enum { AROWS = 24, AUPD = 20 };

typedef struct ajob {
    fw_world w;
    fw_rank rk[FW_MAX];
    rmtl_agent *ag[FW_MAX];
    rmtl_transitions t;
    size_t cut[FW_MAX + 1];
    int rc[FW_MAX];
} ajob;

/* Rows [a, a + n) of transitions with T tasks. */
static rmtl_transitions shard(const rmtl_transitions *t, size_t a, size_t n, size_t T)
{
    rmtl_transitions s = *t;
    s.rows = n;
    s.cat += a * MTL_N_CAT;
    s.next_cat += a * MTL_N_CAT;
    s.num += a * MTL_N_NUM;
    s.next_num += a * MTL_N_NUM;
    s.action += a * T;
    s.reward += a * T;
    s.done += a;
    s.labels += a * T;
    return s;
}

static void agent_rank(size_t r, void *arg)
{
    ajob *j = arg;
    rmtl_transitions s = shard(&j->t, j->cut[r], j->cut[r + 1] - j->cut[r], 2);
    for (int u = 0; u < AUPD && !j->rc[r]; u++)
        j->rc[r] = rmtl_agent_update(j->ag[r], &s, NULL);
}

static rmtl_agent *small_agent(void)
{
    rmtl_model *m = small_model("mmoe", 4);
    rmtl_config *cfg = mtl_small_config("mmoe", 4);
    const char *kv[][2] = {{"rl.critic.bottom", "[6, 5]"}, {"rl.critic.tower", "[4]"},
                           {"rl.policy_noise", "0"},       {"rl.init_training_step", "0"},
                           {"rl.bc_weight", "0.5"},        {"rl.actor_update_freq", "2"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        OK(rmtl_config_set(cfg, kv[i][0], kv[i][1]));
    rmtl_agent *ag = NULL;
    OK(rmtl_agent_create(&ag, cfg, m));
    rmtl_config_free(cfg);
    rmtl_model_free(m);
    return ag;
}

START_TEST(test_agent_two_ranks)
{
    size_t T = 2;
    mtl_data d;
    mtl_data_make(&d, AROWS + 1, T, 11);
    float act[AROWS * 2], rew[AROWS * 2];
    uint8_t done[AROWS];
    for (size_t i = 0; i < AROWS; i++) {
        for (size_t k = 0; k < T; k++) {
            act[i * T + k] = (float)((i * 7 + k * 3) % 11) / 10.0f;
            rew[i * T + k] = d.labels[i * T + k] - 0.3f * act[i * T + k];
        }
        done[i] = i % 5 == 4;
    }
    ajob *j = calloc(1, sizeof *j);
    rmtl_transitions t = RMTL_TRANSITIONS_INIT;
    t.rows = AROWS;
    t.cat = d.cat, t.num = d.num, t.action = act, t.reward = rew, t.done = done;
    t.next_cat = d.cat + MTL_N_CAT, t.next_num = d.num + MTL_N_NUM, t.labels = d.labels;
    j->t = t;
    fw_init(&j->w, 2);
    j->cut[1] = 9, j->cut[2] = AROWS; /* uneven */
    for (size_t r = 0; r < 2; r++) {
        j->ag[r] = small_agent();
        j->rk[r] = (fw_rank){&j->w, r};
        rmtl_grad_exchange x = fw_exchange(&j->rk[r], 1);
        x.rank = 0;
        OK(rmtl_agent_set_grad_exchange(j->ag[r], &x));
    }
    fw_run(&j->w, agent_rank, j);
    for (size_t r = 0; r < 2; r++)
        ck_assert_msg(j->rc[r] == 0, "rank %zu: %s", r, rmtl_last_error());
    rmtl_agent *one = small_agent();
    for (int u = 0; u < AUPD; u++)
        OK(rmtl_agent_update(one, &t, NULL));
    ck_assert_uint_gt(one->actor->updates, 0);
    ck_assert(params_identical(&j->ag[1]->actor->model->net.ps, &j->ag[0]->actor->model->net.ps));
    double dist = params_dist(&j->ag[0]->actor->model->net.ps, &one->actor->model->net.ps);
    for (size_t k = 0; k < T; k++) {
        double dk = params_dist(&j->ag[0]->critics[k]->net.ps, &one->critics[k]->net.ps);
        ck_assert(params_identical(&j->ag[1]->critics[k]->net.ps, &j->ag[0]->critics[k]->net.ps));
        dist = dk > dist ? dk : dist;
    }
    ck_assert_msg(dist <= DIST_TOL, "agent: weights %g apart from one process", dist);
    rmtl_agent_free(one);
    for (size_t r = 0; r < 2; r++)
        rmtl_agent_free(j->ag[r]);
    fw_destroy(&j->w);
    free(j);
    mtl_data_free(&d);
}
END_TEST

/* ---- fusion ------------------------------------------------------------------ */

enum { FSTEPS = 30 };

typedef struct fjob {
    fw_world w;
    fw_rank rk[FW_MAX];
    rmtl_fusion *f[FW_MAX];
    const rmtl_fusion_batch *b;
    size_t cut[FW_MAX + 1]; /* requests */
    int rc[FW_MAX];
} fjob;

static rmtl_fusion_batch fshard(const rmtl_fusion_batch *b, size_t r0, size_t r1)
{
    rmtl_fusion_batch s = *b;
    s.requests = r1 - r0;
    s.rows = b->rows + 2 * r0;
    s.next_rows = b->next_rows + 2 * r0;
    return s;
}

static void fusion_rank(size_t r, void *arg)
{
    fjob *j = arg;
    rmtl_fusion_batch s = fshard(j->b, j->cut[r], j->cut[r + 1]);
    for (int u = 0; u < FSTEPS && !j->rc[r]; u++)
        j->rc[r] = rmtl_fusion_train_step(j->f[r], &s, NULL);
}

static void check_fusion(const char *cfg)
{
    rmtl_fusion *one = fx_fusion(cfg);
    fx_batch x;
    fx_batch_make(&x, one, 3, 4, 3, 21); /* 12 requests of 3 pairs */
    fjob *j = calloc(1, sizeof *j);
    fw_init(&j->w, 2);
    j->b = &x.b;
    j->cut[1] = 5, j->cut[2] = x.b.requests;
    for (size_t r = 0; r < 2; r++) {
        j->f[r] = fx_fusion(cfg);
        j->rk[r] = (fw_rank){&j->w, r};
        rmtl_grad_exchange e = fw_exchange(&j->rk[r], 1);
        OK(rmtl_fusion_set_grad_exchange(j->f[r], &e));
    }
    fw_run(&j->w, fusion_rank, j);
    for (size_t r = 0; r < 2; r++)
        ck_assert_msg(j->rc[r] == 0, "rank %zu: %s", r, rmtl_last_error());
    rmtl_fusion_stats st = RMTL_FUSION_STATS_INIT;
    for (int u = 0; u < FSTEPS; u++)
        OK(rmtl_fusion_train_step(one, &x.b, &st));
    ck_assert(params_identical(&j->f[1]->actor_ps, &j->f[0]->actor_ps));
    ck_assert(params_identical(&j->f[1]->critic_ps, &j->f[0]->critic_ps));
    double da = params_dist(&j->f[0]->actor_ps, &one->actor_ps);
    double dc = params_dist(&j->f[0]->critic_ps, &one->critic_ps);
    ck_assert_msg(da <= DIST_TOL && dc <= DIST_TOL, "fusion: actor %g, critics %g apart", da, dc);
    for (size_t r = 0; r < 2; r++)
        rmtl_fusion_free(j->f[r]);
    fw_destroy(&j->w);
    free(j);
    fx_batch_free(&x);
    rmtl_fusion_free(one);
}

START_TEST(test_fusion_two_ranks)
{
    check_fusion(FX_SMALL_CFG("pair"));
    check_fusion(FX_SMALL_CFG("user"));
}
END_TEST

Suite *rmtl_test_dist_suite(void)
{
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_model_two_ranks);
    tcase_add_test(tc, test_model_dense_tables_uneven);
    tcase_add_test(tc, test_failures);
    tcase_add_test(tc, test_register);
    tcase_add_test(tc, test_no_alloc_per_step);
    tcase_add_test(tc, test_agent_two_ranks);
    tcase_add_test(tc, test_fusion_two_ranks);
    suite_add_tcase(s, tc);
    return s;
}
