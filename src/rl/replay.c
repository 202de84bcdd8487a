/* The transition ring buffer and its uniform sampling (replay.h). */
#include "rl/replay.h"

#include "core/internal.h"

#include <math.h>
#include <string.h>

int rmtl__transitions_check(const rmtl_transitions *t, size_t n_cat, size_t n_num,
                            size_t n_tasks, const char *what)
{
    if (!t || t->version == 0 || t->version > RMTL_TRANSITIONS_VERSION)
        return rmtl__error(RMTL_EINVAL,
                           "%s: transitions missing or not initialised with "
                           "RMTL_TRANSITIONS_INIT",
                           what);
    if (t->rows == 0)
        return rmtl__error(RMTL_EINVAL, "%s: no transitions (rows = 0)", what);
    const struct {
        const void *p;
        int needed;
        const char *name;
    } arr[] = {{t->cat, n_cat > 0, "cat"},          {t->num, n_num > 0, "num"},
               {t->action, 1, "action"},            {t->next_cat, n_cat > 0, "next_cat"},
               {t->next_num, n_num > 0, "next_num"}, {t->reward, 1, "reward"},
               {t->done, 1, "done"},                {t->labels, 1, "labels"}};
    for (size_t k = 0; k < sizeof arr / sizeof arr[0]; k++)
        if (arr[k].needed && !arr[k].p)
            return rmtl__error(RMTL_EINVAL, "%s: transitions have no '%s' array", what,
                               arr[k].name);
    const struct {
        const float *p;
        size_t w;
        const char *name;
    } f[] = {{t->num, n_num, "num"},        {t->next_num, n_num, "next_num"},
             {t->action, n_tasks, "action"}, {t->reward, n_tasks, "reward"},
             {t->labels, n_tasks, "labels"}};
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
        for (size_t i = 0; i < t->rows * f[k].w; i++)
            if (!isfinite(f[k].p[i]))
                return rmtl__error(RMTL_ENUMERIC, "%s: non-finite %s at row %zu, column %zu",
                                   what, f[k].name, i / f[k].w, i % f[k].w);
    for (size_t i = 0; i < t->rows * n_tasks; i++)
        if (!(t->action[i] >= 0.0f && t->action[i] <= 1.0f))
            return rmtl__error(RMTL_EINVAL, "%s: action %g of task %zu at row %zu is outside [0, 1]",
                               what, (double)t->action[i], i % n_tasks, i / n_tasks);
    for (size_t i = 0; i < t->rows; i++)
        if (t->done[i] > 1)
            return rmtl__error(RMTL_EINVAL, "%s: done flag %u at row %zu is not 0 or 1", what,
                               (unsigned)t->done[i], i);
    return 0;
}

static void rmtl__tbuf_free(rmtl__tbuf *b)
{
    rmtl__free(b->cat);
    rmtl__free(b->next_cat);
    rmtl__free(b->num);
    rmtl__free(b->next_num);
    rmtl__free(b->action);
    rmtl__free(b->reward);
    rmtl__free(b->labels);
    rmtl__free(b->done);
    memset(b, 0, sizeof *b);
}

/* The per-field arrays of `rows` transitions, allocated together so that
 * a failure leaves nothing behind. */
static int rmtl__fields_alloc(size_t rows, size_t n_cat, size_t n_num, size_t n_tasks,
                              int32_t **cat, int32_t **next_cat, float **num, float **next_num,
                              float **action, float **reward, float **labels, uint8_t **done)
{
    *cat = rmtl__mallocarray(rows, (n_cat ? n_cat : 1) * sizeof(int32_t));
    *next_cat = rmtl__mallocarray(rows, (n_cat ? n_cat : 1) * sizeof(int32_t));
    *num = n_num ? rmtl__mallocarray(rows, n_num * sizeof(float)) : NULL;
    *next_num = n_num ? rmtl__mallocarray(rows, n_num * sizeof(float)) : NULL;
    *action = rmtl__mallocarray(rows, n_tasks * sizeof(float));
    *reward = rmtl__mallocarray(rows, n_tasks * sizeof(float));
    *labels = rmtl__mallocarray(rows, n_tasks * sizeof(float));
    *done = rmtl__mallocarray(rows, 1);
    if (*cat && *next_cat && (!n_num || (*num && *next_num)) && *action && *reward && *labels &&
        *done)
        return 0;
    void *all[] = {*cat, *next_cat, *num, *next_num, *action, *reward, *labels, *done};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        rmtl__free(all[k]);
    *cat = *next_cat = NULL;
    *num = *next_num = *action = *reward = *labels = NULL;
    *done = NULL;
    return RMTL_ENOMEM;
}

int rmtl_replay_create(rmtl_replay **out, size_t capacity, size_t n_cat, size_t n_num,
                       size_t n_tasks, uint64_t seed)
{
    RMTL__CHECK_ARG(out, "out");
    *out = NULL;
    if (capacity == 0 || capacity > (size_t)1 << 31)
        return rmtl__error(RMTL_EINVAL, "rmtl_replay_create: capacity %zu is not in [1, 2^31]",
                           capacity);
    if (n_tasks == 0 || n_cat + n_num == 0)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_replay_create: needs at least one task and one state field "
                           "(got %zu tasks, %zu categorical, %zu numerical)",
                           n_tasks, n_cat, n_num);
    rmtl_replay *rb = rmtl__calloc(1, sizeof *rb);
    if (!rb)
        return rmtl__error(RMTL_ENOMEM, "rmtl_replay_create: out of memory");
    rb->cap = capacity;
    rb->n_cat = n_cat;
    rb->n_num = n_num;
    rb->n_tasks = n_tasks;
    rb->perm = rmtl__mallocarray(capacity, sizeof *rb->perm);
    if (!rb->perm ||
        rmtl__fields_alloc(capacity, n_cat, n_num, n_tasks, &rb->cat, &rb->next_cat, &rb->num,
                           &rb->next_num, &rb->action, &rb->reward, &rb->labels, &rb->done)) {
        rmtl_replay_free(rb);
        return rmtl__error(RMTL_ENOMEM, "rmtl_replay_create: out of memory for %zu transitions",
                           capacity);
    }
    rmtl__rng_seed(&rb->sample_rng, seed, RMTL__STREAM_SAMPLE);
    rmtl__rng_seed(&rb->noise_rng, seed, RMTL__STREAM_NOISE);
    *out = rb;
    return 0;
}

void rmtl_replay_free(rmtl_replay *rb)
{
    if (!rb)
        return;
    rmtl__free(rb->cat);
    rmtl__free(rb->next_cat);
    rmtl__free(rb->num);
    rmtl__free(rb->next_num);
    rmtl__free(rb->action);
    rmtl__free(rb->reward);
    rmtl__free(rb->labels);
    rmtl__free(rb->done);
    rmtl__free(rb->perm);
    rmtl__tbuf_free(&rb->out);
    rmtl__free(rb);
}

size_t rmtl_replay_size(const rmtl_replay *rb) { return rb ? rb->size : 0; }

size_t rmtl_replay_capacity(const rmtl_replay *rb) { return rb ? rb->cap : 0; }

/* Copies row `i` of each field of t into slot `s` of the arrays. */
#define RMTL__COPY_ROW(dst, src, w, s, i)                                    \
    do {                                                                     \
        if (w)                                                               \
            memcpy((dst) + (s) * (w), (src) + (i) * (w), (w) * sizeof *(dst)); \
    } while (0)

int rmtl_replay_store(rmtl_replay *rb, const rmtl_transitions *t)
{
    RMTL__CHECK_ARG(rb, "rb");
    int rc = rmtl__transitions_check(t, rb->n_cat, rb->n_num, rb->n_tasks, "rmtl_replay_store");
    if (rc)
        return rc;
    size_t c = rb->n_cat, m = rb->n_num, k = rb->n_tasks;
    for (size_t i = 0; i < t->rows; i++) {
        size_t s = rb->head;
        RMTL__COPY_ROW(rb->cat, t->cat, c, s, i);
        RMTL__COPY_ROW(rb->next_cat, t->next_cat, c, s, i);
        RMTL__COPY_ROW(rb->num, t->num, m, s, i);
        RMTL__COPY_ROW(rb->next_num, t->next_num, m, s, i);
        RMTL__COPY_ROW(rb->action, t->action, k, s, i);
        RMTL__COPY_ROW(rb->reward, t->reward, k, s, i);
        RMTL__COPY_ROW(rb->labels, t->labels, k, s, i);
        rb->done[s] = t->done[i];
        /* slots fill in order 0, 1, ... before the ring wraps, so a new
         * slot's number is the current size */
        if (rb->size < rb->cap)
            rb->perm[rb->size++] = (uint32_t)s;
        rb->head = s + 1 == rb->cap ? 0 : s + 1;
    }
    return 0;
}

static int rmtl__tbuf_reserve(rmtl__tbuf *b, size_t rows, size_t n_cat, size_t n_num,
                              size_t n_tasks)
{
    if (rows <= b->cap)
        return 0;
    rmtl__tbuf nb = {0};
    if (rmtl__fields_alloc(rows, n_cat, n_num, n_tasks, &nb.cat, &nb.next_cat, &nb.num,
                           &nb.next_num, &nb.action, &nb.reward, &nb.labels, &nb.done))
        return rmtl__error(RMTL_ENOMEM, "replay: out of memory for a batch of %zu", rows);
    nb.cap = rows;
    rmtl__tbuf_free(b);
    *b = nb;
    return 0;
}

static int rmtl__view_check(const rmtl_transitions *out, const char *fn)
{
    if (!out || out->version == 0 || out->version > RMTL_TRANSITIONS_VERSION)
        return rmtl__error(RMTL_EINVAL,
                           "%s: 'out' missing or not initialised with RMTL_TRANSITIONS_INIT",
                           fn);
    return 0;
}

int rmtl_replay_sample(rmtl_transitions *out, rmtl_replay *rb, size_t batch)
{
    RMTL__CHECK_ARG(rb, "rb");
    int rc = rmtl__view_check(out, "rmtl_replay_sample");
    if (rc)
        return rc;
    if (batch == 0 || batch > rb->cap)
        return rmtl__error(RMTL_EINVAL,
                           "rmtl_replay_sample: batch %zu is not in [1, capacity %zu]", batch,
                           rb->cap);
    if (batch > rb->size)
        return rmtl__error(RMTL_ESTATE,
                           "rmtl_replay_sample: batch %zu is larger than the %zu transitions "
                           "held",
                           batch, rb->size);
    size_t c = rb->n_cat, m = rb->n_num, k = rb->n_tasks;
    rc = rmtl__tbuf_reserve(&rb->out, batch, c, m, k);
    if (rc)
        return rc;
    rmtl__tbuf *b = &rb->out;
    for (size_t i = 0; i < batch; i++) {
        size_t j = i + (size_t)rmtl__rng_below(&rb->sample_rng, rb->size - i);
        uint32_t s = rb->perm[j];
        rb->perm[j] = rb->perm[i];
        rb->perm[i] = s;
        RMTL__COPY_ROW(b->cat, rb->cat, c, i, s);
        RMTL__COPY_ROW(b->next_cat, rb->next_cat, c, i, s);
        RMTL__COPY_ROW(b->num, rb->num, m, i, s);
        RMTL__COPY_ROW(b->next_num, rb->next_num, m, i, s);
        RMTL__COPY_ROW(b->action, rb->action, k, i, s);
        RMTL__COPY_ROW(b->reward, rb->reward, k, i, s);
        RMTL__COPY_ROW(b->labels, rb->labels, k, i, s);
        b->done[i] = rb->done[s];
    }
    out->rows = batch;
    out->cat = b->cat;
    out->num = b->num;
    out->action = b->action;
    out->next_cat = b->next_cat;
    out->next_num = b->next_num;
    out->reward = b->reward;
    out->done = b->done;
    out->labels = b->labels;
    return 0;
}

int rmtl_replay_get(rmtl_transitions *out, const rmtl_replay *rb, size_t index)
{
    RMTL__CHECK_ARG(rb, "rb");
    int rc = rmtl__view_check(out, "rmtl_replay_get");
    if (rc)
        return rc;
    if (index >= rb->size)
        return rmtl__error(RMTL_EINVAL, "rmtl_replay_get: index %zu is not below the size %zu",
                           index, rb->size);
    /* the oldest transition sits at head once the ring has wrapped, else at 0 */
    size_t s = rb->size == rb->cap ? (rb->head + index) % rb->cap : index;
    size_t c = rb->n_cat, m = rb->n_num, k = rb->n_tasks;
    out->rows = 1;
    out->cat = rb->cat + s * c;
    out->num = m ? rb->num + s * m : NULL;
    out->action = rb->action + s * k;
    out->next_cat = rb->next_cat + s * c;
    out->next_num = m ? rb->next_num + s * m : NULL;
    out->reward = rb->reward + s * k;
    out->done = rb->done + s;
    out->labels = rb->labels + s * k;
    return 0;
}
