/* rmtl_model: creation, copies, prediction and the training step; rmtl_ctx.
 * Checkpoints are in model_io.c, dataset-driven calls in model_data.c. */
#include "mtl/model.h"

#include "mtl/fold.h"

#include "core/internal.h"
#include "mtl/batch.h"

#include <string.h>

/* --- contexts ------------------------------------------------------------ */

int rmtl_ctx_create(rmtl_ctx **out, int threads)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    if (threads < 0)
        return rmtl__error(RMTL_EINVAL, "rmtl_ctx_create: threads %d is negative", threads);
    rmtl_ctx *c = rmtl__calloc(1, sizeof *c);
    if (!c)
        return rmtl__error(RMTL_ENOMEM, "rmtl_ctx_create: out of memory");
    rmtl__ws_init(&c->ws, threads ? threads : 1);
    *out = c;
    return 0;
}

void rmtl_ctx_free(rmtl_ctx *ctx)
{
    if (!ctx)
        return;
    rmtl__ws_free(&ctx->ws);
    rmtl__tape_free(&ctx->tape);
    rmtl__free(ctx->enc_cat);
    rmtl__free(ctx->enc_num);
    rmtl__free(ctx);
}

/* --- lifetime ------------------------------------------------------------ */

void rmtl_model_free(rmtl_model *m)
{
    if (!m)
        return;
    rmtl__net_free(&m->net);
    rmtl__layout_free(&m->lay);
    rmtl__ws_free(&m->ws);
    rmtl__tape_free(&m->tape);
    rmtl__model_free_schema(m);
    rmtl__gx_free(&m->gx);
    rmtl_config_free(m->cfg);
    rmtl__free(m);
}

int rmtl__model_create_layout(rmtl_model **out, const rmtl_config *cfg,
                              const rmtl__layout *lay)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(cfg, "cfg");
    rmtl__mtlhp hp;
    int rc = rmtl__mtlhp_from_config(&hp, cfg);
    if (!rc)
        rc = rmtl__blis_init(hp.rt.blis_arch);
    if (rc)
        return rc;
    rmtl_model *m = rmtl__calloc(1, sizeof *m);
    if (!m)
        return rmtl__error(RMTL_ENOMEM, "model: out of memory");
    m->hp = hp;
    const rmtl__mtlhp *p = &m->hp;
    rc = rmtl_config_clone(&m->cfg, cfg);
    if (!rc)
        rc = rmtl__layout_copy(&m->lay, lay);
    if (!rc)
        rc = rmtl__net_init(&m->net, p, &m->lay);
    if (rc) {
        rmtl_model_free(m);
        return rc;
    }
    rmtl__hp_optim_adam(&m->opt, &p->optim, p->optim.lr);
    rmtl__rng_seed(&m->drop, p->rt.seed, RMTL__STREAM_DROPOUT);
    rmtl__rng_seed(&m->shuffle, p->rt.seed, RMTL__STREAM_SAMPLE);
    rmtl__ws_init(&m->ws, p->rt.threads);
    *out = m;
    return 0;
}

/* Moments of dst's parameter like src's (allocated on demand). */
static int rmtl__copy_moments(rmtl__param *dst, const rmtl__param *src)
{
    size_t n = src->rows * src->cols;
    if (!src->m) {
        rmtl__free(dst->m);
        rmtl__free(dst->v);
        dst->m = dst->v = NULL;
        return 0;
    }
    if (!dst->m) {
        float *mm = rmtl__calloc(n, sizeof(float)), *vv = mm ? rmtl__calloc(n, sizeof(float)) : NULL;
        if (!vv) {
            rmtl__free(mm);
            return rmtl__error(RMTL_ENOMEM, "model: out of memory for the moments of '%s'",
                               src->name);
        }
        dst->m = mm;
        dst->v = vv;
    }
    memcpy(dst->m, src->m, n * sizeof(float));
    memcpy(dst->v, src->v, n * sizeof(float));
    return 0;
}

int rmtl__model_copy_state(rmtl_model *dst, const rmtl_model *src)
{
    int rc = rmtl__params_copy(&dst->net.ps, &src->net.ps);
    for (size_t i = 0; !rc && i < src->net.ps.n; i++)
        rc = rmtl__copy_moments(dst->net.ps.p[i], src->net.ps.p[i]);
    if (rc)
        return rc;
    dst->opt.t = src->opt.t;
    dst->drop = src->drop;
    dst->shuffle = src->shuffle;
    return 0;
}

int rmtl_model_clone(rmtl_model **out, const rmtl_model *m)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(m, "m");
    rmtl_model *c;
    int rc = rmtl__model_create_layout(&c, m->cfg, &m->lay);
    if (!rc)
        rc = rmtl__model_copy_state(c, m);
    if (!rc && m->schema)
        rc = rmtl__model_copy_schema(c, m);
    if (rc) {
        rmtl_model_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* --- getters ------------------------------------------------------------- */

size_t rmtl_model_num_tasks(const rmtl_model *m) { return m ? m->lay.n_tasks : 0; }

const char *rmtl_model_task_name(const rmtl_model *m, size_t i)
{
    return m && i < m->lay.n_tasks ? m->lay.task[i] : NULL;
}

size_t rmtl_model_num_params(const rmtl_model *m) { return m ? rmtl__params_size(&m->net.ps) : 0; }

/* --- prediction and training --------------------------------------------- */

int rmtl_model_set_lr(rmtl_model *m, double lr)
{
    RMTL__CHECK_ARG(m, "m");
    /* the config checks the range and keeps the value for clones and CONF */
    int rc = rmtl_config_set_double(m->cfg, "optim.lr", lr);
    if (rc)
        return rc;
    m->hp.optim.lr = m->opt.lr = lr;
    return 0;
}

int rmtl_model_predict(const rmtl_model *m, rmtl_ctx *ctx, const rmtl_batch *batch, float *out,
                       size_t capacity)
{
    RMTL__CHECK_ARG(m, "m");
    RMTL__CHECK_ARG(out, "out");
    int rc = rmtl__batch_check(&m->lay, batch, 0);
    if (rc)
        return rc;
    size_t need = batch->rows * m->lay.n_tasks;
    if (capacity < need)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_model_predict: out holds %zu floats, %zu rows × %zu tasks "
                           "need %zu",
                           capacity, batch->rows, m->lay.n_tasks, need);
    rmtl_ctx *tmp = NULL;
    if (!ctx && (rc = rmtl_ctx_create(&tmp, 1)))
        return rc;
    rmtl_ctx *c = ctx ? ctx : tmp;
    rc = rmtl__net_run(&m->net, &c->ws, &c->tape, NULL, 0, batch, out, m->lay.n_tasks, NULL);
    rmtl_ctx_free(tmp);
    return rc;
}

int rmtl_model_fold_embeddings(rmtl_model *m, size_t max_bytes, size_t *used)
{
    if (used)
        *used = 0;
    RMTL__CHECK_ARG(m, "m");
    /* built before the old one goes, so that a failure changes nothing */
    rmtl__fold *f = NULL;
    int rc =
        max_bytes ? rmtl__fold_build(&f, &m->net, &m->ws.rt, max_bytes, SIZE_MAX, NULL) : 0;
    if (rc)
        return rc;
    rmtl__fold_free(m->net.fold);
    m->net.fold = f;
    if (used)
        *used = rmtl__fold_bytes(f);
    return 0;
}

int rmtl__model_loss(rmtl_model *m, const rmtl_batch *b, int train, double *loss)
{
    int rc = rmtl__batch_check(&m->lay, b, 1);
    if (rc)
        return rc;
    return rmtl__net_run(&m->net, &m->ws, &m->tape, train ? &m->drop : NULL, train, b, NULL, 0,
                         loss);
}

int rmtl_model_train_step(rmtl_model *m, const rmtl_batch *batch, double *loss)
{
    RMTL__CHECK_ARG(m, "m");
    /* a failed step changes nothing, not even the dropout stream */
    rmtl__rng drop = m->drop;
    double l = 0.0;
    int rc = rmtl__model_loss(m, batch, 1, &l);
    if (!rc)
        rc = rmtl__gx_reduce(&m->gx, &m->net.ps, batch->rows, &l, 1, "rmtl_model_train_step");
    if (!rc)
        rc = rmtl__adam_step(&m->opt, &m->ws.rt, &m->net.ps, NULL);
    rmtl__params_zero_grad(&m->net.ps);
    if (rc) {
        m->drop = drop;
        return rc;
    }
    if (loss)
        *loss = l;
    return 0;
}

/* --- gradient exchange (dist/gx.h) -------------------------------------- */
int rmtl_model_set_grad_exchange(rmtl_model *m, const rmtl_grad_exchange *exchange)
{
    static const char fn[] = "rmtl_model_set_grad_exchange";
    RMTL__CHECK_ARG(m, "m");
    int rc = rmtl__gx_set(&m->gx, exchange, fn);
    if (!rc && exchange)
        rmtl__gx_fork_rng(&m->drop, exchange->rank);
    return rc;
}
