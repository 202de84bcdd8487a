/* The parallel CSV parser (data/csv_parallel.c) against the reference
 * reader: the same arrays, vocabularies (order and counts), statistics and
 * errors, for 1 to 5 threads over ranges as small as one line, from memory
 * and from files (lines across the 1 MiB read blocks); shards of a file. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
#include "data/dataset.h"
#include "util/tdata.h"

#define ASSERT_OK(expr) ck_assert_msg((expr) == RMTL_OK, "%s: %s", #expr, rmtl_last_error())

static uint64_t rs = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return rs;
}

typedef struct sb {
    char *p;
    size_t n, cap;
} sb;

static void put(sb *b, const char *s)
{
    size_t k = strlen(s);
    if (b->n + k + 1 > b->cap) {
        b->cap = (b->n + k + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->n, s, k + 1);
    b->n += k;
}

/* A CSV in the parser's dialect with what it must get right: a BOM, CRLF
 * and LF, blank lines, spaces and tabs, missing values, short and long
 * (> 7 bytes) categorical text, label-encoded ids and non-canonical ones
 * ("017"), numbers for the fast path and for strtod (exponents, 17
 * digits), a label threshold, sessions, user ids and timestamps. */
static char *make_csv(size_t rows, size_t *len, int with_ids)
{
    sb b = {0};
    put(&b, "\xEF\xBB\xBF");
    put(&b, with_ids ? "click,a,b, c ,x,y,sess,user,t\r\n" : "click,a,b, c ,x,y\n");
    char line[512];
    static const char *const words[] = {"red", "green", "a-rather-long-value", "NA", "",
                                        "  blue ", "017", "17", "0", "?"};
    static const char *const nums[] = {"0.4734", "-12.5", "1e3", "0.12212999999999999",
                                       "", "7", " 3.25", "-0", ".5", "5."};
    for (size_t r = 0; r < rows; r++) {
        if (rnd() % 53 == 0)
            put(&b, rnd() % 2 ? "\n" : "\r\n");
        snprintf(line, sizeof line, "%d,%s,%llu,%s,%s,%s", (int)(rnd() % 2),
                 words[rnd() % 10], (unsigned long long)(rnd() % (r < 50 ? 5 : 100000)),
                 words[rnd() % 10], nums[rnd() % 10], nums[rnd() % 10]);
        put(&b, line);
        if (with_ids) {
            snprintf(line, sizeof line, ",s%llu,%llu,%llu", (unsigned long long)(r / 4),
                     (unsigned long long)(rnd() % 50), (unsigned long long)(rnd() % 1000));
            put(&b, line);
        }
        put(&b, rnd() % 3 ? "\n" : "\r\n");
    }
    *len = b.n;
    return b.p;
}

static const char schema_plain[] = "default: categorical\n"
                                   "min_count: 2\n"
                                   "columns:\n"
                                   "  click: {role: label, threshold: 0.5}\n"
                                   "  x: numerical\n"
                                   "  y: {role: numerical, fill: 0.5}\n";
static const char schema_ids[] = "default: categorical\n"
                                 "columns:\n"
                                 "  click: {role: label, threshold: 0.5}\n"
                                 "  x: numerical\n"
                                 "  y: numerical\n"
                                 "  sess: session\n"
                                 "  user: {role: user, feature: true}\n"
                                 "  t: timestamp\n";

/* Bit-for-bit equality of two datasets, vocabularies and counts included. */
static void assert_same(const rmtl_dataset *a, const rmtl_dataset *b)
{
    const rmtl__dsmeta *ma = a->meta, *mb = b->meta;
    ck_assert_uint_eq(a->rows, b->rows);
    ck_assert_uint_eq(ma->n_cat, mb->n_cat);
    ck_assert_uint_eq(ma->n_num, mb->n_num);
    for (size_t f = 0; f < ma->n_cat; f++) {
        ck_assert_uint_eq(ma->fields[f].vocab, mb->fields[f].vocab);
        const rmtl__intern *ta = ma->fields[f].values, *tb = mb->fields[f].values;
        if (!ta || !tb) {
            ck_assert(ta == tb);
            continue;
        }
        for (size_t e = 0; e < ta->n; e++) {
            ck_assert_str_eq(rmtl__intern_str(ta, e), rmtl__intern_str(tb, e));
            ck_assert_uint_eq(ta->count[e], tb->count[e]);
        }
    }
    for (size_t k = 0; k < ma->n_num; k++) {
        ck_assert(memcmp(&ma->nums[k].mean, &mb->nums[k].mean, sizeof(double)) == 0);
        ck_assert(memcmp(&ma->nums[k].std, &mb->nums[k].std, sizeof(double)) == 0);
    }
    ck_assert(!memcmp(a->cat, b->cat, a->rows * ma->n_cat * sizeof *a->cat));
    if (ma->n_num)
        ck_assert(!memcmp(a->num, b->num, a->rows * ma->n_num * sizeof *a->num));
    ck_assert(!a->labels == !b->labels);
    if (a->labels)
        ck_assert(!memcmp(a->labels, b->labels, a->rows * ma->n_tasks * sizeof *a->labels));
    ck_assert(!memcmp(a->session, b->session, a->rows * sizeof *a->session));
    ck_assert(!a->time == !b->time && !a->user == !b->user);
    if (a->time)
        ck_assert(!memcmp(a->time, b->time, a->rows * sizeof *a->time));
    if (a->user)
        ck_assert(!memcmp(a->user, b->user, a->rows * sizeof *a->user));
    ck_assert_uint_eq(a->n_sessions, b->n_sessions);
    ck_assert(!memcmp(a->sess_off, b->sess_off, (a->n_sessions + 1) * sizeof *a->sess_off));
    ck_assert(!memcmp(a->sess_rows, b->sess_rows, a->rows * sizeof *a->sess_rows));
}

static rmtl_dataset *load(const char *path, const char *csv, size_t len, const char *schema,
                          const rmtl_dataset *ref, int threads, size_t min_range)
{
    rmtl_load_options o = RMTL_LOAD_OPTIONS_INIT;
    o.threads = threads;
    rmtl_dataset *ds = NULL;
    ASSERT_OK(rmtl__dataset_load_ranges(&ds, path, csv, len, schema, schema ? strlen(schema) : 0,
                                        ref, threads < 0 ? NULL : &o, min_range));
    return ds;
}

static const char *write_tmp(const char *name, const char *data, size_t len)
{
    const char *path = rmtl_tdata_write(name, data, len);
    ck_assert_ptr_nonnull(path);
    return path;
}

START_TEST(test_parallel_equals_reference_memory)
{
    for (int ids = 0; ids < 2; ids++) {
        size_t len;
        char *csv = make_csv(3000, &len, ids);
        const char *schema = ids ? schema_ids : schema_plain;
        rmtl_dataset *ref = load(NULL, csv, len, schema, NULL, -1, 0);
        for (int t = 1; t <= 5; t++) {
            /* ranges of a few hundred bytes: every range boundary case */
            rmtl_dataset *ds = load(NULL, csv, len, schema, NULL, t, 1 + (size_t)t * 97);
            assert_same(ds, ref);
            /* a validation split read with the reference's vocabularies */
            rmtl_dataset *v1 = load(NULL, csv, len, NULL, ref, t, 200);
            rmtl_dataset *v0 = load(NULL, csv, len, NULL, ref, -1, 0);
            assert_same(v1, v0);
            rmtl_dataset_free(v1);
            rmtl_dataset_free(v0);
            rmtl_dataset_free(ds);
        }
        rmtl_dataset_free(ref);
        free(csv);
    }
}
END_TEST

START_TEST(test_parallel_equals_reference_file)
{
    /* ~2.5 MB: lines straddle the 1 MiB blocks each thread reads */
    size_t len;
    char *csv = make_csv(60000, &len, 0);
    const char *path = write_tmp("par.csv", csv, len);
    rmtl_dataset *ref = load(path, NULL, 0, schema_plain, NULL, -1, 0);
    for (int t = 1; t <= 3; t++) {
        rmtl_dataset *ds = load(path, NULL, 0, schema_plain, NULL, t, 4096);
        assert_same(ds, ref);
        rmtl_dataset_free(ds);
    }
    /* the public call with its default ranges agrees too */
    rmtl_dataset *pub = NULL;
    const char *sp = write_tmp("par.yaml", schema_plain, strlen(schema_plain));
    ASSERT_OK(rmtl_dataset_load(&pub, path, sp, NULL, NULL));
    assert_same(pub, ref);
    rmtl_dataset_free(pub);
    rmtl_dataset_free(ref);
    free(csv);
    unlink(path);
}
END_TEST

START_TEST(test_vocabulary_order_ignores_threads)
{
    /* values first seen late in the file keep ids after earlier ones,
     * whichever range (thread) met them first in time */
    sb b = {0};
    put(&b, "click,v\n");
    char line[64];
    for (int r = 0; r < 4000; r++) {
        snprintf(line, sizeof line, "%d,v%d\n", r % 2, (r * 7) % 1000 + (r >= 2000) * 1000);
        put(&b, line);
    }
    const char *schema = "default: categorical\ncolumns:\n  click: {role: label, threshold: 0.5}\n";
    rmtl_dataset *one = load(NULL, b.p, b.n, schema, NULL, 1, 1);
    const rmtl__intern *t1 = one->meta->fields[0].values;
    ck_assert_uint_eq(t1->n, 2000);
    ck_assert_str_eq(rmtl__intern_str(t1, 0), "v0");
    ck_assert_str_eq(rmtl__intern_str(t1, 1000), "v1000");
    for (int t = 2; t <= 4; t++) {
        rmtl_dataset *many = load(NULL, b.p, b.n, schema, NULL, t, 1);
        assert_same(many, one);
        rmtl_dataset_free(many);
    }
    rmtl_dataset_free(one);
    free(b.p);
}
END_TEST

/* Input the parser leaves to the reference reader: the same result, or
 * the same error and message. */
START_TEST(test_fallbacks_match_reference)
{
    static const char *const inputs[] = {
        "a,b\n1,\"x,y\"\n2,z\n",          /* quoted field */
        "a,b\n1,x\n2,y,z\n",              /* too many fields */
        "a,b\n1,x\n2\n",                  /* too few */
        "a,b\n1,x\n2,\0\n",               /* NUL byte (the length below) */
        "a,b\nq,x\n",                     /* a label that is not a number */
        "a,b\n",                          /* no data rows */
        "\"a\",b\n1,x\n",                 /* quoted header */
        "a,b\n1,x\n0,y",                  /* no final newline */
        "a,b\n\n\r\n1,x\r\n\n",           /* blank lines only around */
    };
    static const size_t lens[] = {0, 0, 0, 12, 0, 0, 0, 0, 0}; /* the NUL input: 12 bytes */
    const char *schema = "default: categorical\ncolumns:\n  a: {role: label, threshold: 0.5}\n";
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        size_t len = lens[i] ? lens[i] : strlen(inputs[i]);
        rmtl_dataset *r = NULL, *p = NULL;
        rmtl_load_options o = RMTL_LOAD_OPTIONS_INIT;
        o.threads = 2;
        int rc_r = rmtl__dataset_load_ranges(&r, NULL, inputs[i], len, schema, strlen(schema),
                                             NULL, NULL, 0);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", rmtl_last_error());
        int rc_p = rmtl__dataset_load_ranges(&p, NULL, inputs[i], len, schema, strlen(schema),
                                             NULL, &o, 1);
        ck_assert_msg(rc_r == rc_p, "input %zu: %d vs %d", i, rc_r, rc_p);
        if (rc_r)
            ck_assert_str_eq(rmtl_last_error(), msg);
        else
            assert_same(p, r);
        rmtl_dataset_free(r);
        rmtl_dataset_free(p);
    }
}
END_TEST

START_TEST(test_shards_partition_the_file)
{
    size_t len;
    char *csv = make_csv(5000, &len, 0);
    const char *path = write_tmp("shard.csv", csv, len);
    rmtl_dataset *all = load(path, NULL, 0, schema_plain, NULL, -1, 0);
    for (uint32_t parts = 1; parts <= 4; parts++) {
        size_t rows = 0;
        for (uint32_t p = 0; p < parts; p++) {
            rmtl_load_options o = RMTL_LOAD_OPTIONS_INIT;
            o.part = p, o.parts = parts, o.threads = 2;
            rmtl_dataset *s = NULL;
            ASSERT_OK(rmtl__dataset_load_ranges(&s, path, NULL, 0, NULL, 0, all, &o, 512));
            size_t nc = all->meta->n_cat;
            ck_assert(!memcmp(s->cat, all->cat + rows * nc, s->rows * nc * sizeof *s->cat));
            ck_assert(!memcmp(s->num, all->num + rows * all->meta->n_num,
                              s->rows * all->meta->n_num * sizeof *s->num));
            rows += s->rows;
            rmtl_dataset_free(s);
        }
        ck_assert_uint_eq(rows, all->rows); /* every row exactly once */
    }
    /* a training split cannot be sharded: its vocabularies need every row */
    rmtl_load_options o = RMTL_LOAD_OPTIONS_INIT;
    o.part = 0, o.parts = 2;
    rmtl_dataset *s = NULL;
    const char *sp = write_tmp("shard.yaml", schema_plain, strlen(schema_plain));
    ck_assert_int_eq(rmtl_dataset_load(&s, path, sp, NULL, &o), RMTL_EINVAL);
    ck_assert_ptr_nonnull(strstr(rmtl_last_error(), "reference"));
    o.part = 2;
    ck_assert_int_eq(rmtl_dataset_load(&s, path, NULL, all, &o), RMTL_EINVAL);
    rmtl_dataset_free(all);
    free(csv);
    unlink(path);
}
END_TEST

Suite *rmtl_test_csv_parallel_suite(void)
{
    Suite *s = suite_create("csv_parallel");
    TCase *tc = tcase_create("parallel");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_parallel_equals_reference_memory);
    tcase_add_test(tc, test_parallel_equals_reference_file);
    tcase_add_test(tc, test_vocabulary_order_ignores_threads);
    tcase_add_test(tc, test_fallbacks_match_reference);
    tcase_add_test(tc, test_shards_partition_the_file);
    suite_add_tcase(s, tc);
    return s;
}
