/*
 * Serving from raw features at the reference shape (see train.c): a model
 * and a fusion handle are saved as checkpoints and loaded back, the model's
 * embeddings folded (rmtl_model_fold_embeddings); then W worker threads,
 * each with its own rmtl_ctx, serve requests of 200 candidates given as
 * text (7 categorical values and 1 number per candidate, about 2% of the
 * values unseen): encode (rmtl_encode_rows) -> predict -> fuse
 * (rmtl_fuse_scores_batch, the default pair-level actor over 16 user, 16
 * item and 4 context features) -> top 20.
 *
 * Reported per architecture and W (1 and 2; RMTL_BENCH_THREADS=n for one
 * W): requests/s and requests/s per worker core, p50/p99 request latency,
 * the mean time of each step, the fraction of a request spent outside
 * prediction, and (encode + fuse) / predict against the target 0.25. All
 * steps are timed in the same requests, so the ratios hold on a busy
 * machine even when the absolute times do not.
 * `serve [arch...]` (default: esmm mmoe). JSON on stdout.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/refshape.h"

enum { CANDS = 200, TOPK = 20, POOL = 64, FIELDS = 7, COLS = FIELDS + 1 };
enum { USER_DIM = 16, ITEM_DIM = 16, CTX_DIM = 4 };
static const size_t vocab[FIELDS] = {1000, 1000, 1000, 3, 1700, 500, 300};
#define SECONDS 2.0

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A training CSV of the reference shape (every value seen), for the
 * schema's vocabularies and normalisation. */
static char *train_csv(size_t rows, size_t *len)
{
    size_t cap = rows * 96 + 128, n = 0;
    char *t = malloc(cap);
    n += (size_t)snprintf(t, cap, "f0,f1,f2,f3,f4,f5,f6,x,click,buy\n");
    uint64_t s = 7;
    for (size_t r = 0; r < rows; r++) {
        for (int f = 0; f < FIELDS; f++)
            n += (size_t)snprintf(t + n, cap - n, "v%zu,", (size_t)(r < vocab[f] ? r : mix(&s) % vocab[f]));
        int click = mix(&s) % 3 == 0;
        n += (size_t)snprintf(t + n, cap - n, "%.3f,%d,%d\n", (double)(mix(&s) % 1000) / 100.0,
                              click, click && mix(&s) % 4 == 0);
    }
    *len = n;
    return t;
}
static const char schema[] = "default: categorical\n"
                             "columns:\n  x: numerical\n"
                             "  click: {role: label, positive: '1'}\n"
                             "  buy: {role: label, positive: '1'}\n"
                             "tasks: [click, buy]\n";

/* POOL requests of raw candidates and their fusion features. */
struct request {
    char text[CANDS * COLS][12];
    const char *values[CANDS * COLS];
    float user[USER_DIM], context[CTX_DIM], items[CANDS * ITEM_DIM];
};

struct shared {
    const rmtl_model *m;
    const rmtl_fusion *f;
    const rmtl_encoder *enc;
    const struct request *pool;
    double t_end;
};

struct worker {
    const struct shared *sh;
    size_t n, cap, id;
    double *lat, encode, predict, fuse, topk;
    int failed;
};

static void top_k(size_t *best, const float *s, size_t n, size_t k)
{
    size_t have = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = have < k ? have++ : k;
        if (j == k && !(s[i] > s[best[k - 1]]))
            continue;
        if (j == k)
            j = k - 1;
        while (j > 0 && s[best[j - 1]] < s[i]) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = i;
    }
}

static void *serve_thread(void *arg)
{
    struct worker *w = arg;
    const struct shared *sh = w->sh;
    rmtl_ctx *ctx = NULL;
    if (rmtl_ctx_create(&ctx, 1)) {
        w->failed = 1;
        return NULL;
    }
    float probs[CANDS * 2], fused[CANDS];
    size_t best[TOPK];
    for (size_t i = 0; bench_now() < sh->t_end || i < 5; i++) {
        const struct request *q = &sh->pool[(i * 7 + w->id * 13) % POOL];
        double t0 = bench_now();
        rmtl_batch b = RMTL_BATCH_INIT;
        int rc = rmtl_encode_rows(&b, sh->enc, ctx, q->values, CANDS, COLS);
        double t1 = bench_now();
        rc = rc ? rc : rmtl_model_predict(sh->m, ctx, &b, probs, CANDS * 2);
        double t2 = bench_now();
        rmtl_fusion_request fr = RMTL_FUSION_REQUEST_INIT;
        fr.n = CANDS;
        fr.user_dim = USER_DIM, fr.user = q->user;
        fr.context_dim = CTX_DIM, fr.context = q->context;
        fr.item_dim = ITEM_DIM, fr.items = q->items;
        fr.tasks = 2, fr.scores = probs;
        rc = rc ? rc : rmtl_fuse_scores_batch(sh->f, ctx, &fr, fused, CANDS, NULL, 0);
        double t3 = bench_now();
        top_k(best, fused, CANDS, TOPK);
        double t4 = bench_now();
        if (rc) {
            fprintf(stderr, "serve: %s\n", rmtl_last_error());
            w->failed = 1;
            break;
        }
        if (i < 5)
            continue; /* warm-up: contexts grow, caches fill */
        if (w->n == w->cap)
            w->lat = realloc(w->lat, (w->cap = w->cap ? 2 * w->cap : 4096) * sizeof *w->lat);
        w->lat[w->n++] = (t4 - t0) * 1e3;
        w->encode += t1 - t0, w->predict += t2 - t1, w->fuse += t3 - t2, w->topk += t4 - t3;
    }
    rmtl_ctx_free(ctx);
    return NULL;
}

static void make_pool(struct request *pool)
{
    uint64_t s = 99;
    for (size_t q = 0; q < POOL; q++) {
        struct request *r = &pool[q];
        for (size_t c = 0; c < CANDS; c++) {
            for (int f = 0; f < FIELDS; f++) {
                uint64_t v = mix(&s);
                /* about 2% of the values were never seen in training */
                snprintf(r->text[c * COLS + f], 12, v % 50 == 0 ? "new%zu" : "v%zu",
                         (size_t)((v >> 8) % vocab[f]));
            }
            snprintf(r->text[c * COLS + FIELDS], 12, "%.3f", (double)(mix(&s) % 1000) / 100.0);
        }
        for (size_t i = 0; i < CANDS * COLS; i++)
            r->values[i] = r->text[i];
        for (size_t i = 0; i < USER_DIM; i++)
            r->user[i] = (float)(mix(&s) % 1000) / 500.0f - 1.0f;
        for (size_t i = 0; i < CTX_DIM; i++)
            r->context[i] = (float)(mix(&s) % 1000) / 500.0f - 1.0f;
        for (size_t i = 0; i < CANDS * ITEM_DIM; i++)
            r->items[i] = (float)(mix(&s) % 1000) / 500.0f - 1.0f;
    }
}

/* Model and fusion through their checkpoints, as a service loads them. */
static int load_pair(rmtl_model **m, rmtl_fusion **f, const char *arch, const rmtl_dataset *ds)
{
    rmtl_model *fresh = bench_ref_model(arch, 1, ds);
    rmtl_config *cfg = NULL;
    rmtl_fusion *ff = NULL;
    void *buf = NULL;
    size_t len = 0;
    int rc = !fresh || rmtl_config_create(&cfg) || rmtl_config_set(cfg, "runtime.threads", "1") ||
             rmtl_fusion_create_for_model(&ff, cfg, fresh) ||
             rmtl_model_save_buffer(&buf, &len, fresh, 0) || rmtl_model_load_buffer(m, buf, len);
    rmtl_free(buf);
    buf = NULL;
    rc = rc || rmtl_fusion_save_buffer(&buf, &len, ff, 0) || rmtl_fusion_load_buffer(f, buf, len) ||
         rmtl_fusion_check_model(*f, *m) ||
         rmtl_model_fold_embeddings(*m, (size_t)1 << 30, NULL);
    if (rc)
        fprintf(stderr, "serve: %s: %s\n", arch, rmtl_last_error());
    rmtl_free(buf);
    rmtl_fusion_free(ff);
    rmtl_config_free(cfg);
    rmtl_model_free(fresh);
    return rc;
}

static void measure(const struct bench_job *j, char *out, size_t cap)
{
    size_t len;
    char *csv = train_csv(REF_ROWS, &len);
    rmtl_dataset *ds = NULL;
    rmtl_model *m = NULL;
    rmtl_fusion *f = NULL;
    rmtl_encoder *enc = NULL;
    if (rmtl_dataset_load_buffer(&ds, csv, len, "ref.csv", schema, strlen(schema), NULL) ||
        load_pair(&m, &f, j->arch, ds) || rmtl_encoder_create(&enc, rmtl_model_schema(m), NULL, 0)) {
        fprintf(stderr, "serve: %s\n", rmtl_last_error());
        free(csv);
        return;
    }
    free(csv);
    struct request *pool = malloc(POOL * sizeof *pool);
    make_pool(pool);
    int W = j->threads;
    struct shared sh = {m, f, enc, pool, bench_now() + SECONDS};
    struct worker *w = calloc((size_t)W, sizeof *w);
    pthread_t *th = malloc((size_t)W * sizeof *th);
    double t0 = bench_now();
    for (int i = 0; i < W; i++) {
        w[i].sh = &sh;
        w[i].id = (size_t)i;
        pthread_create(&th[i], NULL, serve_thread, &w[i]);
    }
    for (int i = 0; i < W; i++)
        pthread_join(th[i], NULL);
    double wall = bench_now() - t0;
    size_t n = 0;
    double enc_s = 0, pred = 0, fuse = 0, topk = 0;
    int failed = 0;
    for (int i = 0; i < W; i++) {
        n += w[i].n;
        enc_s += w[i].encode, pred += w[i].predict, fuse += w[i].fuse, topk += w[i].topk;
        failed |= w[i].failed;
    }
    double *lat = malloc((n ? n : 1) * sizeof *lat);
    for (int i = 0, k = 0; i < W; i++)
        for (size_t r = 0; r < w[i].n; r++)
            lat[k++] = w[i].lat[r];
    qsort(lat, n, sizeof *lat, bench_cmp_double);
    double total = enc_s + pred + fuse + topk, rps = (double)n / wall;
    if (!failed && n)
        snprintf(out, cap,
                 "{\"arch\":\"%s\",\"workers\":%d,\"candidates\":%d,\"requests\":%zu,"
                 "\"requests_per_s\":%.0f,\"requests_per_s_per_core\":%.0f,"
                 "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"encode_us\":%.1f,\"predict_us\":%.1f,"
                 "\"fuse_us\":%.1f,\"topk_us\":%.1f,\"outside_prediction\":%.3f,"
                 "\"encode_fuse_over_predict\":%.3f,\"target\":0.25,\"meets_target\":%s}",
                 j->arch, W, CANDS, n, rps, rps / W, lat[n / 2], lat[n * 99 / 100],
                 enc_s / (double)n * 1e6, pred / (double)n * 1e6, fuse / (double)n * 1e6,
                 topk / (double)n * 1e6, (total - pred) / total, (enc_s + fuse) / pred,
                 (enc_s + fuse) / pred <= 0.25 ? "true" : "false");
    for (int i = 0; i < W; i++)
        free(w[i].lat);
    free(lat);
    free(w);
    free(th);
    free(pool);
    rmtl_encoder_free(enc);
    rmtl_fusion_free(f);
    rmtl_model_free(m);
    rmtl_dataset_free(ds);
}

int main(int argc, char **argv)
{
    char *dflt[] = {argv[0], "esmm", "mmoe", NULL};
    if (argc == 1)
        argc = 3, argv = dflt;
    return bench_run_archs("serve", argc, argv, measure);
}
