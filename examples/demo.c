/*
 * librmtl's main job (`make demo`), on a seeded synthetic world so that it
 * needs no data set: simulate sessions and log them, train a multi-task
 * model on the logs, polish it with RMTL, then fuse that model's scores:
 * train fusion policies and compare them in the simulator, whose users
 * have long-term dynamics (sim.satisfaction). Prints tables and writes
 * build/demo/curves.svg; the terminal prints every number the plot shows.
 *
 *   demo [--quick] [--out DIR]
 *
 * Everything goes through the public API (include/rmtl.h).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <rmtl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "sim_scorer.h"

#define MAX_POINTS 64

/* A curve of the SVG plot. */
struct series {
    const char *name;
    double y[MAX_POINTS];
    int n;
};

struct demo {
    int quick;
    const char *dir;
    rmtl_config *cfg;
    rmtl_env *env;
    rmtl_dataset *train, *val, *test;
    rmtl_model *base, *polished; /* the MTL model, and after RMTL fine-tuning */
    sim_scorer scorer;           /* the polished model as the fusion's scorer */
    int has_scorer;
    char path[3][512];
    struct series loss, auc[2], reward[3]; /* reward: evaluation, per round */
    double t0;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int check(int rc, const char *what)
{
    if (rc != RMTL_OK)
        fprintf(stderr, "demo: %s: %s: %s\n", what, rmtl_strerror(rc), rmtl_last_error());
    return rc;
}

static void stage(const struct demo *d, int k, const char *what)
{
    printf("\n[%d/5] %s  (%.0fs)\n", k, what, now() - d->t0);
    fflush(stdout);
}

/* ---- stage 1-2: world and logs ------------------------------------------ */

static int make_world_and_logs(struct demo *d)
{
    rmtl_sim_info info = RMTL_SIM_INFO_INIT;
    if (check(rmtl_env_sim_create(&d->env, d->cfg), "simulator") ||
        check(rmtl_env_sim_info(&info, d->env), "simulator"))
        return 1;
    stage(d, 1, "world");
    printf("  %u users, %u items, %zu candidates per request, top %zu shown, %u tasks\n",
           info.users, info.items, info.candidates, info.top_l, info.tasks);

    stage(d, 2, "logging sessions with an exploring baseline policy");
    static const char *names[3] = {"train", "val", "test"};
    size_t sessions[3] = {d->quick ? 600 : 3000, d->quick ? 200 : 1000, d->quick ? 200 : 1000};
    for (int s = 0; s < 3; s++) {
        uint64_t state = 1000 + (uint64_t)s;
        rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
        snprintf(d->path[s], sizeof d->path[s], "%s/%s.csv", d->dir, names[s]);
        if (check(rmtl_env_sim_log(&st, d->env, d->path[s], sessions[s], 1 + (uint64_t)s, 0,
                                   rmtl_env_sim_random_policy, &state),
                  d->path[s]))
            return 1;
        printf("  %-5s %5zu sessions, %6zu impressions, click rate %.3f, purchase rate %.4f"
               "  -> %s\n",
               names[s], st.sessions, st.impressions, st.rate[0], st.rate[1], d->path[s]);
    }
    /* Run from the source tree (make demo): the log's dataset schema. */
    const char *schema = "examples/schemas/sim.yaml";
    struct bar bar = BAR_INIT;
    bar_label(&bar, "loading logs");
    rmtl_load_options lo = RMTL_LOAD_OPTIONS_INIT;
    lo.progress = bar_progress, lo.payload = &bar;
    if (check(rmtl_dataset_load(&d->train, d->path[0], schema, NULL, &lo), "train log") ||
        check(rmtl_dataset_load(&d->val, d->path[1], NULL, d->train, &lo), "val log") ||
        check(rmtl_dataset_load(&d->test, d->path[2], NULL, d->train, &lo), "test log"))
        return 1;
    return 0;
}

/* ---- stage 3: the multi-task model ---------------------------------------- */

static int train_model(struct demo *d)
{
    stage(d, 3, "multi-task model on the logs");
    if (check(rmtl_model_create(&d->base, d->cfg, d->train), "model"))
        return 1;
    const char *arch = "?";
    rmtl_config_get_string(&arch, d->cfg, "model.arch");
    printf("  %s, %zu weights, %zu training impressions\n", arch, rmtl_model_num_params(d->base),
           rmtl_dataset_rows(d->train));
    int epochs = d->quick ? 2 : 6;
    d->loss.name = "training loss";
    d->auc[0].name = "validation AUC, click";
    d->auc[1].name = "validation AUC, purchase";
    struct bar bar = BAR_INIT;
    for (int e = 1; e <= epochs; e++) {
        double loss, auc[2];
        bar_label(&bar, "epoch %d/%d", e, epochs);
        if (check(rmtl_model_train_epoch(&loss, d->base, d->train, bar_progress, &bar),
                  "training") ||
            check(rmtl_model_evaluate(d->base, NULL, d->val, auc, NULL, NULL, 2), "evaluation"))
            return 1;
        printf("  epoch %d  loss %.4f  val AUC click %.4f  purchase %.4f\n", e, loss, auc[0],
               auc[1]);
        fflush(stdout);
        d->loss.y[d->loss.n++] = loss;
        d->auc[0].y[d->auc[0].n++] = auc[0];
        d->auc[1].y[d->auc[1].n++] = auc[1];
    }
    return 0;
}


/* ---- stage 4: RMTL ------------------------------------------------------------ */

/* One epoch over the training log, weighted by the agent's critics (the
 * RMTL loss) or plain BCE when agent is NULL. */
static int finetune_epoch(rmtl_model *m, rmtl_dataset *train, const rmtl_agent *agent,
                          uint64_t seed)
{
    enum { B = 512 };
    static float w[B * 2];
    int rc = rmtl_dataset_shuffle(train, seed);
    for (size_t start = 0; !rc && start < rmtl_dataset_rows(train); start += B) {
        rmtl_batch b = RMTL_BATCH_INIT;
        rc = rmtl_dataset_batch(&b, train, start, B);
        if (!rc && agent) {
            rc = rmtl_agent_loss_weights(agent, m, NULL, &b, w, B * 2);
            b.weights = w;
        }
        if (!rc)
            rc = rmtl_model_train_step(m, &b, NULL);
    }
    return rc;
}

static void table_row(const char *name, const rmtl_model *m, const rmtl_dataset *test)
{
    double auc[2], ll[2], sll[2];
    if (check(rmtl_model_evaluate(m, NULL, test, auc, ll, sll, 2), "evaluation"))
        return;
    printf("  %-12s %8.4f %8.4f   %8.4f %8.4f   %8.4f %8.4f\n", name, auc[0], auc[1], ll[0], ll[1],
           sll[0], sll[1]);
}

static int run_rmtl(struct demo *d)
{
    stage(d, 4, "RMTL: session MDP, critics, critic-weighted fine-tuning");
    rmtl_env *env = NULL;
    rmtl_replay *rb = NULL;
    rmtl_agent *agent = NULL;
    rmtl_model *bce = NULL, *polished = NULL;
    int rc = 1;
    size_t fill = d->quick ? 4000 : 20000, updates = d->quick ? 60 : 300, batch = 256;
    if (check(rmtl_env_create(&env, d->cfg, d->train, 0), "env") ||
        check(rmtl_replay_create(&rb, fill, rmtl_dataset_n_cat(d->train),
                                 rmtl_dataset_n_num(d->train), 2, 42), "replay") ||
        check(rmtl_replay_fill_random(rb, env, fill), "replay fill") ||
        check(rmtl_agent_create(&agent, d->cfg, d->base), "agent"))
        goto done;
    printf("  %zu transitions from %zu training sessions; %zu agent updates of %zu\n", fill,
           rmtl_dataset_n_sessions(d->train), updates, batch);
    /* three thirds of the updates, each one rmtl_agent_train() call */
    struct bar bar = BAR_INIT;
    for (size_t u = updates / 3; u <= updates; u += updates / 3) {
        rmtl_agent_report last = RMTL_AGENT_REPORT_INIT;
        bar_label(&bar, "agent %zu/%zu", u, updates);
        if (check(rmtl_agent_train(&last, agent, rb, updates / 3, bar_progress, &bar),
                  "agent training"))
            goto done;
        printf("  update %4zu  critic loss click %.4f  purchase %.4f\n", u,
               last.critic_loss[0], last.critic_loss[1]);
    }
    /* the env borrows the training log, which fine-tuning shuffles */
    rmtl_env_free(env);
    env = NULL;
    if (check(rmtl_model_clone(&bce, d->base), "clone") ||
        check(rmtl_model_clone(&polished, d->base), "clone") ||
        check(finetune_epoch(bce, d->train, NULL, 7), "BCE fine-tuning") ||
        check(finetune_epoch(polished, d->train, agent, 7), "RMTL fine-tuning"))
        goto done;
    printf("\n  test sessions  %17s   %17s   %17s\n", "AUC", "log-loss", "session log-loss");
    printf("  %-12s %8s %8s   %8s %8s   %8s %8s\n", "model", "click", "purchase", "click",
           "purchase", "click", "purchase");
    table_row("base", d->base, d->test);
    table_row("+1 BCE epoch", bce, d->test);
    table_row("+1 RMTL epoch", polished, d->test);
    d->polished = polished; /* the fusion step scores with it */
    polished = NULL;
    rc = 0;
done:
    rmtl_model_free(polished);
    rmtl_model_free(bce);
    rmtl_agent_free(agent);
    rmtl_replay_free(rb);
    rmtl_env_free(env);
    return rc;
}

/* ---- stage 5: fusion ------------------------------------------------------------ */

/* The evaluation reward of the three policies, the plot's third panel. */
static int evaluate_round(struct demo *d, rmtl_fusion *const fx[3], const rmtl_fusion_sim_opts *e)
{
    printf("  evaluation reward:");
    for (int k = 0; k < 3; k++) {
        rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
        if (check(rmtl_fusion_evaluate(&st, fx[k], d->env, e), "evaluate"))
            return 1;
        d->reward[k].y[d->reward[k].n++] = st.reward_mean;
        printf("  %s %.1f", k == 0 ? "CEM" : k == 1 ? "user" : "pair", st.reward_mean);
    }
    printf("\n");
    fflush(stdout);
    return 0;
}

static int run_fusion(struct demo *d)
{
    stage(d, 5, "multi-task fusion of the RMTL-polished model's scores");
    char probe[600];
    snprintf(probe, sizeof probe, "%s/probe.csv", d->dir);
    if (check(sim_scorer_init(&d->scorer, d->polished, d->train, d->env, probe), "scorer"))
        return 1;
    d->has_scorer = 1;
    printf("  scores: the model of step 4 (+1 RMTL epoch) predicting each candidate;\n"
           "  users: long-term dynamics on (clicky, unsatisfying items shorten sessions)\n");
    rmtl_fusion *fx[3] = {NULL, NULL, NULL}; /* fixed, user, pair */
    int rc = 1;
    size_t rounds = d->quick ? 2 : 4;
    rmtl_config *cfg = NULL;
    struct bar bar = BAR_INIT;
    if (check(rmtl_config_clone(&cfg, d->cfg), "config") ||
        check(rmtl_fusion_create(&fx[0], cfg), "fusion") ||
        check(rmtl_fusion_create(&fx[2], cfg), "fusion") ||
        check(rmtl_config_set_string(cfg, "fusion.granularity", "user"), "config") ||
        check(rmtl_fusion_create(&fx[1], cfg), "fusion"))
        goto done;
    rmtl_fusion_cem_opts co = RMTL_FUSION_CEM_OPTS_INIT;
    co.eval.sessions = d->quick ? 40 : 150;
    co.eval.seed = 4242;
    co.eval.scorer = sim_scorer_fn;
    co.eval.scorer_payload = &d->scorer;
    co.iterations = d->quick ? 3 : 6;
    double cem_best = 0;
    if (check(rmtl_fusion_cem(&cem_best, fx[0], d->env, &co), "CEM"))
        goto done;
    rmtl_fusion_info info = RMTL_FUSION_INFO_INIT;
    float base[64], state[256] = {0}, scores[8] = {0}, fused;
    if (check(rmtl_fusion_describe(&info, fx[0]), "fusion") ||
        check(rmtl_fuse_scores(&fused, fx[0], state, info.state_dim, scores, info.tasks, base, 64),
              "fusion") ||
        check(rmtl_fusion_set_fixed(fx[1], base, info.action_dim), "fusion") ||
        check(rmtl_fusion_set_fixed(fx[2], base, info.action_dim), "fusion"))
        goto done;
    printf("  CEM fixed weights (w, b):");
    for (size_t k = 0; k < info.action_dim; k++)
        printf(" %.3f", (double)base[k]);
    printf("\n");
    rmtl_fusion_sim_opts o = RMTL_FUSION_SIM_OPTS_INIT;
    o.sessions = d->quick ? 40 : 150;
    o.train_steps = d->quick ? 40 : 150;
    o.scorer = sim_scorer_fn;
    o.scorer_payload = &d->scorer;
    rmtl_fusion_sim_opts e = RMTL_FUSION_SIM_OPTS_INIT;
    e.sessions = d->quick ? 100 : 300;
    e.seed = 777;
    e.scorer = sim_scorer_fn;
    e.scorer_payload = &d->scorer;
    static const char *names[3] = {"CEM fixed weights", "user-level RL", "pair-level RL"};
    for (int k = 0; k < 3; k++)
        d->reward[k].name = names[k];
    printf("  exploration reward: mean session reward of a round's training sessions, played\n"
           "  with exploration noise; evaluation reward: the deployed policy without noise on\n"
           "  the same %zu evaluation sessions for every policy (the plot shows these).\n",
           e.sessions);
    printf("  round 0 (every policy serves the CEM weights)\n");
    if (evaluate_round(d, fx, &e))
        goto done;
    for (size_t r = 1; r <= rounds; r++) {
        printf("  round %zu  exploration reward:", r);
        for (int k = 1; k < 3; k++) {
            rmtl_fusion_round_stats st = RMTL_FUSION_ROUND_STATS_INIT;
            bar_label(&bar, "round %zu %s", r, k == 1 ? "user" : "pair");
            if (check(rmtl_fusion_round(&st, fx[k], d->env, &o, bar_progress, &bar),
                      "fusion round"))
                goto done;
            printf("  %s %.1f", k == 1 ? "user" : "pair", st.explore.reward_mean);
        }
        printf("\n");
        if (evaluate_round(d, fx, &e))
            goto done;
    }
    printf("\n  %-20s %23s %16s\n", "policy", "evaluation reward", "session length");
    for (int k = 0; k < 3; k++) {
        rmtl_sim_stats st = RMTL_SIM_STATS_INIT;
        if (check(rmtl_fusion_evaluate(&st, fx[k], d->env, &e), "evaluate"))
            goto done;
        printf("  %-20s %14.2f ± %-6.2f %16.2f\n", names[k], st.reward_mean,
               st.reward_std / sqrt((double)st.sessions), st.length_mean);
    }
    rmtl_sim_stats orc = RMTL_SIM_STATS_INIT;
    if (check(rmtl_env_sim_evaluate(&orc, d->env, e.sessions, e.seed, rmtl_env_sim_oracle_policy,
                                    d->env), "oracle"))
        goto done;
    printf("  %-20s %14.2f ± %-6.2f %16.2f  (true expected reward: a bound, not a policy)\n",
           "oracle", orc.reward_mean, orc.reward_std / sqrt((double)orc.sessions),
           orc.length_mean);
    printf("  (± one standard error; docs/fusion.md has the benchmark over five worlds)\n");
    rc = 0;
done:
    for (int k = 0; k < 3; k++)
        rmtl_fusion_free(fx[k]);
    rmtl_config_free(cfg);
    return rc;
}

/* ---- the plot ---------------------------------------------------------------- */

/* A round step for about `target` intervals over [lo, hi]: 1, 2 or 5 × 10^k. */
static double nice_step(double lo, double hi, int target)
{
    double raw = (hi - lo) / target, mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * mag;
}

/* Decimals that print `step` exactly (steps are 1, 2 or 5 × 10^k). */
static int decimals(double step)
{
    int d = (int)ceil(-log10(step) - 1e-9);
    return d < 0 ? 0 : d;
}

/* One panel: the series over a y range with round ticks, the x axis from
 * x0 in steps of one, axis labels, and the legend below the axes (never
 * over a curve). */
static void svg_panel(FILE *f, double px, double py, double w, double h, const char *title,
                      const char *xlabel, const char *ylabel, int x0, const struct series *s,
                      int ns)
{
    static const char *colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};
    double lo = INFINITY, hi = -INFINITY;
    int npts = 0;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            lo = fmin(lo, s[k].y[i]), hi = fmax(hi, s[k].y[i]);
            npts = s[k].n > npts ? s[k].n : npts;
        }
    if (npts == 0)
        return;
    if (hi - lo < 1e-9)
        lo -= 0.5e-3, hi += 0.5e-3;
    double step = nice_step(lo, hi, 4);
    lo = floor(lo / step) * step, hi = ceil(hi / step) * step;
    int dec = decimals(step);
    fprintf(f, "<text x='%.0f' y='%.0f' font-size='14' font-weight='bold'>%s</text>\n", px,
            py - 10, title);
    for (double v = lo; v <= hi + step / 2; v += step) { /* y ticks and grid */
        double y = py + h - h * (v - lo) / (hi - lo);
        fprintf(f, "<line x1='%.0f' y1='%.1f' x2='%.0f' y2='%.1f' stroke='#e5e5e5'/>\n", px, y,
                px + w, y);
        fprintf(f, "<text x='%.0f' y='%.1f' font-size='10' text-anchor='end'>%.*f</text>\n",
                px - 5, y + 3, dec, v);
    }
    double dx = npts > 1 ? w / (npts - 1) : 0.0;
    int every = npts > 12 ? (npts + 9) / 10 : 1;
    for (int i = 0; i < npts; i += every) { /* x ticks: whole epochs or rounds */
        double x = px + (npts > 1 ? dx * i : w / 2);
        fprintf(f, "<line x1='%.1f' y1='%.0f' x2='%.1f' y2='%.0f' stroke='#555'/>\n", x, py + h,
                x, py + h + 4);
        fprintf(f, "<text x='%.1f' y='%.0f' font-size='10' text-anchor='middle'>%d</text>\n", x,
                py + h + 15, x0 + i);
    }
    fprintf(f, "<rect x='%.0f' y='%.0f' width='%.0f' height='%.0f' fill='none' stroke='#555'/>\n",
            px, py, w, h);
    fprintf(f, "<text x='%.0f' y='%.0f' font-size='11' text-anchor='middle'>%s</text>\n",
            px + w / 2, py + h + 32, xlabel);
    fprintf(f, "<text x='%.0f' y='%.0f' font-size='11' text-anchor='middle' "
               "transform='rotate(-90 %.0f %.0f)'>%s</text>\n",
            px - 48, py + h / 2, px - 48, py + h / 2, ylabel);
    for (int k = 0; k < ns; k++) {
        const char *c = colours[k % 4];
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='", c);
        for (int i = 0; i < s[k].n; i++)
            fprintf(f, "%.1f,%.1f ", px + (npts > 1 ? dx * i : w / 2),
                    py + h - h * (s[k].y[i] - lo) / (hi - lo));
        fprintf(f, "'/>\n");
        double ly = py + h + 50 + 16 * k; /* legend: below the axis label */
        fprintf(f, "<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='%s' "
                   "stroke-width='3'/>\n", px, ly - 4, px + 22, ly - 4, c);
        fprintf(f, "<text x='%.0f' y='%.0f' font-size='11'>%s</text>\n", px + 28, ly,
                s[k].name);
    }
}

static int write_svg(const struct demo *d)
{
    char path[600];
    snprintf(path, sizeof path, "%s/curves.svg", d->dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='1380' height='400' "
               "font-family='sans-serif'>\n<rect width='100%%' height='100%%' fill='white'/>\n");
    svg_panel(f, 80, 40, 330, 240, "MTL training loss", "epoch", "mean BCE per impression", 1,
              &d->loss, 1);
    svg_panel(f, 540, 40, 330, 240, "MTL validation AUC", "epoch", "AUC", 1, d->auc, 2);
    svg_panel(f, 1000, 40, 330, 240, "fusion: evaluation reward", "round (0: CEM weights)",
              "mean session reward", 0, d->reward, 3);
    fprintf(f, "</svg>\n");
    fclose(f);
    printf("\nplot: %s (the training loss, validation AUC and evaluation reward printed above)\n",
           path);
    return 0;
}

int main(int argc, char **argv)
{
    struct demo d;
    memset(&d, 0, sizeof d);
    d.dir = "build/demo";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            d.quick = 1;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            d.dir = argv[++i];
        else {
            fprintf(stderr, "usage: demo [--quick] [--out DIR]\n");
            return 2;
        }
    }
    d.t0 = now();
    mkdir("build", 0777);
    if (mkdir(d.dir, 0777) && access(d.dir, W_OK)) {
        perror(d.dir);
        return 1;
    }
    rmtl_set_log_callback(log_warnings, "demo");
    printf("librmtl %s demo%s\n%s\n", rmtl_version_string(), d.quick ? " (quick)" : "",
           rmtl_build_info());
    static const char quick_yaml[] =
        "sim: {users: 500, items: 500, candidates: 100}\n"
        "model: {embed_dim: 16, bottom: [64, 32], tower: [32], experts: {count: 4}}\n";
    static const char full_yaml[] =
        "model: {embed_dim: 32, bottom: [128, 64], tower: [64], experts: {count: 4}}\n";
    static const char common_yaml[] = "model: {arch: mmoe, dropout: 0.1}\n"
                                      "rl: {batch_size: 256, buffer_size: 20000,\n"
                                      "     init_training_step: 20}\n"
                                      "fusion: {critic_hidden: [64, 32], critic_ensemble: 4,\n"
                                      "         actor_hidden: [64, 32]}\n"
                                      "train: {batch_size: 512}\nruntime: {seed: 42, threads: 1}\n"
                                      "sim: {satisfaction: {enabled: true}}\n";
    const char *yaml = d.quick ? quick_yaml : full_yaml;
    int status = 1;
    if (check(rmtl_config_create(&d.cfg), "config") ||
        check(rmtl_config_load_string(d.cfg, common_yaml, strlen(common_yaml), "demo"),
              "config") ||
        check(rmtl_config_load_string(d.cfg, yaml, strlen(yaml), "demo"), "config") ||
        check(rmtl_config_validate(d.cfg), "config"))
        goto done;
    if (make_world_and_logs(&d) || train_model(&d) || run_rmtl(&d) || run_fusion(&d) ||
        write_svg(&d))
        goto done;
    printf("done in %.0fs\n", now() - d.t0);
    status = 0;
done:
    if (d.has_scorer)
        sim_scorer_free(&d.scorer);
    rmtl_model_free(d.polished);
    rmtl_model_free(d.base);
    rmtl_dataset_free(d.test);
    rmtl_dataset_free(d.val);
    rmtl_dataset_free(d.train);
    rmtl_env_free(d.env);
    rmtl_config_free(d.cfg);
    return status;
}
