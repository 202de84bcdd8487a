/* One RMTL quality run: pre-train, critics, RMTL fine-tuning, test AUC.
 *
 * Model selection looks at the validation sessions only. Pre-training keeps
 * the epoch of best validation mean AUC. Fine-tuning starts from that model
 * and keeps an epoch only when it raises the validation mean AUC above the
 * best so far and lowers no task's validation AUC by more than
 * RMTLQ_VAL_TOL below the pre-trained model's; when no epoch qualifies the
 * pre-trained model is kept (the fine-tuning "did not help" on validation).
 * The test sessions are read once per model, at the end. */
#include "util/rmtlq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RMTLQ_VAL_TOL 0.002
#define RMTLQ_LINE 65536

/* ---- session split of a CSV ------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rmtlq_csv_field(char *key, size_t cap, const char *line, int col)
{
    for (int c = 0; c < col && line; c++) {
        line = strchr(line, ',');
        if (line)
            line++;
    }
    size_t n = line ? strcspn(line, ",\r\n") : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy(key, line ? line : "", n);
    key[n] = '\0';
}

int rmtlq_csv_column(const char *header, const char *name)
{
    char key[256];
    for (int c = 0;; c++) {
        rmtlq_csv_field(key, sizeof key, header, c);
        if (!key[0])
            return -1;
        if (!strcmp(key, name))
            return c;
    }
}

typedef struct {
    char **key;
    size_t n, cap;
} keys;

/* Index of `k` among the keys seen so far (sessions are contiguous in both
 * logs, so the last key is checked first), appended when new. */
static long key_index(keys *ks, const char *k)
{
    for (size_t i = ks->n; i-- > 0;)
        if (!strcmp(ks->key[i], k))
            return (long)i;
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? 2 * ks->cap : 1024;
        char **p = realloc(ks->key, cap * sizeof *p);
        if (!p)
            return -1;
        ks->key = p, ks->cap = cap;
    }
    ks->key[ks->n] = strdup(k);
    return ks->key[ks->n] ? (long)ks->n++ : -1;
}

int rmtlq_split_csv(const char *src, const char *session, double f_train, double f_val,
                    uint64_t seed, const char *const out[3])
{
    FILE *in = fopen(src, "r"), *o[3] = {NULL, NULL, NULL};
    char *line = malloc(RMTLQ_LINE), key[256];
    keys ks = {NULL, 0, 0};
    unsigned char *part = NULL;
    int rc = (in && line) ? RMTL_OK : RMTL_EIO, col = -1;
    if (!rc && !fgets(line, RMTLQ_LINE, in))
        rc = RMTL_EFORMAT;
    if (!rc && (col = rmtlq_csv_column(line, session)) < 0)
        rc = RMTL_EFORMAT;
    /* pass 1: the sessions, in order of first appearance */
    long pos = rc ? 0 : ftell(in);
    char *header = rc ? NULL : strdup(line);
    while (!rc && fgets(line, RMTLQ_LINE, in)) {
        rmtlq_csv_field(key, sizeof key, line, col);
        if (key_index(&ks, key) < 0)
            rc = RMTL_ENOMEM;
    }
    /* shuffled session order -> part (0 train, 1 validation, 2 test) */
    size_t S = ks.n, *perm = rc ? NULL : malloc((S + 1) * sizeof *perm);
    part = rc ? NULL : malloc(S + 1);
    if (!rc && (!perm || !part || !header))
        rc = RMTL_ENOMEM;
    if (!rc) {
        uint64_t st = seed;
        for (size_t i = 0; i < S; i++)
            perm[i] = i;
        for (size_t i = S; i > 1; i--) {
            size_t j = (size_t)(splitmix(&st) % i), t = perm[i - 1];
            perm[i - 1] = perm[j], perm[j] = t;
        }
        size_t n_train = (size_t)llround(f_train * (double)S);
        size_t n_val = (size_t)llround(f_val * (double)S);
        for (size_t i = 0; i < S; i++)
            part[perm[i]] = i < n_train ? 0 : i < n_train + n_val ? 1 : 2;
    }
    for (int p = 0; !rc && p < 3; p++)
        if (!(o[p] = fopen(out[p], "w")) || fputs(header, o[p]) < 0)
            rc = RMTL_EIO;
    /* pass 2: every row to its session's part */
    if (!rc && fseek(in, pos, SEEK_SET))
        rc = RMTL_EIO;
    while (!rc && fgets(line, RMTLQ_LINE, in)) {
        rmtlq_csv_field(key, sizeof key, line, col);
        long i = key_index(&ks, key);
        if (i < 0 || fputs(line, o[part[i]]) < 0)
            rc = RMTL_EIO;
    }
    for (int p = 0; p < 3; p++)
        if (o[p] && fclose(o[p]) && !rc)
            rc = RMTL_EIO;
    for (size_t i = 0; i < ks.n; i++)
        free(ks.key[i]);
    free(ks.key);
    free(perm);
    free(part);
    free(header);
    free(line);
    if (in)
        fclose(in);
    return rc;
}

/* ---- the pipeline ---------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double mean(const double *a, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] / (double)n;
    return s;
}

static int64_t get_int(const rmtl_config *cfg, const char *key)
{
    int64_t v = 0;
    rmtl_config_get_int(&v, cfg, key);
    return v;
}

static int auc_of(double *auc, const rmtl_model *m, rmtl_ctx *ctx, const rmtl_dataset *ds)
{
    return rmtl_model_evaluate(m, ctx, ds, auc, NULL, NULL, RMTLQ_MAX_TASKS);
}

/* Adds a batch's weights (rows × T) to the statistics in `st` (n counts
 * the rows so far): whether 1 − λ·Q varies across samples at all, or is
 * nearly a constant (then RMTL is plain BCE rescaled, which Adam ignores). */
static void weight_stats(rmtlq_result *st, size_t *n, const float *w, size_t rows, size_t T)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t k = 0; k < T; k++) {
            double x = w[i * T + k];
            if (!*n && !i)
                st->w_min[k] = st->w_max[k] = x;
            st->w_mean[k] += x; /* sums until the epoch ends */
            st->w_std[k] += x * x;
            st->w_min[k] = fmin(st->w_min[k], x);
            st->w_max[k] = fmax(st->w_max[k], x);
        }
    *n += rows;
}

/* One epoch over `train` (shuffled with `seed`) with the critics' weights
 * when `agent` is given (the RMTL loss), else plain BCE; the weights'
 * statistics go to `st` when given. */
static int finetune_epoch(rmtl_model *m, rmtl_dataset *train, const rmtl_agent *agent,
                          rmtl_ctx *ctx, size_t batch, uint64_t seed, float *w,
                          rmtlq_result *st)
{
    int rc = rmtl_dataset_shuffle(train, seed);
    size_t rows = rmtl_dataset_rows(train), T = rmtl_model_num_tasks(m), n = 0;
    for (size_t start = 0; !rc && start < rows; start += batch) {
        rmtl_batch b = RMTL_BATCH_INIT;
        rc = rmtl_dataset_batch(&b, train, start, batch);
        if (!rc && agent) {
            rc = rmtl_agent_loss_weights(agent, m, ctx, &b, w, batch * T);
            b.weights = w;
            if (!rc && st)
                weight_stats(st, &n, w, b.rows, T);
        }
        if (!rc)
            rc = rmtl_model_train_step(m, &b, NULL);
    }
    for (size_t k = 0; st && n && k < T; k++) {
        st->w_mean[k] /= (double)n;
        st->w_std[k] = sqrt(fmax(st->w_std[k] / (double)n - st->w_mean[k] * st->w_mean[k], 0.0));
    }
    return rc;
}

/* Fine-tunes a copy of `pre` (validation AUCs `vbase`) in batches of
 * `batch`; *out is the model the selection rule keeps (a clone of `pre`
 * when no epoch qualifies), *kept its epoch, vbest its validation AUCs. */
static int finetune(rmtl_model **out, int *kept, double *vbest, const rmtl_model *pre,
                    const double *vbase, size_t batch, rmtl_dataset *train,
                    const rmtl_dataset *val, const rmtl_agent *agent, rmtl_ctx *ctx,
                    const rmtlq_opts *o, rmtlq_result *st)
{
    size_t T = rmtl_model_num_tasks(pre);
    rmtl_model *m = NULL;
    float *w = malloc(batch * T * sizeof *w);
    double auc[RMTLQ_MAX_TASKS];
    int rc = w ? rmtl_model_clone(&m, pre) : RMTL_ENOMEM, since = 0;
    *out = NULL, *kept = 0;
    memcpy(vbest, vbase, T * sizeof *vbest);
    if (!rc)
        rc = rmtl_model_clone(out, pre);
    if (!rc && o->ft_lr > 0.0)
        rc = rmtl_model_set_lr(m, o->ft_lr);
    for (long e = 1; !rc && e <= o->ft_epochs; e++) {
        rc = finetune_epoch(m, train, agent, ctx, batch, 1000 + (uint64_t)e, w, e == 1 ? st : NULL);
        if (!rc)
            rc = auc_of(auc, m, ctx, val);
        if (rc)
            break;
        int ok = mean(auc, T) > mean(vbest, T);
        for (size_t k = 0; k < T; k++)
            ok = ok && auc[k] >= vbase[k] - RMTLQ_VAL_TOL;
        if (o->log)
            fprintf(o->log, "    %s epoch %ld: validation mean AUC %.4f%s\n",
                    agent ? "RMTL" : "BCE ", e, mean(auc, T), ok ? " (kept)" : "");
        if (ok) {
            memcpy(vbest, auc, T * sizeof *vbest);
            *kept = (int)e, since = 0;
            rmtl_model_free(*out);
            *out = NULL;
            rc = rmtl_model_clone(out, m);
        } else if (++since > o->ft_patience) {
            break;
        }
    }
    rmtl_model_free(m);
    free(w);
    return rc;
}

/* Supervised pre-training with early stopping on validation mean AUC. */
static int pretrain(rmtl_model **best, int *epochs, double *vbest, const rmtl_config *cfg,
                    const rmtl_dataset *train, const rmtl_dataset *val, rmtl_ctx *ctx,
                    const rmtlq_opts *o)
{
    int64_t max_epochs = get_int(cfg, "train.epochs"), patience = get_int(cfg, "train.patience");
    rmtl_model *m = NULL;
    double auc[RMTLQ_MAX_TASKS], best_mean = -1.0;
    int rc = rmtl_model_create(&m, cfg, train), since = 0;
    size_t T = rc ? 0 : rmtl_model_num_tasks(m);
    *best = NULL, *epochs = 0;
    for (int64_t e = 1; !rc && e <= max_epochs; e++) {
        rc = rmtl_model_train_epoch(NULL, m, train, NULL, NULL);
        if (!rc)
            rc = auc_of(auc, m, ctx, val);
        if (rc)
            break;
        *epochs = (int)e;
        if (o->log)
            fprintf(o->log, "    pre-train epoch %lld: validation mean AUC %.4f\n", (long long)e,
                    mean(auc, T));
        if (mean(auc, T) > best_mean) {
            best_mean = mean(auc, T), since = 0;
            memcpy(vbest, auc, T * sizeof *vbest);
            rmtl_model_free(*best);
            *best = NULL;
            rc = rmtl_model_clone(best, m);
        } else if (patience && ++since > patience) {
            break;
        }
    }
    rmtl_model_free(m);
    return rc;
}

/* Critics (and actor) on a replay buffer of random actions over the
 * training sessions. The env borrows `train` only here: fine-tuning
 * shuffles it afterwards. */
static int train_agent(rmtl_agent **agent, const rmtl_config *cfg, const rmtl_model *pre,
                       const rmtl_dataset *train, const rmtlq_opts *o)
{
    rmtl_env *env = NULL;
    rmtl_replay *rb = NULL;
    size_t T = rmtl_model_num_tasks(pre), cap = (size_t)o->fill;
    size_t batch = (size_t)get_int(cfg, "rl.batch_size");
    double loss[RMTLQ_MAX_TASKS] = {0};
    if (batch > cap)
        batch = cap;
    *agent = NULL;
    int rc = rmtl_env_create(&env, cfg, train, 0);
    if (!rc)
        rc = rmtl_replay_create(&rb, cap, rmtl_dataset_n_cat(train), rmtl_dataset_n_num(train), T,
                                (uint64_t)get_int(cfg, "runtime.seed"));
    if (!rc)
        rc = rmtl_replay_fill_random(rb, env, cap);
    if (!rc)
        rc = rmtl_agent_create(agent, cfg, pre);
    for (long u = 1; !rc && u <= o->updates; u++) {
        rmtl_transitions t = RMTL_TRANSITIONS_INIT;
        rmtl_agent_report r = RMTL_AGENT_REPORT_INIT;
        rc = rmtl_replay_sample(&t, rb, batch);
        if (!rc)
            rc = rmtl_agent_update(*agent, &t, &r);
        for (size_t k = 0; !rc && k < T; k++)
            loss[k] += r.critic_loss[k];
        if (!rc && o->log && u % 100 == 0) {
            fprintf(o->log, "    agent update %ld: critic loss", u);
            for (size_t k = 0; k < T; k++)
                fprintf(o->log, " %.4f", loss[k] / 100.0), loss[k] = 0.0;
            fprintf(o->log, "\n");
        }
    }
    rmtl_replay_free(rb);
    rmtl_env_free(env);
    return rc;
}

int rmtlq_run(rmtlq_result *out, const rmtl_config *cfg, rmtl_dataset *train,
              const rmtl_dataset *val, const rmtl_dataset *test, const rmtlq_opts *o)
{
    double t0 = now(), vtmp[RMTLQ_MAX_TASKS];
    rmtl_ctx *ctx = NULL;
    rmtl_model *pre = NULL, *tuned = NULL, *plain = NULL;
    rmtl_agent *agent = NULL;
    size_t batch = o->ft_batch > 0 ? (size_t)o->ft_batch : (size_t)get_int(cfg, "train.batch_size");
    memset(out, 0, sizeof *out);
    out->bce_epoch = -1;
    int rc = rmtl_ctx_create(&ctx, 0);
    if (!rc)
        rc = pretrain(&pre, &out->pre_epochs, out->val_base, cfg, train, val, ctx, o);
    if (!rc)
        out->T = rmtl_model_num_tasks(pre);
    if (!rc)
        rc = train_agent(&agent, cfg, pre, train, o);
    if (!rc)
        rc = finetune(&tuned, &out->rmtl_epoch, out->val_rmtl, pre, out->val_base, batch, train,
                      val, agent, ctx, o, out);
    if (!rc && o->control)
        rc = finetune(&plain, &out->bce_epoch, vtmp, pre, out->val_base, batch, train, val, NULL,
                      ctx, o, NULL);
    if (!rc)
        rc = auc_of(out->base, pre, ctx, test);
    if (!rc)
        rc = auc_of(out->rmtl, tuned, ctx, test);
    if (!rc && plain)
        rc = auc_of(out->bce, plain, ctx, test);
    out->seconds = now() - t0;
    rmtl_agent_free(agent);
    rmtl_model_free(plain);
    rmtl_model_free(tuned);
    rmtl_model_free(pre);
    rmtl_ctx_free(ctx);
    return rc;
}
