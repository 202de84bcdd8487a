/*
 * Fusion checkpoints (docs/checkpoint-format.md, docs/fusion.md):
 *   CONF  the config (canonical YAML), from which the handle is rebuilt
 *   FUSE  layout version, the dimensions (checked against CONF), fixed mode
 *   TENS  "deployed/<param>": the served actor; with training state also
 *         "train/<param>" and "target/<param>" for the actor and critics
 *   OPTS  (training state) Adam moments "m/<prefix>/<param>", "v/..."
 *   RLST  (training state) steps, Adam step counts, RNG states
 */
#include "fusion/fusion.h"

#include "core/ckpt.h"
#include "core/internal.h"
#include "core/tensors.h"

#include <stdio.h>
#include <string.h>

#define RMTL__FUSE_LAYOUT 1u

typedef struct rmtl__fnet {
    const char *prefix;
    size_t off; /* offsetof the rmtl__params in rmtl_fusion */
} rmtl__fnet;

static const rmtl__fnet rmtl__fnets[] = {
    {"deployed/", offsetof(rmtl_fusion, dep_ps)},
    {"train/", offsetof(rmtl_fusion, actor_ps)},
    {"target/", offsetof(rmtl_fusion, actor_tps)},
    {"train/", offsetof(rmtl_fusion, critic_ps)},
    {"target/", offsetof(rmtl_fusion, critic_tps)},
};
enum { RMTL__FNETS = sizeof rmtl__fnets / sizeof rmtl__fnets[0] };

static rmtl__params *rmtl__fnet_ps(const rmtl_fusion *f, size_t i)
{
    return (rmtl__params *)(void *)((char *)f + rmtl__fnets[i].off);
}

static void rmtl__fnet_name(char *out, size_t cap, const char *pre, const char *pre2,
                            const char *name)
{
    snprintf(out, cap, "%s%s%s", pre, pre2, name);
}

static int rmtl__fusion_put_tensors(const rmtl_fusion *f, int training, rmtl__wbuf *tens,
                                    rmtl__wbuf *opts)
{
    rmtl__tensors_writer tw, ow;
    rmtl__tensors_writer_init(&tw);
    rmtl__tensors_writer_init(&ow);
    int rc = 0;
    for (size_t i = 0; !rc && i < (training ? RMTL__FNETS : 1); i++) {
        const rmtl__params *ps = rmtl__fnet_ps(f, i);
        for (size_t k = 0; !rc && k < ps->n; k++) {
            const rmtl__param *p = ps->p[k];
            uint64_t dims[2] = {p->rows, p->cols};
            char name[RMTL__NAME_MAX + 32];
            rmtl__fnet_name(name, sizeof name, rmtl__fnets[i].prefix, "", p->name);
            rc = rmtl__tensors_add_f32(&tw, name, 2, dims, p->w);
            if (!rc && i > 0 && p->m) {
                rmtl__fnet_name(name, sizeof name, "m/", rmtl__fnets[i].prefix, p->name);
                rc = rmtl__tensors_add_f32(&ow, name, 2, dims, p->m);
                rmtl__fnet_name(name, sizeof name, "v/", rmtl__fnets[i].prefix, p->name);
                if (!rc)
                    rc = rmtl__tensors_add_f32(&ow, name, 2, dims, p->v);
            }
        }
    }
    if (!rc)
        rc = rmtl__tensors_finish(&tw, tens);
    if (!rc && training)
        rc = rmtl__tensors_finish(&ow, opts);
    rmtl__tensors_writer_free(&tw);
    rmtl__tensors_writer_free(&ow);
    return rc;
}

static void rmtl__fusion_put_fuse(const rmtl_fusion *f, rmtl__wbuf *b)
{
    rmtl__put_u32(b, RMTL__FUSE_LAYOUT);
    rmtl__put_u32(b, (uint32_t)f->T);
    rmtl__put_u32(b, (uint32_t)f->A);
    rmtl__put_u64(b, f->user_dim);
    rmtl__put_u64(b, f->item_dim);
    rmtl__put_u64(b, f->ctx_dim);
    rmtl__put_u32(b, (uint32_t)f->gran);
    rmtl__put_u32(b, (uint32_t)f->formula);
    rmtl__put_u32(b, (uint32_t)f->fixed);
    rmtl__put_f32s(b, f->fixed_action, f->A);
}

static void rmtl__fusion_put_rlst(const rmtl_fusion *f, rmtl__wbuf *b)
{
    uint64_t s[4];
    rmtl__rng_get_state(&f->rng, s);
    rmtl__put_u64(b, f->steps);
    rmtl__put_u64(b, f->actor_opt.t);
    rmtl__put_u64(b, f->critic_opt.t);
    for (int i = 0; i < 4; i++)
        rmtl__put_u64(b, s[i]);
    rmtl__put_u64(b, f->noise);
}

int rmtl_fusion_save_buffer(void **out, size_t *len, const rmtl_fusion *f, uint32_t flags)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(len, "len");
    *len = 0;
    RMTL__CHECK_ARG(f, "f");
    if (flags & ~RMTL_SAVE_TRAINING_STATE)
        return rmtl__error(RMTL_EINVAL, "rmtl_fusion_save: unknown flags 0x%x", (unsigned)flags);
    int training = (flags & RMTL_SAVE_TRAINING_STATE) != 0;
    char *conf = NULL;
    size_t conf_len = 0;
    int rc = rmtl_config_dump(&conf, &conf_len, f->cfg);
    if (rc)
        return rc;
    rmtl__ckpt_writer w;
    rmtl__ckpt_writer_init(&w, training ? RMTL__CKPT_F_TRAINING : 0);
    rmtl__wbuf fuse, tens, opts, rlst;
    rmtl__wbuf_init(&fuse);
    rmtl__wbuf_init(&tens);
    rmtl__wbuf_init(&opts);
    rmtl__wbuf_init(&rlst);
    rmtl__fusion_put_fuse(f, &fuse);
    rc = rmtl__ckpt_add_section(&w, RMTL__TAG_CONF, 1, conf, conf_len);
    if (!rc)
        rc = rmtl__ckpt_add_wbuf(&w, RMTL__TAG_FUSE, 1, &fuse);
    if (!rc)
        rc = rmtl__fusion_put_tensors(f, training, &tens, &opts);
    if (!rc)
        rc = rmtl__ckpt_add_wbuf(&w, RMTL__TAG_TENS, 1, &tens);
    if (!rc && training) {
        rmtl__fusion_put_rlst(f, &rlst);
        rc = rmtl__ckpt_add_wbuf(&w, RMTL__TAG_OPTS, 1, &opts);
        if (!rc)
            rc = rmtl__ckpt_add_wbuf(&w, RMTL__TAG_RLST, 1, &rlst);
    }
    unsigned char *buf = NULL;
    if (!rc)
        rc = rmtl__ckpt_finish(&w, &buf, len);
    rmtl__ckpt_writer_free(&w);
    rmtl__wbuf_free(&fuse);
    rmtl__wbuf_free(&tens);
    rmtl__wbuf_free(&opts);
    rmtl__wbuf_free(&rlst);
    rmtl_free(conf);
    if (rc)
        return rmtl__error_prefix(rc, "rmtl_fusion_save");
    *out = buf;
    return RMTL_OK;
}

int rmtl_fusion_save(const rmtl_fusion *f, const char *path, uint32_t flags)
{
    RMTL__CHECK_ARG(f, "f");
    RMTL__CHECK_ARG(path, "path");
    void *buf;
    size_t len;
    int rc = rmtl_fusion_save_buffer(&buf, &len, f, flags);
    if (!rc)
        rc = rmtl__write_file_atomic(path, buf, len);
    rmtl_free(buf);
    return rc;
}

/* FUSE: the dimensions must be those the CONF section gives. */
static int rmtl__fusion_get_fuse(rmtl_fusion *f, const void *data, size_t len, int *fixed)
{
    rmtl__rbuf r;
    rmtl__rbuf_init(&r, data, len);
    uint32_t layout = rmtl__get_u32(&r);
    if (!r.failed && layout > RMTL__FUSE_LAYOUT)
        return rmtl__error(RMTL_EVERSION, "checkpoint section 'FUSE': layout %u is newer than "
                           "this library's %u", (unsigned)layout, RMTL__FUSE_LAYOUT);
    uint32_t T = rmtl__get_u32(&r), A = rmtl__get_u32(&r);
    uint64_t u = rmtl__get_u64(&r), i = rmtl__get_u64(&r), c = rmtl__get_u64(&r);
    uint32_t gran = rmtl__get_u32(&r), formula = rmtl__get_u32(&r);
    *fixed = (int)rmtl__get_u32(&r);
    if (!r.failed && (layout == 0 || T != f->T || A != f->A || u != f->user_dim ||
                      i != f->item_dim || c != f->ctx_dim || gran != (uint32_t)f->gran ||
                      formula != (uint32_t)f->formula || (*fixed != 0 && *fixed != 1)))
        return rmtl__error(RMTL_EFORMAT, "checkpoint section 'FUSE' does not match its 'CONF' "
                           "section");
    if (!r.failed)
        rmtl__get_f32s(&r, f->fixed_action, f->A);
    if (r.failed || rmtl__rbuf_left(&r) != 0)
        return rmtl__error(RMTL_EFORMAT, "checkpoint section 'FUSE': %s",
                           r.failed ? "truncated" : "trailing bytes");
    for (size_t k = 0; *fixed && k < f->A; k++)
        if (!(f->fixed_action[k] >= f->lo[k] && f->fixed_action[k] <= f->hi[k]))
            return rmtl__error(RMTL_EFORMAT, "checkpoint section 'FUSE': fixed action %zu "
                               "is outside its bounds", k);
    return 0;
}

static int rmtl__fusion_get_tensors(rmtl_fusion *f, const rmtl__tensors_reader *tr,
                                    const rmtl__tensors_reader *orr, int training)
{
    for (size_t i = 0; i < (training ? RMTL__FNETS : 1); i++) {
        rmtl__params *ps = rmtl__fnet_ps(f, i);
        for (size_t k = 0; k < ps->n; k++) {
            rmtl__param *p = ps->p[k];
            uint64_t dims[2] = {p->rows, p->cols};
            size_t n = p->rows * p->cols;
            char name[RMTL__NAME_MAX + 32];
            rmtl__fnet_name(name, sizeof name, rmtl__fnets[i].prefix, "", p->name);
            int rc = rmtl__tensors_read_f32(tr, name, 2, dims, p->w, n);
            if (rc)
                return rc;
            if (!training || i == 0)
                continue;
            rmtl__fnet_name(name, sizeof name, "m/", rmtl__fnets[i].prefix, p->name);
            const rmtl__tensor_info *ti;
            if (rmtl__tensors_find(orr, name, RMTL__DT_F32, 2, dims, &ti) != 0) {
                rmtl_error_clear(); /* no moments yet: no optimiser step was taken */
                continue;
            }
            if (!p->m) {
                p->m = rmtl__calloc(n, sizeof *p->m);
                p->v = rmtl__calloc(n, sizeof *p->v);
                if (!p->m || !p->v)
                    return rmtl__error(RMTL_ENOMEM, "fusion: out of memory for moments");
            }
            rc = rmtl__tensors_read_f32(orr, name, 2, dims, p->m, n);
            rmtl__fnet_name(name, sizeof name, "v/", rmtl__fnets[i].prefix, p->name);
            if (!rc)
                rc = rmtl__tensors_read_f32(orr, name, 2, dims, p->v, n);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int rmtl__fusion_get_rlst(rmtl_fusion *f, const void *data, size_t len)
{
    rmtl__rbuf r;
    rmtl__rbuf_init(&r, data, len);
    uint64_t steps = rmtl__get_u64(&r), ta = rmtl__get_u64(&r), tc = rmtl__get_u64(&r), s[4];
    for (int i = 0; i < 4; i++)
        s[i] = rmtl__get_u64(&r);
    uint64_t noise = rmtl__get_u64(&r);
    if (r.failed || rmtl__rbuf_left(&r) != 0 || rmtl__rng_set_state(&f->rng, s) != 0)
        return rmtl__error(RMTL_EFORMAT, "checkpoint section 'RLST' is malformed");
    f->steps = steps;
    f->noise = noise;
    f->actor_opt.t = ta;
    f->critic_opt.t = tc;
    return 0;
}

static int rmtl__fusion_read(rmtl_fusion *f, const rmtl__ckpt_reader *cr)
{
    const void *data;
    size_t len;
    int rc = rmtl__ckpt_find(cr, RMTL__TAG_CONF, &data, &len);
    if (!rc)
        rc = rmtl_config_create(&f->cfg);
    if (!rc)
        rc = rmtl_config_load_string(f->cfg, data, len, "checkpoint CONF");
    if (rc)
        return rc == RMTL_ECONFIG ? rmtl__error_prefix(RMTL_EFORMAT, "checkpoint section 'CONF'")
                                  : rc;
    if ((rc = rmtl__fusion_dims(f)) || (rc = rmtl__fusion_build(f)))
        return rc == RMTL_ECONFIG ? rmtl__error_prefix(RMTL_EFORMAT, "checkpoint section 'CONF'")
                                  : rc;
    int fixed = 0;
    if ((rc = rmtl__ckpt_find(cr, RMTL__TAG_FUSE, &data, &len)) ||
        (rc = rmtl__fusion_get_fuse(f, data, len, &fixed)))
        return rc;
    int training = rmtl__ckpt_has(cr, RMTL__TAG_RLST);
    if (training != rmtl__ckpt_has(cr, RMTL__TAG_OPTS))
        return rmtl__error(RMTL_EFORMAT, "checkpoint has only one of 'OPTS' and 'RLST'");
    rmtl__tensors_reader tr, orr;
    memset(&orr, 0, sizeof orr);
    if ((rc = rmtl__ckpt_find(cr, RMTL__TAG_TENS, &data, &len)) ||
        (rc = rmtl__tensors_open(&tr, data, len)))
        return rc;
    if (training) {
        const void *od;
        size_t ol;
        if (!(rc = rmtl__ckpt_find(cr, RMTL__TAG_OPTS, &od, &ol)))
            rc = rmtl__tensors_open(&orr, od, ol);
    }
    if (!rc)
        rc = rmtl__fusion_get_tensors(f, &tr, &orr, training);
    rmtl__tensors_close(&tr);
    rmtl__tensors_close(&orr);
    if (!rc && training && !(rc = rmtl__ckpt_find(cr, RMTL__TAG_RLST, &data, &len)))
        rc = rmtl__fusion_get_rlst(f, data, len);
    if (rc)
        return rc;
    /* without training state, training resumes from the served policy */
    if (!training && ((rc = rmtl__params_copy(&f->actor_ps, &f->dep_ps)) ||
                      (rc = rmtl__params_copy(&f->actor_tps, &f->dep_ps))))
        return rc;
    if ((rc = rmtl__fserve_build(&f->serve, &f->dep, f->user_dim, f->ctx_dim, f->in_pair)))
        return rc;
    f->fixed = fixed;
    return 0;
}

int rmtl_fusion_load_buffer(rmtl_fusion **out, const void *buf, size_t len)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(buf || len == 0, "buf");
    static const uint32_t known[] = {RMTL__TAG_CONF, RMTL__TAG_FUSE, RMTL__TAG_TENS,
                                     RMTL__TAG_OPTS, RMTL__TAG_RLST, RMTL__TAG_META};
    rmtl__ckpt_reader cr;
    int rc = rmtl__ckpt_open(&cr, buf, len, known, sizeof known / sizeof known[0]);
    if (rc)
        return rmtl__error_prefix(rmtl__ckpt_kind_error(buf, len, RMTL__CKPT_FUSION, rc),
                                  "rmtl_fusion_load");
    if (!rmtl__ckpt_has(&cr, RMTL__TAG_FUSE)) {
        rmtl__ckpt_close(&cr);
        rc = rmtl__error(RMTL_EFORMAT, "not a fusion checkpoint (no 'FUSE' section)");
        return rmtl__error_prefix(rmtl__ckpt_kind_error(buf, len, RMTL__CKPT_FUSION, rc),
                                  "rmtl_fusion_load");
    }
    rmtl_fusion *f = rmtl__calloc(1, sizeof *f);
    if (!f) {
        rmtl__ckpt_close(&cr);
        return rmtl__error(RMTL_ENOMEM, "rmtl_fusion_load: out of memory");
    }
    rc = rmtl__fusion_read(f, &cr);
    rmtl__ckpt_close(&cr);
    if (rc) {
        rmtl_fusion_free(f);
        return rmtl__error_prefix(rc, "rmtl_fusion_load");
    }
    *out = f;
    return RMTL_OK;
}

static int rmtl__fusion_parse_file(void *out, const void *buf, size_t len)
{
    return rmtl_fusion_load_buffer(out, buf, len);
}

int rmtl_fusion_load(rmtl_fusion **out, const char *path)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    return rmtl__ckpt_load_file(out, path, rmtl__fusion_parse_file, "rmtl_fusion_load");
}
