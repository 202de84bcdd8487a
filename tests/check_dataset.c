/* Public API: loading datasets from CSV + schema, reference splits, shape,
 * batches, shuffling, session splits, host arrays and every bad input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmtl.h"
#include "util/tdata.h"

#define ASSERT_ERR(expr, code, ...)                                                        \
    do {                                                                                   \
        int rc_ = (expr);                                                                  \
        ck_assert_msg(rc_ == (code), "%s: got %d (%s), want %d", #expr, rc_,               \
                      rmtl_last_error(), (code));                                          \
        const char *want_[] = {__VA_ARGS__};                                               \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof *want_; i_++)                       \
            ck_assert_msg(strstr(rmtl_last_error(), want_[i_]), "'%s' not in \"%s\"",       \
                          want_[i_], rmtl_last_error());                                   \
    } while (0)

#define ASSERT_OK(expr) ck_assert_msg((expr) == RMTL_OK, "%s: %s", #expr, rmtl_last_error())

static rmtl_dataset *load_text(const char *csv, const char *schema)
{
    const char *path = rmtl_tdata_write("data.csv", csv, (size_t)-1);
    rmtl_dataset *ds = NULL;
    ck_assert_msg(rmtl_dataset_load_schema_string(&ds, path, schema, strlen(schema), "s.yaml",
                                                  NULL) == RMTL_OK,
                  "%s", rmtl_last_error());
    return ds;
}

static int load_text_rc(const char *csv, const char *schema)
{
    const char *path = rmtl_tdata_write("bad.csv", csv, (size_t)-1);
    rmtl_dataset *ds = (rmtl_dataset *)&ds; /* must come back NULL */
    int rc = rmtl_dataset_load_schema_string(&ds, path, schema, strlen(schema), "s.yaml", NULL);
    ck_assert_ptr_null(ds);
    return rc;
}

static rmtl_batch all_rows(const rmtl_dataset *ds)
{
    rmtl_batch b = RMTL_BATCH_INIT;
    ASSERT_OK(rmtl_dataset_batch(&b, ds, 0, (size_t)-1));
    ck_assert_uint_eq(b.rows, rmtl_dataset_rows(ds));
    return b;
}

static double positive_rate(const rmtl_dataset *ds, size_t task)
{
    rmtl_batch b = all_rows(ds);
    size_t t = rmtl_dataset_n_tasks(ds), pos = 0;
    for (size_t i = 0; i < b.rows; i++)
        pos += b.labels[i * t + task] == 1.0f;
    return (double)pos / (double)b.rows;
}

/* --- real data ------------------------------------------------------------- */

static rmtl_dataset *load_census(const char *split, const rmtl_dataset *ref)
{
    char rel[64];
    snprintf(rel, sizeof rel, "census/%s.csv.gz", split);
    const char *csv = rmtl_tdata_shared(rel);
    if (!csv)
        return NULL;
    rmtl_dataset *ds;
    const char *schema = ref ? NULL : rmtl_tdata_repo("examples/schemas/census.yaml");
    ck_assert_msg(rmtl_dataset_load(&ds, csv, schema, ref, NULL) == RMTL_OK, "%s", rmtl_last_error());
    return ds;
}

START_TEST(test_census_train)
{
    rmtl_dataset *ds = load_census("train", NULL);
    if (!ds)
        return;
    ck_assert_uint_eq(rmtl_dataset_rows(ds), 50000);
    ck_assert_uint_eq(rmtl_dataset_n_tasks(ds), 2);
    /* marital_stat first: ESMM and AITM chain tasks in this order */
    ck_assert_str_eq(rmtl_dataset_task_name(ds, 0), "marital_stat");
    ck_assert_str_eq(rmtl_dataset_task_name(ds, 1), "income_50k");
    ck_assert_ptr_null(rmtl_dataset_task_name(ds, 2));
    ck_assert_uint_eq(rmtl_dataset_n_cat(ds), 29);
    ck_assert_uint_eq(rmtl_dataset_n_num(ds), 10);
    ck_assert_int_eq(rmtl_dataset_has_labels(ds), 1);
    /* the README's 6.2% and 43% (exactly 0.062 and 0.43532 in this sample) */
    ck_assert_double_eq_tol(positive_rate(ds, 1), 0.062, 0.005);
    ck_assert_double_eq_tol(positive_rate(ds, 0), 0.435, 0.005);
    /* vocabularies: distinct values + id 0 (class_worker has 9, sex 2) */
    ck_assert_str_eq(rmtl_dataset_field_name(ds, 0), "class_worker");
    ck_assert_uint_eq(rmtl_dataset_vocab_size(ds, 0), 10);
    size_t sex = 0;
    while (strcmp(rmtl_dataset_field_name(ds, sex), "sex"))
        sex++;
    ck_assert_uint_eq(rmtl_dataset_vocab_size(ds, sex), 3);
    /* no session column and no user: every row is its own session */
    ck_assert_uint_eq(rmtl_dataset_n_sessions(ds), 50000);

    rmtl_batch b = all_rows(ds);
    size_t nc = rmtl_dataset_n_cat(ds), nn = rmtl_dataset_n_num(ds);
    for (size_t i = 0; i < b.rows; i++)
        for (size_t f = 0; f < nc; f++) {
            int32_t id = b.cat[i * nc + f];
            ck_assert(id >= 0 && (size_t)id < rmtl_dataset_vocab_size(ds, f));
        }
    /* standardised on the training split: mean 0, std 1 per column */
    for (size_t k = 0; k < nn; k++) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < b.rows; i++) {
            double x = b.num[i * nn + k];
            s += x, s2 += x * x;
        }
        double mean = s / (double)b.rows, var = s2 / (double)b.rows - mean * mean;
        ck_assert_msg(fabs(mean) < 1e-4, "%s mean %g", rmtl_dataset_num_name(ds, k), mean);
        ck_assert_msg(fabs(sqrt(var) - 1.0) < 1e-3, "%s std %g", rmtl_dataset_num_name(ds, k),
                      sqrt(var));
    }
    ck_assert_str_eq(rmtl_dataset_num_name(ds, 0), "age");
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_census_val_uses_reference)
{
    rmtl_dataset *tr = load_census("train", NULL);
    if (!tr)
        return;
    rmtl_dataset *va = load_census("val", tr);
    ck_assert_uint_eq(rmtl_dataset_rows(va), 10000);
    ck_assert_uint_eq(rmtl_dataset_n_cat(va), rmtl_dataset_n_cat(tr));
    for (size_t f = 0; f < rmtl_dataset_n_cat(tr); f++) {
        ck_assert_uint_eq(rmtl_dataset_vocab_size(va, f), rmtl_dataset_vocab_size(tr, f));
        ck_assert_str_eq(rmtl_dataset_field_name(va, f), rmtl_dataset_field_name(tr, f));
    }
    ck_assert_double_eq_tol(positive_rate(va, 1), 0.062, 0.01);
    ck_assert_double_eq_tol(positive_rate(va, 0), 0.435, 0.02);
    /* the reference may go first: the vocabularies are shared, not borrowed */
    rmtl_dataset_free(tr);
    rmtl_batch b = all_rows(va);
    size_t nc = rmtl_dataset_n_cat(va);
    for (size_t i = 0; i < b.rows; i++)
        for (size_t f = 0; f < nc; f++)
            ck_assert((size_t)b.cat[i * nc + f] < rmtl_dataset_vocab_size(va, f));
    /* training statistics, not the validation split's own */
    double s = 0;
    for (size_t i = 0; i < b.rows; i++)
        s += b.num[i * rmtl_dataset_n_num(va)];
    ck_assert(fabs(s / (double)b.rows) < 0.1);
    rmtl_dataset_free(va);
}
END_TEST

static rmtl_dataset *load_diginetica(void)
{
    const char *csv = rmtl_tdata_shared("sessions/diginetica/views.csv");
    if (!csv)
        return NULL;
    rmtl_dataset *ds;
    ck_assert_msg(rmtl_dataset_load(&ds, csv, rmtl_tdata_repo("examples/schemas/diginetica.yaml"),
                                    NULL, NULL) == RMTL_OK,
                  "%s", rmtl_last_error());
    return ds;
}

START_TEST(test_diginetica_sessions)
{
    rmtl_dataset *ds = load_diginetica();
    if (!ds)
        return;
    ck_assert_uint_eq(rmtl_dataset_rows(ds), 12391);
    ck_assert_uint_eq(rmtl_dataset_n_sessions(ds), 2986);
    ck_assert_uint_eq(rmtl_dataset_n_tasks(ds), 2);
    ck_assert_str_eq(rmtl_dataset_task_name(ds, 0), "reviewed");
    ck_assert_str_eq(rmtl_dataset_task_name(ds, 1), "purchase");
    ck_assert_uint_eq(rmtl_dataset_n_cat(ds), 1);
    ck_assert_str_eq(rmtl_dataset_field_name(ds, 0), "item_id");
    ck_assert_uint_eq(rmtl_dataset_vocab_size(ds, 0), 7139 + 1);
    ck_assert_double_eq_tol(positive_rate(ds, 0), 0.178, 0.005);
    ck_assert_double_eq_tol(positive_rate(ds, 1), 0.017, 0.005);
    /* integer session ids are kept as they are */
    rmtl_batch b = all_rows(ds);
    ck_assert_int_eq(b.session[0], 1);
    rmtl_dataset_free(ds);
}
END_TEST

/* Session id -> split index (0, 1, 2) from the session column of each split. */
static void mark_sessions(signed char *mark, size_t cap, const rmtl_dataset *ds, signed char which)
{
    rmtl_batch b = all_rows(ds);
    for (size_t i = 0; i < b.rows; i++) {
        ck_assert(b.session[i] >= 0 && (size_t)b.session[i] < cap);
        signed char *m = &mark[b.session[i]];
        ck_assert_msg(*m == -1 || *m == which, "session %lld in two splits",
                      (long long)b.session[i]);
        *m = which;
    }
}

START_TEST(test_diginetica_split_by_session)
{
    rmtl_dataset *ds = load_diginetica();
    if (!ds)
        return;
    rmtl_dataset *tr, *va, *te, *tr2, *va2, *te2;
    ASSERT_OK(rmtl_dataset_split_sessions(&tr, &va, &te, ds, 0.6, 0.2, 42));
    ASSERT_OK(rmtl_dataset_split_sessions(&tr2, &va2, &te2, ds, 0.6, 0.2, 42));
    /* round(0.6·2986) = 1792, round(0.2·2986) = 597, the rest 597 */
    ck_assert_uint_eq(rmtl_dataset_n_sessions(tr), 1792);
    ck_assert_uint_eq(rmtl_dataset_n_sessions(va), 597);
    ck_assert_uint_eq(rmtl_dataset_n_sessions(te), 597);
    ck_assert_uint_eq(rmtl_dataset_rows(tr) + rmtl_dataset_rows(va) + rmtl_dataset_rows(te),
                      rmtl_dataset_rows(ds));
    /* disjoint: no session id in two splits */
    size_t cap = 5000;
    signed char *mark = malloc(cap);
    memset(mark, -1, cap);
    mark_sessions(mark, cap, tr, 0);
    mark_sessions(mark, cap, va, 1);
    mark_sessions(mark, cap, te, 2);
    /* deterministic: the same seed gives the same rows */
    const rmtl_dataset *a[3] = {tr, va, te}, *b[3] = {tr2, va2, te2};
    for (int s = 0; s < 3; s++) {
        rmtl_batch x = all_rows(a[s]), y = all_rows(b[s]);
        ck_assert_uint_eq(x.rows, y.rows);
        ck_assert(!memcmp(x.session, y.session, x.rows * sizeof *x.session));
        ck_assert(!memcmp(x.cat, y.cat, x.rows * sizeof *x.cat));
        ck_assert(!memcmp(x.labels, y.labels, x.rows * 2 * sizeof *x.labels));
    }
    /* another seed, another split */
    rmtl_dataset *tr3;
    ASSERT_OK(rmtl_dataset_split_sessions(&tr3, NULL, NULL, ds, 0.6, 0.2, 7));
    rmtl_batch x = all_rows(tr), y = all_rows(tr3);
    ck_assert(x.rows != y.rows || memcmp(x.session, y.session, x.rows * sizeof *x.session));
    /* a split shares the vocabularies */
    ck_assert_uint_eq(rmtl_dataset_vocab_size(va, 0), rmtl_dataset_vocab_size(ds, 0));
    free(mark);
    rmtl_dataset *all[] = {tr, va, te, tr2, va2, te2, tr3, ds};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        rmtl_dataset_free(all[i]);
}
END_TEST

/* --- small CSVs: dialect and schema features ---------------------------------- */

static const char *const abc_schema = "columns:\n"
                                      "  a: categorical\n"
                                      "  b: numerical\n"
                                      "  y: {role: label, threshold: 0.5}\n";

START_TEST(test_dialect_quotes_crlf_bom)
{
    /* BOM, CRLF, quoted comma, doubled quote, quoted newline, no final newline,
     * a blank line, spaces around values */
    const char *csv = "\xEF\xBB\xBF"
                      "a,b,y\r\n"
                      "\"x,1\",1,1\r\n"
                      "\"say \"\"hi\"\"\",2,0\r\n"
                      "\r\n"
                      "\"two\nlines\", 3 ,1\r\n"
                      "  x,1\t,0";
    rmtl_dataset *ds = load_text(csv, abc_schema);
    ck_assert_uint_eq(rmtl_dataset_rows(ds), 4);
    ck_assert_uint_eq(rmtl_dataset_vocab_size(ds, 0), 1 + 4);
    rmtl_batch b = all_rows(ds);
    ck_assert_int_eq(b.cat[0], 1);
    ck_assert_int_eq(b.cat[1], 2);
    ck_assert_int_eq(b.cat[2], 3);
    ck_assert_int_eq(b.cat[3], 4); /* "x" trimmed, not "x,1" */
    /* b = 1, 2, 3, 1: mean 1.75, std sqrt(0.6875) */
    const double want[] = {1, 2, 3, 1};
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq_tol(b.num[i], (want[i] - 1.75) / sqrt(0.6875), 1e-6);
    const float labels[] = {1, 0, 1, 0};
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(b.labels[i], labels[i]);
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_missing_values_and_fill)
{
    const char *schema = "missing: ['', NA, '-']\n"
                         "columns:\n"
                         "  a: categorical\n"
                         "  b: numerical\n"
                         "  c: {role: numerical, fill: 10}\n"
                         "  d: {role: categorical, missing: []}\n"
                         "  y: {role: label, positive: yes}\n";
    const char *csv = "a,b,c,d,y\n"
                      "p,1,4,NA,yes\n"
                      "NA,3,-,,no\n"
                      "-,NA,8,q,no\n";
    rmtl_dataset *ds = load_text(csv, schema);
    rmtl_batch b = all_rows(ds);
    /* a: only "p" is a value; missing -> 0 */
    ck_assert_uint_eq(rmtl_dataset_vocab_size(ds, 0), 2);
    ck_assert_int_eq(b.cat[0 * 2 + 0], 1);
    ck_assert_int_eq(b.cat[1 * 2 + 0], 0);
    ck_assert_int_eq(b.cat[2 * 2 + 0], 0);
    /* d: nothing is missing, so "NA", "" and "q" are three values */
    ck_assert_uint_eq(rmtl_dataset_vocab_size(ds, 1), 4);
    ck_assert_int_eq(b.cat[0 * 2 + 1], 1);
    ck_assert_int_eq(b.cat[1 * 2 + 1], 2);
    ck_assert_int_eq(b.cat[2 * 2 + 1], 3);
    /* b: mean of 1 and 3 is 2, std 1; the missing one is the mean -> 0 */
    ck_assert_float_eq_tol(b.num[0 * 2 + 0], -1.0f, 1e-6f);
    ck_assert_float_eq_tol(b.num[1 * 2 + 0], 1.0f, 1e-6f);
    ck_assert_float_eq(b.num[2 * 2 + 0], 0.0f);
    /* c: values 4 and 8 (mean 6, std 2); missing -> fill 10 -> 2 */
    ck_assert_float_eq_tol(b.num[0 * 2 + 1], -1.0f, 1e-6f);
    ck_assert_float_eq_tol(b.num[1 * 2 + 1], 2.0f, 1e-6f);
    ck_assert_float_eq_tol(b.num[2 * 2 + 1], 1.0f, 1e-6f);
    ck_assert_float_eq(b.labels[0], 1.0f);
    ck_assert_float_eq(b.labels[1], 0.0f);
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_min_count_and_unseen)
{
    const char *schema = "min_count: 2\n"
                         "columns:\n"
                         "  a: categorical\n"
                         "  b: {role: categorical, min_count: 1}\n"
                         "  y: {role: label, threshold: 0}\n";
    const char *csv = "a,b,y\n"
                      "r,u,1\n"
                      "s,v,0\n"
                      "r,w,0\n"
                      "t,v,1\n"
                      "s,u,0\n";
    rmtl_dataset *tr = load_text(csv, schema);
    /* a: r and s twice, t once -> {0, r, s} */
    ck_assert_uint_eq(rmtl_dataset_vocab_size(tr, 0), 3);
    ck_assert_uint_eq(rmtl_dataset_vocab_size(tr, 1), 4);
    rmtl_batch b = all_rows(tr);
    const int32_t want_a[] = {1, 2, 1, 0, 2}, want_b[] = {1, 2, 3, 2, 1};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(b.cat[i * 2], want_a[i]);
        ck_assert_int_eq(b.cat[i * 2 + 1], want_b[i]);
    }
    /* a validation split maps with the training vocabulary; unseen -> 0 */
    const char *vpath = rmtl_tdata_write("val.csv", "b,a,y\nw,s,1\nzz,t,0\nu,new,1\n", (size_t)-1);
    rmtl_dataset *va;
    ASSERT_OK(rmtl_dataset_load(&va, vpath, NULL, tr, NULL));
    b = all_rows(va);
    const int32_t va_a[] = {2, 0, 0}, va_b[] = {3, 0, 1};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(b.cat[i * 2], va_a[i]);
        ck_assert_int_eq(b.cat[i * 2 + 1], va_b[i]);
    }
    rmtl_dataset_free(va);
    rmtl_dataset_free(tr);
}
END_TEST

START_TEST(test_default_role_and_tasks_order)
{
    const char *schema = "default: numerical\n"
                         "tasks: [second, first]\n"
                         "columns:\n"
                         "  first: {role: label, threshold: 0.5}\n"
                         "  second: {role: label, positive: [Y, y]}\n"
                         "  skip: ignore\n"
                         "  k: categorical\n";
    const char *csv = "n1,first,skip,second,k,n2\n"
                      "1,1,zz,Y,a,5\n"
                      "2,0,zz,y,b,6\n"
                      "3,1,zz,n,a,7\n";
    rmtl_dataset *ds = load_text(csv, schema);
    ck_assert_uint_eq(rmtl_dataset_n_num(ds), 2);
    ck_assert_str_eq(rmtl_dataset_num_name(ds, 0), "n1");
    ck_assert_str_eq(rmtl_dataset_num_name(ds, 1), "n2");
    ck_assert_uint_eq(rmtl_dataset_n_cat(ds), 1);
    ck_assert_str_eq(rmtl_dataset_task_name(ds, 0), "second");
    ck_assert_str_eq(rmtl_dataset_task_name(ds, 1), "first");
    rmtl_batch b = all_rows(ds);
    const float want[] = {1, 1, 1, 0, 0, 1};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(b.labels[i], want[i]);
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_reference_without_labels)
{
    rmtl_dataset *tr = load_text("a,b,y\nx,1,1\nz,2,0\n", abc_schema);
    /* prediction data: no label column, other column order, an extra column */
    const char *p = rmtl_tdata_write("pred.csv", "extra,b,a\n1,5,z\n2,6,x\n", (size_t)-1);
    rmtl_dataset *pr;
    ASSERT_OK(rmtl_dataset_load(&pr, p, NULL, tr, NULL));
    ck_assert_int_eq(rmtl_dataset_has_labels(pr), 0);
    ck_assert_uint_eq(rmtl_dataset_n_tasks(pr), 1);
    rmtl_batch b = all_rows(pr);
    ck_assert_ptr_null(b.labels);
    ck_assert_int_eq(b.cat[0], 2);
    ck_assert_int_eq(b.cat[1], 1);
    ck_assert_float_eq_tol(b.num[0], 7.0f, 1e-5f); /* (5 - 1.5) / 0.5 */
    rmtl_dataset_free(pr);
    /* a feature column may not be absent */
    p = rmtl_tdata_write("pred2.csv", "a,y\nx,1\n", (size_t)-1);
    ASSERT_ERR(rmtl_dataset_load(&pr, p, NULL, tr, NULL), RMTL_EFORMAT, "pred2.csv", "column 'b'",
               "missing");
    ck_assert_ptr_null(pr);
    rmtl_dataset_free(tr);
}
END_TEST

/* --- bad inputs ------------------------------------------------------------ */

START_TEST(test_bad_field_count)
{
    ASSERT_ERR(load_text_rc("a,b,y\nx,1,1\nx,1\n", abc_schema), RMTL_EFORMAT, "bad.csv:3:",
               "column 'y'", "missing", "2 fields");
    ASSERT_ERR(load_text_rc("a,b,y\nx,1,1\nx,1,0\nx,1,0,9\n", abc_schema), RMTL_EFORMAT,
               "bad.csv:4:", "column 'y'", "more fields");
    /* the line counts physical lines, quoted newlines included */
    ASSERT_ERR(load_text_rc("a,b,y\n\"x\ny\",1,1\nx,1\n", abc_schema), RMTL_EFORMAT,
               "bad.csv:4:", "column 'y'");
}
END_TEST

START_TEST(test_bad_numbers)
{
    ASSERT_ERR(load_text_rc("a,b,y\nx,1,1\nx,abc,1\n", abc_schema), RMTL_EFORMAT, "bad.csv:3:",
               "column 'b'", "'abc' is not a finite number");
    ASSERT_ERR(load_text_rc("a,b,y\nx,nan,1\n", abc_schema), RMTL_EFORMAT, "bad.csv:2:",
               "column 'b'", "'nan'");
    ASSERT_ERR(load_text_rc("a,b,y\nx,-inf,1\n", abc_schema), RMTL_EFORMAT, "column 'b'",
               "'-inf'");
    ASSERT_ERR(load_text_rc("a,b,y\nx,1e999,1\n", abc_schema), RMTL_EFORMAT, "column 'b'");
    ASSERT_ERR(load_text_rc("a,b,y\nx,0x10,1\n", abc_schema), RMTL_EFORMAT, "column 'b'");
    ASSERT_ERR(load_text_rc("a,b,y\nx,1.5.2,1\n", abc_schema), RMTL_EFORMAT, "column 'b'");
}
END_TEST

START_TEST(test_bad_labels)
{
    ASSERT_ERR(load_text_rc("a,b,y\nx,1,yes\n", abc_schema), RMTL_EFORMAT, "bad.csv:2:",
               "column 'y'", "label 'yes' is not a number");
    ASSERT_ERR(load_text_rc("a,b,y\nx,1,1\nx,2,NA\n", abc_schema), RMTL_EFORMAT, "bad.csv:3:",
               "column 'y'", "missing label");
    const char *pn = "columns: {a: categorical, y: {role: label, positive: '50000+', "
                     "negative: ['- 50000']}}\n";
    ASSERT_ERR(load_text_rc("a,y\nx,50000+\nx,- 50000\nx,50000\n", pn), RMTL_EFORMAT,
               "bad.csv:4:", "column 'y'", "'50000' is neither positive");
}
END_TEST

START_TEST(test_bad_structure)
{
    ASSERT_ERR(load_text_rc("", abc_schema), RMTL_EFORMAT, "bad.csv", "empty file");
    ASSERT_ERR(load_text_rc("\n\r\n", abc_schema), RMTL_EFORMAT, "bad.csv", "empty file");
    ASSERT_ERR(load_text_rc("a,b,y\n", abc_schema), RMTL_EFORMAT, "bad.csv", "only a header");
    ASSERT_ERR(load_text_rc("a,b,y", abc_schema), RMTL_EFORMAT, "only a header");
    ASSERT_ERR(load_text_rc("a,b,y\nx,1,1\n\"open,2,1\nx,1,1\n", abc_schema), RMTL_EFORMAT,
               "bad.csv:3:", "column 'a'", "unterminated quote");
    ASSERT_ERR(load_text_rc("a,b,y\n\"x\"z,1,1\n", abc_schema), RMTL_EFORMAT, "bad.csv:2:",
               "column 'a'", "after a closing quote");
    ASSERT_ERR(load_text_rc("a,b,a\nx,1,1\n", abc_schema), RMTL_EFORMAT, "bad.csv:1:",
               "column 'a' appears twice");
    ASSERT_ERR(load_text_rc("a,,y\nx,1,1\n", abc_schema), RMTL_EFORMAT, "bad.csv:1:",
               "header column 2 has no name");
    const char nul[] = "a,b,y\nx,1\0,1\n";
    const char *path = rmtl_tdata_write("nul.csv", nul, sizeof nul - 1);
    rmtl_dataset *ds;
    ASSERT_ERR(rmtl_dataset_load_schema_string(&ds, path, abc_schema, strlen(abc_schema), NULL,
                                               NULL),
               RMTL_EFORMAT, "nul.csv:2:", "NUL byte");
    ASSERT_ERR(rmtl_dataset_load_schema_string(&ds, "/nonexistent/x.csv", abc_schema,
                                               strlen(abc_schema), NULL, NULL),
               RMTL_EIO, "/nonexistent/x.csv", "cannot open");
    ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(test_bad_schema)
{
    const char *csv = "a,b,y\nx,1,1\n";
    ASSERT_ERR(load_text_rc(csv, "columns:\n  a: categorical\n  nope: numerical\n"
                                 "  y: {role: label, threshold: 0.5}\n"),
               RMTL_ECONFIG, "s.yaml:3:3:", "column 'nope' is not in the header", "bad.csv");
    ASSERT_ERR(load_text_rc(csv, "columns:\n  a: categorical\n  y: {role: label, threshold: 0.5}\n"),
               RMTL_ECONFIG, "column 'b'", "has no role");
    ASSERT_ERR(load_text_rc(csv, "columns: {a: categorical, b: numeric, y: ignore}\n"),
               RMTL_ECONFIG, "s.yaml:1:", "unknown role");
    ASSERT_ERR(load_text_rc(csv, "columns: {a: categorical, b: numerical, y: label}\n"),
               RMTL_ECONFIG, "column 'y'", "needs a rule");
    ASSERT_ERR(load_text_rc(csv, "columns:\n  a: categorical\n  b: numerical\n"
                                 "  y: {role: label, threshold: 0.5, positive: x}\n"),
               RMTL_ECONFIG, "s.yaml:4:", "exactly one rule");
    ASSERT_ERR(load_text_rc(csv, "colums: {}\n"), RMTL_ECONFIG, "s.yaml:1:1:",
               "unknown key 'colums'");
    ASSERT_ERR(load_text_rc(csv, "columns:\n  a: {role: numerical, min_count: 2}\n"),
               RMTL_ECONFIG, "s.yaml:2:", "'min_count' does not apply");
    ASSERT_ERR(load_text_rc(csv, "min_count: 0\ncolumns: {}\n"), RMTL_ECONFIG, "s.yaml:1:",
               "min_count");
    ASSERT_ERR(load_text_rc(csv, "columns: {a: ignore, b: ignore}\n"), RMTL_ECONFIG,
               "no label column");
    ASSERT_ERR(load_text_rc(csv, "columns: {a: ignore, b: ignore, y: {role: label, "
                                 "threshold: 0}}\ntasks: [y, a]\n"),
               RMTL_ECONFIG, "tasks: 'a' is not a label");
    ASSERT_ERR(load_text_rc(csv, "columns: {a: session, b: session, y: {role: label, "
                                 "threshold: 0}}\n"),
               RMTL_ECONFIG, "only one session column");
    ASSERT_ERR(load_text_rc(csv, "columns: [a, b]\n"), RMTL_ECONFIG, "s.yaml:1:",
               "expected a mapping");
    ASSERT_ERR(load_text_rc(csv, "columns: {a: [unclosed\n"), RMTL_ECONFIG, "s.yaml:");
    ASSERT_ERR(load_text_rc(csv, ""), RMTL_ECONFIG, "s.yaml");
}
END_TEST

START_TEST(test_bad_arguments)
{
    rmtl_dataset *ds = NULL, *ref = load_text("a,b,y\nx,1,1\n", abc_schema);
    const char *p = rmtl_tdata_write("ok.csv", "a,b,y\nx,1,1\n", (size_t)-1);
    const char *s = rmtl_tdata_write("s.yaml", abc_schema, (size_t)-1);
    ASSERT_ERR(rmtl_dataset_load(NULL, p, s, NULL, NULL), RMTL_EINVAL, "out");
    ASSERT_ERR(rmtl_dataset_load(&ds, NULL, s, NULL, NULL), RMTL_EINVAL, "csv_path");
    ASSERT_ERR(rmtl_dataset_load(&ds, p, NULL, NULL, NULL), RMTL_EINVAL, "neither");
    ASSERT_ERR(rmtl_dataset_load(&ds, p, s, ref, NULL), RMTL_EINVAL, "both");
    ASSERT_ERR(rmtl_dataset_load(&ds, p, "/nonexistent.yaml", NULL, NULL), RMTL_EIO,
               "/nonexistent.yaml");
    ck_assert_ptr_null(ds);
    ASSERT_OK(rmtl_dataset_load(&ds, p, s, NULL, NULL));
    rmtl_dataset_free(ds);
    /* a dataset from arrays cannot read a CSV */
    const size_t vocab = 2;
    const int32_t cat = 1;
    const float y = 1;
    rmtl_dataset *arr;
    ASSERT_OK(rmtl_dataset_from_arrays(&arr, 1, 1, &vocab, &cat, 0, NULL, 1, &y, NULL));
    ASSERT_ERR(rmtl_dataset_load(&ds, p, NULL, arr, NULL), RMTL_EINVAL, "built from arrays");
    rmtl_dataset_free(arr);
    rmtl_dataset_free(ref);
    rmtl_dataset_free(NULL);
    ck_assert_uint_eq(rmtl_dataset_rows(NULL), 0);
    ck_assert_ptr_null(rmtl_dataset_field_name(NULL, 0));
}
END_TEST

/* --- from arrays, batches, shuffling ---------------------------------------- */

START_TEST(test_from_arrays)
{
    enum { R = 4 };
    const size_t vocab[2] = {3, 5};
    const int32_t cat[R * 2] = {0, 4, 1, 3, 2, 2, 1, 0};
    const float num[R] = {0.5f, -1.0f, 2.0f, 0.0f};
    const float labels[R * 2] = {1, 0, 0, 0, 1, 1, 0, 1};
    const int64_t session[R] = {7, 9, 7, 9};
    rmtl_dataset *ds;
    ASSERT_OK(rmtl_dataset_from_arrays(&ds, R, 2, vocab, cat, 1, num, 2, labels, session));
    ck_assert_uint_eq(rmtl_dataset_rows(ds), R);
    ck_assert_uint_eq(rmtl_dataset_vocab_size(ds, 1), 5);
    ck_assert_uint_eq(rmtl_dataset_vocab_size(ds, 2), 0);
    ck_assert_str_eq(rmtl_dataset_field_name(ds, 1), "cat_1");
    ck_assert_str_eq(rmtl_dataset_num_name(ds, 0), "num_0");
    ck_assert_str_eq(rmtl_dataset_task_name(ds, 1), "task_1");
    ck_assert_uint_eq(rmtl_dataset_n_sessions(ds), 2);
    rmtl_batch b = all_rows(ds);
    ck_assert(!memcmp(b.cat, cat, sizeof cat));
    ck_assert(!memcmp(b.num, num, sizeof num)); /* as given, not standardised */
    ck_assert(!memcmp(b.labels, labels, sizeof labels));
    ck_assert(!memcmp(b.session, session, sizeof session));
    ck_assert_ptr_null(b.weights);
    rmtl_dataset_free(ds);

    ASSERT_OK(rmtl_dataset_from_arrays(&ds, R, 0, NULL, NULL, 1, num, 1, NULL, NULL));
    ck_assert_int_eq(rmtl_dataset_has_labels(ds), 0);
    ck_assert_uint_eq(rmtl_dataset_n_sessions(ds), R);
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_from_arrays_errors)
{
    const size_t vocab[2] = {3, 5};
    int32_t cat[4] = {0, 4, 1, 3};
    float num[2] = {0.5f, 1.0f};
    float labels[2] = {1, 0};
    rmtl_dataset *ds = (rmtl_dataset *)&ds;
    cat[3] = 5;
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 2, 2, vocab, cat, 1, num, 1, labels, NULL),
               RMTL_EINVAL, "cat[row 1, field 1] = 5", "[0, 5)");
    ck_assert_ptr_null(ds);
    cat[3] = -1;
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 2, 2, vocab, cat, 1, num, 1, labels, NULL),
               RMTL_EINVAL, "row 1, field 1");
    cat[3] = 0;
    labels[1] = 0.5f;
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 2, 2, vocab, cat, 1, num, 1, labels, NULL),
               RMTL_EINVAL, "labels[row 1, task 0]", "not 0 or 1");
    labels[1] = 0;
    num[0] = NAN;
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 2, 2, vocab, cat, 1, num, 1, labels, NULL),
               RMTL_ENUMERIC, "num[row 0, column 0]");
    num[0] = INFINITY;
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 2, 2, vocab, cat, 1, num, 1, labels, NULL),
               RMTL_ENUMERIC, "num[row 0");
    num[0] = 0;
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 0, 2, vocab, cat, 1, num, 1, labels, NULL),
               RMTL_EINVAL, "rows");
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 2, 2, vocab, cat, 1, num, 0, labels, NULL),
               RMTL_EINVAL, "n_tasks");
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 2, 2, NULL, cat, 1, num, 1, labels, NULL),
               RMTL_EINVAL, "vocab_sizes");
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 2, 2, vocab, NULL, 1, num, 1, labels, NULL),
               RMTL_EINVAL, "cat");
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 2, 0, NULL, NULL, 1, NULL, 1, labels, NULL),
               RMTL_EINVAL, "num is NULL");
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 2, 0, NULL, NULL, 0, NULL, 1, labels, NULL),
               RMTL_EINVAL, "no features");
    const size_t zero_vocab[2] = {3, 0};
    ASSERT_ERR(rmtl_dataset_from_arrays(&ds, 2, 2, zero_vocab, cat, 1, num, 1, labels, NULL),
               RMTL_EINVAL, "vocab_sizes[1] = 0");
    ASSERT_ERR(rmtl_dataset_from_arrays(NULL, 2, 2, vocab, cat, 1, num, 1, labels, NULL),
               RMTL_EINVAL, "out");
    ck_assert_ptr_null(ds);
}
END_TEST

static rmtl_dataset *counting_dataset(size_t rows)
{
    size_t vocab = rows;
    int32_t *cat = malloc(rows * sizeof *cat);
    float *num = malloc(rows * sizeof *num), *labels = malloc(rows * sizeof *labels);
    int64_t *session = malloc(rows * sizeof *session);
    for (size_t i = 0; i < rows; i++) {
        cat[i] = (int32_t)i;
        num[i] = (float)i;
        labels[i] = (float)(i % 2);
        session[i] = (int64_t)(i / 3);
    }
    rmtl_dataset *ds;
    ASSERT_OK(rmtl_dataset_from_arrays(&ds, rows, 1, &vocab, cat, 1, num, 1, labels, session));
    free(cat), free(num), free(labels), free(session);
    return ds;
}

START_TEST(test_batch_views)
{
    rmtl_dataset *ds = counting_dataset(10);
    rmtl_batch b = RMTL_BATCH_INIT;
    ASSERT_OK(rmtl_dataset_batch(&b, ds, 4, 3));
    ck_assert_uint_eq(b.rows, 3);
    ck_assert_int_eq(b.cat[0], 4);
    ck_assert_float_eq(b.num[2], 6.0f);
    ck_assert_int_eq(b.session[0], 1);
    ASSERT_OK(rmtl_dataset_batch(&b, ds, 8, 5));
    ck_assert_uint_eq(b.rows, 2);
    ASSERT_OK(rmtl_dataset_batch(&b, ds, 10, 5));
    ck_assert_uint_eq(b.rows, 0);
    ASSERT_ERR(rmtl_dataset_batch(&b, ds, 11, 1), RMTL_EINVAL, "start 11");
    rmtl_batch z;
    memset(&z, 0, sizeof z);
    ASSERT_ERR(rmtl_dataset_batch(&z, ds, 0, 1), RMTL_EINVAL, "RMTL_BATCH_INIT");
    ASSERT_ERR(rmtl_dataset_batch(NULL, ds, 0, 1), RMTL_EINVAL, "out");
    ASSERT_ERR(rmtl_dataset_batch(&b, NULL, 0, 1), RMTL_EINVAL, "ds");
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_shuffle)
{
    enum { N = 100 };
    rmtl_dataset *a = counting_dataset(N), *b = counting_dataset(N);
    ASSERT_OK(rmtl_dataset_shuffle(a, 1234));
    ASSERT_OK(rmtl_dataset_shuffle(b, 1234));
    rmtl_batch x = all_rows(a), y = all_rows(b);
    ck_assert(!memcmp(x.cat, y.cat, N * sizeof *x.cat)); /* same seed, same order */
    int seen[N] = {0}, moved = 0;
    for (size_t i = 0; i < N; i++) {
        int32_t r = x.cat[i]; /* the original row number */
        ck_assert(r >= 0 && r < N && !seen[r]);
        seen[r] = 1;
        moved += (size_t)r != i;
        /* each row keeps its own values */
        ck_assert_float_eq(x.num[i], (float)r);
        ck_assert_float_eq(x.labels[i], (float)(r % 2));
        ck_assert_int_eq(x.session[i], r / 3);
    }
    ck_assert_int_gt(moved, N / 2);
    ck_assert_uint_eq(rmtl_dataset_n_sessions(a), (N + 2) / 3);
    ASSERT_OK(rmtl_dataset_shuffle(b, 99));
    y = all_rows(b);
    ck_assert(memcmp(x.cat, y.cat, N * sizeof *x.cat));
    ASSERT_ERR(rmtl_dataset_shuffle(NULL, 1), RMTL_EINVAL, "ds");
    rmtl_dataset_free(a);
    rmtl_dataset_free(b);
}
END_TEST

START_TEST(test_split_arguments)
{
    rmtl_dataset *ds = counting_dataset(30), *tr, *va, *te;
    ASSERT_ERR(rmtl_dataset_split_sessions(&tr, &va, &te, ds, 0.8, 0.3, 1), RMTL_EINVAL,
               "fractions");
    ck_assert_ptr_null(tr);
    ASSERT_ERR(rmtl_dataset_split_sessions(&tr, &va, &te, ds, -0.1, 0.3, 1), RMTL_EINVAL,
               "fractions");
    ASSERT_ERR(rmtl_dataset_split_sessions(&tr, &va, &te, ds, NAN, 0.3, 1), RMTL_EINVAL,
               "fractions");
    ASSERT_ERR(rmtl_dataset_split_sessions(&tr, &va, &te, NULL, 0.5, 0.3, 1), RMTL_EINVAL, "ds");
    /* everything to training: the others are empty but valid */
    ASSERT_OK(rmtl_dataset_split_sessions(&tr, &va, &te, ds, 1.0, 0.0, 1));
    ck_assert_uint_eq(rmtl_dataset_rows(tr), 30);
    ck_assert_uint_eq(rmtl_dataset_rows(va), 0);
    ck_assert_uint_eq(rmtl_dataset_n_sessions(te), 0);
    rmtl_batch b = RMTL_BATCH_INIT;
    ASSERT_OK(rmtl_dataset_batch(&b, te, 0, 10));
    ck_assert_uint_eq(b.rows, 0);
    /* rows keep the dataset's order inside a split */
    rmtl_batch all = all_rows(tr);
    for (size_t i = 0; i < all.rows; i++)
        ck_assert_int_eq(all.cat[i], (int32_t)i);
    rmtl_dataset_free(tr), rmtl_dataset_free(va), rmtl_dataset_free(te);
    rmtl_dataset_free(ds);
}
END_TEST

static void teardown(void) { rmtl_tdata_cleanup(); }

Suite *rmtl_test_dataset_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *real = tcase_create("real_data");
    tcase_set_tags(real, "slow"); /* left out under valgrind */
    tcase_set_timeout(real, 60);
    tcase_add_checked_fixture(real, NULL, teardown);
    tcase_add_test(real, test_census_train);
    tcase_add_test(real, test_census_val_uses_reference);
    tcase_add_test(real, test_diginetica_sessions);
    tcase_add_test(real, test_diginetica_split_by_session);
    suite_add_tcase(s, real);

    TCase *csv = tcase_create("csv_schema");
    tcase_add_checked_fixture(csv, NULL, teardown);
    tcase_add_test(csv, test_dialect_quotes_crlf_bom);
    tcase_add_test(csv, test_missing_values_and_fill);
    tcase_add_test(csv, test_min_count_and_unseen);
    tcase_add_test(csv, test_default_role_and_tasks_order);
    tcase_add_test(csv, test_reference_without_labels);
    tcase_add_test(csv, test_bad_field_count);
    tcase_add_test(csv, test_bad_numbers);
    tcase_add_test(csv, test_bad_labels);
    tcase_add_test(csv, test_bad_structure);
    tcase_add_test(csv, test_bad_schema);
    tcase_add_test(csv, test_bad_arguments);
    suite_add_tcase(s, csv);

    TCase *api = tcase_create("api");
    tcase_add_test(api, test_from_arrays);
    tcase_add_test(api, test_from_arrays_errors);
    tcase_add_test(api, test_batch_views);
    tcase_add_test(api, test_shuffle);
    tcase_add_test(api, test_split_arguments);
    suite_add_tcase(s, api);
    return s;
}
