/* Model internals: the graph engine's gradient bookkeeping on a wiring
 * that shares gates, experts and attention tokens; allocation failures at
 * every allocation of create / train / save / load; allocation-free
 * steps; refused steps change nothing; checkpoints whose sections
 * disagree. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ckpt.h"
#include "mtl/model.h"
#include "util/mtl.h"

/* --- the graph engine ---------------------------------------------------------- */

enum { G_N = 6, G_D = 4 };

/* Experts mixed twice by ONE gate: the gate's second gradient is added;
 * a and b are in both mixtures, c only in m1 and d only in m2, so m1's
 * backward (which runs second) finds some experts with a gradient and
 * some without. The attention's first token t is read again later by w:
 * when the attention's backward runs, t has a gradient and m2 has none.
 * Outputs: u (n × 5) and w (n × 2). */
static int g_wire(rmtl__pass *ps, int x0, int out[2])
{
    int a = rmtl__g_linear(ps, x0, 5, "a"), b = rmtl__g_linear(ps, x0, 5, "b");
    int c = rmtl__g_linear(ps, x0, 5, "c"), d = rmtl__g_linear(ps, x0, 5, "d");
    int g = rmtl__g_gate(ps, x0, 3, "g");
    int ex1[3] = {a, b, c}, ex2[3] = {b, a, d};
    int m1 = rmtl__g_mix(ps, g, ex1, 3), m2 = rmtl__g_mix(ps, g, ex2, 3);
    int t = rmtl__g_linear(ps, m1, 5, "t");
    out[0] = rmtl__g_attn(ps, t, m2, "att");
    out[1] = rmtl__g_linear(ps, t, 2, "w");
    return ps->rc;
}

typedef struct gtest {
    rmtl__params ps;
    rmtl__mods mods;
    rmtl__ws ws;
    rmtl__tape tape;
    float x[G_N * G_D], r0[G_N * 5], r1[G_N * 2];
} gtest;

/* Σ r0·u + Σ r1·v of an evaluation pass, in double. */
static double g_loss(gtest *t)
{
    rmtl__pass ps;
    rmtl__pass_init(&ps, RMTL__PASS_EVAL, &t->tape, &t->mods, G_N, &t->ws, NULL);
    rmtl__ws_reset(&t->ws);
    int out[2];
    ck_assert_int_eq(g_wire(&ps, rmtl__g_input(&ps, t->x, G_D, G_D), out), 0);
    const float *u = rmtl__g_value(&ps, out[0]), *v = rmtl__g_value(&ps, out[1]);
    double l = 0;
    for (size_t i = 0; i < G_N * 5; i++)
        l += (double)t->r0[i] * u[i];
    for (size_t i = 0; i < G_N * 2; i++)
        l += (double)t->r1[i] * v[i];
    return l;
}

START_TEST(test_graph_gradients)
{
    gtest t;
    memset(&t, 0, sizeof t);
    rmtl__params_init(&t.ps);
    rmtl__ws_init(&t.ws, 1);
    rmtl__rng rng;
    rmtl__rng_seed(&rng, 5, RMTL__STREAM_INIT);
    rmtl__pass ps;
    rmtl__pass_build(&ps, &t.tape, &t.mods, &t.ps, &rng, 0.0f);
    int out[2];
    ck_assert_int_eq(g_wire(&ps, rmtl__g_input(&ps, NULL, 0, G_D), out), 0);
    ck_assert_uint_eq(rmtl__g_cols(&ps, out[0]), 5);
    for (size_t i = 0; i < t.ps.n; i++) /* biases away from 0 */
        for (size_t j = 0; j < t.ps.p[i]->rows * t.ps.p[i]->cols; j++)
            if (t.ps.p[i]->rows == 1)
                t.ps.p[i]->w[j] = (float)(rmtl__rng_double(&rng) - 0.5);
    for (size_t i = 0; i < G_N * G_D; i++)
        t.x[i] = (float)(2 * rmtl__rng_double(&rng) - 1);
    for (size_t i = 0; i < G_N * 5; i++)
        t.r0[i] = (float)(2 * rmtl__rng_double(&rng) - 1);
    for (size_t i = 0; i < G_N * 2; i++)
        t.r1[i] = (float)(2 * rmtl__rng_double(&rng) - 1);

    /* analytic: a training pass seeded with r0, r1; twice, so that the
     * second finds the workspace full of the first one's values (a buffer
     * that should have been zeroed or set is then caught) */
    float dx[G_N * G_D];
    for (int rep = 0; rep < 2; rep++) {
        rmtl__params_zero_grad(&t.ps);
        rmtl__pass_init(&ps, RMTL__PASS_TRAIN, &t.tape, &t.mods, G_N, &t.ws, NULL);
        rmtl__ws_reset(&t.ws);
        int x0 = rmtl__g_input(&ps, t.x, G_D, G_D);
        ck_assert_int_eq(g_wire(&ps, x0, out), 0);
        memcpy(rmtl__g_grad(&ps, out[0]), t.r0, sizeof t.r0);
        memcpy(rmtl__g_grad(&ps, out[1]), t.r1, sizeof t.r1);
        ck_assert_int_eq(rmtl__graph_backward(&ps), 0);
        memcpy(dx, rmtl__g_grad_of(&ps, x0), sizeof dx);
    }

    /* numeric: every weight and every input, central differences (the
     * wiring has no ReLU: smooth everywhere) */
    const double h = 1e-2;
    double worst = 0;
    char where[160] = "";
    for (size_t i = 0; i <= t.ps.n; i++) {
        float *w = i < t.ps.n ? t.ps.p[i]->w : t.x;
        const float *g = i < t.ps.n ? t.ps.p[i]->g : dx;
        size_t n = i < t.ps.n ? t.ps.p[i]->rows * t.ps.p[i]->cols : G_N * G_D;
        for (size_t j = 0; j < n; j++) {
            float keep = w[j];
            w[j] = (float)(keep + h);
            double fp = g_loss(&t);
            w[j] = (float)(keep - h);
            double fm = g_loss(&t);
            w[j] = keep;
            double num = (fp - fm) / (2 * h), err = fabs(num - g[j]) / fmax(fabs(num), 1e-2);
            if (err > worst) {
                worst = err;
                snprintf(where, sizeof where, "%s[%zu]: %.7g vs %.7g",
                         i < t.ps.n ? t.ps.p[i]->name : "input", j, (double)g[j], num);
            }
        }
    }
    ck_assert_msg(worst < 5e-3, "worst %s", where);
    rmtl__tape_free(&t.tape);
    rmtl__ws_free(&t.ws);
    rmtl__mods_free(&t.mods);
    rmtl__params_free(&t.ps);
}
END_TEST

/* --- helpers -------------------------------------------------------------------- */

static rmtl_model *layout_model(const char *arch, size_t T, double dropout, uint64_t seed)
{
    rmtl_config *cfg = mtl_small_config(arch, seed);
    ck_assert_int_eq(rmtl_config_set_double(cfg, "model.dropout", dropout), 0);
    rmtl_model *m = mtl_model(cfg, T);
    ck_assert_msg(m != NULL, "%s", rmtl_last_error());
    rmtl_config_free(cfg);
    return m;
}

/* 1 when both models hold the same weights, moments, step and streams. */
static int same_state(const rmtl_model *a, const rmtl_model *b)
{
    if (a->opt.t != b->opt.t || memcmp(&a->drop, &b->drop, sizeof a->drop) ||
        memcmp(&a->shuffle, &b->shuffle, sizeof a->shuffle) || a->net.ps.n != b->net.ps.n)
        return 0;
    for (size_t i = 0; i < a->net.ps.n; i++) {
        const rmtl__param *p = a->net.ps.p[i], *q = b->net.ps.p[i];
        size_t n = p->rows * p->cols * sizeof(float);
        if (memcmp(p->w, q->w, n) || !p->m != !q->m ||
            (p->m && (memcmp(p->m, q->m, n) || memcmp(p->v, q->v, n))))
            return 0;
    }
    return 1;
}

/* --- allocation ------------------------------------------------------------------- */

/* create, two steps, save with training state, load, predict, fold and
 * predict: failing
 * allocation k fails the sequence with RMTL_ENOMEM (and leaks nothing:
 * ASan); once k exceeds its allocations it succeeds. */
static int alloc_sequence(const char *arch, const mtl_data *d)
{
    rmtl_config *cfg = mtl_small_config(arch, 1);
    if (!cfg)
        return RMTL_ENOMEM;
    rmtl_dataset *ds = NULL;
    rmtl_model *m = NULL, *l = NULL;
    void *buf = NULL;
    size_t len = 0;
    float out[32];
    rmtl_batch b = mtl_batch(d, 0, 16, 1);
    int rc = rmtl_dataset_from_arrays(&ds, 16, MTL_N_CAT, mtl_vocab, d->cat, MTL_N_NUM, d->num,
                                      d->T, d->labels, NULL);
    if (!rc)
        rc = rmtl_model_create(&m, cfg, ds);
    if (!rc)
        rc = rmtl_model_train_step(m, &b, NULL);
    if (!rc)
        rc = rmtl_model_train_step(m, &b, NULL);
    if (!rc)
        rc = rmtl_model_save_buffer(&buf, &len, m, RMTL_SAVE_TRAINING_STATE);
    if (!rc)
        rc = rmtl_model_load_buffer(&l, buf, len);
    if (!rc)
        rc = rmtl_model_predict(l, NULL, &b, out, 32);
    if (!rc)
        rc = rmtl_model_fold_embeddings(l, 1 << 20, NULL);
    if (!rc)
        rc = rmtl_model_predict(l, NULL, &b, out, 32);
    if (!rc)
        rc = rmtl_model_train_step(l, &b, NULL);
    if (!rc)
        rc = same_state(m, l) ? RMTL_ERROR : 0; /* l took one step more */
    rmtl_free(buf);
    rmtl_model_free(l);
    rmtl_model_free(m);
    rmtl_dataset_free(ds);
    rmtl_config_free(cfg);
    return rc;
}

START_TEST(test_alloc_failures)
{
    mtl_data d;
    mtl_data_make(&d, 16, 2, 3);
    size_t k = 1;
    for (;; k++) {
        rmtl__alloc_fail_after(k);
        int rc = alloc_sequence(mtl_archs[_i], &d);
        size_t made = rmtl__alloc_fail_after(0);
        if (rc == 0 && made < k)
            break;
        ck_assert_msg(rc == RMTL_ENOMEM, "%s: allocation %zu failed: %d (%s)", mtl_archs[_i], k,
                      rc, rmtl_last_error());
        ck_assert_uint_lt(k, 100000);
    }
    ck_assert_uint_gt(k, 100); /* the sequence allocates: the loop tested something */
    mtl_data_free(&d);
}
END_TEST

START_TEST(test_no_allocation_in_steps)
{
    rmtl_model *m = layout_model(mtl_archs[_i], 3, 0.2, 2);
    mtl_data d;
    mtl_data_make(&d, 64, 3, 4);
    rmtl_batch big = mtl_batch(&d, 0, 64, 1), small = mtl_batch(&d, 0, 13, 0);
    ck_assert_int_eq(rmtl_model_train_step(m, &big, NULL), 0);
    rmtl_ctx *ctx;
    ck_assert_int_eq(rmtl_ctx_create(&ctx, 1), 0);
    float out[64 * 3];
    ck_assert_int_eq(rmtl_model_predict(m, ctx, &big, out, 64 * 3), 0);
    rmtl__alloc_fail_after(0);
    for (int s = 0; s < 3; s++) {
        ck_assert_int_eq(rmtl_model_train_step(m, s == 1 ? &small : &big, NULL), 0);
        ck_assert_int_eq(rmtl_model_predict(m, ctx, s == 1 ? &big : &small, out, 64 * 3), 0);
    }
    ck_assert_uint_eq(rmtl__alloc_fail_after(0), 0);
    rmtl_ctx_free(ctx);
    rmtl_model_free(m);
    mtl_data_free(&d);
}
END_TEST

/* --- refused steps ------------------------------------------------------------------ */

/* A non-finite activation refuses the step: weights, moments, Adam step
 * and dropout stream stay exactly as they were. */
START_TEST(test_refused_step_changes_nothing)
{
    rmtl_model *m = layout_model(mtl_archs[_i], 2, 0.3, 6);
    mtl_data d;
    mtl_data_make(&d, 32, 2, 7);
    rmtl_batch b = mtl_batch(&d, 0, 32, 0);
    for (int s = 0; s < 3; s++)
        ck_assert_int_eq(rmtl_model_train_step(m, &b, NULL), 0);
    rmtl_model *before;
    ck_assert_int_eq(rmtl_model_clone(&before, m), 0);
    rmtl__param *p = rmtl__params_find(&m->net.ps, "tower.1.out.w");
    ck_assert_ptr_nonnull(p);
    float keep = p->w[0];
    p->w[0] = INFINITY;
    double loss = 42;
    ck_assert_int_eq(rmtl_model_train_step(m, &b, &loss), RMTL_ENUMERIC);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "tower.1.out"));
    ck_assert(loss == 42);
    p->w[0] = keep;
    ck_assert_msg(same_state(m, before), "the refused step changed the model");
    for (size_t i = 0; i < m->net.ps.n; i++) { /* and left no gradient behind */
        const rmtl__param *q = m->net.ps.p[i];
        for (size_t j = 0; j < q->rows * q->cols; j++)
            ck_assert(q->g[j] == 0.0f);
    }
    ck_assert_int_eq(rmtl_model_train_step(m, &b, NULL), 0);
    ck_assert_int_eq(rmtl_model_train_step(before, &b, NULL), 0);
    ck_assert(same_state(m, before));
    rmtl_model_free(before);
    rmtl_model_free(m);
    mtl_data_free(&d);
}
END_TEST

/* --- architecture details ----------------------------------------------------------- */

START_TEST(test_ple_last_level_has_no_shared_gate)
{
    rmtl_model *m = layout_model("ple", 2, 0.0, 1);
    const rmtl__params *ps = &m->net.ps;
    ck_assert_ptr_nonnull(rmtl__params_find(ps, "ple.0.gate.shared.w"));
    ck_assert_ptr_nonnull(rmtl__params_find(ps, "ple.1.shared.0.0.w"));
    ck_assert_ptr_nonnull(rmtl__params_find(ps, "ple.1.gate.1.w"));
    ck_assert_ptr_null(rmtl__params_find(ps, "ple.1.gate.shared.w"));
    /* task gates mix 2 own + 1 shared experts; the shared gate all 5 */
    ck_assert_uint_eq(rmtl__params_find(ps, "ple.1.gate.0.w")->cols, 3);
    ck_assert_uint_eq(rmtl__params_find(ps, "ple.0.gate.shared.w")->cols, 5);
    rmtl_model_free(m);
}
END_TEST

/* --- checkpoints whose sections disagree --------------------------------------------- */

/* m's checkpoint with its CONF replaced by cfg's YAML. */
static int swap_conf(void **out, size_t *len, const rmtl_model *m, const rmtl_config *cfg)
{
    void *buf;
    size_t n;
    ck_assert_int_eq(rmtl_model_save_buffer(&buf, &n, m, 0), 0);
    static const uint32_t tags[] = {RMTL__TAG_CONF, RMTL__TAG_ARCH, RMTL__TAG_TENS,
                                    RMTL__TAG_DATA};
    rmtl__ckpt_reader r;
    ck_assert_int_eq(rmtl__ckpt_open(&r, buf, n, tags, 4), 0);
    rmtl__ckpt_writer w;
    rmtl__ckpt_writer_init(&w, 0);
    char *yaml;
    size_t ylen;
    ck_assert_int_eq(rmtl_config_dump(&yaml, &ylen, cfg), 0);
    ck_assert_int_eq(rmtl__ckpt_add_section(&w, RMTL__TAG_CONF, 1, yaml, ylen), 0);
    for (size_t i = 0; i < r.n; i++)
        if (r.sec[i].tag != RMTL__TAG_CONF)
            ck_assert_int_eq(rmtl__ckpt_add_section(&w, r.sec[i].tag, 1, r.sec[i].data,
                                                    r.sec[i].len),
                             0);
    unsigned char *o;
    ck_assert_int_eq(rmtl__ckpt_finish(&w, &o, len), 0);
    *out = o;
    rmtl__ckpt_writer_free(&w);
    rmtl__ckpt_close(&r);
    rmtl_free(yaml);
    rmtl_free(buf);
    return 0;
}

START_TEST(test_mismatched_sections)
{
    rmtl_model *m = layout_model("single_task", 2, 0.0, 1);
    rmtl_config *cfg = mtl_small_config("single_task", 1);
    void *buf;
    size_t len;
    rmtl_model *l = NULL;
    /* unchanged config: loads */
    swap_conf(&buf, &len, m, cfg);
    ck_assert_int_eq(rmtl_model_load_buffer(&l, buf, len), 0);
    rmtl_model_free(l);
    rmtl_free(buf);
    /* wider first bottom layer: the tensors do not fit */
    int64_t bottom[2] = {7, 5};
    ck_assert_int_eq(rmtl_config_set_int_list(cfg, "model.bottom", bottom, 2), 0);
    swap_conf(&buf, &len, m, cfg);
    ck_assert_int_eq(rmtl_model_load_buffer(&l, buf, len), RMTL_EFORMAT);
    ck_assert_ptr_null(l);
    ck_assert_msg(strstr(rmtl_last_error(), "tensor 'bottom.0.0.w': expected f32[16, 7], "
                                            "checkpoint has f32[16, 6]"),
                  "%s", rmtl_last_error());
    rmtl_free(buf);
    /* another architecture in CONF than in ARCH */
    bottom[0] = 6;
    ck_assert_int_eq(rmtl_config_set_int_list(cfg, "model.bottom", bottom, 2), 0);
    ck_assert_int_eq(rmtl_config_set_string(cfg, "model.arch", "esmm"), 0);
    swap_conf(&buf, &len, m, cfg);
    ck_assert_int_eq(rmtl_model_load_buffer(&l, buf, len), RMTL_EFORMAT);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "ARCH has architecture 'single_task'"));
    rmtl_free(buf);
    /* fewer tensors than the model: a shared bottom has one bottom */
    ck_assert_int_eq(rmtl_config_set_string(cfg, "model.arch", "shared_bottom"), 0);
    swap_conf(&buf, &len, m, cfg);
    ck_assert_int_eq(rmtl_model_load_buffer(&l, buf, len), RMTL_EFORMAT);
    rmtl_free(buf);
    rmtl_config_free(cfg);
    rmtl_model_free(m);
}
END_TEST

START_TEST(test_arch_payload)
{
    rmtl__layout l, back;
    const char *names[2] = {"ctr", "cvr"};
    ck_assert_int_eq(rmtl__layout_init(&l, MTL_N_CAT, mtl_vocab, 2, 2, names), 0);
    rmtl__wbuf w;
    rmtl__wbuf_init(&w);
    rmtl__layout_write(&w, &l, "mmoe");
    ck_assert_int_eq(rmtl__wbuf_status(&w), 0);
    char arch[32];
    ck_assert_int_eq(rmtl__layout_read(&back, arch, sizeof arch, w.data, w.len), 0);
    ck_assert_str_eq(arch, "mmoe");
    ck_assert_uint_eq(back.vocab[1], 7);
    ck_assert_str_eq(back.task[1], "cvr");
    rmtl__layout_free(&back);
    for (size_t n = 0; n < w.len; n++) /* every truncation */
        ck_assert_int_eq(rmtl__layout_read(&back, arch, sizeof arch, w.data, n), RMTL_EFORMAT);
    w.data[0] = 2; /* a newer layout version */
    ck_assert_int_eq(rmtl__layout_read(&back, arch, sizeof arch, w.data, w.len), RMTL_EVERSION);
    w.data[0] = 1;
    w.data[w.len - 1] = 0; /* fine: a name byte */
    ck_assert_int_eq(rmtl__layout_read(&back, arch, sizeof arch, w.data, w.len), 0);
    rmtl__layout_free(&back);
    rmtl__wbuf_free(&w);
    /* bad layouts */
    size_t zero[1] = {0};
    const char *dup[2] = {"a", "a"};
    ck_assert_int_eq(rmtl__layout_init(&back, 0, NULL, 0, 1, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl__layout_init(&back, 1, zero, 0, 1, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl__layout_init(&back, 0, NULL, 1, 0, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl__layout_init(&back, 0, NULL, 1, 17, NULL), RMTL_EINVAL);
    ck_assert_int_eq(rmtl__layout_init(&back, 0, NULL, 1, 2, dup), RMTL_EINVAL);
    rmtl__layout_free(&l);
}
END_TEST

Suite *rmtl_test_mtl_model_suite(void)
{
    Suite *s = suite_create("mtl_model");
    TCase *tc = tcase_create("graph");
    tcase_add_test(tc, test_graph_gradients);
    tcase_add_test(tc, test_ple_last_level_has_no_shared_gate);
    tcase_add_test(tc, test_arch_payload);
    tcase_add_test(tc, test_mismatched_sections);
    suite_add_tcase(s, tc);
    tc = tcase_create("resources");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_alloc_failures, 0, MTL_N_ARCH);
    tcase_add_loop_test(tc, test_no_allocation_in_steps, 0, MTL_N_ARCH);
    tcase_add_loop_test(tc, test_refused_step_changes_nothing, 0, MTL_N_ARCH);
    suite_add_tcase(s, tc);
    return s;
}
