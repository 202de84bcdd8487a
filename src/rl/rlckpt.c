/*
 * Checkpoints of critics, actors and agents (docs/rmtl.md, "Checkpoints").
 * One container (core/ckpt.h) per handle:
 *   CONF  the config (YAML)                                   all three
 *   ARCH  the critic's input layout (mtl/layout.h)             critic
 *   MODL  the actor's model: a whole model checkpoint with
 *         its training state, nested                           actor, agent
 *   RLST  what kind of handle, counters, Adam steps, random
 *         streams (layout below)                               all three
 *   TENS  named tensors: critic weights, targets and Adam
 *         moments; the actor's target and anchor               all three
 * RLST: u32 magic "RMRL", u32 version (1), u32 kind (1 critic, 2 actor,
 *   3 agent), then
 *   critic: a critic record; actor: an actor record; agent: u64 steps, an
 *   actor record, u64 T and T critic records.
 *   critic record: u64 task, u64 embedding dim, u64 updates, u64 Adam t,
 *                  u8 has moments, dropout and noise streams (4 × u64 each)
 *   actor record:  u64 updates, u64 Adam t, u8 has moments, noise stream
 * Tensor names: "<prefix>net.<param>", "<prefix>m.<param>",
 * "<prefix>v.<param>" (moments, once the critic has stepped),
 * "<prefix>target.<param>" with prefix "critic." (a critic file) or
 * "critic.<k>." (an agent's); "actor.target.<param>", "actor.anchor.<param>"
 * and, once the actor has stepped, "actor.m.<param>", "actor.v.<param>"
 * (the policy's own weights are in MODL).
 */
#include "core/ckpt.h"
#include "core/internal.h"
#include "core/tensors.h"
#include "rl/agent.h"

#include <stdio.h>
#include <string.h>

#define RMTL__RL_STATE_VERSION 1u

/* The kind word of RLST (core/ckpt.h). */
enum {
    RMTL__KIND_CRITIC = RMTL__CKPT_CRITIC,
    RMTL__KIND_ACTOR = RMTL__CKPT_ACTOR,
    RMTL__KIND_AGENT = RMTL__CKPT_AGENT
};

static const char *const rmtl__kind_names[] = {"", "critic", "actor", "agent"};

/* Every section librmtl writes is known here, so that another kind of
 * checkpoint (a model's) is refused by its RLST as not this kind, not as
 * a file from a newer library. */
static const uint32_t rmtl__rl_tags[] = {RMTL__TAG_CONF, RMTL__TAG_ARCH, RMTL__TAG_MODL,
                                         RMTL__TAG_RLST, RMTL__TAG_TENS, RMTL__TAG_DATA,
                                         RMTL__TAG_OPTS, RMTL__TAG_FUSE, RMTL__TAG_META};

/* --- saving -------------------------------------------------------------- */

static void rmtl__put_rng(rmtl__wbuf *w, const rmtl__rng *r)
{
    uint64_t s[4];
    rmtl__rng_get_state(r, s);
    for (int i = 0; i < 4; i++)
        rmtl__put_u64(w, s[i]);
}

static int rmtl__put_param(rmtl__tensors_writer *tw, const char *prefix, const char *part,
                           const rmtl__param *p, const float *data)
{
    char name[RMTL__TENSOR_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s%s%s", prefix, part, p->name);
    uint64_t dims[2] = {p->rows, p->cols};
    return rmtl__tensors_add_f32(tw, name, 2, dims, data);
}

static int rmtl__has_moments(const rmtl__params *ps) { return ps->n && ps->p[0]->m != NULL; }

static int rmtl__put_critic(rmtl__tensors_writer *tw, rmtl__wbuf *st, const rmtl_critic *c,
                            const char *prefix)
{
    int moments = rmtl__has_moments(&c->net.ps), rc = 0;
    for (size_t i = 0; !rc && i < c->net.ps.n; i++) {
        const rmtl__param *p = c->net.ps.p[i];
        rc = rmtl__put_param(tw, prefix, "net.", p, p->w);
        if (!rc && moments)
            rc = rmtl__put_param(tw, prefix, "m.", p, p->m);
        if (!rc && moments)
            rc = rmtl__put_param(tw, prefix, "v.", p, p->v);
        if (!rc)
            rc = rmtl__put_param(tw, prefix, "target.", p, c->target.ps.p[i]->w);
    }
    rmtl__put_u64(st, c->task);
    rmtl__put_u64(st, c->dim);
    rmtl__put_u64(st, c->updates);
    rmtl__put_u64(st, c->opt.t);
    rmtl__put_u8(st, (uint8_t)moments);
    rmtl__put_rng(st, &c->dropout_rng);
    rmtl__put_rng(st, &c->noise_rng);
    return rc;
}

/* The policy's weights travel in the nested model checkpoint; its Adam
 * moments are the actor's (the model's own optimiser never steps) and
 * travel here. */
static int rmtl__put_actor(rmtl__tensors_writer *tw, rmtl__wbuf *st, const rmtl_actor *a)
{
    int rc = 0;
    const rmtl__params *ps = &a->model->net.ps;
    int moments = rmtl__has_moments(ps);
    for (size_t i = 0; !rc && i < ps->n; i++) {
        const rmtl__param *p = ps->p[i];
        rc = rmtl__put_param(tw, "actor.", "target.", p, a->target->net.ps.p[i]->w);
        if (!rc)
            rc = rmtl__put_param(tw, "actor.", "anchor.", p, a->anchor->net.ps.p[i]->w);
        if (!rc && moments)
            rc = rmtl__put_param(tw, "actor.", "m.", p, p->m);
        if (!rc && moments)
            rc = rmtl__put_param(tw, "actor.", "v.", p, p->v);
    }
    rmtl__put_u64(st, a->updates);
    rmtl__put_u64(st, a->opt.t);
    rmtl__put_u8(st, (uint8_t)moments);
    rmtl__put_rng(st, &a->noise_rng);
    return rc;
}

/* The container of one handle: exactly one of critic, actor, agent. */
static int rmtl__rl_serialize(const rmtl_critic *critic, const rmtl_actor *actor,
                              const rmtl_agent *agent, void **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (agent)
        actor = agent->actor;
    const rmtl_config *cfg = critic ? critic->cfg : actor->cfg;
    uint32_t kind = agent ? RMTL__KIND_AGENT : actor ? RMTL__KIND_ACTOR : RMTL__KIND_CRITIC;
    rmtl__ckpt_writer cw;
    rmtl__ckpt_writer_init(&cw, RMTL__CKPT_F_TRAINING);
    rmtl__tensors_writer tw;
    rmtl__tensors_writer_init(&tw);
    rmtl__wbuf st, w;
    rmtl__wbuf_init(&st);
    char *yaml = NULL;
    size_t ylen = 0;
    int rc = rmtl_config_dump(&yaml, &ylen, cfg);
    if (!rc)
        rc = rmtl__ckpt_add_section(&cw, RMTL__TAG_CONF, 1, yaml, ylen);
    rmtl__free(yaml);
    if (!rc && critic) {
        rmtl__wbuf_init(&w);
        rmtl__layout_write(&w, &critic->lay, "critic");
        rc = rmtl__ckpt_add_wbuf(&cw, RMTL__TAG_ARCH, 1, &w);
    }
    if (!rc && actor) {
        void *blob;
        size_t blen;
        rc = rmtl_model_save_buffer(&blob, &blen, actor->model, RMTL_SAVE_TRAINING_STATE);
        if (!rc)
            rc = rmtl__ckpt_add_section(&cw, RMTL__TAG_MODL, 1, blob, blen);
        rmtl__free(blob);
    }
    rmtl__put_u32(&st, RMTL__RL_STATE_MAGIC);
    rmtl__put_u32(&st, RMTL__RL_STATE_VERSION);
    rmtl__put_u32(&st, kind);
    if (agent)
        rmtl__put_u64(&st, agent->steps);
    if (!rc && actor)
        rc = rmtl__put_actor(&tw, &st, actor);
    if (!rc && critic)
        rc = rmtl__put_critic(&tw, &st, critic, "critic.");
    if (agent)
        rmtl__put_u64(&st, agent->n_tasks);
    for (size_t k = 0; !rc && agent && k < agent->n_tasks; k++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "critic.%zu.", k);
        rc = rmtl__put_critic(&tw, &st, agent->critics[k], prefix);
    }
    if (!rc)
        rc = rmtl__ckpt_add_wbuf(&cw, RMTL__TAG_RLST, 1, &st);
    else
        rmtl__wbuf_free(&st);
    if (!rc) {
        rc = rmtl__tensors_finish(&tw, &w);
        if (!rc)
            rc = rmtl__ckpt_add_wbuf(&cw, RMTL__TAG_TENS, 1, &w);
    }
    unsigned char *buf = NULL;
    if (!rc)
        rc = rmtl__ckpt_finish(&cw, &buf, len);
    rmtl__tensors_writer_free(&tw);
    rmtl__ckpt_writer_free(&cw);
    *out = buf;
    return rc;
}

static int rmtl__rl_save_file(const rmtl_critic *c, const rmtl_actor *a, const rmtl_agent *ag,
                              const char *path)
{
    RMTL__CHECK_ARG(path, "path");
    void *buf;
    size_t len;
    int rc = rmtl__rl_serialize(c, a, ag, &buf, &len);
    if (!rc)
        rc = rmtl__write_file_atomic(path, buf, len);
    rmtl__free(buf);
    return rc;
}

#define RMTL__SAVE_BUFFER_ARGS(h)   \
    RMTL__CHECK_ARG(out, "out");    \
    *out = NULL;                    \
    RMTL__CHECK_ARG(len, "len");    \
    *len = 0;                       \
    RMTL__CHECK_ARG(h, #h)

int rmtl_critic_save_buffer(void **out, size_t *len, const rmtl_critic *critic)
{
    RMTL__SAVE_BUFFER_ARGS(critic);
    return rmtl__rl_serialize(critic, NULL, NULL, out, len);
}

int rmtl_actor_save_buffer(void **out, size_t *len, const rmtl_actor *actor)
{
    RMTL__SAVE_BUFFER_ARGS(actor);
    return rmtl__rl_serialize(NULL, actor, NULL, out, len);
}

int rmtl_agent_save_buffer(void **out, size_t *len, const rmtl_agent *agent)
{
    RMTL__SAVE_BUFFER_ARGS(agent);
    return rmtl__rl_serialize(NULL, NULL, agent, out, len);
}

int rmtl_critic_save(const rmtl_critic *critic, const char *path)
{
    RMTL__CHECK_ARG(critic, "critic");
    return rmtl__rl_save_file(critic, NULL, NULL, path);
}

int rmtl_actor_save(const rmtl_actor *actor, const char *path)
{
    RMTL__CHECK_ARG(actor, "actor");
    return rmtl__rl_save_file(NULL, actor, NULL, path);
}

int rmtl_agent_save(const rmtl_agent *agent, const char *path)
{
    RMTL__CHECK_ARG(agent, "agent");
    return rmtl__rl_save_file(NULL, NULL, agent, path);
}

/* --- loading ------------------------------------------------------------- */

/* What a load reads: the container, its config, the RLST cursor and the
 * tensors. */
typedef struct rmtl__rl_file {
    rmtl__ckpt_reader r;
    rmtl_config *cfg;
    rmtl__rbuf st;
    rmtl__tensors_reader tr;
    int tr_open;
    size_t used; /* tensors read so far */
} rmtl__rl_file;

static void rmtl__rl_file_close(rmtl__rl_file *f)
{
    if (f->tr_open)
        rmtl__tensors_close(&f->tr);
    rmtl_config_free(f->cfg);
    rmtl__ckpt_close(&f->r);
}

/* Opens the container and checks that it holds a handle of `kind`. */
static int rmtl__rl_file_open(rmtl__rl_file *f, const void *buf, size_t len, uint32_t kind)
{
    memset(f, 0, sizeof *f);
    int rc = rmtl__ckpt_open(&f->r, buf, len, rmtl__rl_tags,
                             sizeof rmtl__rl_tags / sizeof rmtl__rl_tags[0]);
    const void *data = NULL;
    size_t dlen = 0;
    if (!rc)
        rc = rmtl__ckpt_find(&f->r, RMTL__TAG_CONF, &data, &dlen);
    if (!rc)
        rc = rmtl_config_create(&f->cfg);
    if (!rc) {
        rc = rmtl_config_load_string(f->cfg, data, dlen, "checkpoint CONF");
        if (!rc)
            rc = rmtl_config_validate(f->cfg);
        if (rc == RMTL_ECONFIG || rc == RMTL_EINVAL)
            rc = rmtl__error_prefix(RMTL_EFORMAT, "checkpoint section 'CONF'");
    }
    if (!rc)
        rc = rmtl__ckpt_find(&f->r, RMTL__TAG_RLST, &data, &dlen);
    if (!rc) {
        rmtl__rbuf_init(&f->st, data, dlen);
        uint32_t magic = rmtl__get_u32(&f->st), version = rmtl__get_u32(&f->st);
        uint32_t got = rmtl__get_u32(&f->st);
        if (f->st.failed || magic != RMTL__RL_STATE_MAGIC)
            rc = rmtl__error(RMTL_EFORMAT, "checkpoint holds no critic, actor or agent (a "
                                           "model's? load it with rmtl_model_load)");
        else if (version == 0)
            rc = rmtl__error(RMTL_EFORMAT, "checkpoint section 'RLST': malformed");
        else if (version > RMTL__RL_STATE_VERSION)
            rc = rmtl__error(RMTL_EVERSION,
                             "checkpoint section 'RLST': version %u is newer than this "
                             "library's %u",
                             version, RMTL__RL_STATE_VERSION);
        else if (got != kind)
            rc = rmtl__error(RMTL_EFORMAT, "checkpoint holds %s %s, not %s",
                             got == RMTL__KIND_ACTOR ? "an" : "a",
                             got >= 1 && got <= 3 ? rmtl__kind_names[got] : "something else",
                             rmtl__kind_names[kind]);
    }
    if (!rc)
        rc = rmtl__ckpt_find(&f->r, RMTL__TAG_TENS, &data, &dlen);
    if (!rc && !(rc = rmtl__tensors_open(&f->tr, data, dlen)))
        f->tr_open = 1;
    if (rc) {
        rmtl__rl_file_close(f);
        rc = rmtl__ckpt_kind_error(buf, len, (int)kind, rc);
    }
    return rc;
}

static int rmtl__get_rng(rmtl__rbuf *b, rmtl__rng *r)
{
    uint64_t s[4];
    for (int i = 0; i < 4; i++)
        s[i] = rmtl__get_u64(b);
    return b->failed || rmtl__rng_set_state(r, s) ? RMTL_EFORMAT : 0;
}

static int rmtl__get_param(rmtl__rl_file *f, const char *prefix, const char *part,
                           const rmtl__param *p, float *data)
{
    char name[RMTL__TENSOR_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s%s%s", prefix, part, p->name);
    uint64_t dims[2] = {p->rows, p->cols};
    f->used++;
    return rmtl__tensors_read_f32(&f->tr, name, 2, dims, data, p->rows * p->cols);
}

static int rmtl__alloc_moments(rmtl__params *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        rmtl__param *p = ps->p[i];
        if (!p->m)
            p->m = rmtl__calloc(p->rows * p->cols, sizeof(float));
        if (p->m && !p->v)
            p->v = rmtl__calloc(p->rows * p->cols, sizeof(float));
        if (!p->m || !p->v)
            return rmtl__error(RMTL_ENOMEM, "checkpoint load: out of memory for moments");
    }
    return 0;
}

/* A critic record's header: task and dimension come first, so the caller
 * can build the critic before its state is read. */
static int rmtl__get_critic_head(rmtl__rbuf *st, uint64_t *task, uint64_t *dim)
{
    *task = rmtl__get_u64(st);
    *dim = rmtl__get_u64(st);
    return st->failed ? rmtl__error(RMTL_EFORMAT, "checkpoint section 'RLST': truncated") : 0;
}

static int rmtl__get_critic(rmtl__rl_file *f, rmtl_critic *c, const char *prefix)
{
    rmtl__rbuf *st = &f->st;
    c->updates = rmtl__get_u64(st);
    c->opt.t = rmtl__get_u64(st);
    uint8_t moments = rmtl__get_u8(st);
    int rc = moments > 1 ? RMTL_EFORMAT : rmtl__get_rng(st, &c->dropout_rng);
    if (!rc)
        rc = rmtl__get_rng(st, &c->noise_rng);
    if (rc)
        return rmtl__error(RMTL_EFORMAT, "checkpoint section 'RLST': malformed critic state");
    if (moments)
        rc = rmtl__alloc_moments(&c->net.ps);
    for (size_t i = 0; !rc && i < c->net.ps.n; i++) {
        rmtl__param *p = c->net.ps.p[i];
        rc = rmtl__get_param(f, prefix, "net.", p, p->w);
        if (!rc && moments)
            rc = rmtl__get_param(f, prefix, "m.", p, p->m);
        if (!rc && moments)
            rc = rmtl__get_param(f, prefix, "v.", p, p->v);
        if (!rc)
            rc = rmtl__get_param(f, prefix, "target.", p, c->target.ps.p[i]->w);
    }
    return rc;
}

static int rmtl__get_actor(rmtl__rl_file *f, rmtl_actor *a)
{
    rmtl__rbuf *st = &f->st;
    a->updates = rmtl__get_u64(st);
    a->opt.t = rmtl__get_u64(st);
    uint8_t moments = rmtl__get_u8(st);
    if (moments > 1 || rmtl__get_rng(st, &a->noise_rng))
        return rmtl__error(RMTL_EFORMAT, "checkpoint section 'RLST': malformed actor state");
    rmtl__params *ps = &a->model->net.ps;
    int rc = moments ? rmtl__alloc_moments(ps) : 0;
    for (size_t i = 0; !rc && i < ps->n; i++) {
        rmtl__param *p = ps->p[i];
        rc = rmtl__get_param(f, "actor.", "target.", p, a->target->net.ps.p[i]->w);
        if (!rc)
            rc = rmtl__get_param(f, "actor.", "anchor.", p, a->anchor->net.ps.p[i]->w);
        if (!rc && moments)
            rc = rmtl__get_param(f, "actor.", "m.", p, p->m);
        if (!rc && moments)
            rc = rmtl__get_param(f, "actor.", "v.", p, p->v);
    }
    return rc;
}

/* The nested model checkpoint, as an actor. */
static int rmtl__load_actor(rmtl_actor **out, rmtl__rl_file *f)
{
    const void *data;
    size_t len;
    rmtl_model *m = NULL;
    int rc = rmtl__ckpt_find(&f->r, RMTL__TAG_MODL, &data, &len);
    if (!rc && (rc = rmtl_model_load_buffer(&m, data, len)))
        rc = rmtl__error_prefix(rc, "checkpoint section 'MODL'");
    if (!rc)
        rc = rmtl__actor_wrap(out, f->cfg, m);
    if (!rc && (rc = rmtl__get_actor(f, *out))) {
        rmtl_actor_free(*out);
        *out = NULL;
    }
    return rc;
}

/* Nothing may be left over: more state or more tensors are not what this
 * reader's writer wrote. */
static int rmtl__rl_file_end(rmtl__rl_file *f)
{
    if (f->st.failed || rmtl__rbuf_left(&f->st))
        return rmtl__error(RMTL_EFORMAT, "checkpoint section 'RLST': malformed (%zu bytes left)",
                           rmtl__rbuf_left(&f->st));
    if (f->tr.n != f->used)
        return rmtl__error(RMTL_EFORMAT, "checkpoint section 'TENS': %zu tensors, %zu expected",
                           f->tr.n, f->used);
    return 0;
}

int rmtl_critic_load_buffer(rmtl_critic **out, const void *buf, size_t len)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(buf || len == 0, "buf");
    rmtl__rl_file f;
    int rc = rmtl__rl_file_open(&f, buf, len, RMTL__KIND_CRITIC);
    if (rc)
        return rc;
    const void *data;
    size_t dlen;
    rmtl__layout lay = {0};
    char arch[32];
    uint64_t task = 0, dim = 0;
    rmtl_critic *c = NULL;
    rc = rmtl__ckpt_find(&f.r, RMTL__TAG_ARCH, &data, &dlen);
    if (!rc)
        rc = rmtl__layout_read(&lay, arch, sizeof arch, data, dlen);
    if (!rc)
        rc = rmtl__get_critic_head(&f.st, &task, &dim);
    if (!rc && (task >= lay.n_tasks || dim == 0 || dim > ((uint64_t)1 << 20)))
        rc = rmtl__error(RMTL_EFORMAT, "checkpoint section 'RLST': task %llu or dimension %llu "
                                       "out of range",
                         (unsigned long long)task, (unsigned long long)dim);
    /* A standalone critic saves its own embeddings: dim floats per id. */
    if (!rc)
        rc = rmtl__layout_check_fits(&lay, (size_t)dim, rmtl__ckpt_payload(&f.r));
    if (!rc)
        rc = rmtl__critic_new_cfg(&c, f.cfg, &lay, (size_t)dim, (size_t)task, NULL);
    if (!rc)
        rc = rmtl__get_critic(&f, c, "critic.");
    if (!rc)
        rc = rmtl__rl_file_end(&f);
    rmtl__layout_free(&lay);
    rmtl__rl_file_close(&f);
    if (rc) {
        rmtl_critic_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int rmtl_actor_load_buffer(rmtl_actor **out, const void *buf, size_t len)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(buf || len == 0, "buf");
    rmtl__rl_file f;
    int rc = rmtl__rl_file_open(&f, buf, len, RMTL__KIND_ACTOR);
    if (rc)
        return rc;
    rmtl_actor *a = NULL;
    rc = rmtl__load_actor(&a, &f);
    if (!rc && (rc = rmtl__rl_file_end(&f))) {
        rmtl_actor_free(a);
        a = NULL;
    }
    rmtl__rl_file_close(&f);
    *out = a;
    return rc;
}

int rmtl_agent_load_buffer(rmtl_agent **out, const void *buf, size_t len)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(buf || len == 0, "buf");
    rmtl__rl_file f;
    int rc = rmtl__rl_file_open(&f, buf, len, RMTL__KIND_AGENT);
    if (rc)
        return rc;
    uint64_t steps = rmtl__get_u64(&f.st);
    rmtl_actor *a = NULL;
    rmtl_agent *ag = NULL;
    rc = rmtl__load_actor(&a, &f);
    if (!rc)
        rc = rmtl__agent_assemble(&ag, a);
    uint64_t T = rc ? 0 : rmtl__get_u64(&f.st);
    if (!rc && T != ag->n_tasks)
        rc = rmtl__error(RMTL_EFORMAT, "checkpoint section 'RLST': %llu critics for %zu tasks",
                         (unsigned long long)T, ag->n_tasks);
    for (size_t k = 0; !rc && k < ag->n_tasks; k++) {
        uint64_t task, dim;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "critic.%zu.", k);
        rc = rmtl__get_critic_head(&f.st, &task, &dim);
        if (!rc && (task != k || dim != ag->critics[k]->dim))
            rc = rmtl__error(RMTL_EFORMAT, "checkpoint section 'RLST': critic %zu does not fit "
                                           "the actor",
                             k);
        if (!rc)
            rc = rmtl__get_critic(&f, ag->critics[k], prefix);
    }
    if (!rc)
        rc = rmtl__rl_file_end(&f);
    rmtl__rl_file_close(&f);
    if (rc) {
        rmtl_agent_free(ag);
        return rc;
    }
    ag->steps = steps;
    *out = ag;
    return 0;
}

static int rmtl__critic_parse_file(void *out, const void *buf, size_t len)
{
    return rmtl_critic_load_buffer(out, buf, len);
}

static int rmtl__actor_parse_file(void *out, const void *buf, size_t len)
{
    return rmtl_actor_load_buffer(out, buf, len);
}

static int rmtl__agent_parse_file(void *out, const void *buf, size_t len)
{
    return rmtl_agent_load_buffer(out, buf, len);
}

int rmtl_critic_load(rmtl_critic **out, const char *path)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    return rmtl__ckpt_load_file(out, path, rmtl__critic_parse_file, "rmtl_critic_load");
}

int rmtl_actor_load(rmtl_actor **out, const char *path)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    return rmtl__ckpt_load_file(out, path, rmtl__actor_parse_file, "rmtl_actor_load");
}

int rmtl_agent_load(rmtl_agent **out, const char *path)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    return rmtl__ckpt_load_file(out, path, rmtl__agent_parse_file, "rmtl_agent_load");
}
