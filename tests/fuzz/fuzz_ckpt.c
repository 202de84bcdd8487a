/* Fuzz target: checkpoint loading (model, agent, fusion, actor, critic),
 * from a buffer and, for one input in eight, from a file.
 *
 * Input: a control byte, then the checkpoint.
 *   bits 0-2  which loader: 0 model, 1 agent, 2 fusion, 3 actor, 4 critic
 *             (5-7 wrap around);
 *   bit 3     0: the rest is a container as written to disk;
 *             1: the rest is a list of sections (FUZZ_SECTION, then a
 *                4-byte tag, a flags byte and the data up to the next
 *                FUZZ_SECTION or the end), laid out into a valid
 *                container by the checkpoint writer;
 *   bit 4     raw container: keep its CRCs (else they are recomputed);
 *             section list: set the training-state header flag;
 *   bits 5-7  all set: load through a temporary file.
 * Every CRC guards the bytes behind it, so a mutated checkpoint would
 * almost never get past the container check; recomputing them, or building
 * the container, lets mutations reach the section parsers. Both are done
 * here rather than by a fuzzing-only switch in the library, so the replay
 * build (`make check`) sees exactly what the fuzzer saw.
 *
 * What loads is then used (a prediction or a fused score on zero inputs)
 * and must survive save -> load -> save unchanged. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/ckpt.h"
#include "core/crc32.h"
#include "fuzz/fuzz.h"
#include "fuzz/fuzz_ckpt.h"
#include "rmtl.h"

enum { KIND_MODEL, KIND_AGENT, KIND_FUSION, KIND_ACTOR, KIND_CRITIC, N_KINDS };

/* Lays a section list out into a container (see the top of the file). */
static int build_container(unsigned char **out, size_t *out_len, const uint8_t *p, size_t n,
                           uint32_t flags)
{
    rmtl__ckpt_writer w;
    rmtl__ckpt_writer_init(&w, flags);
    const size_t dl = sizeof FUZZ_SECTION - 1;
    const uint8_t *end = p + n;
    const uint8_t *at = memmem(p, n, FUZZ_SECTION, dl);
    while (at) {
        const uint8_t *hdr = at + dl;
        if ((size_t)(end - hdr) < 5)
            break;
        const uint8_t *data = hdr + 5;
        const uint8_t *next = memmem(data, (size_t)(end - data), FUZZ_SECTION, dl);
        size_t len = (size_t)((next ? next : end) - data);
        /* A tag given twice is refused (EINVAL): keep the first. */
        (void)rmtl__ckpt_add_section(&w, rmtl__load_u32le(hdr), hdr[4] & 1, data, len);
        rmtl_error_clear();
        at = next;
    }
    int rc = rmtl__ckpt_finish(&w, out, out_len);
    rmtl__ckpt_writer_free(&w);
    return rc;
}

/* A temporary file per process, rewritten for each input that needs it. */
static const char *write_temp(const unsigned char *b, size_t len)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/rmtl-fuzz-ckpt-%ld.rmtl", (long)getpid());
    }
    FILE *f = fopen(path, "wb");
    fuzz_require(f != NULL, "cannot create the temporary checkpoint");
    fuzz_require(fwrite(b, 1, len, f) == len && fclose(f) == 0,
                 "cannot write the temporary checkpoint");
    return path;
}

/* save(x) -> load -> save gives the same bytes. */
#define ROUND_TRIP(type, save_call, load_fn, free_fn, obj)                                   \
    do {                                                                                     \
        void *a_ = NULL, *b_ = NULL;                                                         \
        size_t alen_ = 0, blen_ = 0;                                                         \
        type *again_ = NULL;                                                                 \
        int rc_ = save_call(&a_, &alen_, obj);                                               \
        fuzz_check_status(rc_, #save_call);                                                  \
        if (rc_ == RMTL_OK) {                                                                \
            fuzz_require(load_fn(&again_, a_, alen_) == RMTL_OK, #load_fn " of a save");     \
            fuzz_require(save_call(&b_, &blen_, again_) == RMTL_OK, #save_call " again");    \
            fuzz_require(alen_ == blen_ && memcmp(a_, b_, alen_) == 0,                       \
                         #save_call " -> " #load_fn " -> save changed the bytes");           \
        }                                                                                    \
        free_fn(again_);                                                                     \
        rmtl_free(a_);                                                                       \
        rmtl_free(b_);                                                                       \
    } while (0)

#define SAVE_MODEL(out, len, m) rmtl_model_save_buffer(out, len, m, RMTL_SAVE_TRAINING_STATE)
#define SAVE_FUSION(out, len, f) rmtl_fusion_save_buffer(out, len, f, RMTL_SAVE_TRAINING_STATE)

/* One prediction on an all-zero batch of two rows. */
static void use_model(const rmtl_model *m)
{
    const rmtl_dataset *schema = rmtl_model_schema(m);
    fuzz_require(schema != NULL, "a loaded model without a schema");
    size_t n_cat = rmtl_dataset_n_cat(schema), n_num = rmtl_dataset_n_num(schema);
    size_t T = rmtl_model_num_tasks(m);
    int32_t *cat = calloc(2 * n_cat + 1, sizeof *cat);
    float *num = calloc(2 * n_num + 1, sizeof *num), *out = calloc(2 * T + 1, sizeof *out);
    fuzz_require(cat && num && out, "out of memory");
    rmtl_batch b = RMTL_BATCH_INIT;
    b.rows = 2;
    b.cat = cat;
    b.num = n_num ? num : NULL;
    int rc = rmtl_model_predict(m, NULL, &b, out, 2 * T);
    fuzz_check_status(rc, "rmtl_model_predict");
    fuzz_require(rc == RMTL_OK || rc == RMTL_ENUMERIC || rc == RMTL_ENOMEM,
                 "a loaded model refused a batch of its own layout");
    free(cat);
    free(num);
    free(out);
}

/* One fused score for zero features and scores of 1/2. */
static void use_fusion(const rmtl_fusion *f)
{
    rmtl_fusion_info info = RMTL_FUSION_INFO_INIT;
    fuzz_require(rmtl_fusion_describe(&info, f) == RMTL_OK, "rmtl_fusion_describe");
    float *state = calloc(info.state_dim + 1, sizeof *state);
    float *scores = calloc(info.tasks + 1, sizeof *scores);
    float *action = calloc(info.action_dim + 1, sizeof *action);
    fuzz_require(state && scores && action, "out of memory");
    for (size_t i = 0; i < info.tasks; i++)
        scores[i] = 0.5f;
    float fused = 0.0f;
    int rc = rmtl_fuse_scores(&fused, f, state, info.state_dim, scores, info.tasks, action,
                              info.action_dim);
    fuzz_check_status(rc, "rmtl_fuse_scores");
    fuzz_require(rc == RMTL_OK || rc == RMTL_ENUMERIC,
                 "a loaded fusion refused inputs of its own dimensions");
    free(state);
    free(scores);
    free(action);
}

static void load_kind(int kind, const unsigned char *b, size_t len, const char *path)
{
    int rc;
    switch (kind) {
    case KIND_MODEL: {
        rmtl_model *m = NULL;
        rc = path ? rmtl_model_load(&m, path) : rmtl_model_load_buffer(&m, b, len);
        fuzz_check_status(rc, "rmtl_model_load");
        if (m) {
            use_model(m);
            ROUND_TRIP(rmtl_model, SAVE_MODEL, rmtl_model_load_buffer, rmtl_model_free, m);
        }
        rmtl_model_free(m);
        break;
    }
    case KIND_AGENT: {
        rmtl_agent *a = NULL;
        rc = path ? rmtl_agent_load(&a, path) : rmtl_agent_load_buffer(&a, b, len);
        fuzz_check_status(rc, "rmtl_agent_load");
        if (a) {
            use_model(rmtl_actor_model(rmtl_agent_actor(a)));
            ROUND_TRIP(rmtl_agent, rmtl_agent_save_buffer, rmtl_agent_load_buffer,
                       rmtl_agent_free, a);
        }
        rmtl_agent_free(a);
        break;
    }
    case KIND_FUSION: {
        rmtl_fusion *f = NULL;
        rc = path ? rmtl_fusion_load(&f, path) : rmtl_fusion_load_buffer(&f, b, len);
        fuzz_check_status(rc, "rmtl_fusion_load");
        if (f) {
            use_fusion(f);
            ROUND_TRIP(rmtl_fusion, SAVE_FUSION, rmtl_fusion_load_buffer, rmtl_fusion_free, f);
        }
        rmtl_fusion_free(f);
        break;
    }
    case KIND_ACTOR: {
        rmtl_actor *a = NULL;
        rc = path ? rmtl_actor_load(&a, path) : rmtl_actor_load_buffer(&a, b, len);
        fuzz_check_status(rc, "rmtl_actor_load");
        if (a) {
            use_model(rmtl_actor_model(a));
            ROUND_TRIP(rmtl_actor, rmtl_actor_save_buffer, rmtl_actor_load_buffer,
                       rmtl_actor_free, a);
        }
        rmtl_actor_free(a);
        break;
    }
    default: {
        rmtl_critic *c = NULL;
        rc = path ? rmtl_critic_load(&c, path) : rmtl_critic_load_buffer(&c, b, len);
        fuzz_check_status(rc, "rmtl_critic_load");
        if (c)
            ROUND_TRIP(rmtl_critic, rmtl_critic_save_buffer, rmtl_critic_load_buffer,
                       rmtl_critic_free, c);
        rmtl_critic_free(c);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned ctl = data[0];
    int kind = (int)(ctl & 7u) % N_KINDS;
    unsigned char *buf = NULL;
    size_t len = 0;
    if (ctl & 8u) {
        uint32_t flags = (ctl & 16u) ? RMTL__CKPT_F_TRAINING : 0;
        if (build_container(&buf, &len, data + 1, size - 1, flags) != RMTL_OK)
            return 0;
    } else {
        len = size - 1;
        buf = malloc(len ? len : 1);
        fuzz_require(buf != NULL, "out of memory");
        memcpy(buf, data + 1, len);
        if (!(ctl & 16u))
            fuzz_fix_crcs(buf, len);
    }
    const char *path = (ctl >> 5) == 7u ? write_temp(buf, len) : NULL;
    load_kind(kind, buf, len, path);
    if (path)
        unlink(path);
    free(buf);
    return 0;
}
