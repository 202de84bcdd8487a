/*
 * An MTL model trained on a simulator log (rmtl_env_sim_log, loaded with
 * examples/schemas/sim.yaml or a schema like it) as the fusion's scorer:
 * its predictions for the candidates of a simulator request are the task
 * scores p̂ the fusion fuses (rmtl_fusion_scorer_fn).
 *
 * The request holds raw values (ids, prices, floats); the model reads
 * dataset ids and standardised floats. The mapping is taken from the
 * training dataset through the public API alone: a probe CSV in the log's
 * layout, whose row r holds the raw value r in every categorical column
 * (and 0 or 1 in every numerical one), is loaded with the training dataset
 * as its reference; row r's ids are then the ids of the value r, and rows
 * 0 and 1 give each numerical column's affine standardisation.
 *
 * When the model reads no context column its scores depend on the (user,
 * item) pair alone: they are computed once per pair and cached.
 *
 * Shared by examples/demo.c and bench/fusion_quality.c; header-only, every
 * function static.
 */
#ifndef RMTL_EXAMPLES_SIM_SCORER_H
#define RMTL_EXAMPLES_SIM_SCORER_H

#include <rmtl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_SCORER_MAX_CAT 16
#define SIM_SCORER_MAX_NUM 256

/* where a model column reads from a request */
enum { SRC_USER, SRC_ITEM, SRC_UCAT, SRC_ICAT, SRC_PRICE, SRC_UFEAT, SRC_IFEAT, SRC_CTX };

typedef struct sim_scorer {
    const rmtl_model *model;
    rmtl_ctx *ctx;
    size_t tasks, n_cat, n_num, rows; /* rows: probe rows = raw values mapped */
    int cat_src[SIM_SCORER_MAX_CAT], cat_arg[SIM_SCORER_MAX_CAT];
    int32_t *cat_map; /* n_cat × rows: id of raw value r in field f */
    int num_src[SIM_SCORER_MAX_NUM], num_arg[SIM_SCORER_MAX_NUM];
    float num_a[SIM_SCORER_MAX_NUM], num_b[SIM_SCORER_MAX_NUM]; /* std = a + b·raw */
    int uses_context;
    uint32_t users, items;
    float *cache;  /* users × items × tasks, when !uses_context */
    uint8_t *have; /* users × items */
    int32_t *cat;  /* batch scratch: cap × n_cat */
    float *num, *out;
    uint32_t *idx;
    size_t cap;
    uint64_t predicted; /* pairs run through the model */
} sim_scorer;

/* The column a field or numerical name reads; -1 when unknown. */
static int sim_scorer_source(const char *name, int *src, int *arg)
{
    static const char *const cats[] = {"user_segment",  "user_activity", "user_region",
                                       "item_category", "item_brand",    "item_price_bucket",
                                       "item_pop_bucket"};
    *arg = 0;
    if (!strcmp(name, "user_id"))
        return *src = SRC_USER, 0;
    if (!strcmp(name, "item_id"))
        return *src = SRC_ITEM, 0;
    for (int i = 0; i < 7; i++)
        if (!strcmp(name, cats[i]))
            return *src = i < 3 ? SRC_UCAT : SRC_ICAT, *arg = i < 3 ? i : i - 3, 0;
    if (!strcmp(name, "price"))
        return *src = SRC_PRICE, 0;
    if (!strncmp(name, "user_f_", 7))
        return *src = SRC_UFEAT, *arg = atoi(name + 7), 0;
    if (!strncmp(name, "item_f_", 7))
        return *src = SRC_IFEAT, *arg = atoi(name + 7), 0;
    if (!strncmp(name, "context_", 8))
        return *src = SRC_CTX, *arg = atoi(name + 8), 0;
    return -1;
}

static void sim_scorer_free(sim_scorer *s)
{
    free(s->cat_map);
    free(s->cache);
    free(s->have);
    free(s->cat);
    free(s->num);
    free(s->out);
    free(s->idx);
    rmtl_ctx_free(s->ctx);
    memset(s, 0, sizeof *s);
}

/* Writes the probe CSV (the log's columns, labels left out) to `path`. */
static int sim_scorer_probe(const char *path, const rmtl_sim_info *info, size_t rows)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "session_id,request,timestamp,user_id,item_id,user_segment,user_activity,"
               "user_region,item_category,item_brand,item_price_bucket,item_pop_bucket,price,"
               "position");
    for (size_t j = 0; j < info->user_dim; j++)
        fprintf(f, ",user_f_%zu", j);
    for (size_t j = 0; j < info->item_dim; j++)
        fprintf(f, ",item_f_%zu", j);
    for (size_t j = 0; j < info->context_dim; j++)
        fprintf(f, ",context_%zu", j);
    fprintf(f, "\n");
    size_t nf = info->user_dim + info->item_dim + info->context_dim;
    for (size_t r = 0; r < rows; r++) {
        fprintf(f, "%zu,0,%zu", r, r);
        for (int k = 0; k < 9; k++)
            fprintf(f, ",%zu", r);
        fprintf(f, ",%d,0", r == 1);
        for (size_t j = 0; j < nf; j++)
            fprintf(f, ",%d", r == 1);
        fprintf(f, "\n");
    }
    return fclose(f) ? -1 : 0;
}

/* Builds the scorer of `model`, trained on `train` (a dataset loaded from a
 * log of the simulator `env`); `tmp` names a scratch file for the probe. */
static int sim_scorer_init(sim_scorer *s, const rmtl_model *model, const rmtl_dataset *train,
                           const rmtl_env *env, const char *tmp)
{
    memset(s, 0, sizeof *s);
    rmtl_sim_info info = RMTL_SIM_INFO_INIT;
    int rc = rmtl_env_sim_info(&info, env);
    if (rc)
        return rc;
    s->model = model;
    s->tasks = rmtl_model_num_tasks(model);
    s->n_cat = rmtl_dataset_n_cat(train);
    s->n_num = rmtl_dataset_n_num(train);
    if (s->n_cat > SIM_SCORER_MAX_CAT || s->n_num > SIM_SCORER_MAX_NUM)
        return RMTL_EINVAL;
    for (size_t f = 0; f < s->n_cat; f++)
        if (sim_scorer_source(rmtl_dataset_field_name(train, f), &s->cat_src[f],
                              &s->cat_arg[f]) ||
            s->cat_src[f] >= SRC_PRICE)
            return RMTL_EINVAL;
    for (size_t k = 0; k < s->n_num; k++) {
        if (sim_scorer_source(rmtl_dataset_num_name(train, k), &s->num_src[k], &s->num_arg[k]) ||
            s->num_src[k] < SRC_PRICE)
            return RMTL_EINVAL;
        s->uses_context |= s->num_src[k] == SRC_CTX;
    }
    size_t rows = info.users > info.items ? info.users : info.items;
    for (int k = 0; k < RMTL_SIM_USER_CATS; k++)
        rows = info.user_card[k] > rows ? info.user_card[k] : rows;
    for (int k = 0; k < RMTL_SIM_ITEM_CATS; k++)
        rows = info.item_card[k] > rows ? info.item_card[k] : rows;
    s->rows = rows = rows < 2 ? 2 : rows;
    if (sim_scorer_probe(tmp, &info, rows))
        return RMTL_EIO;
    rmtl_dataset *probe = NULL;
    rc = rmtl_dataset_load(&probe, tmp, NULL, train);
    remove(tmp);
    if (rc)
        return rc;
    rmtl_batch b = RMTL_BATCH_INIT;
    if ((rc = rmtl_dataset_batch(&b, probe, 0, rows)) != 0 || b.rows != rows) {
        rmtl_dataset_free(probe);
        return rc ? rc : RMTL_EINVAL;
    }
    s->cat_map = malloc(s->n_cat * rows * sizeof *s->cat_map);
    s->users = info.users, s->items = info.items;
    s->cap = info.candidates;
    s->cat = malloc(s->cap * (s->n_cat + 1) * sizeof *s->cat);
    s->num = malloc(s->cap * (s->n_num + 1) * sizeof *s->num);
    s->out = malloc(s->cap * s->tasks * sizeof *s->out);
    s->idx = malloc(s->cap * sizeof *s->idx);
    if (!s->uses_context) {
        s->cache = malloc((size_t)s->users * s->items * s->tasks * sizeof *s->cache);
        s->have = calloc((size_t)s->users * s->items, 1);
    }
    if (!s->cat_map || !s->cat || !s->num || !s->out || !s->idx ||
        (!s->uses_context && (!s->cache || !s->have)) || rmtl_ctx_create(&s->ctx, 1)) {
        rmtl_dataset_free(probe);
        sim_scorer_free(s);
        return RMTL_ENOMEM;
    }
    for (size_t f = 0; f < s->n_cat; f++)
        for (size_t r = 0; r < rows; r++)
            s->cat_map[f * rows + r] = b.cat[r * s->n_cat + f];
    for (size_t k = 0; k < s->n_num; k++) {
        s->num_a[k] = b.num[k];
        s->num_b[k] = b.num[s->n_num + k] - b.num[k];
    }
    rmtl_dataset_free(probe);
    return 0;
}

static int32_t sim_scorer_id(const sim_scorer *s, size_t f, int64_t raw)
{
    return raw >= 0 && (size_t)raw < s->rows ? s->cat_map[f * s->rows + (size_t)raw] : 0;
}

/* Runs candidates idx[0..m) of `req` through the model into s->out. */
static int sim_scorer_predict(sim_scorer *s, const rmtl_sim_request *req, size_t m)
{
    for (size_t r = 0; r < m; r++) {
        size_t j = s->idx[r];
        int32_t *c = s->cat + r * s->n_cat;
        float *x = s->num + r * s->n_num;
        for (size_t f = 0; f < s->n_cat; f++) {
            int64_t raw = 0;
            int a = s->cat_arg[f];
            switch (s->cat_src[f]) {
            case SRC_USER: raw = req->user; break;
            case SRC_ITEM: raw = req->items[j]; break;
            case SRC_UCAT: raw = req->user_cat[a]; break;
            default: raw = req->item_cat[j * req->n_item_cat + (size_t)a]; break;
            }
            c[f] = sim_scorer_id(s, f, raw);
        }
        for (size_t k = 0; k < s->n_num; k++) {
            size_t a = (size_t)s->num_arg[k];
            float raw = 0.0f;
            switch (s->num_src[k]) {
            case SRC_PRICE: raw = req->price[j]; break;
            case SRC_UFEAT: raw = a < req->user_dim ? req->user_feat[a] : 0.0f; break;
            case SRC_IFEAT: raw = a < req->item_dim ? req->item_feat[j * req->item_dim + a] : 0.0f; break;
            default: raw = a < req->context_dim ? req->context[a] : 0.0f; break;
            }
            x[k] = s->num_a[k] + s->num_b[k] * raw;
        }
    }
    rmtl_batch b = RMTL_BATCH_INIT;
    b.rows = m;
    b.cat = s->n_cat ? s->cat : NULL;
    b.num = s->n_num ? s->num : NULL;
    s->predicted += m;
    return rmtl_model_predict(s->model, s->ctx, &b, s->out, s->cap * s->tasks);
}

/* rmtl_fusion_scorer_fn: payload is the sim_scorer. */
static int sim_scorer_fn(float *scores, size_t capacity, const rmtl_sim_request *req,
                         void *payload)
{
    sim_scorer *s = payload;
    size_t T = s->tasks, n = req->n;
    if (n > s->cap || capacity < n * T)
        return RMTL_EINVAL;
    if (s->uses_context) {
        for (size_t j = 0; j < n; j++)
            s->idx[j] = (uint32_t)j;
        int rc = sim_scorer_predict(s, req, n);
        if (!rc)
            memcpy(scores, s->out, n * T * sizeof *scores);
        return rc;
    }
    size_t base = (size_t)req->user * s->items, m = 0;
    for (size_t j = 0; j < n; j++)
        if (!s->have[base + req->items[j]])
            s->idx[m++] = (uint32_t)j;
    if (m) {
        int rc = sim_scorer_predict(s, req, m);
        if (rc)
            return rc;
        for (size_t r = 0; r < m; r++) {
            size_t pair = base + req->items[s->idx[r]];
            memcpy(s->cache + pair * T, s->out + r * T, T * sizeof *scores);
            s->have[pair] = 1;
        }
    }
    for (size_t j = 0; j < n; j++)
        memcpy(scores + j * T, s->cache + (base + req->items[j]) * T, T * sizeof *scores);
    return 0;
}

#endif
