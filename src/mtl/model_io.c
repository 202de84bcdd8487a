/* Model checkpoints: CONF (config YAML), ARCH (layout), TENS (weights by
 * name), DATA (schema) and, with RMTL_SAVE_TRAINING_STATE, OPTS (Adam
 * moments by name) and RLST (Adam step, random streams). docs/models.md
 * has the payloads. */
#include "mtl/model.h"

#include "core/ckpt.h"
#include "core/internal.h"
#include "core/tensors.h"

#include <stdio.h>
#include <string.h>

#define RMTL__RLST_VERSION 1u

static const uint32_t rmtl__model_tags[] = {RMTL__TAG_CONF, RMTL__TAG_ARCH, RMTL__TAG_TENS,
                                            RMTL__TAG_DATA, RMTL__TAG_OPTS, RMTL__TAG_RLST};

/* --- saving -------------------------------------------------------------- */

static int rmtl__add_tensor(rmtl__tensors_writer *tw, const char *name, const rmtl__param *p,
                            const float *data)
{
    uint64_t dims[2] = {p->rows, p->cols};
    return rmtl__tensors_add_f32(tw, name, 2, dims, data);
}

/* TENS (which = 0: weights) or OPTS (which = 1: moments "m.<name>",
 * "v.<name>" of the parameters that have them; ps NULL: none) into
 * section `tag`. */
static int rmtl__put_tensors(rmtl__ckpt_writer *cw, uint32_t tag, const rmtl__params *ps,
                             int which)
{
    rmtl__tensors_writer tw;
    rmtl__tensors_writer_init(&tw);
    int rc = 0;
    for (size_t i = 0; !rc && ps && i < ps->n; i++) {
        const rmtl__param *p = ps->p[i];
        if (!which) {
            rc = rmtl__add_tensor(&tw, p->name, p, p->w);
        } else if (p->m) {
            char name[RMTL__NAME_MAX + 8];
            snprintf(name, sizeof name, "m.%s", p->name);
            rc = rmtl__add_tensor(&tw, name, p, p->m);
            snprintf(name, sizeof name, "v.%s", p->name);
            if (!rc)
                rc = rmtl__add_tensor(&tw, name, p, p->v);
        }
    }
    rmtl__wbuf b;
    if (!rc)
        rc = rmtl__tensors_finish(&tw, &b);
    rmtl__tensors_writer_free(&tw);
    return rc ? rc : rmtl__ckpt_add_wbuf(cw, tag, 1, &b);
}

static void rmtl__put_rng(rmtl__wbuf *w, const rmtl__rng *r)
{
    uint64_t s[4];
    rmtl__rng_get_state(r, s);
    for (int i = 0; i < 4; i++)
        rmtl__put_u64(w, s[i]);
}

static int rmtl__model_serialize(const rmtl_model *m, uint32_t flags, unsigned char **out,
                                 size_t *len)
{
    *out = NULL;
    *len = 0;
    if (flags & ~(uint32_t)RMTL_SAVE_TRAINING_STATE)
        return rmtl__error(RMTL_EINVAL, "model save: unknown flags 0x%x",
                           (unsigned)(flags & ~(uint32_t)RMTL_SAVE_TRAINING_STATE));
    int training = (flags & RMTL_SAVE_TRAINING_STATE) != 0;
    rmtl__ckpt_writer cw;
    rmtl__ckpt_writer_init(&cw, training ? RMTL__CKPT_F_TRAINING : 0);
    char *yaml = NULL;
    size_t ylen = 0;
    int rc = rmtl_config_dump(&yaml, &ylen, m->cfg);
    if (!rc)
        rc = rmtl__ckpt_add_section(&cw, RMTL__TAG_CONF, 1, yaml, ylen);
    rmtl__free(yaml);
    rmtl__wbuf w;
    if (!rc) {
        rmtl__wbuf_init(&w);
        rmtl__layout_write(&w, &m->lay, m->hp.arch);
        rc = rmtl__ckpt_add_wbuf(&cw, RMTL__TAG_ARCH, 1, &w);
    }
    if (!rc)
        rc = rmtl__put_tensors(&cw, RMTL__TAG_TENS, &m->net.ps, 0);
    if (!rc && m->schema) {
        rmtl__wbuf_init(&w);
        rc = rmtl__model_schema_save(&w, m);
        if (rc)
            rmtl__wbuf_free(&w);
        else
            rc = rmtl__ckpt_add_wbuf(&cw, RMTL__TAG_DATA, 1, &w);
    }
    /* before the first step there are no moments (or zeros left by a
     * step that failed to allocate the rest): none are saved */
    if (!rc && training)
        rc = rmtl__put_tensors(&cw, RMTL__TAG_OPTS, m->opt.t ? &m->net.ps : NULL, 1);
    if (!rc && training) {
        rmtl__wbuf_init(&w);
        rmtl__put_u32(&w, RMTL__RLST_VERSION);
        rmtl__put_u64(&w, m->opt.t);
        rmtl__put_rng(&w, &m->drop);
        rmtl__put_rng(&w, &m->shuffle);
        rc = rmtl__ckpt_add_wbuf(&cw, RMTL__TAG_RLST, 0, &w);
    }
    if (!rc)
        rc = rmtl__ckpt_finish(&cw, out, len);
    rmtl__ckpt_writer_free(&cw);
    return rc;
}

int rmtl_model_save_buffer(void **out, size_t *len, const rmtl_model *m, uint32_t flags)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(len, "len");
    *len = 0;
    RMTL__CHECK_ARG(m, "m");
    unsigned char *buf;
    int rc = rmtl__model_serialize(m, flags, &buf, len);
    if (!rc)
        *out = buf;
    return rc;
}

int rmtl_model_save(const rmtl_model *m, const char *path, uint32_t flags)
{
    RMTL__CHECK_ARG(m, "m");
    RMTL__CHECK_ARG(path, "path");
    unsigned char *buf;
    size_t len;
    int rc = rmtl__model_serialize(m, flags, &buf, &len);
    if (!rc)
        rc = rmtl__write_file_atomic(path, buf, len);
    rmtl__free(buf);
    return rc;
}

/* --- loading ------------------------------------------------------------- */

/* The config of CONF: anything it rejects is damage (RMTL_EFORMAT). */
static int rmtl__load_conf(rmtl_config **cfg, const rmtl__ckpt_reader *r)
{
    const void *data;
    size_t len;
    int rc = rmtl__ckpt_find(r, RMTL__TAG_CONF, &data, &len);
    if (!rc)
        rc = rmtl_config_create(cfg);
    if (!rc)
        rc = rmtl_config_load_string(*cfg, data, len, "checkpoint CONF");
    if (!rc)
        rc = rmtl_config_validate(*cfg);
    if (rc == RMTL_ECONFIG || rc == RMTL_EINVAL)
        rc = rmtl__error_prefix(RMTL_EFORMAT, "checkpoint section 'CONF'");
    return rc;
}

/* Fills the weights (which = 0) or the moments (which = 1) from a named
 * tensor payload. Every weight must be present and no tensor left over;
 * moments are all present or all absent (no step taken yet). */
static int rmtl__load_tensors(rmtl_model *m, const rmtl__ckpt_reader *r, uint32_t tag,
                              int which)
{
    const void *data;
    size_t len;
    int rc = rmtl__ckpt_find(r, tag, &data, &len);
    rmtl__tensors_reader tr;
    if (!rc)
        rc = rmtl__tensors_open(&tr, data, len);
    if (rc)
        return rc;
    rmtl__params *ps = &m->net.ps;
    size_t want = which ? (tr.n ? 2 * ps->n : 0) : ps->n;
    if (which && tr.n == 0 && m->opt.t > 0)
        rc = rmtl__error(RMTL_EFORMAT, "checkpoint section 'OPTS': no Adam moments after %llu "
                                       "steps",
                         (unsigned long long)m->opt.t);
    else if (tr.n != want)
        rc = rmtl__error(RMTL_EFORMAT,
                         "checkpoint section '%s': %zu tensors, the model has %zu", which ? "OPTS" : "TENS",
                         tr.n, want);
    for (size_t i = 0; !rc && i < ps->n && want; i++) {
        rmtl__param *p = ps->p[i];
        uint64_t dims[2] = {p->rows, p->cols};
        size_t n = p->rows * p->cols;
        if (!which) {
            ps->version++;
            rc = rmtl__tensors_read_f32(&tr, p->name, 2, dims, p->w, n);
            continue;
        }
        if (!p->m) {
            float *mm = rmtl__calloc(n, sizeof(float)), *vv = mm ? rmtl__calloc(n, sizeof(float)) : NULL;
            if (!vv) {
                rmtl__free(mm);
                rc = rmtl__error(RMTL_ENOMEM, "model load: out of memory for moments");
                break;
            }
            p->m = mm;
            p->v = vv;
        }
        char name[RMTL__NAME_MAX + 8];
        snprintf(name, sizeof name, "m.%s", p->name);
        rc = rmtl__tensors_read_f32(&tr, name, 2, dims, p->m, n);
        snprintf(name, sizeof name, "v.%s", p->name);
        if (!rc)
            rc = rmtl__tensors_read_f32(&tr, name, 2, dims, p->v, n);
    }
    rmtl__tensors_close(&tr);
    if (rc == RMTL_EFORMAT)
        rc = rmtl__error_prefix(rc, "checkpoint section '%s'", which ? "OPTS" : "TENS");
    return rc;
}

static int rmtl__get_rng(rmtl__rbuf *b, rmtl__rng *r)
{
    uint64_t s[4];
    for (int i = 0; i < 4; i++)
        s[i] = rmtl__get_u64(b);
    return b->failed || rmtl__rng_set_state(r, s) ? RMTL_EFORMAT : 0;
}

static int rmtl__load_rlst(rmtl_model *m, const rmtl__ckpt_reader *r)
{
    const void *data;
    size_t len;
    int rc = rmtl__ckpt_find(r, RMTL__TAG_RLST, &data, &len);
    if (rc)
        return rc;
    rmtl__rbuf b;
    rmtl__rbuf_init(&b, data, len);
    uint32_t version = rmtl__get_u32(&b);
    if (!b.failed && version > RMTL__RLST_VERSION)
        return rmtl__error(RMTL_EVERSION, "checkpoint section 'RLST': version %u is newer than "
                                          "this library's %u",
                           version, RMTL__RLST_VERSION);
    m->opt.t = rmtl__get_u64(&b);
    rc = version == 0 ? RMTL_EFORMAT : rmtl__get_rng(&b, &m->drop);
    if (!rc)
        rc = rmtl__get_rng(&b, &m->shuffle);
    if (rc || rmtl__rbuf_left(&b))
        return rmtl__error(RMTL_EFORMAT, "checkpoint section 'RLST': malformed training state");
    return 0;
}

static int rmtl__model_parse(rmtl_model **out, const rmtl__ckpt_reader *r)
{
    rmtl_config *cfg = NULL;
    rmtl__layout lay = {0};
    char arch[32];
    int rc = rmtl__load_conf(&cfg, r);
    const void *data;
    size_t len;
    if (!rc)
        rc = rmtl__ckpt_find(r, RMTL__TAG_ARCH, &data, &len);
    if (!rc)
        rc = rmtl__layout_read(&lay, arch, sizeof arch, data, len);
    if (!rc)
        rc = rmtl__layout_check_fits(&lay, 1, rmtl__ckpt_payload(r));
    rmtl_model *m = NULL;
    if (!rc)
        rc = rmtl__model_create_layout(&m, cfg, &lay);
    if (!rc && strcmp(arch, m->hp.arch))
        rc = rmtl__error(RMTL_EFORMAT,
                         "checkpoint sections disagree: ARCH has architecture '%s', CONF '%s'",
                         arch, m->hp.arch);
    if (!rc)
        rc = rmtl__load_tensors(m, r, RMTL__TAG_TENS, 0);
    /* Every model has a schema (rmtl_model_schema() is the reference for
     * scoring new CSV), so DATA is required. Found by fuzzing: a file
     * without it loaded as a model whose schema was NULL. */
    if (!rc)
        rc = rmtl__ckpt_find(r, RMTL__TAG_DATA, &data, &len);
    if (!rc)
        rc = rmtl__model_schema_load(m, data, len);
    if (!rc && (r->flags & RMTL__CKPT_F_TRAINING)) {
        rc = rmtl__load_rlst(m, r);
        if (!rc)
            rc = rmtl__load_tensors(m, r, RMTL__TAG_OPTS, 1);
    }
    rmtl__layout_free(&lay);
    rmtl_config_free(cfg);
    if (rc) {
        rmtl_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int rmtl_model_load_buffer(rmtl_model **out, const void *buf, size_t len)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(buf || len == 0, "buf");
    rmtl__ckpt_reader r;
    int rc = rmtl__ckpt_open(&r, buf, len, rmtl__model_tags,
                             sizeof rmtl__model_tags / sizeof rmtl__model_tags[0]);
    if (!rc)
        rc = rmtl__model_parse(out, &r);
    rmtl__ckpt_close(&r);
    return rc ? rmtl__ckpt_kind_error(buf, len, RMTL__CKPT_MODEL, rc) : 0;
}

static int rmtl__model_parse_file(void *out, const void *buf, size_t len)
{
    return rmtl_model_load_buffer(out, buf, len);
}

int rmtl_model_load(rmtl_model **out, const char *path)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    return rmtl__ckpt_load_file(out, path, rmtl__model_parse_file, "rmtl_model_load");
}
