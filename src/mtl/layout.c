/* Model layout: construction, copy and the ARCH section (see layout.h). */
#include "mtl/layout.h"

#include "core/internal.h"

#include <stdio.h>
#include <string.h>

#define RMTL__ARCH_VERSION 1u

void rmtl__layout_free(rmtl__layout *l)
{
    if (!l)
        return;
    for (size_t k = 0; l->task && k < l->n_tasks; k++)
        rmtl__free(l->task[k]);
    rmtl__free(l->task);
    rmtl__free(l->vocab);
    memset(l, 0, sizeof *l);
}

int rmtl__layout_init(rmtl__layout *l, size_t n_cat, const size_t *vocab, size_t n_num,
                      size_t n_tasks, const char *const *names)
{
    memset(l, 0, sizeof *l);
    if (n_cat + n_num == 0)
        return rmtl__error(RMTL_EINVAL, "model layout: no categorical or numerical feature");
    if (n_cat && !vocab)
        return rmtl__error(RMTL_EINVAL, "model layout: %zu fields but no vocabulary sizes",
                           n_cat);
    for (size_t f = 0; f < n_cat; f++)
        if (vocab[f] == 0 || vocab[f] > (size_t)INT32_MAX + 1)
            return rmtl__error(RMTL_EINVAL,
                               "model layout: field %zu has vocabulary size %zu (needs 1 to "
                               "2^31: ids are int32 and id 0 is the unknown id)",
                               f, vocab[f]);
    if (n_tasks == 0 || n_tasks > RMTL__TASKS_MAX)
        return rmtl__error(RMTL_EINVAL, "model layout: %zu tasks (a model has 1 to %d)",
                           n_tasks, RMTL__TASKS_MAX);
    for (size_t k = 0; names && k < n_tasks; k++) {
        if (!names[k] || !names[k][0])
            return rmtl__error(RMTL_EINVAL, "model layout: task %zu has no name", k);
        for (size_t j = 0; j < k; j++)
            if (!strcmp(names[j], names[k]))
                return rmtl__error(RMTL_EINVAL, "model layout: task name '%s' used twice",
                                   names[k]);
    }
    l->n_cat = n_cat;
    l->n_num = n_num;
    l->vocab = rmtl__mallocarray(n_cat ? n_cat : 1, sizeof *l->vocab);
    l->task = rmtl__calloc(n_tasks, sizeof *l->task);
    if (!l->vocab || !l->task) {
        rmtl__free(l->vocab);
        rmtl__free(l->task);
        memset(l, 0, sizeof *l);
        return rmtl__error(RMTL_ENOMEM, "model layout: out of memory");
    }
    l->n_tasks = n_tasks;
    if (n_cat)
        memcpy(l->vocab, vocab, n_cat * sizeof *vocab);
    for (size_t k = 0; k < n_tasks; k++) {
        char def[32];
        snprintf(def, sizeof def, "task_%zu", k);
        l->task[k] = rmtl__strdup(names ? names[k] : def);
        if (!l->task[k]) {
            rmtl__layout_free(l);
            return rmtl__error(RMTL_ENOMEM, "model layout: out of memory");
        }
    }
    return 0;
}

int rmtl__layout_copy(rmtl__layout *dst, const rmtl__layout *src)
{
    return rmtl__layout_init(dst, src->n_cat, src->vocab, src->n_num, src->n_tasks,
                             (const char *const *)src->task);
}

void rmtl__layout_write(rmtl__wbuf *w, const rmtl__layout *l, const char *arch)
{
    rmtl__put_u32(w, RMTL__ARCH_VERSION);
    rmtl__put_str(w, arch);
    rmtl__put_u64(w, l->n_cat);
    for (size_t f = 0; f < l->n_cat; f++)
        rmtl__put_u64(w, l->vocab[f]);
    rmtl__put_u64(w, l->n_num);
    rmtl__put_u32(w, (uint32_t)l->n_tasks);
    for (size_t k = 0; k < l->n_tasks; k++)
        rmtl__put_str(w, l->task[k]);
}

/* A u32-length string: RMTL_EFORMAT when it overruns the payload or is
 * empty, RMTL_ENOMEM when it cannot be copied. */
static int rmtl__read_name(rmtl__rbuf *r, char **out)
{
    size_t left = rmtl__rbuf_left(r);
    uint32_t n = left >= 4 ? rmtl__load_u32le(r->data + r->pos) : 0;
    if (left < 4 || n == 0 || n > left - 4)
        return RMTL_EFORMAT;
    *out = rmtl__get_str(r);
    return *out ? 0 : RMTL_ENOMEM;
}

int rmtl__layout_read(rmtl__layout *l, char *arch, size_t cap, const void *data, size_t len)
{
    memset(l, 0, sizeof *l);
    rmtl__rbuf r;
    rmtl__rbuf_init(&r, data, len);
    uint32_t version = rmtl__get_u32(&r);
    if (!r.failed && version > RMTL__ARCH_VERSION)
        return rmtl__error(RMTL_EVERSION,
                           "checkpoint section 'ARCH': layout version %u is newer than this "
                           "library's %u",
                           version, RMTL__ARCH_VERSION);
    char *name = NULL, *task[RMTL__TASKS_MAX] = {NULL};
    size_t *vocab = NULL;
    uint64_t n_cat = 0, n_num = 0;
    uint32_t n_tasks = 0;
    int rc = r.failed || version == 0 ? RMTL_EFORMAT : rmtl__read_name(&r, &name);
    if (!rc) {
        n_cat = rmtl__get_u64(&r);
        /* each vocabulary size takes 8 bytes: the allocation is bounded */
        if (r.failed || n_cat > rmtl__rbuf_left(&r) / 8)
            rc = RMTL_EFORMAT;
        else if (!(vocab = rmtl__mallocarray(n_cat ? (size_t)n_cat : 1, sizeof *vocab)))
            rc = RMTL_ENOMEM;
    }
    for (size_t f = 0; !rc && f < n_cat; f++) {
        uint64_t v = rmtl__get_u64(&r);
        vocab[f] = v > SIZE_MAX ? 0 : (size_t)v;
    }
    if (!rc) {
        n_num = rmtl__get_u64(&r);
        n_tasks = rmtl__get_u32(&r);
        if (r.failed || n_tasks == 0 || n_tasks > RMTL__TASKS_MAX || n_num > SIZE_MAX)
            rc = RMTL_EFORMAT;
    }
    for (uint32_t k = 0; !rc && k < n_tasks; k++)
        rc = rmtl__read_name(&r, &task[k]);
    if (!rc && rmtl__rbuf_left(&r) != 0)
        rc = RMTL_EFORMAT;
    if (rc == RMTL_EFORMAT)
        rmtl__error(rc, "checkpoint section 'ARCH': malformed model layout");
    else if (rc == RMTL_ENOMEM)
        rmtl__error(rc, "checkpoint section 'ARCH': out of memory");
    if (!rc) {
        rc = rmtl__layout_init(l, (size_t)n_cat, vocab, (size_t)n_num, n_tasks,
                               (const char *const *)task);
        if (rc == RMTL_EINVAL)
            rc = rmtl__error_prefix(RMTL_EFORMAT, "checkpoint section 'ARCH'");
        else if (!rc)
            snprintf(arch, cap, "%s", name);
    }
    for (size_t k = 0; k < RMTL__TASKS_MAX; k++)
        rmtl__free(task[k]);
    rmtl__free(vocab);
    rmtl__free(name);
    return rc;
}

int rmtl__layout_check_fits(const rmtl__layout *l, size_t per_id, size_t payload)
{
    size_t left = payload / sizeof(float), per = per_id ? per_id : 1;
    for (size_t f = 0; f < l->n_cat; f++) {
        if (l->vocab[f] > left / per)
            return rmtl__error(RMTL_EFORMAT,
                               "checkpoint section 'ARCH': field %zu's vocabulary of %zu ids "
                               "(%zu floats each) cannot fit in a checkpoint of %zu bytes",
                               f, l->vocab[f], per, payload);
        left -= l->vocab[f] * per;
    }
    /* Each numerical feature has a weight in the first layer (found by
     * fuzzing: a 4.7 KB model file declaring 2e9 features spent a minute
     * allocating and initialising that layer before being refused). */
    if (l->n_num > left)
        return rmtl__error(RMTL_EFORMAT,
                           "checkpoint section 'ARCH': %zu numerical features cannot fit in a "
                           "checkpoint of %zu bytes",
                           l->n_num, payload);
    return 0;
}
