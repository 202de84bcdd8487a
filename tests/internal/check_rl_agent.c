/* RMTL actor and agent: the policy's backward through every architecture
 * against the model's own (finite-difference checked) loss gradient, the
 * whole actor loss against finite differences, the behaviour-cloning
 * term, soft updates by hand, the agent's schedule, checkpoints that
 * resume bit for bit, and allocation failures. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "mtl/fold.h"
#include "mtl/model.h"
#include "nn/loss.h"
#include "rl/agent.h"
#include "mtl/net.h"
#include "util/mtl.h"

enum { ROWS = 24 };

/* A small model of the test layout, its config with small critics, and
 * transitions over the synthetic impressions (s' = the next row). */
typedef struct fixture {
    rmtl_config *cfg;
    rmtl_model *m;
    mtl_data d;
    size_t T;
    float *act, *rew;
    uint8_t *done;
    rmtl_transitions t;
} fixture;

static void fx_init(fixture *f, const char *arch, size_t T, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    f->T = T;
    f->cfg = mtl_small_config(arch, seed);
    ck_assert_ptr_nonnull(f->cfg);
    ck_assert_int_eq(rmtl_config_set(f->cfg, "rl.critic.bottom", "[6, 5]"), 0);
    ck_assert_int_eq(rmtl_config_set(f->cfg, "rl.critic.tower", "[4]"), 0);
    f->m = mtl_model(f->cfg, T);
    ck_assert_msg(f->m != NULL, "%s", rmtl_last_error());
    /* non-zero biases: no row sits exactly on a ReLU kink */
    uint64_t s = seed * 977 + 1;
    for (size_t i = 0; i < f->m->net.ps.n; i++) {
        rmtl__param *p = f->m->net.ps.p[i];
        size_t len = strlen(p->name);
        if (len > 2 && !strcmp(p->name + len - 2, ".b"))
            for (size_t j = 0; j < p->cols; j++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                p->w[j] = (float)((double)(s >> 11) * 0x1.0p-53 * 0.2 - 0.1);
            }
    }
    mtl_data_make(&f->d, ROWS + 1, T, seed + 3);
    f->act = malloc(ROWS * T * sizeof *f->act);
    f->rew = malloc(ROWS * T * sizeof *f->rew);
    f->done = malloc(ROWS);
    for (size_t i = 0; i < ROWS; i++) {
        for (size_t k = 0; k < T; k++) {
            float a = (float)((i * 7 + k * 3) % 11) / 10.0f, y = f->d.labels[i * T + k];
            f->act[i * T + k] = a;
            f->rew[i * T + k] = y > 0.5f ? logf(fmaxf(a, 1e-4f)) : logf(fmaxf(1 - a, 1e-4f));
        }
        f->done[i] = i % 5 == 4;
    }
    rmtl_transitions t = RMTL_TRANSITIONS_INIT;
    t.rows = ROWS;
    t.cat = f->d.cat;
    t.num = f->d.num;
    t.action = f->act;
    t.next_cat = f->d.cat + MTL_N_CAT;
    t.next_num = f->d.num + MTL_N_NUM;
    t.reward = f->rew;
    t.done = f->done;
    t.labels = f->d.labels;
    f->t = t;
}

static void fx_free(fixture *f)
{
    rmtl_model_free(f->m);
    rmtl_config_free(f->cfg);
    mtl_data_free(&f->d);
    free(f->act), free(f->rew), free(f->done);
}

static void copy_grads(const rmtl__params *ps, float **g)
{
    for (size_t i = 0; i < ps->n; i++)
        memcpy(g[i], ps->p[i]->g, ps->p[i]->rows * ps->p[i]->cols * sizeof(float));
}

static float **alloc_like(const rmtl__params *ps)
{
    float **g = calloc(ps->n, sizeof *g);
    for (size_t i = 0; i < ps->n; i++)
        g[i] = calloc(ps->p[i]->rows * ps->p[i]->cols, sizeof(float));
    return g;
}

static void free_like(float **g, const rmtl__params *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free(g[i]);
    free(g);
}

/* ---- the policy's backward ------------------------------------------------------- */

/* With dL/dπ set to the gradient of the model's BCE loss with respect to
 * its probabilities, the network's backward from its outputs must give the model's own
 * parameter gradient (the model computes it through the logits). */
static void check_policy_backward(const char *arch, size_t T)
{
    fixture f;
    fx_init(&f, arch, T, 5);
    rmtl_model *m = f.m;
    rmtl__params *ps = &m->net.ps;
    rmtl_batch b = mtl_batch(&f.d, 0, ROWS, 1);
    rmtl__params_zero_grad(ps);
    double want;
    ck_assert_int_eq(rmtl__model_loss(m, &b, 1, &want), 0);
    float **g_model = alloc_like(ps);
    copy_grads(ps, g_model);
    rmtl__params_zero_grad(ps);
    rmtl__ws_reset(&m->ws);
    float *p = rmtl__ws_alloc(&m->ws, ROWS * T), *dp = rmtl__ws_alloc(&m->ws, ROWS * T);
    ck_assert(p && dp);
    rmtl__net_pass np;
    ck_assert_int_eq(rmtl__net_forward(&np, &m->net, &m->ws, &m->tape, NULL, 1, &b, p, T), 0);
    double loss = 0;
    for (size_t k = 0; k < T; k++) {
        float col[ROWS], dcol[ROWS];
        for (size_t i = 0; i < ROWS; i++)
            col[i] = p[i * T + k];
        double l;
        ck_assert_int_eq(rmtl__loss_bce(&l, "t", ROWS, col, b.labels + k, b.weights + k, T,
                                        1.0 / (double)T, dcol),
                         0);
        loss += l;
        for (size_t i = 0; i < ROWS; i++)
            dp[i * T + k] = dcol[i];
    }
    ck_assert_msg(fabs(loss - want) < 1e-5, "%s: loss %g vs the model's %g", arch, loss, want);
    ck_assert_int_eq(rmtl__net_backward(&np, dp, T), 0);
    for (size_t i = 0; i < ps->n; i++) {
        rmtl__param *q = ps->p[i];
        double num = 0, den = 0;
        for (size_t j = 0; j < q->rows * q->cols; j++) {
            double d = (double)q->g[j] - g_model[i][j];
            num += d * d;
            den += (double)g_model[i][j] * g_model[i][j];
        }
        ck_assert_msg(sqrt(num) <= 1e-4 * sqrt(den) + 1e-7, "%s T=%zu '%s': |Δg| %g, |g| %g",
                      arch, T, q->name, sqrt(num), sqrt(den));
    }
    free_like(g_model, ps);
    fx_free(&f);
}

START_TEST(test_policy_backward)
{
    for (int a = 0; a < MTL_N_ARCH; a++) {
        check_policy_backward(mtl_archs[a], 1);
        check_policy_backward(mtl_archs[a], 3);
    }
}
END_TEST

/* ---- the actor's loss against finite differences ------------------------------------ */

/* Hash of the on/off pattern of every ReLU the last actor loss went
 * through: the actor's hidden layers and, for each critic, its hidden
 * layers and its −ReLU head. The loss is smooth where it stays the same. */
static uint64_t hash_mlp(uint64_t h, const rmtl__mlp *m, size_t rows)
{
    for (size_t l = 0; l < m->n_hidden; l++)
        for (size_t j = 0; j < rows * m->lin[l].out; j++)
            h = (h ^ (m->h[l][j] > 0.0f)) * 1099511628211ull;
    return h;
}

static uint64_t relu_pattern(const rmtl_actor *a, rmtl_critic *const *by_task, size_t rows)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < a->model->net.mods.n; i++) {
        const rmtl__mod *md = &a->model->net.mods.m[i];
        if (md->kind == RMTL__MOD_MLP)
            h = hash_mlp(h, &md->u.mlp, rows);
    }
    for (size_t k = 0; k < a->n_tasks; k++) {
        const rmtl__qnet *q = &by_task[k]->net;
        h = hash_mlp(hash_mlp(h, &q->bottom, rows), &q->tower, rows);
        for (size_t i = 0; i < rows; i++)
            h = (h ^ (q->z[i] > 0.0f)) * 1099511628211ull;
    }
    return h;
}

static double actor_loss(rmtl_actor *a, rmtl_critic *const *by_task, const rmtl_transitions *t,
                         uint64_t *pattern)
{
    rmtl__params_zero_grad(&a->model->net.ps);
    double l = NAN;
    ck_assert_int_eq(rmtl__actor_grad(a, by_task, t, &l), 0);
    if (pattern)
        *pattern = relu_pattern(a, by_task, t->rows);
    return l;
}

/* The loss comes from float passes: its rounding (about 1e-7 relative)
 * divided by 2h is the noise floor of a difference quotient. */
#define FD_RTOL 0.02
#define FD_NOISE 1e-7

/* Central difference of the loss along u (unit length) of parameter p,
 * from the largest step whose both sides keep every ReLU's on/off pattern
 * (no kink crossed); NAN when none does. *noise: that step's noise floor. */
static double directional(rmtl_actor *a, rmtl_critic *const *by_task,
                          const rmtl_transitions *t, rmtl__param *p, const double *u,
                          uint64_t base, double l0, double *noise)
{
    size_t n = p->rows * p->cols;
    float *save = malloc(n * sizeof *save);
    memcpy(save, p->w, n * sizeof *save);
    double out = NAN;
    for (double h = 4e-3; h >= 2.5e-4 && isnan(out); h /= 2) {
        uint64_t pp, pm;
        for (size_t i = 0; i < n; i++)
            p->w[i] = (float)(save[i] + h * u[i]);
        double fp = actor_loss(a, by_task, t, &pp);
        for (size_t i = 0; i < n; i++)
            p->w[i] = (float)(save[i] - h * u[i]);
        double fm = actor_loss(a, by_task, t, &pm);
        memcpy(p->w, save, n * sizeof *save);
        if (pp == base && pm == base) {
            out = (fp - fm) / (2 * h);
            *noise = 4 * FD_NOISE * fabs(l0) / (2 * h);
        }
    }
    free(save);
    return out;
}

/* An agent over fixture f (2 tasks) whose critics have a positive output
 * bias: Q < 0 for most rows, a slope for the actor to follow. */
static rmtl_agent *sloped_agent(fixture *f, const char *arch, double bc, int ips)
{
    fx_init(f, arch, 2, 11);
    ck_assert_int_eq(rmtl_config_set_double(f->cfg, "rl.bc_weight", bc), 0);
    ck_assert_int_eq(rmtl_config_set_bool(f->cfg, "rl.ips", ips), 0);
    rmtl_agent *ag;
    ck_assert_int_eq(rmtl_agent_create(&ag, f->cfg, f->m), 0);
    for (size_t k = 0; k < 2; k++)
        rmtl__params_find(&ag->critics[k]->net.ps, "tower.out.b")->w[0] = 0.5f;
    return ag;
}

static void check_actor_gradient(const char *arch, double bc, int ips)
{
    fixture f;
    rmtl_agent *ag = sloped_agent(&f, arch, bc, ips);
    rmtl_actor *a = ag->actor;
    /* an actor away from its anchor (a BC gradient) */
    rmtl__params *ps = &a->model->net.ps;
    for (size_t i = 0; i < ps->n; i++)
        for (size_t j = 0; j < ps->p[i]->rows * ps->p[i]->cols; j++)
            ps->p[i]->w[j] += 0.01f * (float)((int)((i * 31 + j * 17) % 7) - 3);
    uint64_t base;
    double l0 = actor_loss(a, ag->critics, &f.t, &base);
    ck_assert(isfinite(l0));
    float **g = alloc_like(ps);
    copy_grads(ps, g);
    size_t checked = 0;
    uint64_t s = 99;
    for (size_t i = 0; i < ps->n; i++) {
        rmtl__param *p = ps->p[i];
        size_t n = p->rows * p->cols;
        double *u = malloc(n * sizeof *u), gn = 0, dot = 0, un = 0;
        for (int dir = 0; dir < 2; dir++) {
            /* along the gradient, then along a random ±1 direction */
            for (size_t j = 0; j < n; j++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                u[j] = dir ? ((s >> 40) & 1 ? 1.0 : -1.0) : g[i][j];
            }
            un = 0, dot = 0;
            for (size_t j = 0; j < n; j++)
                un += u[j] * u[j];
            un = sqrt(un);
            if (un == 0)
                continue;
            for (size_t j = 0; j < n; j++) {
                u[j] /= un;
                dot += u[j] * g[i][j];
            }
            gn = dot;
            double noise = 0, num = directional(a, ag->critics, &f.t, p, u, base, l0, &noise);
            if (isnan(num))
                continue;
            checked++;
            ck_assert_msg(fabs(num - gn) <= FD_RTOL * fmax(fabs(num), fabs(gn)) + noise,
                          "%s bc=%g ips=%d '%s' direction %d: analytic %.9g numeric %.9g", arch,
                          bc, ips, p->name, dir, gn, num);
        }
        free(u);
    }
    ck_assert_uint_ge(checked, ps->n); /* most tensors in both directions */
    free_like(g, ps);
    rmtl_agent_free(ag);
    fx_free(&f);
}

START_TEST(test_actor_gradient)
{
    check_actor_gradient("esmm", 0.0, 0);
    check_actor_gradient("mmoe", 0.5, 1);
    check_actor_gradient("aitm", 0.0, 1);
}
END_TEST

/* The actor's gradient with its embedded-input MLPs differentiated by
 * distinct id (every field grouped) equals the plain backward's, for
 * every architecture (experts, bottoms and towers that read the input). */
START_TEST(test_actor_grouped_grad)
{
    fixture f;
    rmtl_agent *ag = sloped_agent(&f, mtl_archs[_i], 0.0, 0);
    rmtl_actor *a = ag->actor;
    rmtl__params *ps = &a->model->net.ps;
    a->fold = RMTL__FOLD_OFF;
    double l_exact = actor_loss(a, ag->critics, &f.t, NULL);
    float **g = alloc_like(ps);
    copy_grads(ps, g);
    a->fold = RMTL__FOLD_ALL;
    double l_grouped = actor_loss(a, ag->critics, &f.t, NULL);
    ck_assert(l_exact == l_grouped); /* the forward is the same */
    size_t table_rows = 0;
    for (size_t i = 0; i < ps->n; i++) {
        const rmtl__param *p = ps->p[i];
        double big = 0.0;
        for (size_t j = 0; j < p->rows * p->cols; j++)
            big = fmax(big, fabs(g[i][j]));
        for (size_t j = 0; j < p->rows * p->cols; j++)
            ck_assert_msg(fabsf(p->g[j] - g[i][j]) <= 1e-5 * (1.0 + big),
                          "%s '%s'[%zu]: grouped %.9g, exact %.9g", mtl_archs[_i], p->name, j,
                          (double)p->g[j], (double)g[i][j]);
        table_rows += p->sparse ? p->n_touched : 0;
    }
    ck_assert_uint_gt(table_rows, 0);
    free_like(g, ps);
    rmtl_agent_free(ag);
    fx_free(&f);
}
END_TEST

/* The behaviour-cloning term alone, by hand: critics that see nothing
 * (Q ≡ 0 with a very negative output bias) leave β·mean_p mean((θ − θ0)²). */
START_TEST(test_bc_term)
{
    fixture f;
    fx_init(&f, "shared_bottom", 2, 4);
    ck_assert_int_eq(rmtl_config_set_double(f.cfg, "rl.bc_weight", 2.0), 0);
    rmtl_agent *ag;
    ck_assert_int_eq(rmtl_agent_create(&ag, f.cfg, f.m), 0);
    for (size_t k = 0; k < 2; k++)
        rmtl__params_find(&ag->critics[k]->net.ps, "tower.out.b")->w[0] = -1e3f;
    rmtl__params *ps = &ag->actor->model->net.ps;
    double l = actor_loss(ag->actor, ag->critics, &f.t, NULL);
    ck_assert(l == 0.0); /* at the anchor: no Q, no distance */
    /* move one weight of the first tensor by 0.5: 2·(0.25/size)/P */
    rmtl__param *p = ps->p[0];
    p->w[3] += 0.5f;
    double want = 2.0 * (0.25 / (double)(p->rows * p->cols)) / (double)ps->n;
    l = actor_loss(ag->actor, ag->critics, &f.t, NULL);
    ck_assert_msg(fabs(l - want) < 1e-9, "BC %g, want %g", l, want);
    double gwant = 2.0 * 2.0 * 0.5 / ((double)ps->n * (double)(p->rows * p->cols));
    ck_assert(fabs(p->g[3] - gwant) < 1e-6 * gwant);
    /* a sparse table's rows all count as touched (the gradient is dense) */
    rmtl__param *table = rmtl__params_find(ps, "embed.table");
    ck_assert_ptr_nonnull(table);
    ck_assert_uint_eq(table->n_touched, table->rows);
    rmtl_agent_free(ag);
    fx_free(&f);
}
END_TEST

/* ---- soft updates by hand ---------------------------------------------------------- */

START_TEST(test_soft_update)
{
    fixture f;
    fx_init(&f, "single_task", 1, 2);
    ck_assert_int_eq(rmtl_config_set_double(f.cfg, "rl.tau", 0.25), 0);
    rmtl_agent *ag;
    ck_assert_int_eq(rmtl_agent_create(&ag, f.cfg, f.m), 0);
    rmtl_critic *c = ag->critics[0];
    rmtl__param *w = rmtl__params_find(&c->net.ps, "tower.out.b");
    rmtl__param *wt = rmtl__params_find(&c->target.ps, "tower.out.b");
    w->w[0] = 1.0f;
    wt->w[0] = -3.0f;
    ck_assert_int_eq(rmtl_critic_soft_update(c), 0);
    ck_assert_float_eq(wt->w[0], 0.25f * 1.0f + 0.75f * -3.0f); /* −2 */
    ck_assert_int_eq(rmtl_critic_soft_update(c), 0);
    ck_assert_float_eq(wt->w[0], 0.25f * 1.0f + 0.75f * -2.0f); /* −1.25 */
    ck_assert_float_eq(w->w[0], 1.0f);
    rmtl_actor *a = ag->actor;
    rmtl__param *aw = a->model->net.ps.p[1], *at = a->target->net.ps.p[1];
    aw->w[0] = 2.0f;
    at->w[0] = 6.0f;
    ck_assert_int_eq(rmtl_actor_soft_update(a), 0);
    ck_assert_float_eq(at->w[0], 0.25f * 2.0f + 0.75f * 6.0f); /* 5 */
    rmtl_agent_free(ag);
    fx_free(&f);
}
END_TEST

/* ---- the schedule -------------------------------------------------------------------- */

static int same_params(const rmtl__params *a, const rmtl__params *b)
{
    for (size_t i = 0; i < a->n; i++)
        if (memcmp(a->p[i]->w, b->p[i]->w, a->p[i]->rows * a->p[i]->cols * sizeof(float)))
            return 0;
    return 1;
}

static float *snapshot(const rmtl__params *ps)
{
    size_t n = rmtl__params_size(ps), at = 0;
    float *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < ps->n; i++) {
        size_t len = ps->p[i]->rows * ps->p[i]->cols;
        memcpy(s + at, ps->p[i]->w, len * sizeof *s);
        at += len;
    }
    return s;
}

static int changed(const rmtl__params *ps, const float *snap)
{
    float *now = snapshot(ps);
    int diff = memcmp(now, snap, rmtl__params_size(ps) * sizeof *now) != 0;
    free(now);
    return diff;
}

START_TEST(test_schedule)
{
    fixture f;
    fx_init(&f, "esmm", 2, 6);
    ck_assert_int_eq(rmtl_config_set_int(f.cfg, "rl.init_training_step", 3), 0);
    ck_assert_int_eq(rmtl_config_set_int(f.cfg, "rl.actor_update_freq", 2), 0);
    ck_assert_int_eq(rmtl_config_set_int(f.cfg, "rl.soft_update_freq", 3), 0);
    ck_assert_int_eq(rmtl_config_set_double(f.cfg, "rl.actor_lr", 1e-2), 0);
    rmtl_agent *ag;
    ck_assert_int_eq(rmtl_agent_create(&ag, f.cfg, f.m), 0);
    for (size_t k = 0; k < 2; k++)
        rmtl__params_find(&ag->critics[k]->net.ps, "tower.out.b")->w[0] = 0.5f;
    /* the actor starts as the pre-trained model, its target too */
    ck_assert(same_params(&ag->actor->model->net.ps, &f.m->net.ps));
    ck_assert(same_params(&ag->actor->target->net.ps, &f.m->net.ps));
    /* t:      0 1 2 3 4 5 6 7 8
     * actor:  t >= 3 and (t+1) % 2 == 0  → 3, 5, 7
     * soft:   (t+1) % 3 == 0             → 2, 5, 8 */
    const int want_actor[9] = {0, 0, 0, 1, 0, 1, 0, 1, 0};
    const int want_soft[9] = {0, 0, 1, 0, 0, 1, 0, 0, 1};
    for (int t = 0; t < 9; t++) {
        float *actor = snapshot(&ag->actor->model->net.ps);
        float *atarget = snapshot(&ag->actor->target->net.ps);
        float *ctarget = snapshot(&ag->critics[1]->target.ps);
        float *critic = snapshot(&ag->critics[1]->net.ps);
        rmtl_agent_report r = RMTL_AGENT_REPORT_INIT;
        ck_assert_msg(rmtl_agent_update(ag, &f.t, &r) == 0, "%s", rmtl_last_error());
        ck_assert_uint_eq(r.step, (uint64_t)t + 1);
        ck_assert_uint_eq(r.n_tasks, 2);
        ck_assert(r.critic_loss[0] >= 0 && r.critic_loss[1] >= 0);
        ck_assert_int_eq(r.actor_updated, want_actor[t]);
        ck_assert_int_eq(r.targets_updated, want_soft[t]);
        ck_assert(want_actor[t] ? isfinite(r.actor_loss) : isnan(r.actor_loss));
        ck_assert_int_eq(changed(&ag->actor->model->net.ps, actor), want_actor[t]);
        ck_assert_int_eq(changed(&ag->critics[1]->target.ps, ctarget), want_soft[t]);
        ck_assert(changed(&ag->critics[1]->net.ps, critic)); /* critics always learn */
        /* the actor target moves only when soft-updated after the actor moved */
        if (!want_soft[t])
            ck_assert(!changed(&ag->actor->target->net.ps, atarget));
        free(actor), free(atarget), free(ctarget), free(critic);
    }
    ck_assert_uint_eq(rmtl_agent_steps(ag), 9);
    ck_assert_uint_eq(rmtl_actor_updates(ag->actor), 3);
    ck_assert_uint_eq(rmtl_critic_updates(ag->critics[0]), 9);
    /* the pre-trained model the agent was built from is untouched */
    ck_assert(same_params(&ag->actor->anchor->net.ps, &f.m->net.ps));
    rmtl_agent_free(ag);
    fx_free(&f);
}
END_TEST

/* ---- checkpoints: resume bit for bit ---------------------------------------------------- */

static void run_updates(rmtl_agent *ag, const rmtl_transitions *t, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(rmtl_agent_update(ag, t, NULL) == 0, "%s", rmtl_last_error());
}

static void assert_same_agent(const rmtl_agent *x, const rmtl_agent *y, const char *when)
{
    ck_assert_uint_eq(x->steps, y->steps);
    ck_assert_msg(same_params(&x->actor->model->net.ps, &y->actor->model->net.ps), "%s: actor",
                  when);
    ck_assert_msg(same_params(&x->actor->target->net.ps, &y->actor->target->net.ps),
                  "%s: actor target", when);
    for (size_t k = 0; k < x->n_tasks; k++) {
        ck_assert_msg(same_params(&x->critics[k]->net.ps, &y->critics[k]->net.ps),
                      "%s: critic %zu", when, k);
        ck_assert_msg(same_params(&x->critics[k]->target.ps, &y->critics[k]->target.ps),
                      "%s: critic %zu target", when, k);
    }
}

START_TEST(test_agent_resume)
{
    fixture f;
    fx_init(&f, "ple", 2, 8);
    ck_assert_int_eq(rmtl_config_set_int(f.cfg, "rl.init_training_step", 1), 0);
    ck_assert_int_eq(rmtl_config_set_double(f.cfg, "model.dropout", 0.2), 0);
    ck_assert_int_eq(rmtl_config_set_double(f.cfg, "rl.bc_weight", 0.1), 0);
    ck_assert_int_eq(rmtl_config_set_bool(f.cfg, "rl.ips", 1), 0);
    rmtl_agent *a, *b, *c;
    ck_assert_int_eq(rmtl_agent_create(&a, f.cfg, f.m), 0);
    run_updates(a, &f.t, 5);
    void *buf;
    size_t len;
    ck_assert_int_eq(rmtl_agent_save_buffer(&buf, &len, a), 0);
    ck_assert_int_eq(rmtl_agent_load_buffer(&b, buf, len), 0);
    assert_same_agent(a, b, "loaded");
    /* again: the same bytes (nothing lost, nothing random in the format) */
    void *buf2;
    size_t len2;
    ck_assert_int_eq(rmtl_agent_save_buffer(&buf2, &len2, b), 0);
    ck_assert_uint_eq(len, len2);
    ck_assert(memcmp(buf, buf2, len) == 0);
    rmtl_free(buf2);
    /* going on from the copy equals never stopping */
    run_updates(a, &f.t, 6);
    run_updates(b, &f.t, 6);
    assert_same_agent(a, b, "after 6 more updates");
    /* a damaged byte anywhere is refused */
    ((unsigned char *)buf)[len / 2] ^= 0x10;
    ck_assert_int_eq(rmtl_agent_load_buffer(&c, buf, len), RMTL_EFORMAT);
    ck_assert_ptr_null(c);
    rmtl_free(buf);
    /* the pieces alone: an actor and a critic round-trip too */
    ck_assert_int_eq(rmtl_actor_save_buffer(&buf, &len, a->actor), 0);
    rmtl_actor *ac;
    ck_assert_int_eq(rmtl_actor_load_buffer(&ac, buf, len), 0);
    ck_assert(same_params(&ac->model->net.ps, &a->actor->model->net.ps));
    ck_assert(same_params(&ac->target->net.ps, &a->actor->target->net.ps));
    ck_assert(same_params(&ac->anchor->net.ps, &a->actor->anchor->net.ps));
    ck_assert_uint_eq(ac->updates, a->actor->updates);
    /* an actor file is not an agent (nor a critic) */
    ck_assert_int_eq(rmtl_agent_load_buffer(&c, buf, len), RMTL_EFORMAT);
    ck_assert(strstr(rmtl_last_error(), "holds an actor, not an agent") != NULL);
    rmtl_free(buf);
    ck_assert_int_eq(rmtl_critic_save_buffer(&buf, &len, a->critics[1]), 0);
    rmtl_critic *cr;
    ck_assert_int_eq(rmtl_critic_load_buffer(&cr, buf, len), 0);
    ck_assert_uint_eq(cr->task, 1);
    ck_assert(same_params(&cr->net.ps, &a->critics[1]->net.ps));
    ck_assert(same_params(&cr->target.ps, &a->critics[1]->target.ps));
    double l1, l2;
    ck_assert_int_eq(rmtl_critic_update(cr, ac, &f.t, &l1), 0);
    ck_assert_int_eq(rmtl_critic_update(a->critics[1], a->actor, &f.t, &l2), 0);
    ck_assert(l1 == l2);
    ck_assert(same_params(&cr->net.ps, &a->critics[1]->net.ps));
    ck_assert_int_eq(rmtl_agent_load_buffer(&c, buf, len), RMTL_EFORMAT);
    rmtl_free(buf);
    rmtl_critic_free(cr);
    rmtl_actor_free(ac);
    rmtl_agent_free(a);
    rmtl_agent_free(b);
    fx_free(&f);
}
END_TEST

/* The target actor's actions come from its folded input layer, which
 * follows the soft updates and agrees with the exact path. */
START_TEST(test_target_fold)
{
    fixture f;
    fx_init(&f, mtl_archs[_i], 2, 12);
    rmtl_agent *ag;
    ck_assert_int_eq(rmtl_agent_create(&ag, f.cfg, f.m), 0);
    rmtl_actor *a = ag->actor;
    rmtl_ctx *ctx;
    ck_assert_int_eq(rmtl_ctx_create(&ctx, 1), 0);
    float exact[ROWS * 2], folded[ROWS * 2], poked[ROWS * 2];
    for (int round = 0; round < 2; round++) {
        a->fold = RMTL__FOLD_OFF;
        ck_assert_int_eq(rmtl__actor_target_actions(a, ctx, &f.t, exact), 0);
        ck_assert_ptr_null(a->target->net.fold);
        a->fold = RMTL__FOLD_AUTO; /* 24 rows over vocabularies of at most 7 */
        ck_assert_int_eq(rmtl__actor_target_actions(a, ctx, &f.t, folded), 0);
        ck_assert_ptr_nonnull(rmtl__fold_current(&a->target->net));
        ck_assert_uint_eq(rmtl__fold_fields(a->target->net.fold), MTL_N_CAT);
        for (size_t i = 0; i < ROWS * 2; i++)
            ck_assert_msg(fabsf(exact[i] - folded[i]) <= 1e-6f, "%s round %d [%zu]: %.9g exact, "
                          "%.9g folded", mtl_archs[_i], round, i, (double)exact[i],
                          (double)folded[i]);
        rmtl__fold *fd = a->target->net.fold; /* read, not rebuilt, while current */
        for (size_t j = 0; j < fd->width; j++)
            fd->table[fd->bias_row * fd->width + j] += 1.0f;
        ck_assert_int_eq(rmtl__actor_target_actions(a, ctx, &f.t, poked), 0);
        ck_assert(memcmp(poked, folded, sizeof poked) != 0);
        /* the policy moves, the soft update moves the target: stale */
        rmtl__params *ps = &a->model->net.ps;
        for (size_t i = 0; i < ps->n; i++)
            ps->p[i]->w[0] += 0.05f;
        ck_assert_int_eq(rmtl_actor_soft_update(a), 0);
        ck_assert_ptr_null(rmtl__fold_current(&a->target->net));
    }
    rmtl_ctx_free(ctx);
    rmtl_agent_free(ag);
    fx_free(&f);
}
END_TEST

/* ---- allocation failures ---------------------------------------------------------------- */

START_TEST(test_agent_alloc_failures)
{
    fixture f;
    fx_init(&f, "mmoe", 2, 9);
    ck_assert_int_eq(rmtl_config_set_int(f.cfg, "rl.init_training_step", 0), 0);
    ck_assert_int_eq(rmtl_config_set_int(f.cfg, "rl.actor_update_freq", 1), 0);
    ck_assert_int_eq(rmtl_config_set_int(f.cfg, "rl.soft_update_freq", 1), 0);
    ck_assert_int_eq(rmtl_config_set_double(f.cfg, "rl.bc_weight", 0.1), 0);
    int rc = -1;
    size_t k;
    for (k = 1; k < 20000; k++) {
        rmtl_agent *ag = NULL;
        rmtl__alloc_fail_after(k);
        rc = rmtl_agent_create(&ag, f.cfg, f.m);
        if (rc == 0) {
            rmtl_agent_report r = RMTL_AGENT_REPORT_INIT;
            rc = rmtl_agent_update(ag, &f.t, &r);
            if (rc == 0)
                rc = rmtl_agent_update(ag, &f.t, &r);
        } else {
            ck_assert_ptr_null(ag);
        }
        rmtl__alloc_fail_after(0);
        if (rc)
            ck_assert_msg(rc == RMTL_ENOMEM, "allocation %zu: %d %s", k, rc, rmtl_last_error());
        rmtl_agent_free(ag);
        if (rc == 0)
            break;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_gt(k, 50);
    fx_free(&f);
}
END_TEST

Suite *rmtl_test_rl_agent_suite(void)
{
    Suite *s = suite_create("rl_agent");
    TCase *tc = tcase_create("resume");
    tcase_add_test(tc, test_agent_resume);
    suite_add_tcase(s, tc);
    tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_policy_backward);
    tcase_add_test(tc, test_actor_gradient);
    tcase_add_loop_test(tc, test_actor_grouped_grad, 0, MTL_N_ARCH);
    tcase_add_test(tc, test_bc_term);
    tcase_add_test(tc, test_soft_update);
    tcase_add_test(tc, test_schedule);
    tcase_add_test(tc, test_agent_alloc_failures);
    tcase_add_loop_test(tc, test_target_fold, 0, MTL_N_ARCH);
    suite_add_tcase(s, tc);
    return s;
}
