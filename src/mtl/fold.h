/*
 * The folded input layer: a serving cache (rmtl_model_fold_embeddings).
 *
 * Every module that reads the network input x0 = [e_1 … e_F, num·Wn + bn]
 * starts with a Linear, x0·W + b, and W is the largest matrix of most
 * networks (ESMM at the reference shape: 1024 × 512 of 1.4 M weights per
 * tower). That product is linear in each field's embedding row, so it can
 * be computed once per vocabulary entry:
 *   x0·W + b = Σ_f E_f[id_f]·W_f + num·(Wn·W_num) + (b + bn·W_num)
 * where W_f are the rows of W that field f's block meets. The cache holds,
 * for all such modules side by side (columns), the rows E_f·W_f of every
 * folded field, the rows Wn·W_num and the constant row; a prediction then
 * gathers F + 1 rows and adds num_j times the numerical rows instead of
 * streaming W. Fields are folded from the smallest vocabulary up while the
 * cache fits its budget; the others keep their product with W.
 *
 * It is computed from the weights at one moment: the network's parameter
 * list version (nn/param.h) at that moment is kept, and the evaluation
 * pass uses the cache only while the version is unchanged.
 *
 * Training uses it too (src/rl/): when a field's vocabulary is smaller
 * than the rows a set of weights will see before it changes, computing
 * its E_f·W_f costs fewer FLOPs than the products it replaces. The RL
 * update evaluates its target networks and critics on 2048-row batches
 * over vocabularies of a few thousand ids, so it rebuilds a cache per
 * weight change (max_vocab: the rows that will use it).
 */
#ifndef RMTL_MTL_FOLD_H
#define RMTL_MTL_FOLD_H

#include "mtl/net.h"

#include <stdint.h>

typedef struct rmtl__fold {
    uint64_t version;  /* the parameter list version it was computed from */
    size_t max_vocab;  /* the plan's limit on a folded field's vocabulary */
    const rmtl__embed *emb;
    const rmtl__linear *extra;     /* see rmtl__fold_make, or NULL */
    const rmtl__linear **lin;      /* per module: its folded first Linear, or NULL */
    size_t n_lin;
    size_t width;     /* Σ first-layer widths of the folded modules */
    size_t *col;      /* per module: its first column, SIZE_MAX: not folded */
    size_t *row;      /* per categorical field: its first row, SIZE_MAX: not folded */
    size_t num_row;   /* first of the n_num numerical rows */
    size_t extra_row; /* first of the extra->in rows of the extra block */
    size_t bias_row;  /* the constant row */
    size_t rows;
    float *table;     /* rows × width */
    size_t table_bytes; /* allocated for table, at least rows × width floats */
    int need_x0;      /* a field is not folded, or a module reading x0 cannot be */
} rmtl__fold;

/*
 * The general form, for any network whose modules read
 *   x0 = [e_1 … e_F, num·Wn + bn, u·Wu + bu]
 * where the last block, `extra` = Linear(n_u → dim) of per-row scalars u,
 * is optional (the critic's action field). lin[i] (n_lin entries, NULL:
 * module i is not folded) are the first Linears that read x0; pointers
 * into the network, which must outlive the cache. A field is folded when
 * its vocabulary is at most max_vocab and the cache still fits max_bytes;
 * *out is NULL when not even the numerical, extra and constant rows fit.
 * version is stored for the owner's staleness check. reuse (NULL: none)
 * is an old cache that the call frees, in every case, after taking its
 * table's memory if that is large enough: a training owner rebuilds per
 * weight change, and a fresh table of tens of MiB would cost a page fault
 * per 4 KiB each time. RMTL_ENOMEM.
 */
int rmtl__fold_make(rmtl__fold **out, const rmtl__embed *emb, const rmtl__linear *extra,
                    const rmtl__linear *const *lin, size_t n_lin, int need_x0,
                    const rmtl__rt *rt, size_t max_bytes, size_t max_vocab, uint64_t version,
                    rmtl__fold *reuse);
/* The first-layer outputs of the folded modules for n rows into H (n ×
 * width): gathered rows, num (n × n_num, contiguous) and u (u[i·ldu + j])
 * times their rows, plus the products of the unfolded fields' blocks of x0
 * (row stride ldx0; read only when need_x0) with their rows of W. */
void rmtl__fold_rows(const rmtl__fold *f, const rmtl__rt *rt, size_t n, const int32_t *cat,
                     const float *num, const float *u, size_t ldu, const float *x0,
                     size_t ldx0, float *H);

/* How a training owner (critic, actor target) folds: by the rule of
 * rmtl__fold_limit (the default), never, or every field (tests take each
 * path on small data). */
enum { RMTL__FOLD_AUTO = 0, RMTL__FOLD_OFF, RMTL__FOLD_ALL };

/* max_vocab for weights that `rows` rows will read before they change:
 * folding field f costs V_f·d·o multiply-adds, its products rows·d·o. */
static inline size_t rmtl__fold_limit(int mode, size_t rows)
{
    return mode == RMTL__FOLD_OFF ? 0 : mode == RMTL__FOLD_ALL ? SIZE_MAX : rows;
}

/* A network's cache (rmtl_model_fold_embeddings): all its modules that
 * read x0 through a Linear, within max_bytes (threads: rt). *out is NULL
 * when not even the numerical and constant rows fit. reuse: as for
 * rmtl__fold_make. RMTL_ENOMEM. */
int rmtl__fold_build(rmtl__fold **out, const rmtl__net *net, const rmtl__rt *rt,
                     size_t max_bytes, size_t max_vocab, rmtl__fold *reuse);
void rmtl__fold_free(rmtl__fold *f); /* accepts NULL */
size_t rmtl__fold_bytes(const rmtl__fold *f);
size_t rmtl__fold_fields(const rmtl__fold *f); /* folded categorical fields; 0 for NULL */

/* For training owners. keep: 1 when there is nothing to build: *slot is
 * current for (version, max_vocab), or max_vocab is 0 (*slot freed and
 * NULL); else 0, *slot left for the rebuild to reuse. useful: f, or
 * NULL (f freed) when it folds no field, since its gathers would then
 * save nothing. refresh: net's cache made current for max_vocab (0: none),
 * as rmtl__qnet_refold does for a critic (rl/qnet.h). RMTL_ENOMEM leaves
 * no cache. */
int rmtl__fold_keep(rmtl__fold **slot, uint64_t version, size_t max_vocab);
rmtl__fold *rmtl__fold_useful(rmtl__fold *f);
int rmtl__fold_refresh(rmtl__net *net, const rmtl__rt *rt, size_t max_vocab);

/* f if it was computed from the weights at `version`, else NULL. */
const rmtl__fold *rmtl__fold_valid(const rmtl__fold *f, uint64_t version);
/* net's cache if it is current, else NULL. */
const rmtl__fold *rmtl__fold_current(const rmtl__net *net);

/* rmtl__fold_rows for a network's cache (no extra block). */
void rmtl__fold_pre(const rmtl__fold *f, const rmtl__rt *rt, size_t n, const int32_t *cat,
                    const float *num, const float *x0, size_t ldx0, float *H);

#endif
