/* Data layer internals: the CSV reader across buffer refills, gzip input,
 * the session index, id columns, schema serialisation, allocation
 * failures and hostile input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/bytes.h"
#include "core/internal.h"
#include "data/csv.h"
#include "data/dataset.h"
#include "data/intern.h"
#include "util/tdata.h"

#define ASSERT_OK(expr) ck_assert_msg((expr) == RMTL_OK, "%s: %s", #expr, rmtl_last_error())

static uint64_t rng_state = 0x243f6a8885a308d3u;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return rng_state;
}

/* A growable string for building inputs. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* --- CSV reader ------------------------------------------------------------ */

/* Random fields written with every quoting feature, read back through
 * buffers that refill mid-record many times. */
START_TEST(test_csv_round_trip_across_refills)
{
    enum { ROWS = 9000, COLS = 5 };
    static const char alphabet[] = "ab ,\"\n\r\txyz0123";
    char **want = calloc(ROWS * COLS, sizeof *want);
    sbuf csv = {0};
    sb_str(&csv, "c0,c1,c2,c3,c4\n");
    for (size_t r = 0; r < ROWS; r++) {
        for (size_t c = 0; c < COLS; c++) {
            size_t len = rnd() % (r % 61 == 0 ? 5000 : 12); /* some long fields */
            char *v = malloc(len + 1);
            for (size_t i = 0; i < len; i++)
                v[i] = alphabet[rnd() % (sizeof alphabet - 1)];
            v[len] = '\0';
            /* the reader trims spaces and tabs: expect the trimmed text */
            size_t a = 0, e = len;
            while (e > a && (v[e - 1] == ' ' || v[e - 1] == '\t'))
                e--;
            while (a < e && (v[a] == ' ' || v[a] == '\t'))
                a++;
            want[r * COLS + c] = strndup(v + a, e - a);
            sb_str(&csv, "\"");
            for (size_t i = 0; i < len; i++)
                sb_put(&csv, v[i] == '"' ? "\"\"" : &v[i], v[i] == '"' ? 2 : 1);
            sb_str(&csv, "\"");
            sb_str(&csv, c + 1 < COLS ? "," : r % 2 ? "\r\n" : "\n");
            free(v);
        }
    }
    ck_assert_uint_gt(csv.n, 1u << 20); /* several buffers' worth */
    rmtl__csv *c;
    ASSERT_OK(rmtl__csv_open_mem(&c, csv.p, csv.n, "mem.csv"));
    ck_assert_uint_eq(rmtl__csv_ncols(c), COLS);
    ck_assert_str_eq(rmtl__csv_colname(c, 4), "c4");
    size_t r = 0;
    int rc;
    while ((rc = rmtl__csv_next(c)) == 1) {
        ck_assert_uint_lt(r, ROWS);
        for (size_t k = 0; k < COLS; k++) {
            ck_assert_uint_eq(rmtl__csv_field_len(c, k), strlen(want[r * COLS + k]));
            ck_assert_msg(!strcmp(rmtl__csv_field(c, k), want[r * COLS + k]), "row %zu col %zu",
                          r, k);
        }
        r++;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(r, ROWS);
    rmtl__csv_close(c);
    for (size_t i = 0; i < ROWS * COLS; i++)
        free(want[i]);
    free(want);
    free(csv.p);
}
END_TEST

/* One quoted field of 400 KB made of doubled quotes: larger than the
 * buffer, and with some shift a refill falls between the two quotes of a
 * pair (the reader must look ahead before deciding the quote closes). */
START_TEST(test_csv_huge_field_of_doubled_quotes)
{
    enum { PAIRS = 200000 };
    for (int shift = 0; shift < 4; shift++) {
        sbuf t = {0};
        sb_str(&t, "h,k\n\"");
        for (int i = 0; i < shift; i++)
            sb_str(&t, "a");
        for (int i = 0; i < PAIRS; i++)
            sb_str(&t, "\"\"");
        sb_str(&t, "\",tail\n");
        rmtl__csv *c;
        ASSERT_OK(rmtl__csv_open_mem(&c, t.p, t.n, "big"));
        ck_assert_int_eq(rmtl__csv_next(c), 1);
        const char *f = rmtl__csv_field(c, 0);
        ck_assert_uint_eq(rmtl__csv_field_len(c, 0), (size_t)shift + PAIRS);
        for (int i = 0; i < shift; i++)
            ck_assert_int_eq(f[i], 'a');
        for (size_t i = (size_t)shift; i < (size_t)shift + PAIRS; i++)
            ck_assert_int_eq(f[i], '"');
        ck_assert_str_eq(rmtl__csv_field(c, 1), "tail");
        ck_assert_int_eq(rmtl__csv_next(c), 0);
        rmtl__csv_close(c);
        free(t.p);
    }
}
END_TEST

START_TEST(test_csv_lines_and_edge_records)
{
    const char *text = "h1,h2\n"
                       "\n"
                       "a,\"b\nc\"\n"
                       "\"\",\n"
                       "x,\"y\"\r\n"
                       "last,";
    rmtl__csv *c;
    ASSERT_OK(rmtl__csv_open_mem(&c, text, strlen(text), NULL));
    ck_assert_str_eq(rmtl__csv_name(c), "<memory>");
    ck_assert_int_eq(rmtl__csv_next(c), 1);
    ck_assert_uint_eq(rmtl__csv_line(c), 3);
    ck_assert_str_eq(rmtl__csv_field(c, 1), "b\nc");
    ck_assert_int_eq(rmtl__csv_next(c), 1);
    ck_assert_uint_eq(rmtl__csv_line(c), 5);
    ck_assert_str_eq(rmtl__csv_field(c, 0), "");
    ck_assert_str_eq(rmtl__csv_field(c, 1), "");
    ck_assert_int_eq(rmtl__csv_next(c), 1);
    ck_assert_str_eq(rmtl__csv_field(c, 1), "y");
    ck_assert_int_eq(rmtl__csv_next(c), 1); /* no final newline, empty last field */
    ck_assert_uint_eq(rmtl__csv_line(c), 7);
    ck_assert_str_eq(rmtl__csv_field(c, 0), "last");
    ck_assert_str_eq(rmtl__csv_field(c, 1), "");
    ck_assert_int_eq(rmtl__csv_next(c), 0);
    ck_assert_int_eq(rmtl__csv_next(c), 0);
    rmtl__csv_close(c);

    /* a quote at the very end of input closes the field */
    const char *t2 = "h\n\"v\"";
    ASSERT_OK(rmtl__csv_open_mem(&c, t2, strlen(t2), "t2"));
    ck_assert_int_eq(rmtl__csv_next(c), 1);
    ck_assert_str_eq(rmtl__csv_field(c, 0), "v");
    ck_assert_int_eq(rmtl__csv_next(c), 0);
    rmtl__csv_close(c);

    const char *t3 = "h\n\"v";
    ASSERT_OK(rmtl__csv_open_mem(&c, t3, strlen(t3), "t3"));
    ck_assert_int_eq(rmtl__csv_next(c), RMTL_EFORMAT);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "t3:2: column 'h': unterminated quote"));
    rmtl__csv_close(c);
}
END_TEST

/* --- gzip -------------------------------------------------------------------- */

static void *gzip_bytes(const void *data, size_t len, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);
    size_t cap = deflateBound(&zs, len) + 64;
    unsigned char *out = malloc(cap);
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static void assert_same_rows(const rmtl_dataset *a, const rmtl_dataset *b)
{
    const rmtl__dsmeta *m = a->meta;
    ck_assert_uint_eq(a->rows, b->rows);
    ck_assert_uint_eq(m->n_cat, b->meta->n_cat);
    ck_assert_uint_eq(m->n_num, b->meta->n_num);
    ck_assert(!memcmp(a->cat, b->cat, a->rows * m->n_cat * sizeof *a->cat));
    if (m->n_num)
        ck_assert(!memcmp(a->num, b->num, a->rows * m->n_num * sizeof *a->num));
    ck_assert_int_eq(!a->labels, !b->labels);
    if (a->labels)
        ck_assert(!memcmp(a->labels, b->labels, a->rows * m->n_tasks * sizeof *a->labels));
    ck_assert(!memcmp(a->session, b->session, a->rows * sizeof *a->session));
    ck_assert_uint_eq(a->n_sessions, b->n_sessions);
    ck_assert(!memcmp(a->sess_rows, b->sess_rows, a->rows * sizeof *a->sess_rows));
    for (size_t f = 0; f < m->n_cat; f++)
        ck_assert_uint_eq(m->fields[f].vocab, b->meta->fields[f].vocab);
    for (size_t k = 0; k < m->n_num; k++) {
        ck_assert(m->nums[k].mean == b->meta->nums[k].mean);
        ck_assert(m->nums[k].std == b->meta->nums[k].std);
    }
}

static const char small_schema[] = "columns:\n"
                                   "  s: session\n"
                                   "  t: timestamp\n"
                                   "  u: user\n"
                                   "  i: {role: item, feature: true}\n"
                                   "  c: categorical\n"
                                   "  n: numerical\n"
                                   "  y: {role: label, threshold: 0.5}\n"
                                   "  z: {role: label, positive: buy}\n";

static void small_csv(sbuf *b, size_t rows)
{
    sb_str(b, "s,t,u,i,c,n,y,z\n");
    char line[160];
    for (size_t r = 0; r < rows; r++) {
        snprintf(line, sizeof line, "%zu,%zu,%s,it%zu,\"c,%zu\",%g,%d,%s\n", r / 4, 100 - r % 4,
                 r % 5 ? "u7" : "NA", r % 6, r % 3, (double)r * 0.5, (int)(r % 2),
                 r % 3 ? "buy" : "view");
        sb_str(b, line);
    }
}

static rmtl_dataset *load_mem(const void *csv, size_t len, const char *schema,
                              const rmtl_dataset *ref)
{
    rmtl_dataset *ds;
    ck_assert_msg(rmtl__dataset_load_mem(&ds, csv, len, "mem.csv", schema,
                                         schema ? strlen(schema) : 0, "s.yaml", ref) == RMTL_OK,
                  "%s", rmtl_last_error());
    return ds;
}

START_TEST(test_gzip_equals_plain)
{
    sbuf csv = {0};
    small_csv(&csv, 500);
    size_t gz_len;
    unsigned char *gz = gzip_bytes(csv.p, csv.n, &gz_len);
    rmtl_dataset *plain = load_mem(csv.p, csv.n, small_schema, NULL);
    rmtl_dataset *zipped = load_mem(gz, gz_len, small_schema, NULL);
    assert_same_rows(plain, zipped);
    rmtl_dataset_free(zipped);

    /* two gzip members back to back read as one text */
    size_t half = csv.n / 2;
    while (csv.p[half - 1] != '\n')
        half--;
    size_t l1, l2;
    unsigned char *g1 = gzip_bytes(csv.p, half, &l1), *g2 = gzip_bytes(csv.p + half,
                                                                        csv.n - half, &l2);
    unsigned char *both = malloc(l1 + l2);
    memcpy(both, g1, l1);
    memcpy(both + l1, g2, l2);
    zipped = load_mem(both, l1 + l2, small_schema, NULL);
    assert_same_rows(plain, zipped);
    rmtl_dataset_free(zipped);

    /* from a file too: detection by content, whatever the name says */
    const char *path = rmtl_tdata_write("looks_plain.csv", gz, gz_len);
    ASSERT_OK(rmtl_dataset_load_schema_string(&zipped, path, small_schema, strlen(small_schema),
                                              NULL, NULL));
    assert_same_rows(plain, zipped);
    rmtl_dataset_free(zipped);

    /* truncated and corrupt streams */
    rmtl_dataset *ds;
    ck_assert_int_eq(rmtl__dataset_load_mem(&ds, gz, gz_len - 9, "cut.gz", small_schema,
                                            strlen(small_schema), NULL, NULL),
                     RMTL_EFORMAT);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "cut.gz: truncated gzip data"));
    gz[gz_len / 2] ^= 0x55;
    gz[gz_len / 2 + 1] ^= 0x55;
    int rc = rmtl__dataset_load_mem(&ds, gz, gz_len, "bad.gz", small_schema,
                                    strlen(small_schema), NULL, NULL);
    ck_assert_int_eq(rc, RMTL_EFORMAT);
    ck_assert_ptr_null(ds);
    free(gz), free(g1), free(g2), free(both), free(csv.p);
    rmtl_dataset_free(plain);
    rmtl_tdata_cleanup();
}
END_TEST

START_TEST(test_census_gzip_equals_plain)
{
    const char *gzpath = rmtl_tdata_shared("census/train.csv.gz");
    if (!gzpath)
        return;
    gzFile g = gzopen(gzpath, "rb");
    ck_assert_ptr_nonnull(g);
    sbuf text = {0};
    char chunk[1 << 16];
    int got;
    while ((got = gzread(g, chunk, sizeof chunk)) > 0)
        sb_put(&text, chunk, (size_t)got);
    gzclose(g);
    const char *plain_path = rmtl_tdata_write("census_train.csv", text.p, text.n);
    const char *schema = rmtl_tdata_repo("examples/schemas/census.yaml");
    rmtl_dataset *a, *b;
    ASSERT_OK(rmtl_dataset_load(&a, gzpath, schema, NULL, NULL));
    ASSERT_OK(rmtl_dataset_load(&b, plain_path, schema, NULL, NULL));
    assert_same_rows(a, b);
    rmtl_dataset_free(a), rmtl_dataset_free(b);
    free(text.p);
    rmtl_tdata_cleanup();
}
END_TEST

/* --- sessions and ids ----------------------------------------------------------- */

START_TEST(test_diginetica_sessions_time_ordered)
{
    const char *csv = rmtl_tdata_shared("sessions/diginetica/views.csv");
    if (!csv)
        return;
    rmtl_dataset *ds;
    ASSERT_OK(rmtl_dataset_load(&ds, csv, rmtl_tdata_repo("examples/schemas/diginetica.yaml"),
                                NULL, NULL));
    ck_assert_uint_eq(rmtl__dataset_session_count(ds), 2986);
    ck_assert_ptr_nonnull(ds->time);
    char *covered = calloc(ds->rows, 1);
    double prev_first = -INFINITY;
    for (size_t s = 0; s < ds->n_sessions; s++) {
        size_t n;
        const size_t *rows = rmtl__dataset_session_rows(ds, s, &n);
        ck_assert_uint_gt(n, 0);
        ck_assert(ds->time[rows[0]] >= prev_first); /* sessions by first timestamp */
        prev_first = ds->time[rows[0]];
        for (size_t i = 0; i < n; i++) {
            ck_assert(!covered[rows[i]]);
            covered[rows[i]] = 1;
            ck_assert_int_eq(ds->session[rows[i]], ds->session[rows[0]]);
            if (i)
                ck_assert(ds->time[rows[i - 1]] < ds->time[rows[i]] ||
                          (ds->time[rows[i - 1]] == ds->time[rows[i]] && rows[i - 1] < rows[i]));
        }
    }
    for (size_t r = 0; r < ds->rows; r++)
        ck_assert(covered[r]);
    /* user_id is numeric where present ("NA" is missing: -1); item ids too */
    ck_assert_int_eq(ds->user[0], -1);
    ck_assert_int_eq(ds->item[0], 9654);
    /* shuffling keeps each session's rows in time order */
    ASSERT_OK(rmtl_dataset_shuffle(ds, 5));
    for (size_t s = 0; s < ds->n_sessions; s++) {
        size_t n;
        const size_t *rows = rmtl__dataset_session_rows(ds, s, &n);
        for (size_t i = 1; i < n; i++) {
            ck_assert_int_eq(ds->session[rows[i]], ds->session[rows[0]]);
            ck_assert(ds->time[rows[i - 1]] <= ds->time[rows[i]]);
        }
    }
    free(covered);
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_id_columns)
{
    /* string session ids -> dense ids in order of first appearance */
    const char *schema = "columns: {s: session, u: user, i: item, "
                         "y: {role: label, threshold: 0}}\n";
    const char *csv = "s,u,i,y\nk9,5,a,1\nk2,NA,b,0\nk9,5,007,1\nk2,12,a,0\n";
    rmtl_dataset *ds = load_mem(csv, strlen(csv), schema, NULL);
    const int64_t sess[] = {0, 1, 0, 1}, user[] = {5, -1, 5, 12}, item[] = {0, 1, 2, 0};
    ck_assert(!memcmp(ds->session, sess, sizeof sess));
    ck_assert(!memcmp(ds->user, user, sizeof user));
    ck_assert(!memcmp(ds->item, item, sizeof item)); /* "007" is not canonical: dense */
    ck_assert_uint_eq(ds->meta->n_cat, 0);
    ck_assert_uint_eq(ds->n_sessions, 2);
    rmtl_dataset_free(ds);

    /* no session column: a user's rows form a session; no user: one row each */
    const char *s2 = "columns: {u: user, x: categorical, y: {role: label, threshold: 0}}\n";
    const char *c2 = "u,x,y\nann,p,1\nbob,q,0\nNA,p,1\nann,q,0\nNA,r,1\n";
    ds = load_mem(c2, strlen(c2), s2, NULL);
    ck_assert_uint_eq(ds->n_sessions, 4);
    ck_assert_int_eq(ds->session[0], ds->session[3]);
    ck_assert_int_ne(ds->session[2], ds->session[4]);
    ck_assert_int_ne(ds->session[0], ds->session[1]);
    size_t n;
    const size_t *rows = rmtl__dataset_session_rows(ds, 0, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(rows[0], 0);
    ck_assert_uint_eq(rows[1], 3);
    rmtl_dataset_free(ds);

    /* sessions order by their first timestamp, rows inside by time, ties by file order */
    const char *s3 = "columns: {s: session, t: timestamp, y: {role: label, threshold: 0}}\n"
                     "default: numerical\n";
    const char *c3 = "s,t,y,v\n1,50,0,0\n2,10,0,1\n1,20,0,2\n2,10,1,3\n1,20,1,4\n";
    ds = load_mem(c3, strlen(c3), s3, NULL);
    const size_t want_rows[] = {1, 3, 2, 4, 0}, want_off[] = {0, 2, 5};
    ck_assert(!memcmp(ds->sess_rows, want_rows, sizeof want_rows));
    ck_assert(!memcmp(ds->sess_off, want_off, sizeof want_off));
    rmtl_dataset_free(ds);
}
END_TEST

START_TEST(test_intern)
{
    rmtl__intern t;
    rmtl__intern_init(&t);
    ck_assert_int_eq(rmtl__intern_find(&t, "x", 1), -1);
    char key[32];
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < 5000; i++) {
            int n = snprintf(key, sizeof key, "k%zu", i * 7919 % 5000);
            size_t idx;
            ASSERT_OK(rmtl__intern_add(&t, key, (size_t)n, &idx));
            if (round == 0)
                ck_assert_uint_eq(idx, i);
        }
    ck_assert_uint_eq(t.n, 5000);
    ck_assert_uint_eq(t.count[0], 1); /* the second find is in the slot's hits ... */
    rmtl__intern_sync(&t);            /* ... until synced */
    for (size_t i = 0; i < 5000; i++) {
        ck_assert_uint_eq(t.count[i], 2);
        ck_assert_int_eq(rmtl__intern_find(&t, rmtl__intern_str(&t, i), rmtl__intern_len(&t, i)),
                         (int64_t)i);
    }
    /* binary-safe: lengths, not NULs */
    size_t a, b;
    ASSERT_OK(rmtl__intern_add(&t, "ab\0c", 4, &a));
    ASSERT_OK(rmtl__intern_add(&t, "ab", 2, &b));
    ck_assert_uint_ne(a, b);
    ck_assert_int_eq(rmtl__intern_find(&t, "", 0), -1);
    rmtl__intern_free(&t);
}
END_TEST

/* --- schema serialisation ----------------------------------------------------------- */

static void save_schema(rmtl__wbuf *w, const rmtl_dataset *ds)
{
    rmtl__wbuf_init(w);
    ASSERT_OK(rmtl__dataset_schema_save(w, ds));
}

static rmtl_dataset *load_schema(const rmtl__wbuf *w)
{
    rmtl__rbuf r;
    rmtl__rbuf_init(&r, w->data, w->len);
    rmtl_dataset *ds;
    ASSERT_OK(rmtl__dataset_schema_load(&ds, &r));
    ck_assert_uint_eq(rmtl__rbuf_left(&r), 0);
    return ds;
}

START_TEST(test_schema_round_trip_small)
{
    sbuf csv = {0};
    small_csv(&csv, 60);
    rmtl_dataset *tr = load_mem(csv.p, csv.n, small_schema, NULL);
    rmtl__wbuf w1, w2;
    save_schema(&w1, tr);
    rmtl_dataset *ref = load_schema(&w1);
    ck_assert_uint_eq(ref->rows, 0);
    ck_assert_uint_eq(rmtl_dataset_n_cat(ref), 2);
    ck_assert_str_eq(rmtl_dataset_task_name(ref, 1), "z");
    save_schema(&w2, ref);
    ck_assert_uint_eq(w1.len, w2.len);
    ck_assert(!memcmp(w1.data, w2.data, w1.len)); /* bit-exact */
    /* the restored reference reads new data exactly as the original */
    sbuf val = {0};
    small_csv(&val, 23);
    rmtl_dataset *v1 = load_mem(val.p, val.n, NULL, tr), *v2 = load_mem(val.p, val.n, NULL, ref);
    assert_same_rows(v1, v2);
    rmtl_dataset_free(v1), rmtl_dataset_free(v2), rmtl_dataset_free(ref), rmtl_dataset_free(tr);

    /* from arrays: names and sizes only */
    const size_t vocab[2] = {4, 9};
    const int32_t cat[2] = {3, 8};
    const float num[1] = {0.25f};
    rmtl_dataset *arr;
    ASSERT_OK(rmtl_dataset_from_arrays(&arr, 1, 2, vocab, cat, 1, num, 1, NULL, NULL));
    rmtl__wbuf w3, w4;
    save_schema(&w3, arr);
    ref = load_schema(&w3);
    ck_assert_uint_eq(rmtl_dataset_vocab_size(ref, 1), 9);
    save_schema(&w4, ref);
    ck_assert(w3.len == w4.len && !memcmp(w3.data, w4.data, w3.len));
    rmtl_dataset_free(ref), rmtl_dataset_free(arr);
    rmtl__wbuf_free(&w1), rmtl__wbuf_free(&w2), rmtl__wbuf_free(&w3), rmtl__wbuf_free(&w4);
    free(csv.p), free(val.p);
}
END_TEST

START_TEST(test_schema_round_trip_census)
{
    const char *trp = rmtl_tdata_shared("census/train.csv.gz");
    const char *vap = rmtl_tdata_shared("census/val.csv.gz");
    if (!trp || !vap)
        return;
    rmtl_dataset *tr, *v1, *v2;
    ASSERT_OK(rmtl_dataset_load(&tr, trp, rmtl_tdata_repo("examples/schemas/census.yaml"), NULL, NULL));
    rmtl__wbuf w1, w2;
    save_schema(&w1, tr);
    rmtl_dataset *ref = load_schema(&w1);
    save_schema(&w2, ref);
    ck_assert(w1.len == w2.len && !memcmp(w1.data, w2.data, w1.len));
    ASSERT_OK(rmtl_dataset_load(&v1, vap, NULL, tr, NULL));
    ASSERT_OK(rmtl_dataset_load(&v2, vap, NULL, ref, NULL));
    assert_same_rows(v1, v2);
    rmtl_dataset_free(v1), rmtl_dataset_free(v2), rmtl_dataset_free(ref), rmtl_dataset_free(tr);
    rmtl__wbuf_free(&w1), rmtl__wbuf_free(&w2);
}
END_TEST

START_TEST(test_schema_damaged)
{
    sbuf csv = {0};
    small_csv(&csv, 30);
    rmtl_dataset *tr = load_mem(csv.p, csv.n, small_schema, NULL);
    rmtl__wbuf w;
    save_schema(&w, tr);
    rmtl_dataset *ds;
    rmtl__rbuf r;
    /* every truncation is an error, never a crash */
    for (size_t len = 0; len < w.len; len++) {
        rmtl__rbuf_init(&r, w.data, len);
        ck_assert_int_eq(rmtl__dataset_schema_load(&ds, &r), RMTL_EFORMAT);
        ck_assert_ptr_null(ds);
    }
    /* flipped bytes: an error, or a schema that still works as a reference */
    unsigned char *copy = malloc(w.len);
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(copy, w.data, w.len);
        size_t at = rnd() % w.len;
        copy[at] ^= (unsigned char)(1u << (rnd() % 8));
        rmtl__rbuf_init(&r, copy, w.len);
        int rc = rmtl__dataset_schema_load(&ds, &r);
        ck_assert_msg(rc == RMTL_OK || rc == RMTL_EFORMAT || rc == RMTL_EVERSION,
                      "byte %zu: %d", at, rc);
        if (rc == RMTL_OK) {
            rmtl_dataset *v;
            int lrc = rmtl__dataset_load_mem(&v, csv.p, csv.n, "x.csv", NULL, 0, NULL, ds);
            ck_assert_int_ne(lrc, RMTL_ENOMEM);
            rmtl_dataset_free(v);
            rmtl_dataset_free(ds);
        }
    }
    memcpy(copy, w.data, w.len);
    copy[4] = 2; /* a newer format version */
    rmtl__rbuf_init(&r, copy, w.len);
    ck_assert_int_eq(rmtl__dataset_schema_load(&ds, &r), RMTL_EVERSION);
    free(copy);
    rmtl__wbuf_free(&w);
    rmtl_dataset_free(tr);
    free(csv.p);
}
END_TEST

/* --- allocation failures ------------------------------------------------------------ */

/* Runs `op` with the n-th allocation failing, for n = 1, 2, ... until it
 * succeeds: each attempt fails cleanly with RMTL_ENOMEM or succeeds. */
#define ENOMEM_LOOP(op, cleanup)                                                           \
    do {                                                                                   \
        for (size_t n_ = 1;; n_++) {                                                       \
            ck_assert_uint_lt(n_, 100000);                                                 \
            rmtl__alloc_fail_after(n_);                                                    \
            int rc_ = (op);                                                                \
            size_t made_ = rmtl__alloc_fail_after(0);                                      \
            ck_assert_msg(rc_ == RMTL_OK || rc_ == RMTL_ENOMEM, "n=%zu rc=%d %s", n_, rc_, \
                          rmtl_last_error());                                              \
            if (rc_ == RMTL_OK) {                                                          \
                cleanup;                                                                   \
                if (made_ < n_)                                                            \
                    break; /* the injected failure was never reached */                    \
            }                                                                              \
        }                                                                                  \
    } while (0)

START_TEST(test_enomem_load)
{
    sbuf csv = {0};
    small_csv(&csv, 40);
    rmtl_dataset *ds = NULL, *ref = load_mem(csv.p, csv.n, small_schema, NULL);
    ENOMEM_LOOP(rmtl__dataset_load_mem(&ds, csv.p, csv.n, "m.csv", small_schema,
                                       strlen(small_schema), "s.yaml", NULL),
                rmtl_dataset_free(ds));
    ENOMEM_LOOP(rmtl__dataset_load_mem(&ds, csv.p, csv.n, "m.csv", NULL, 0, NULL, ref),
                rmtl_dataset_free(ds));
    size_t gz_len;
    void *gz = gzip_bytes(csv.p, csv.n, &gz_len);
    ENOMEM_LOOP(rmtl__dataset_load_mem(&ds, gz, gz_len, "m.csv.gz", small_schema,
                                       strlen(small_schema), "s.yaml", NULL),
                rmtl_dataset_free(ds));
    const char *path = rmtl_tdata_write("m.csv", csv.p, csv.n);
    const char *spath = rmtl_tdata_write("s.yaml", small_schema, (size_t)-1);
    ENOMEM_LOOP(rmtl_dataset_load(&ds, path, spath, NULL, NULL), rmtl_dataset_free(ds));
    free(gz);
    rmtl_dataset_free(ref);
    free(csv.p);
    rmtl_tdata_cleanup();
}
END_TEST

/* A failed save leaves a partial buffer, which the caller still frees. */
static int save_or_free(rmtl__wbuf *w, const rmtl_dataset *ds)
{
    rmtl__wbuf_init(w);
    int rc = rmtl__dataset_schema_save(w, ds);
    if (rc)
        rmtl__wbuf_free(w);
    return rc;
}

START_TEST(test_enomem_operations)
{
    sbuf csv = {0};
    small_csv(&csv, 40);
    rmtl_dataset *ds = load_mem(csv.p, csv.n, small_schema, NULL), *a = NULL, *b = NULL,
                 *c = NULL;
    ENOMEM_LOOP(rmtl_dataset_split_sessions(&a, &b, &c, ds, 0.5, 0.25, 3),
                (rmtl_dataset_free(a), rmtl_dataset_free(b), rmtl_dataset_free(c)));
    ENOMEM_LOOP(rmtl_dataset_shuffle(ds, 11), (void)0);
    rmtl__wbuf w;
    ENOMEM_LOOP(save_or_free(&w, ds), (void)0);
    rmtl__rbuf r;
    ENOMEM_LOOP((rmtl__rbuf_init(&r, w.data, w.len), rmtl__dataset_schema_load(&a, &r)),
                rmtl_dataset_free(a));
    rmtl__wbuf_free(&w);
    const size_t vocab = 3;
    const int32_t cat[4] = {0, 1, 2, 1};
    const float num[4] = {1, 2, 3, 4}, y[4] = {0, 1, 1, 0};
    const int64_t sid[4] = {1, 1, 2, 3};
    ENOMEM_LOOP(rmtl_dataset_from_arrays(&a, 4, 1, &vocab, cat, 1, num, 1, y, sid),
                rmtl_dataset_free(a));
    double out;
    ENOMEM_LOOP(rmtl_auc(&out, num, y, 4, 1), (void)0);
    ENOMEM_LOOP(rmtl_session_logloss(&out, y, y, 4, 1, sid), (void)0);
    rmtl_dataset_free(ds);
    free(csv.p);
}
END_TEST


/* --- hostile input ------------------------------------------------------------------ */

START_TEST(test_fuzz_csv)
{
    static const char pool[] = "\"\",,\n\r\n 0123456789.-eNA?abxyz\t";
    sbuf base = {0};
    small_csv(&base, 12);
    rmtl_dataset *ref = load_mem(base.p, base.n, small_schema, NULL);
    char *buf = malloc(base.n + 64);
    for (int trial = 0; trial < 4000; trial++) {
        size_t n = base.n;
        memcpy(buf, base.p, n);
        int edits = 1 + (int)(rnd() % 6);
        for (int e = 0; e < edits; e++) {
            size_t at = rnd() % n;
            switch (rnd() % 4) {
            case 0: /* replace */
                buf[at] = pool[rnd() % (sizeof pool - 1)];
                break;
            case 1: /* delete */
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            case 2: /* insert */
                if (n < base.n + 60) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = pool[rnd() % (sizeof pool - 1)];
                    n++;
                }
                break;
            default: /* truncate */
                n = at;
                break;
            }
            if (n == 0)
                break;
        }
        if (rnd() % 50 == 0)
            buf[rnd() % (n ? n : 1)] = '\0';
        rmtl_dataset *ds = NULL;
        int with_ref = trial % 2; /* every other time as a validation split */
        int rc = rmtl__dataset_load_mem(&ds, buf, n, "fuzz.csv", with_ref ? NULL : small_schema,
                                        with_ref ? 0 : strlen(small_schema), "s.yaml",
                                        with_ref ? ref : NULL);
        ck_assert_msg(rc == RMTL_OK || rc == RMTL_EFORMAT || rc == RMTL_ECONFIG, "rc %d: %s", rc,
                      rmtl_last_error());
        ck_assert_int_eq(rc == RMTL_OK, ds != NULL);
        if (rc) {
            const char *msg = rmtl_last_error();
            ck_assert_msg(!strncmp(msg, "fuzz.csv", 8) || !strncmp(msg, "s.yaml", 6), "%s",
                          msg);
        }
        rmtl_dataset_free(ds);
    }
    free(buf);
    free(base.p);
    rmtl_dataset_free(ref);
}
END_TEST

START_TEST(test_fuzz_schema)
{
    static const char pool[] = "{}[]:,- \n'\"abcdeilmnoprstuy01.5#&*!|>";
    sbuf csv = {0};
    small_csv(&csv, 8);
    size_t sn = strlen(small_schema);
    char *buf = malloc(sn + 1);
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(buf, small_schema, sn + 1);
        for (int e = 0, edits = 1 + (int)(rnd() % 4); e < edits; e++)
            buf[rnd() % sn] = pool[rnd() % (sizeof pool - 1)];
        rmtl_dataset *ds = NULL;
        int rc = rmtl__dataset_load_mem(&ds, csv.p, csv.n, "f.csv", buf, sn, "f.yaml", NULL);
        ck_assert_msg(rc == RMTL_OK || rc == RMTL_EFORMAT || rc == RMTL_ECONFIG, "rc %d: %s", rc,
                      rmtl_last_error());
        rmtl_dataset_free(ds);
    }
    free(buf);
    free(csv.p);
}
END_TEST

Suite *rmtl_test_data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *csv = tcase_create("csv");
    tcase_set_timeout(csv, 60);
    tcase_add_test(csv, test_csv_round_trip_across_refills);
    tcase_add_test(csv, test_csv_huge_field_of_doubled_quotes);
    tcase_add_test(csv, test_csv_lines_and_edge_records);
    tcase_add_test(csv, test_gzip_equals_plain);
    tcase_add_test(csv, test_census_gzip_equals_plain);
    tcase_add_test(csv, test_intern);
    suite_add_tcase(s, csv);

    TCase *ds = tcase_create("dataset");
    tcase_set_timeout(ds, 60);
    tcase_add_test(ds, test_diginetica_sessions_time_ordered);
    tcase_add_test(ds, test_id_columns);
    tcase_add_test(ds, test_schema_round_trip_small);
    tcase_add_test(ds, test_schema_round_trip_census);
    tcase_add_test(ds, test_schema_damaged);
    suite_add_tcase(s, ds);

    TCase *robust = tcase_create("robustness");
    tcase_set_timeout(robust, 300);
    tcase_add_test(robust, test_enomem_load);
    tcase_add_test(robust, test_enomem_operations);
    tcase_add_test(robust, test_fuzz_csv);
    tcase_add_test(robust, test_fuzz_schema);
    suite_add_tcase(s, robust);
    return s;
}
