/* The encoder (raw text -> a model's batch) and loading a CSV from memory:
 * on Census, encoding rows (row-wise and column-wise) and predicting must
 * give, bit for bit, what loading the same rows from a file gives; on a
 * small schema, every kind of bad input is a clear error. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmtl.h"
#include "util/tdata.h"

/* --- a small schema ------------------------------------------------------- */

static const char small_schema[] =
    "columns:\n"
    "  color: categorical\n"
    "  size: {role: numerical, fill: 10}\n"
    "  weight: numerical\n"
    "  clicked: {role: label, positive: '1'}\n"
    "  note: ignore\n"
    "missing: ['', NA]\n"
    "tasks: [clicked]\n";
/* size: mean 2, std 1 (values 1, 3); weight: mean 4, std 2 (2, 6) */
static const char small_csv[] = "color,size,note,weight,clicked\n"
                                "red,1,a,2,1\n"
                                "blue,3,b,6,0\n";

static rmtl_dataset *small_train(void)
{
    rmtl_dataset *ds = NULL;
    ck_assert_msg(rmtl_dataset_load_buffer(&ds, small_csv, strlen(small_csv), "small.csv",
                                           small_schema, strlen(small_schema), NULL) == RMTL_OK,
                  "%s", rmtl_last_error());
    return ds;
}

START_TEST(test_encoder_small_values)
{
    rmtl_dataset *ds = small_train();
    ck_assert_uint_eq(rmtl_dataset_rows(ds), 2);
    rmtl_encoder *enc = NULL;
    ck_assert_int_eq(rmtl_encoder_create(&enc, ds, NULL, 0), RMTL_OK);
    /* default order: the features in CSV order */
    ck_assert_uint_eq(rmtl_encoder_n_columns(enc), 3);
    ck_assert_str_eq(rmtl_encoder_column_name(enc, 0), "color");
    ck_assert_str_eq(rmtl_encoder_column_name(enc, 1), "size");
    ck_assert_str_eq(rmtl_encoder_column_name(enc, 2), "weight");
    ck_assert_ptr_null(rmtl_encoder_column_name(enc, 3));
    rmtl_ctx *ctx = NULL;
    ck_assert_int_eq(rmtl_ctx_create(&ctx, 1), RMTL_OK);
    const char *rows[] = {"blue", "3", "6",         /* known values */
                          " red\t", " 1 ", "2",      /* trimmed like CSV fields */
                          "green", "", "NA",         /* unseen -> 0; missing -> fill / mean */
                          "", "-1e1", "+4"};         /* missing id; signed numbers */
    rmtl_batch b = RMTL_BATCH_INIT;
    ck_assert_msg(rmtl_encode_rows(&b, enc, ctx, rows, 4, 3) == RMTL_OK, "%s", rmtl_last_error());
    ck_assert_uint_eq(b.rows, 4);
    ck_assert_ptr_null(b.labels);
    ck_assert_ptr_null(b.session);
    const int32_t want_cat[] = {2, 1, 0, 0};
    const float want_num[] = {1, 1, -1, -1, 8, 0, -12, 0};
    for (int r = 0; r < 4; r++) {
        ck_assert_int_eq(b.cat[r], want_cat[r]);
        ck_assert_float_eq(b.num[2 * r], want_num[2 * r]);
        ck_assert_float_eq(b.num[2 * r + 1], want_num[2 * r + 1]);
    }
    /* the same rows column by column, in the caller's own column order
     * with a label and a skipped column */
    const char *names[] = {"clicked", "weight", NULL, "color", "size"};
    rmtl_encoder *enc2 = NULL;
    ck_assert_msg(rmtl_encoder_create(&enc2, ds, names, 5) == RMTL_OK, "%s", rmtl_last_error());
    ck_assert_ptr_null(rmtl_encoder_column_name(enc2, 2));
    const char *c_color[] = {"blue", " red\t", "green", ""};
    const char *c_size[] = {"3", " 1 ", "", "-1e1"};
    const char *c_weight[] = {"6", "2", "NA", "+4"};
    const char *c_label[] = {"x", NULL, "y", "z"}; /* skipped: not read */
    const char *const *cols[] = {c_label, c_weight, NULL, c_color, c_size};
    rmtl_batch b2 = RMTL_BATCH_INIT;
    ck_assert_msg(rmtl_encode_columns(&b2, enc2, ctx, cols, 5, 4) == RMTL_OK, "%s",
                  rmtl_last_error());
    /* b and b2 share ctx's buffers: b2 overwrote them with the same values */
    for (int r = 0; r < 4; r++)
        ck_assert_int_eq(b2.cat[r], want_cat[r]);
    ck_assert_mem_eq(b2.num, want_num, sizeof want_num);
    rmtl_encoder_free(enc2);
    /* the encoder outlives its dataset */
    rmtl_dataset_free(ds);
    ck_assert_int_eq(rmtl_encode_rows(&b, enc, ctx, rows, 1, 3), RMTL_OK);
    ck_assert_int_eq(b.cat[0], 2);
    rmtl_encoder_free(enc);
    rmtl_ctx_free(ctx);
    rmtl_encoder_free(NULL);
}
END_TEST

/* Threads share one encoder, each with its own context: every thread's
 * batches equal the single-threaded ones (ThreadSanitizer-clean design:
 * the encoder is only read; the "C" locale is switched per thread). */
struct enc_job {
    const rmtl_encoder *enc;
    const int32_t *cat;
    const float *num;
    int bad;
};

static void *enc_thread(void *arg)
{
    struct enc_job *j = arg;
    rmtl_ctx *ctx = NULL;
    if (rmtl_ctx_create(&ctx, 1))
        return j->bad = 1, NULL;
    const char *rows[] = {"blue", "3", "6", " red\t", " 1 ", "2", "green", "", "NA"};
    for (int it = 0; it < 300 && !j->bad; it++) {
        rmtl_batch b = RMTL_BATCH_INIT;
        j->bad = rmtl_encode_rows(&b, j->enc, ctx, rows, 3, 3) != RMTL_OK ||
                 memcmp(b.cat, j->cat, 3 * sizeof *b.cat) ||
                 memcmp(b.num, j->num, 6 * sizeof *b.num);
    }
    rmtl_ctx_free(ctx);
    return NULL;
}

START_TEST(test_encoder_threads)
{
    rmtl_dataset *ds = small_train();
    rmtl_encoder *enc = NULL;
    ck_assert_int_eq(rmtl_encoder_create(&enc, ds, NULL, 0), RMTL_OK);
    rmtl_dataset_free(ds);
    const int32_t cat[] = {2, 1, 0};
    const float num[] = {1, 1, -1, -1, 8, 0};
    enum { N = 4 };
    pthread_t th[N];
    struct enc_job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct enc_job){enc, cat, num, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, enc_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(!jobs[i].bad, "thread %d encoded differently", i);
    }
    rmtl_encoder_free(enc);
}
END_TEST

/* Runs `call`, expects `code` and a message holding every string of `want`. */
#define EXPECT(call, code, ...)                                                        \
    do {                                                                               \
        rmtl_error_clear();                                                            \
        int rc_ = (call);                                                              \
        ck_assert_msg(rc_ == (code), "%s: %d (%s)", #call, rc_, rmtl_last_error());    \
        const char *want_[] = {__VA_ARGS__};                                           \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof want_[0]; i_++)                 \
            ck_assert_msg(strstr(rmtl_last_error(), want_[i_]), "'%s' lacks '%s'",     \
                          rmtl_last_error(), want_[i_]);                               \
        ck_assert_msg(!strstr(rmtl_last_error(), "rmtl__"), "internal name in '%s'",   \
                      rmtl_last_error());                                              \
    } while (0)

START_TEST(test_encoder_bad_input)
{
    rmtl_dataset *ds = small_train();
    rmtl_encoder *enc = NULL;
    EXPECT(rmtl_encoder_create(NULL, ds, NULL, 0), RMTL_EINVAL, "out");
    EXPECT(rmtl_encoder_create(&enc, NULL, NULL, 0), RMTL_EINVAL, "schema");
    EXPECT(rmtl_encoder_create(&enc, ds, NULL, 2), RMTL_EINVAL, "columns");
    const char *unknown[] = {"color", "size", "weight", "shape"};
    EXPECT(rmtl_encoder_create(&enc, ds, unknown, 4), RMTL_EINVAL, "rmtl_encoder_create",
           "columns[3] 'shape' is not a column");
    const char *ignored[] = {"color", "size", "weight", "note"}; /* ignored: not in the schema */
    EXPECT(rmtl_encoder_create(&enc, ds, ignored, 4), RMTL_EINVAL, "'note'");
    const char *dup[] = {"color", "size", "weight", "size"};
    EXPECT(rmtl_encoder_create(&enc, ds, dup, 4), RMTL_EINVAL, "columns[1] and columns[3]");
    const char *lacking[] = {"color", "weight"};
    EXPECT(rmtl_encoder_create(&enc, ds, lacking, 2), RMTL_EINVAL, "'size' (numerical)");
    ck_assert_ptr_null(enc);
    /* a dataset from arrays has no vocabularies */
    rmtl_dataset *arr = NULL;
    const size_t vocab[] = {3};
    const int32_t cat[] = {1};
    const float lab[] = {1};
    ck_assert_int_eq(rmtl_dataset_from_arrays(&arr, 1, 1, vocab, cat, 0, NULL, 1, lab, NULL),
                     RMTL_OK);
    EXPECT(rmtl_encoder_create(&enc, arr, NULL, 0), RMTL_EINVAL, "built from arrays");
    rmtl_dataset_free(arr);

    ck_assert_int_eq(rmtl_encoder_create(&enc, ds, NULL, 0), RMTL_OK);
    rmtl_ctx *ctx = NULL;
    ck_assert_int_eq(rmtl_ctx_create(&ctx, 1), RMTL_OK);
    rmtl_batch b = RMTL_BATCH_INIT, zero = {0};
    const char *ok[] = {"red", "1", "2"};
    EXPECT(rmtl_encode_rows(NULL, enc, ctx, ok, 1, 3), RMTL_EINVAL, "out");
    EXPECT(rmtl_encode_rows(&b, NULL, ctx, ok, 1, 3), RMTL_EINVAL, "enc");
    EXPECT(rmtl_encode_rows(&b, enc, NULL, ok, 1, 3), RMTL_EINVAL, "ctx");
    EXPECT(rmtl_encode_rows(&b, enc, ctx, NULL, 1, 3), RMTL_EINVAL, "values");
    EXPECT(rmtl_encode_rows(&zero, enc, ctx, ok, 1, 3), RMTL_EINVAL, "RMTL_BATCH_INIT");
    EXPECT(rmtl_encode_rows(&b, enc, ctx, ok, 1, 2), RMTL_EINVAL, "2 columns given",
           "reads 3");
    EXPECT(rmtl_encode_columns(&b, enc, ctx, NULL, 3, 1), RMTL_EINVAL, "columns");
    ck_assert_uint_eq(b.rows, 0); /* nothing written on error */

    /* malformed numbers and NULL values: the row and the column named */
    const char *bad[][3] = {{"red", "abc", "2"}, {"red", "nan", "2"},  {"red", "1", "inf"},
                            {"red", "0x10", "2"}, {"red", "1e999", "2"}, {"red", "1,5", "2"},
                            {"red", NULL, "2"},   {NULL, "1", "2"}};
    const char *col[] = {"'size'", "'size'", "'weight'", "'size'",
                         "'size'", "'size'", "'size'",   "'color'"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *rows[6] = {"blue", "3", "6", bad[i][0], bad[i][1], bad[i][2]};
        EXPECT(rmtl_encode_rows(&b, enc, ctx, rows, 2, 3),
               bad[i][0] && bad[i][1] ? RMTL_EFORMAT : RMTL_EINVAL, "rmtl_encode_rows", "row 1",
               col[i]);
        ck_assert_uint_eq(b.rows, 0);
        const char *c0[] = {"blue", bad[i][0]}, *c1[] = {"3", bad[i][1]}, *c2[] = {"6", bad[i][2]};
        const char *const *cols[] = {c0, c1, c2};
        EXPECT(rmtl_encode_columns(&b, enc, ctx, cols, 3, 2),
               bad[i][0] && bad[i][1] ? RMTL_EFORMAT : RMTL_EINVAL, "rmtl_encode_columns",
               "row 1", col[i]);
    }
    /* finite but beyond float once standardised (weight: std 2) */
    const char *huge[] = {"red", "1", "1e308"};
    EXPECT(rmtl_encode_rows(&b, enc, ctx, huge, 1, 3), RMTL_EFORMAT, "too large", "'weight'");
    const char *c0[] = {"red"}, *c2[] = {"2"};
    const char *const *holes[] = {c0, NULL, c2};
    EXPECT(rmtl_encode_columns(&b, enc, ctx, holes, 3, 1), RMTL_EINVAL, "column 1 ('size')");
    /* zero rows is an empty batch */
    ck_assert_int_eq(rmtl_encode_rows(&b, enc, ctx, NULL, 0, 3), RMTL_OK);
    ck_assert_uint_eq(b.rows, 0);
    rmtl_encoder_free(enc);
    rmtl_ctx_free(ctx);

    /* buffer loading: the same checks as the file path */
    rmtl_dataset *d2 = NULL;
    EXPECT(rmtl_dataset_load_buffer(NULL, small_csv, 1, NULL, NULL, 0, ds), RMTL_EINVAL, "out");
    EXPECT(rmtl_dataset_load_buffer(&d2, NULL, 5, NULL, NULL, 0, ds), RMTL_EINVAL, "csv");
    EXPECT(rmtl_dataset_load_buffer(&d2, small_csv, strlen(small_csv), NULL, NULL, 0, NULL),
           RMTL_EINVAL, "either a schema");
    const char broken[] = "color,size,weight\nred,x,1\n";
    EXPECT(rmtl_dataset_load_buffer(&d2, broken, strlen(broken), "req.csv", NULL, 0, ds),
           RMTL_EFORMAT, "rmtl_dataset_load_buffer", "req.csv:2", "'size'", "'x'");
    EXPECT(rmtl_dataset_load_buffer(&d2, broken, strlen(broken), NULL, NULL, 0, ds),
           RMTL_EFORMAT, "<buffer>:2");
    ck_assert_ptr_null(d2);
    rmtl_dataset_free(ds);
}
END_TEST

/* --- Census: encode == load, bit for bit ------------------------------------ */

#define CENSUS_ROWS 3000

/* The first `rows` data rows of a gzip CSV as text (header included). */
static char *census_head(const char *path, size_t rows, size_t *len)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "gzip -dc '%s' | head -n %zu", path, rows + 1);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0)
        if ((n += got) == cap - 1)
            ck_assert_ptr_nonnull(buf = realloc(buf, cap *= 2));
    pclose(p);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Splits CSV text without quotes into fields (in place): cells[r][j]. */
static size_t split_csv(char *text, char ***cells, size_t max_rows, size_t *ncols)
{
    ck_assert_msg(!strchr(text, '"'), "the test's splitter takes no quoted fields");
    size_t r = 0;
    for (char *line = text; *line && r < max_rows; r++) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[len - 1] = '\0';
        size_t j = 0;
        for (char *f = line;; j++) {
            cells[r][j] = f;
            char *c = strchr(f, ',');
            if (!c)
                break;
            *c = '\0';
            f = c + 1;
        }
        *ncols = j + 1;
        line = end ? end + 1 : line + len;
    }
    return r;
}

START_TEST(test_encoder_census_bit_exact)
{
    const char *train_path = rmtl_tdata_shared("census/train.csv.gz");
    const char *val_path = rmtl_tdata_shared("census/val.csv.gz");
    if (!train_path || !val_path)
        return;
    /* a model on the first rows of the training split, through a
     * checkpoint: the encoder works from the checkpoint's schema */
    size_t tlen, vlen;
    char *ttext = census_head(train_path, 20000, &tlen);
    size_t slen;
    char *schema = rmtl_tdata_read(rmtl_tdata_repo("examples/schemas/census.yaml"), &slen);
    ck_assert_ptr_nonnull(schema);
    rmtl_dataset *train = NULL;
    ck_assert_msg(rmtl_dataset_load_buffer(&train, ttext, tlen, "census-head.csv", schema, slen,
                                           NULL) == RMTL_OK,
                  "%s", rmtl_last_error());
    free(ttext);
    free(schema);
    rmtl_config *cfg = NULL;
    ck_assert_int_eq(rmtl_config_create(&cfg), RMTL_OK);
    const char yaml[] = "model: {arch: mmoe, embed_dim: 8, bottom: [32], tower: [16], "
                        "experts: {count: 2}}\ntrain: {batch_size: 512}\n"
                        "runtime: {threads: 1, seed: 3}\n";
    ck_assert_int_eq(rmtl_config_load_string(cfg, yaml, strlen(yaml), NULL), RMTL_OK);
    rmtl_model *trained = NULL, *m = NULL;
    ck_assert_int_eq(rmtl_model_create(&trained, cfg, train), RMTL_OK);
    ck_assert_int_eq(rmtl_model_train_epoch(NULL, trained, train, NULL, NULL), RMTL_OK);
    void *ck = NULL;
    size_t cklen = 0;
    ck_assert_int_eq(rmtl_model_save_buffer(&ck, &cklen, trained, 0), RMTL_OK);
    ck_assert_int_eq(rmtl_model_load_buffer(&m, ck, cklen), RMTL_OK);
    rmtl_free(ck);
    rmtl_model_free(trained);
    rmtl_dataset_free(train);
    rmtl_config_free(cfg);

    /* the file path: validation rows from a CSV file */
    char *vtext = census_head(val_path, CENSUS_ROWS, &vlen);
    const char *vfile = rmtl_tdata_write("val-head.csv", vtext, vlen);
    rmtl_dataset *val = NULL, *valbuf = NULL;
    ck_assert_int_eq(rmtl_dataset_load(&val, vfile, NULL, rmtl_model_schema(m), NULL), RMTL_OK);
    ck_assert_int_eq(rmtl_dataset_load_buffer(&valbuf, vtext, vlen, NULL, NULL, 0,
                                              rmtl_model_schema(m)),
                     RMTL_OK);
    size_t rows = rmtl_dataset_rows(val), T = rmtl_model_num_tasks(m);
    ck_assert_uint_eq(rows, CENSUS_ROWS);
    size_t nc = rmtl_dataset_n_cat(val), nn = rmtl_dataset_n_num(val);
    rmtl_batch fb = RMTL_BATCH_INIT, bb = RMTL_BATCH_INIT;
    ck_assert_int_eq(rmtl_dataset_batch(&fb, val, 0, rows), RMTL_OK);
    ck_assert_int_eq(rmtl_dataset_batch(&bb, valbuf, 0, rows), RMTL_OK);
    ck_assert_mem_eq(fb.cat, bb.cat, rows * nc * sizeof *fb.cat);
    ck_assert_mem_eq(fb.num, bb.num, rows * nn * sizeof *fb.num);
    float *pf = malloc(rows * T * sizeof *pf), *pe = malloc(rows * T * sizeof *pe);
    rmtl_ctx *ctx = NULL;
    ck_assert_int_eq(rmtl_ctx_create(&ctx, 1), RMTL_OK);
    ck_assert_int_eq(rmtl_model_predict(m, ctx, &fb, pf, rows * T), RMTL_OK);

    /* the encoder: the same text, with the file's own header order */
    char ***cells = malloc((rows + 1) * sizeof *cells);
    for (size_t r = 0; r <= rows; r++)
        cells[r] = malloc(64 * sizeof **cells);
    size_t ncols = 0;
    ck_assert_uint_eq(split_csv(vtext, cells, rows + 1, &ncols), rows + 1);
    ck_assert_uint_lt(ncols, 64);
    /* instance_weight is ignored by the schema (not a column of it) */
    const char **names = malloc(ncols * sizeof *names);
    for (size_t j = 0; j < ncols; j++)
        names[j] = strcmp(cells[0][j], "instance_weight") ? cells[0][j] : NULL;
    rmtl_encoder *enc = NULL;
    ck_assert_msg(rmtl_encoder_create(&enc, rmtl_model_schema(m), names, ncols) == RMTL_OK, "%s",
                  rmtl_last_error());
    const char **byrow = malloc(rows * ncols * sizeof *byrow);
    const char ***bycol = malloc(ncols * sizeof *bycol);
    for (size_t j = 0; j < ncols; j++)
        bycol[j] = malloc(rows * sizeof **bycol);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < ncols; j++)
            byrow[r * ncols + j] = bycol[j][r] = cells[r + 1][j];
    rmtl_batch eb = RMTL_BATCH_INIT;
    ck_assert_msg(rmtl_encode_rows(&eb, enc, ctx, byrow, rows, ncols) == RMTL_OK, "%s",
                  rmtl_last_error());
    ck_assert_mem_eq(eb.cat, fb.cat, rows * nc * sizeof *fb.cat);
    ck_assert_mem_eq(eb.num, fb.num, rows * nn * sizeof *fb.num);
    ck_assert_int_eq(rmtl_model_predict(m, ctx, &eb, pe, rows * T), RMTL_OK);
    ck_assert_mem_eq(pe, pf, rows * T * sizeof *pf);
    memset(pe, 0, rows * T * sizeof *pe);
    ck_assert_int_eq(rmtl_encode_columns(&eb, enc, ctx, (const char *const *const *)bycol, ncols,
                                         rows),
                     RMTL_OK);
    ck_assert_int_eq(rmtl_model_predict(m, ctx, &eb, pe, rows * T), RMTL_OK);
    ck_assert_mem_eq(pe, pf, rows * T * sizeof *pf);
    /* unseen values reach id 0 and some rows are not all-zero */
    size_t zeros = 0, nonzero = 0;
    for (size_t i = 0; i < rows * nc; i++) {
        zeros += eb.cat[i] == 0;
        nonzero += eb.cat[i] != 0;
    }
    ck_assert(zeros > 0 && nonzero > rows);
    printf("encoder census: %zu rows x %zu columns encoded = loaded, bit for bit (%zu of %zu "
           "ids are 0)\n", rows, ncols, zeros, rows * nc);

    for (size_t j = 0; j < ncols; j++)
        free(bycol[j]);
    free(bycol);
    free(byrow);
    free(names);
    for (size_t r = 0; r <= rows; r++)
        free(cells[r]);
    free(cells);
    free(pf);
    free(pe);
    free(vtext);
    rmtl_encoder_free(enc);
    rmtl_ctx_free(ctx);
    rmtl_dataset_free(val);
    rmtl_dataset_free(valbuf);
    rmtl_model_free(m);
    rmtl_tdata_cleanup();
}
END_TEST

Suite *rmtl_test_encoder_suite(void)
{
    Suite *s = suite_create("encoder");
    TCase *tc = tcase_create("small");
    tcase_add_test(tc, test_encoder_small_values);
    tcase_add_test(tc, test_encoder_bad_input);
    tcase_add_test(tc, test_encoder_threads);
    suite_add_tcase(s, tc);
    tc = tcase_create("census");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_encoder_census_bit_exact);
    suite_add_tcase(s, tc);
    return s;
}
