/* The folded input layer against its reference: for every architecture
 * and budget, the first-layer outputs that the fold gathers equal x0·W + b
 * computed by plain loops; the modules that read x0 are the ones found;
 * fields are folded smallest vocabulary first; the cache goes stale when
 * the weights move. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mtl/fold.h"
#include "mtl/model.h"
#include "util/mtl.h"

#define OK(call) ck_assert_msg((call) == RMTL_OK, "%s: %s", #call, rmtl_last_error())

/* Modules reading x0 at the small config (embed 4, bottom [6, 5], 3
 * experts, PLE 2 specific + 1 shared, 2 tasks), in mtl_archs order:
 * single_task 2 bottoms, shared_bottom 1, esmm 2, omoe 3 experts + 1 gate,
 * mmoe 3 + 2 gates, ple level 0's 2·2 + 1 experts, 2 task gates and the
 * shared gate, aitm 2 bottoms. */
static const size_t n_folded[MTL_N_ARCH] = {2, 1, 2, 4, 5, 8, 2};

static rmtl_model *trained_model(const char *arch, mtl_data *d)
{
    rmtl_config *cfg = mtl_small_config(arch, 9);
    ck_assert_ptr_nonnull(cfg);
    rmtl_model *m = mtl_model(cfg, 2);
    ck_assert_ptr_nonnull(m);
    rmtl_config_free(cfg);
    mtl_data_make(d, 64, 2, 4);
    for (size_t s = 0; s < 6; s++) { /* biases and weights away from init */
        rmtl_batch b = mtl_batch(d, (s * 16) % 48, 16, 0);
        OK(rmtl_model_train_step(m, &b, NULL));
    }
    return m;
}

/* H (from the fold) against x0·W + b in double, for rows [0, n). */
static void check_pre(const rmtl__fold *f, const rmtl__net *net, const mtl_data *d, size_t n,
                      const char *what)
{
    const rmtl__embed *e = &net->emb;
    size_t d0 = rmtl__net_input_width(net);
    rmtl__rt rt = {1};
    float *x0 = malloc(n * d0 * sizeof *x0), *H = malloc(n * f->width * sizeof *H);
    OK(rmtl__embed_forward(e, &rt, n, d->cat, e->n_fields, d->num, e->n_num, x0, d0));
    rmtl__fold_pre(f, &rt, n, d->cat, d->num, x0, d0, H);
    size_t seen = 0;
    for (size_t i = 0; i < net->mods.n; i++) {
        if (f->col[i] == SIZE_MAX)
            continue;
        const rmtl__mod *m = &net->mods.m[i];
        const rmtl__linear *l = m->kind == RMTL__MOD_MLP    ? &m->u.mlp.lin[0]
                                : m->kind == RMTL__MOD_GATE ? &m->u.gate.lin
                                                            : &m->u.lin;
        seen += l->out;
        for (size_t r = 0; r < n; r++)
            for (size_t j = 0; j < l->out; j++) {
                double ref = l->b ? l->b->w[j] : 0.0;
                for (size_t k = 0; k < d0; k++)
                    ref += (double)x0[r * d0 + k] * l->w->w[k * l->out + j];
                double got = H[r * f->width + f->col[i] + j];
                ck_assert_msg(fabs(got - ref) <= 1e-5 * (1.0 + fabs(ref)),
                              "%s: module %zu row %zu col %zu: folded %.9g, reference %.9g",
                              what, i, r, j, got, ref);
            }
    }
    ck_assert_uint_eq(seen, f->width);
    free(x0);
    free(H);
}

START_TEST(test_fold_matches_reference)
{
    const char *arch = mtl_archs[_i];
    mtl_data d;
    rmtl_model *m = trained_model(arch, &d);
    rmtl__net *net = &m->net;
    rmtl__rt rt = {1};
    rmtl__fold *f = NULL;
    OK(rmtl__fold_build(&f, net, &rt, SIZE_MAX, SIZE_MAX, NULL));
    ck_assert_ptr_nonnull(f);
    size_t mods = 0;
    for (size_t i = 0; i < net->mods.n; i++)
        mods += f->col[i] != SIZE_MAX;
    ck_assert_msg(mods == n_folded[_i], "%s: %zu modules folded, expected %zu", arch, mods,
                  n_folded[_i]);
    ck_assert_int_eq(f->need_x0, 0);
    ck_assert_uint_eq(f->rows, 5 + 7 + 4 + MTL_N_NUM + 1);
    check_pre(f, net, &d, 1, arch);
    check_pre(f, net, &d, 37, arch);
    /* budgets from everything down to the fixed rows alone: smallest
     * vocabulary first (field 2: 4 rows, then 0: 5, then 1: 7) */
    size_t W = f->width * sizeof(float);
    static const size_t fields[][3] = {{1, 1, 1}, {1, 0, 1}, {0, 0, 1}, {0, 0, 0}};
    static const size_t rows[] = {19, 12, 7, 3};
    /* and the same plans from a vocabulary limit (the RL caches' rule) */
    static const size_t vmax[] = {7, 5, 4, 3};
    for (size_t run = 0; run < 8; run++) {
        size_t c = run % 4;
        rmtl__fold *p = NULL;
        if (run < 4)
            OK(rmtl__fold_build(&p, net, &rt, rows[c] * W + W - 1, SIZE_MAX, NULL));
        else
            OK(rmtl__fold_build(&p, net, &rt, SIZE_MAX, vmax[c], NULL));
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(rmtl__fold_fields(p), 3 - c);
        ck_assert_uint_eq(p->rows, rows[c]);
        for (size_t k = 0; k < 3; k++)
            ck_assert_int_eq(p->row[k] != SIZE_MAX, (int)fields[c][k]);
        ck_assert_int_eq(p->need_x0, c > 0);
        check_pre(p, net, &d, 1, arch);
        check_pre(p, net, &d, 23, arch);
        rmtl__fold_free(p);
    }
    rmtl__fold *none = f; /* not even the fixed rows: nothing */
    OK(rmtl__fold_build(&none, net, &rt, 3 * W - 1, SIZE_MAX, NULL));
    ck_assert_ptr_null(none);
    rmtl__fold_free(f);
    rmtl_model_free(m);
    mtl_data_free(&d);
}
END_TEST

/* The model's cache is current until a weight moves. */
START_TEST(test_fold_goes_stale)
{
    mtl_data d;
    rmtl_model *m = trained_model("mmoe", &d);
    size_t used = 0;
    OK(rmtl_model_fold_embeddings(m, 1 << 20, &used));
    ck_assert_uint_gt(used, 0);
    ck_assert_ptr_nonnull(rmtl__fold_current(&m->net));
    rmtl_batch b = mtl_batch(&d, 0, 16, 0);
    OK(rmtl_model_train_step(m, &b, NULL));
    ck_assert_ptr_null(rmtl__fold_current(&m->net));
    OK(rmtl_model_fold_embeddings(m, 1 << 20, &used));
    ck_assert_ptr_nonnull(rmtl__fold_current(&m->net));
    OK(rmtl_model_fold_embeddings(m, 0, &used));
    ck_assert_uint_eq(used, 0);
    ck_assert_ptr_null(m->net.fold);
    rmtl_model_free(m);
    mtl_data_free(&d);
}
END_TEST

Suite *rmtl_test_fold_suite(void)
{
    Suite *s = suite_create("fold");
    TCase *tc = tcase_create("fold");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_fold_matches_reference, 0, MTL_N_ARCH);
    tcase_add_test(tc, test_fold_goes_stale);
    suite_add_tcase(s, tc);
    return s;
}
