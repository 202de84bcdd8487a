/*
 * Data benchmark (issue 24): a seeded, Ali-CCP-shaped CSV (2 labels, 23
 * categorical and 8 numerical columns, the header of the real data set)
 * is generated into a temporary directory, then each measurement runs in
 * its own child process so that its peak RSS is its own:
 *
 *   pandas      pandas.read_csv on the same file (bench/data_pandas.py;
 *               "absent" when python3 or pandas is missing)
 *   reference   the simple streaming reader (the reference path)
 *   csv_t1/t2   rmtl_dataset_load() with 1 and 2 parser threads
 *   cache_save  rmtl_dataset_save() of the loaded dataset
 *   cache_load  rmtl_dataset_load_cache() (memory-mapped; its checks on
 *               1, then 2 threads), twice each, with a checksum of every
 *               array to compare with the CSV loads' 
 *   stream      one epoch of rmtl_dataset_stream over the cache file with
 *               a bounded shuffle buffer
 *
 * Measurements are interleaved (pandas, reference, t1, t2, repeated
 * --repeat times, 3 by default) so that other load on the machine hits each
 * alike; speed is quoted as ratios of measurements made next to each other
 * (the summary: per repeat and their median), memory as peak RSS over the
 * data the dataset holds (packed arrays + vocabularies). One JSON object on
 * stdout.
 *
 *   data [--rows N] [--seed S] [--repeat R] [--dir DIR] [--buffer-rows B]
 *        [--clean]
 *
 * The CSV (about 143 bytes a row: 2,000,000 rows by default, ~287 MB) is
 * kept in DIR (default $TMPDIR or /tmp) between runs unless it is absent;
 * --clean removes it at the end.
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/refshape.h"

#include "data/dataset.h"
#include "rmtl.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* --- the generator ------------------------------------------------------- */

static const char *const cat_names[23] = {
    "101", "121", "122", "124", "125", "126", "127", "128",    "129",    "205",    "206",   "207",
    "210", "216", "508", "509", "702", "853", "301", "109_14", "110_14", "127_14", "150_14"};
/* vocabulary sizes of the label-encoded Ali-CCP fields, roughly */
static const uint32_t cat_vocab[23] = {238635, 98,    14,     3,      8,     4,     4,     3,
                                       5,      467298, 6929, 263942, 80232, 106399, 5888, 104830,
                                       51878,  37148,  4,     5000,   40000, 20000,  3};
static const char *const num_names[8] = {"D109_14", "D110_14", "D127_14", "D150_14",
                                         "D508",    "D509",    "D702",    "D853"};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unif(uint64_t *s) { return (double)(splitmix(s) >> 11) * 0x1p-53; }

static char *put_uint(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while (v /= 10);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* A value of numerical column k: often 0.0, else a 4-digit decimal, now and
 * then the 17-digit repr Python writes for sums (as in the real files). */
static char *put_num(char *p, uint64_t *s, int k)
{
    double u = unif(s);
    if (u < 0.35 + 0.05 * (k % 3))
        return memcpy(p, "0.0", 3), p + 3;
    if (u > 0.97)
        return p + sprintf(p, "%.17g", 0.1 + unif(s) * 0.8);
    uint64_t v = 1 + splitmix(s) % 9999;
    while (v % 10 == 0)
        v /= 10;
    memcpy(p, "0.", 2);
    return put_uint(p + 2, v);
}

static int generate(const char *path, size_t rows, uint64_t seed)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fputs("click,purchase", f);
    for (int j = 0; j < 23; j++)
        fprintf(f, ",%s", cat_names[j]);
    for (int j = 0; j < 8; j++)
        fprintf(f, ",%s", num_names[j]);
    fputc('\n', f);
    uint64_t s = seed;
    char line[1024];
    for (size_t r = 0; r < rows; r++) {
        char *p = line;
        int click = unif(&s) < 0.04, buy = click && unif(&s) < 0.12;
        *p++ = (char)('0' + click), *p++ = ',', *p++ = (char)('0' + buy);
        for (int j = 0; j < 23; j++) {
            /* skewed ids: small ones are frequent, like label-encoded logs */
            double u = unif(&s);
            *p++ = ',';
            p = put_uint(p, (uint64_t)((double)cat_vocab[j] * u * u * u));
        }
        for (int k = 0; k < 8; k++) {
            *p++ = ',';
            p = put_num(p, &s, k);
        }
        *p++ = '\n';
        if (fwrite(line, 1, (size_t)(p - line), f) != (size_t)(p - line))
            break;
    }
    int bad = ferror(f);
    return fclose(f) || bad ? -1 : 0;
}

static const char schema_text[] =
    "default: categorical\n"
    "columns:\n"
    "  click: {role: label, threshold: 0.5}\n"
    "  purchase: {role: label, threshold: 0.5}\n"
    "  D109_14: numerical\n  D110_14: numerical\n  D127_14: numerical\n  D150_14: numerical\n"
    "  D508: numerical\n  D509: numerical\n  D702: numerical\n  D853: numerical\n";

/* --- measurements in children ---------------------------------------------- */

typedef struct job {
    const char *kind;
    int threads;
    const char *csv, *schema, *cache;
    size_t buffer_rows;
    char *out; /* child's text */
    size_t cap;
} job;

/* Bytes the dataset's packed arrays hold (cat, num, labels) and bytes of
 * its vocabularies (strings, offsets, counts, hash slots). */
static void sizes(const rmtl_dataset *ds, double *packed, double *vocab)
{
    const rmtl__dsmeta *m = ds->meta;
    *packed = (double)ds->rows * (double)(m->n_cat + m->n_num + m->n_tasks) * 4.0;
    *vocab = 0.0;
    for (size_t f = 0; f < m->n_cat; f++) {
        const rmtl__intern *t = m->fields[f].values;
        if (t)
            *vocab += (double)t->arena_cap + (double)t->cap * 16.0 + (double)t->nslots * (double)sizeof *t->slots;
    }
}

/* FNV-1a over the bytes of every array: equal sums, equal datasets. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211u;
    return h;
}

static uint64_t checksum(const rmtl_dataset *ds)
{
    const rmtl__dsmeta *m = ds->meta;
    uint64_t h = 1469598103934665603u;
    h = fnv(h, ds->cat, ds->rows * m->n_cat * sizeof *ds->cat);
    if (ds->num)
        h = fnv(h, ds->num, ds->rows * m->n_num * sizeof *ds->num);
    if (ds->labels)
        h = fnv(h, ds->labels, ds->rows * m->n_tasks * sizeof *ds->labels);
    h = fnv(h, ds->session, ds->rows * sizeof *ds->session);
    for (size_t f = 0; f < m->n_cat; f++)
        h = fnv(h, &m->fields[f].vocab, sizeof m->fields[f].vocab);
    return h;
}

static void run_load(job *j)
{
    rmtl_dataset *ds = NULL;
    rmtl_load_options o = RMTL_LOAD_OPTIONS_INIT;
    o.threads = j->threads;
    double t = now();
    int rc = !strcmp(j->kind, "reference")
                 ? rmtl__dataset_load_reference(&ds, j->csv, j->schema, NULL)
                 : rmtl_dataset_load(&ds, j->csv, j->schema, NULL, &o);
    t = now() - t;
    if (rc) {
        snprintf(j->out, j->cap, "\"error\":\"%s\"", rmtl_last_error());
        return;
    }
    double packed, vocab;
    sizes(ds, &packed, &vocab);
    snprintf(j->out, j->cap,
             "\"rows\":%zu,\"seconds\":%.3f,\"packed_mib\":%.1f,\"vocab_mib\":%.1f,"
             "\"checksum\":\"%016llx\"",
             ds->rows, t, packed / 1048576.0, vocab / 1048576.0,
             (unsigned long long)checksum(ds));
    rmtl_dataset_free(ds);
}

/* One try of the pandas script with interpreter `py`: 0 with its JSON line
 * in buf, 3 when pandas is missing, else another failure. */
static int try_pandas(const char *py, const char *csv, char *buf, size_t cap)
{
    int fd[2];
    if (pipe(fd))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        char script[4096];
        snprintf(script, sizeof script, "%s/bench/data_pandas.py", RMTL_SOURCE_DIR);
        execlp(py, py, script, csv, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t n = 0;
    int st = bench_child_output(pid, fd[0], buf, cap, &n, NULL);
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st) == 0 && buf[0] == '{' ? 0 : WEXITSTATUS(st);
}

/* $RMTL_PYTHON, then python3 on PATH, then the system's (a pyenv shim on
 * PATH may lack pandas where the distribution's python3-pandas is). */
static void run_pandas(job *j)
{
    const char *py[] = {getenv("RMTL_PYTHON"), "python3", "/usr/bin/python3"};
    char buf[512];
    for (size_t k = 0; k < sizeof py / sizeof *py; k++) {
        if (!py[k] || try_pandas(py[k], j->csv, buf, sizeof buf) != 0)
            continue;
        buf[strlen(buf) - 1] = '\0'; /* drop the closing brace */
        snprintf(j->out, j->cap, "\"python\":\"%s\",%s", py[k], buf + 1);
        return;
    }
    snprintf(j->out, j->cap, "\"absent\":true");
}

static void run_cache_save(job *j)
{
    rmtl_dataset *ds = NULL;
    rmtl_load_options o = RMTL_LOAD_OPTIONS_INIT;
    o.threads = j->threads;
    if (rmtl_dataset_load(&ds, j->csv, j->schema, NULL, &o)) {
        snprintf(j->out, j->cap, "\"error\":\"%s\"", rmtl_last_error());
        return;
    }
    double t = now();
    int rc = rmtl_dataset_save(ds, j->cache);
    t = now() - t;
    struct stat st;
    if (rc || stat(j->cache, &st)) {
        snprintf(j->out, j->cap, "\"error\":\"%s\"", rmtl_last_error());
    } else {
        snprintf(j->out, j->cap, "\"rows\":%zu,\"seconds\":%.3f,\"file_bytes\":%lld", ds->rows, t,
                 (long long)st.st_size);
    }
    rmtl_dataset_free(ds);
}

static void run_cache_load(job *j)
{
    rmtl_dataset *ds = NULL;
    rmtl_load_options o = RMTL_LOAD_OPTIONS_INIT;
    o.threads = j->threads; /* the checks' threads */
    double t = now();
    int rc = rmtl_dataset_load_cache(&ds, j->cache, &o);
    t = now() - t;
    if (rc) {
        snprintf(j->out, j->cap, "\"error\":\"%s\"", rmtl_last_error());
        return;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
                 (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    snprintf(j->out, j->cap,
             "\"rows\":%zu,\"seconds\":%.3f,\"cpu_seconds_to_here\":%.3f,\"checksum\":\"%016llx\"",
             ds->rows, t, cpu, (unsigned long long)checksum(ds));
    rmtl_dataset_free(ds);
}

static void run_stream(job *j)
{
    rmtl_dataset_stream *st = NULL;
    double t = now();
    if (rmtl_dataset_stream_open(&st, j->cache, j->buffer_rows, 8192, 1)) {
        snprintf(j->out, j->cap, "\"error\":\"%s\"", rmtl_last_error());
        return;
    }
    size_t rows = 0, chunks = 0;
    int rc;
    for (;;) {
        rmtl_dataset *c = NULL;
        if ((rc = rmtl_dataset_stream_next(&c, st)) || !c)
            break;
        rows += c->rows, chunks++;
        rmtl_dataset_free(c);
    }
    t = now() - t;
    if (rc)
        snprintf(j->out, j->cap, "\"error\":\"%s\"", rmtl_last_error());
    else
        snprintf(j->out, j->cap, "\"rows\":%zu,\"chunks\":%zu,\"chunk_rows\":8192,\"seconds\":%.3f",
                 rows, chunks, t);
    rmtl_dataset_stream_free(st);
}

static void run_job(job *j)
{
    if (!strcmp(j->kind, "pandas"))
        run_pandas(j);
    else if (!strcmp(j->kind, "cache_save"))
        run_cache_save(j);
    else if (!strcmp(j->kind, "cache_load"))
        run_cache_load(j);
    else if (!strcmp(j->kind, "stream"))
        run_stream(j);
    else
        run_load(j);
}

/* The number after "key": in a child's JSON text, or NaN. */
static double field(const char *buf, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(buf, k);
    return p ? strtod(p + strlen(k), NULL) : NAN;
}

/* What the summary needs of one measurement. */
typedef struct outcome {
    double seconds, peak_mib, packed_mib, vocab_mib;
} outcome;

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Runs j in a child; appends {"kind":..,"threads":..,<child's text>,
 * "peak_rss_mib":..} to the JSON list. */
static outcome in_child(job *j, int *first)
{
    int fd[2];
    outcome o = {NAN, NAN, NAN, NAN};
    if (pipe(fd))
        return o;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        char buf[2048] = "";
        j->out = buf, j->cap = sizeof buf;
        run_job(j);
        ssize_t w = write(fd[1], buf, strlen(buf));
        _exit(w < 0);
    }
    close(fd[1]);
    char buf[2048];
    size_t n = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    bench_child_output(pid, fd[0], buf, sizeof buf, &n, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
                 (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    printf("%s\n  {\"kind\":\"%s\",\"threads\":%d,%s,\"peak_rss_mib\":%.1f,"
           "\"child_cpu_seconds\":%.2f}",
           *first ? "" : ",", j->kind, j->threads, n ? buf : "\"error\":\"child failed\"",
           (double)ru.ru_maxrss / 1024.0, cpu);
    *first = 0;
    fflush(stdout);
    buf[n < sizeof buf ? n : sizeof buf - 1] = '\0';
    o.seconds = n ? field(buf, "seconds") : NAN;
    o.packed_mib = field(buf, "packed_mib"), o.vocab_mib = field(buf, "vocab_mib");
    o.peak_mib = (double)ru.ru_maxrss / 1024.0;
    return o;
}

int main(int argc, char **argv)
{
    size_t rows = 2000000, buffer_rows = 1 << 18;
    uint64_t seed = 24;
    int repeat = 3, clean = 0;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rows") && i + 1 < argc)
            rows = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--buffer-rows") && i + 1 < argc)
            buffer_rows = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--clean"))
            clean = 1;
        else {
            fprintf(stderr, "usage: %s [--rows N] [--seed S] [--repeat R] [--dir DIR] "
                            "[--buffer-rows B] [--clean]\n",
                    argv[0]);
            return 2;
        }
    }
    if (rows == 0 || repeat < 1)
        return 2;
    char csv[4096], schema[4096], cache[4096];
    snprintf(csv, sizeof csv, "%s/rmtl_bench_data_%zu_%llu.csv", dir, rows,
             (unsigned long long)seed);
    snprintf(schema, sizeof schema, "%s/rmtl_bench_data.yaml", dir);
    snprintf(cache, sizeof cache, "%s/rmtl_bench_data_%zu_%llu.rmtld", dir, rows,
             (unsigned long long)seed);
    FILE *sf = fopen(schema, "wb");
    if (!sf || fputs(schema_text, sf) < 0 || fclose(sf)) {
        fprintf(stderr, "data: cannot write %s: %s\n", schema, strerror(errno));
        return 1;
    }
    struct stat st;
    double gen = 0.0;
    if (stat(csv, &st) != 0) {
        gen = now();
        if (generate(csv, rows, seed)) {
            fprintf(stderr, "data: cannot write %s: %s\n", csv, strerror(errno));
            remove(csv);
            return 1;
        }
        gen = now() - gen;
        stat(csv, &st);
    }
    printf("{\"bench\":\"data\",\"build\":\"%s\",\"rows\":%zu,\"seed\":%llu,\"csv_bytes\":%lld,"
           "\"generate_seconds\":%.2f,\"buffer_rows\":%zu,\"results\":[",
           rmtl_build_info(), rows, (unsigned long long)seed, (long long)st.st_size, gen,
           buffer_rows);
    int first = 1;
    double *ratio = calloc(3 * (size_t)repeat, sizeof *ratio), mem = 0.0;
    if (!ratio)
        return 1;
    for (int r = 0; r < repeat; r++) {
        job js[] = {{"pandas", 0, csv, schema, cache, buffer_rows, NULL, 0},
                    {"reference", 1, csv, schema, cache, buffer_rows, NULL, 0},
                    {"csv", 1, csv, schema, cache, buffer_rows, NULL, 0},
                    {"csv", 2, csv, schema, cache, buffer_rows, NULL, 0}};
        outcome o[4];
        for (size_t k = 0; k < sizeof js / sizeof *js; k++)
            o[k] = in_child(&js[k], &first);
        ratio[r] = o[0].seconds / o[2].seconds;              /* pandas / 1 thread */
        ratio[repeat + r] = o[2].seconds / o[3].seconds;     /* 1 thread / 2 threads */
        for (int k = 2; k < 4; k++) /* peak RSS over the data it holds */
            mem = fmax(mem, o[k].peak_mib / (o[k].packed_mib + o[k].vocab_mib));
    }
    job after[] = {{"cache_save", 2, csv, schema, cache, buffer_rows, NULL, 0},
                   {"cache_load", 1, csv, schema, cache, buffer_rows, NULL, 0},
                   {"cache_load", 1, csv, schema, cache, buffer_rows, NULL, 0},
                   {"cache_load", 2, csv, schema, cache, buffer_rows, NULL, 0},
                   {"cache_load", 2, csv, schema, cache, buffer_rows, NULL, 0},
                   {"stream", 1, csv, schema, cache, buffer_rows, NULL, 0}};
    for (size_t k = 0; k < sizeof after / sizeof *after; k++)
        in_child(&after[k], &first);
    /* the targets' ratios, each from measurements made next to each other */
    printf("\n],\"summary\":{\"repeats\":%d,\"csv_1_thread_over_pandas\":[", repeat);
    for (int i = 0; i < 2 * repeat; i++)
        printf("%s%.3f", i == repeat ? "],\"csv_2_threads_over_1\":[" : i ? "," : "", ratio[i]);
    printf("],\"median_csv_1_thread_over_pandas\":%.3f,\"median_csv_2_threads_over_1\":%.3f,"
           "\"max_peak_rss_over_packed_plus_vocab\":%.3f}}\n",
           median(ratio, repeat), median(ratio + repeat, repeat), mem);
    free(ratio);
    if (clean) {
        remove(csv);
        remove(cache);
    }
    return 0;
}
