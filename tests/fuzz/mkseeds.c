/* Writes the seed corpora of the fuzz targets that are generated rather
 * than written by hand: checkpoints (tests/fuzz/corpus/ckpt, in both input
 * forms of fuzz_ckpt.c) and float inputs (tests/fuzz/corpus/fuse). Run by
 * `make fuzz-seeds`; the output is committed, so this only runs again when
 * the checkpoint format or the harnesses change. The networks are tiny:
 * small seeds keep the fuzzer fast. Usage: mkseeds <corpus-dir>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/ckpt.h"
#include "core/internal.h"
#include "fuzz/fuzz_ckpt.h"
#include "rmtl.h"

static const char *corpus;

static void die(const char *what)
{
    fprintf(stderr, "mkseeds: %s: %s\n", what, rmtl_last_error());
    exit(1);
}

static void write_seed(const char *dir, const char *name, const void *a, size_t alen,
                       const void *b, size_t blen)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", corpus, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) ||
        fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* The checkpoint as a raw container (control = kind) and as a section list
 * (control = kind | 8, | 16 with the training flag). */
static void ckpt_seed(int kind, const char *name, void *buf, size_t len)
{
    unsigned char ctl = (unsigned char)kind;
    char file[128];
    snprintf(file, sizeof file, "%s.raw", name);
    write_seed("ckpt", file, &ctl, 1, buf, len);

    /* The container is valid (just written): walk its table in order. */
    const unsigned char *b = buf;
    uint32_t count = rmtl__load_u32le(b + 20);
    size_t cap = 1 + len + (size_t)count * 16, n = 0;
    unsigned char *list = malloc(cap);
    if (!list)
        die("out of memory");
    list[n++] = (unsigned char)(kind | 8 | ((rmtl__load_u32le(b + 16) & RMTL__CKPT_F_TRAINING) ? 16 : 0));
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *e = b + RMTL__CKPT_HEADER_SIZE + (size_t)i * RMTL__CKPT_ENTRY_SIZE;
        size_t off = (size_t)rmtl__load_u64le(e + 8), slen = (size_t)rmtl__load_u64le(e + 16);
        memcpy(list + n, FUZZ_SECTION, sizeof FUZZ_SECTION - 1);
        n += sizeof FUZZ_SECTION - 1;
        memcpy(list + n, e, 4);
        n += 4;
        list[n++] = (unsigned char)(rmtl__load_u32le(e + 4) & 1);
        memcpy(list + n, b + off, slen);
        n += slen;
    }
    snprintf(file, sizeof file, "%s.sections", name);
    write_seed("ckpt", file, list, n, NULL, 0);
    free(list);
    rmtl_free(buf);
}

static rmtl_config *config(const char *yaml)
{
    rmtl_config *c = NULL;
    if (rmtl_config_create(&c) || rmtl_config_load_string(c, yaml, strlen(yaml), NULL))
        die("config");
    return c;
}

static const char *const small_net =
    "model: {embed_dim: 2, bottom: [3], tower: [2], dropout: 0,\n"
    "        experts: {count: 2, specific: 1, shared: 1}}\n"
    "rl: {critic: {bottom: [3], tower: [2]}}\n"
    "runtime: {threads: 1}\n";

/* A two-task dataset of six rows: three categorical fields, two numbers. */
static rmtl_dataset *tiny_dataset(void)
{
    static const size_t vocab[3] = {3, 2, 4};
    static const int32_t cat[18] = {0, 1, 2, 1, 0, 3, 2, 1, 1, 0, 0, 0, 1, 1, 3, 2, 0, 2};
    static const float num[12] = {0.5f, -1, 2, 0, -0.25f, 1, 3, -2, 0, 0, 1, 1};
    static const float labels[12] = {1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1};
    static const int64_t session[6] = {1, 1, 2, 2, 2, 3};
    rmtl_dataset *ds = NULL;
    if (rmtl_dataset_from_arrays(&ds, 6, 3, vocab, cat, 2, num, 2, labels, session))
        die("dataset");
    return ds;
}

static void model_seeds(void)
{
    static const char *const archs[] = {"single_task", "shared_bottom", "esmm", "omoe",
                                        "mmoe",        "ple",           "aitm"};
    rmtl_dataset *ds = tiny_dataset();
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++) {
        rmtl_config *c = config(small_net);
        if (rmtl_config_set_string(c, "model.arch", archs[i]))
            die("model.arch");
        rmtl_model *m = NULL;
        if (rmtl_model_create(&m, c, ds))
            die("model");
        void *buf;
        size_t len;
        char name[64];
        if (rmtl_model_save_buffer(&buf, &len, m, 0))
            die("model save");
        snprintf(name, sizeof name, "model-%s", archs[i]);
        ckpt_seed(0, name, buf, len);
        if (i == 4) { /* one of each with training state, actor, critic, agent */
            if (rmtl_model_save_buffer(&buf, &len, m, RMTL_SAVE_TRAINING_STATE))
                die("model save");
            ckpt_seed(0, "model-mmoe-training", buf, len);
            rmtl_agent *a = NULL;
            if (rmtl_agent_create(&a, c, m) || rmtl_agent_save_buffer(&buf, &len, a))
                die("agent");
            ckpt_seed(1, "agent-mmoe", buf, len);
            if (rmtl_actor_save_buffer(&buf, &len, rmtl_agent_actor(a)))
                die("actor");
            ckpt_seed(3, "actor-mmoe", buf, len);
            if (rmtl_critic_save_buffer(&buf, &len, rmtl_agent_critic(a, 1)))
                die("critic");
            ckpt_seed(4, "critic-mmoe", buf, len);
            rmtl_agent_free(a);
        }
        rmtl_model_free(m);
        rmtl_config_free(c);
    }
    rmtl_dataset_free(ds);
}

/* A model whose schema came from CSV text (vocabulary strings, means). */
static void csv_model_seed(void)
{
    static const char schema[] = "columns: {sid: session, ts: timestamp, city: categorical,\n"
                                 "  age: numerical, click: {role: label, threshold: 0},\n"
                                 "  buy: {role: label, positive: [yes]}}\n";
    static const char csv[] = "sid,ts,city,age,click,buy\n1,1,paris,31,1,yes\n1,2,rome,25,0,no\n"
                              "2,5,paris,,1,no\n3,1,oslo,40,0,no\n";
    char path[512];
    snprintf(path, sizeof path, "/tmp/rmtl-mkseeds-%ld.csv", (long)getpid());
    FILE *f = fopen(path, "w");
    if (!f || fputs(csv, f) < 0 || fclose(f))
        die("temporary CSV");
    rmtl_dataset *ds = NULL;
    if (rmtl_dataset_load_schema_string(&ds, path, schema, sizeof schema - 1, NULL, NULL))
        die("CSV dataset");
    remove(path);
    rmtl_config *c = config(small_net);
    rmtl_model *m = NULL;
    void *buf;
    size_t len;
    if (rmtl_config_set_string(c, "model.arch", "shared_bottom") || rmtl_model_create(&m, c, ds) ||
        rmtl_model_save_buffer(&buf, &len, m, 0))
        die("CSV model");
    ckpt_seed(0, "model-csv-schema", buf, len);
    rmtl_model_free(m);
    rmtl_config_free(c);
    rmtl_dataset_free(ds);
}

/* Dataset cache files (fuzz_cache): the tiny dataset and one read from
 * CSV (session, timestamp, vocabulary strings), with control bytes for a
 * whole load, a shard and a stream. */
static void cache_seed(rmtl_dataset *ds, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "/tmp/rmtl-mkseeds-%ld.rmtld", (long)getpid());
    if (rmtl_dataset_save(ds, path))
        die("dataset cache");
    FILE *f = fopen(path, "rb");
    static unsigned char buf[1 << 16];
    size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (!f || len == 0 || len == sizeof buf)
        die("reading the dataset cache");
    fclose(f);
    remove(path);
    static const unsigned char ctl[] = {0x00, 0x01, 0x13, 0x08, 0x29};
    for (size_t i = 0; i < sizeof ctl; i++) {
        char file[128];
        snprintf(file, sizeof file, "%s-%02x", name, ctl[i]);
        write_seed("cache", file, &ctl[i], 1, buf, len);
    }
}

static void cache_seeds(void)
{
    rmtl_dataset *ds = tiny_dataset();
    cache_seed(ds, "tiny");
    rmtl_dataset_free(ds);
    static const char schema[] = "columns: {sid: session, ts: timestamp, city: categorical,\n"
                                 "  age: numerical, click: {role: label, threshold: 0}}\n";
    static const char csv[] = "sid,ts,city,age,click\n1,1,paris,31,1\n1,2,rome,25,0\n"
                              "2,5,paris,,1\n3,1,oslo,40,0\n";
    char path[512];
    snprintf(path, sizeof path, "/tmp/rmtl-mkseeds-%ld.csv", (long)getpid());
    FILE *f = fopen(path, "w");
    if (!f || fputs(csv, f) < 0 || fclose(f))
        die("temporary CSV");
    if (rmtl_dataset_load_schema_string(&ds, path, schema, sizeof schema - 1, NULL, NULL))
        die("CSV dataset");
    remove(path);
    cache_seed(ds, "csv");
    rmtl_dataset_free(ds);
}

static void fusion_seeds(void)
{
    static const char *const yaml[] = {
        "model: {tasks: [click, buy]}\n"
        "fusion: {actor_hidden: [4], critic_hidden: [3], critic_ensemble: 2,\n"
        "         state: {user_dim: 2, item_dim: 2, context_dim: 1}}\n",
        "model: {tasks: [click, buy, like]}\n"
        "fusion: {formula: sum, granularity: user, actor_hidden: [3], critic_hidden: [3],\n"
        "         critic_ensemble: 1, reward_coef: [1, 2, 3], reward_group: [0, 0, 1],\n"
        "         state: {user_dim: 1, item_dim: 2, context_dim: 0, scores: false}}\n"};
    for (int i = 0; i < 2; i++) {
        rmtl_config *c = config(yaml[i]);
        rmtl_fusion *f = NULL;
        if (rmtl_fusion_create(&f, c))
            die("fusion");
        void *buf;
        size_t len;
        char name[64];
        if (rmtl_fusion_save_buffer(&buf, &len, f, RMTL_SAVE_TRAINING_STATE))
            die("fusion save");
        snprintf(name, sizeof name, "fusion-%d-training", i);
        ckpt_seed(2, name, buf, len);
        static const float fixed[4] = {1.0f, 0.5f, 0.25f, 0.0f};
        if (i == 0 && rmtl_fusion_set_fixed(f, fixed, 4))
            die("fusion fixed");
        if (rmtl_fusion_save_buffer(&buf, &len, f, 0))
            die("fusion save");
        snprintf(name, sizeof name, "fusion-%d%s", i, i == 0 ? "-fixed" : "");
        ckpt_seed(2, name, buf, len);
        rmtl_fusion_free(f);
        rmtl_config_free(c);
    }
}

/* fuzz_fuse: per handle, ordinary values and a few special ones. */
static void fuse_seeds(void)
{
    static const float ordinary[16] = {0.1f, -0.5f, 1.0f, 0.25f, -1.0f, 0.75f, 0.3f, 0.9f,
                                       0.0f, 0.5f,  1.0f, 0.2f,  0.6f,  0.1f,  0.4f, 0.8f};
    const float inf = 1.0f / 0.0f;
    const float special[16] = {1e30f, -1e30f, 1e-40f, -0.0f, inf, 3.0f, 0.0f, 1.0f,
                               0.0f,  0.0f,   1.0f,   1.0f,  0.5f, 0.0f, 1.0f, 0.0f};
    for (unsigned h = 0; h < 4; h++) {
        char name[32];
        unsigned char ctl = (unsigned char)h;
        snprintf(name, sizeof name, "handle%u-ordinary", h);
        write_seed("fuse", name, &ctl, 1, ordinary, sizeof ordinary);
        snprintf(name, sizeof name, "handle%u-special", h);
        write_seed("fuse", name, &ctl, 1, special, sizeof special);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds <corpus-dir>\n");
        return 2;
    }
    corpus = argv[1];
    model_seeds();
    csv_model_seed();
    fusion_seeds();
    fuse_seeds();
    cache_seeds();
    return 0;
}
