/* A fusion handle that fits a model: T and the task names come from the
 * model (through model.tasks of the handle's config copy, so checkpoints
 * keep them), and serving checks that a handle and a model agree. */
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "core/params.h"
#include "fusion/fusion.h"

/* 1 when cfg's model.tasks is the default list (the caller left it). */
static int rmtl__tasks_default(const rmtl__slist *t)
{
    rmtl_config *d = NULL;
    if (rmtl_config_create(&d))
        return 0;
    const rmtl__slist *dt = &rmtl__config_params(d)->model.tasks;
    int same = dt->n == t->n;
    for (size_t i = 0; same && i < t->n; i++)
        same = !strcmp(dt->v[i], t->v[i]);
    rmtl_config_free(d);
    return same;
}

/* RMTL_EINVAL/ECONFIG (code) unless the names `t` are the model's. */
static int rmtl__tasks_match(int code, const char *fn, const char *what, const rmtl__slist *t,
                             const rmtl_model *m)
{
    size_t T = rmtl_model_num_tasks(m);
    if (t->n != T)
        return rmtl__error(code, "%s: %s has %zu tasks, the model predicts %zu", fn, what, t->n,
                           T);
    for (size_t i = 0; i < T; i++)
        if (strcmp(t->v[i], rmtl_model_task_name(m, i)))
            return rmtl__error(code, "%s: task %zu is '%s' in %s, '%s' in the model", fn, i,
                               t->v[i], what, rmtl_model_task_name(m, i));
    return 0;
}

int rmtl_fusion_create_for_model(rmtl_fusion **out, const rmtl_config *cfg,
                                 const rmtl_model *model)
{
    static const char fn[] = "rmtl_fusion_create_for_model";
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    RMTL__CHECK_ARG(cfg, "cfg");
    RMTL__CHECK_ARG(model, "model");
    const rmtl__slist *given = &rmtl__config_params(cfg)->model.tasks;
    if (!rmtl__tasks_default(given)) {
        int rc = rmtl__tasks_match(RMTL_ECONFIG, fn, "the config's model.tasks", given, model);
        if (rc)
            return rc;
        return rmtl_fusion_create(out, cfg);
    }
    size_t T = rmtl_model_num_tasks(model);
    char list[RMTL__NAMES_CAP * (RMTL__NAME_CAP + 2) + 4];
    size_t n = 0;
    list[n++] = '[';
    for (size_t i = 0; i < T; i++) {
        const char *name = rmtl_model_task_name(model, i);
        if (T > RMTL__NAMES_CAP || strlen(name) >= RMTL__NAME_CAP)
            return rmtl__error(RMTL_ECONFIG, "%s: the model's tasks (%zu, '%s') do not fit "
                               "model.tasks (at most %d names of %d characters)",
                               fn, T, name, RMTL__NAMES_CAP, RMTL__NAME_CAP - 1);
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", name);
    }
    snprintf(list + n, sizeof list - n, "]");
    rmtl_config *c = NULL;
    int rc = rmtl_config_clone(&c, cfg);
    if (!rc && (rc = rmtl_config_set(c, "model.tasks", list)))
        rc = rmtl__error_prefix(rc, "%s: the model's task names", fn);
    if (!rc)
        rc = rmtl_fusion_create(out, c);
    rmtl_config_free(c);
    return rc;
}

int rmtl_fusion_check_model(const rmtl_fusion *f, const rmtl_model *model)
{
    RMTL__CHECK_ARG(f, "f");
    RMTL__CHECK_ARG(model, "model");
    return rmtl__tasks_match(RMTL_EINVAL, "rmtl_fusion_check_model", "the fusion",
                             &rmtl__config_params(f->cfg)->model.tasks, model);
}
