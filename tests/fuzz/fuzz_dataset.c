/* Fuzz target: CSV + schema loading.
 *
 * Input: the schema YAML, FUZZ_CSV, then the CSV text (plain or gzip);
 * without the separator the whole input is the schema and the CSV is
 * empty. Everything stays in memory (rmtl__dataset_load_mem, the function
 * behind rmtl_dataset_load_schema_string). A dataset that loads is read
 * batch by batch, split by sessions, used as the reference for loading the
 * same CSV again (the validation path, which must give the same rows), and
 * its schema must survive the checkpoint serialisation. The parallel parser,
 * with the CSV cut into ranges of a few bytes over 3 threads, must agree
 * with the reference reader: the same status and message, or the same
 * arrays. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <string.h>

#include "core/bytes.h"
#include "core/internal.h"
#include "data/dataset.h"
#include "fuzz/fuzz.h"
#include "rmtl.h"

#define FUZZ_CSV "\n%%CSV%%\n"

static void read_batches(const rmtl_dataset *ds)
{
    size_t rows = rmtl_dataset_rows(ds);
    for (size_t start = 0; start < rows; start += 7) {
        rmtl_batch b = RMTL_BATCH_INIT;
        fuzz_require(rmtl_dataset_batch(&b, ds, start, 7) == RMTL_OK, "rmtl_dataset_batch");
        size_t n_cat = rmtl_dataset_n_cat(ds);
        for (size_t i = 0; i < b.rows * n_cat; i++) {
            size_t field = i % n_cat;
            fuzz_require(b.cat[i] >= 0 && (size_t)b.cat[i] < rmtl_dataset_vocab_size(ds, field),
                         "an id outside its vocabulary");
        }
        if (b.labels)
            for (size_t i = 0; i < b.rows * rmtl_dataset_n_tasks(ds); i++)
                fuzz_require(b.labels[i] == 0.0f || b.labels[i] == 1.0f, "a label not 0/1");
    }
}

/* Schema -> checkpoint bytes -> schema -> bytes: equal. */
static void schema_round_trip(const rmtl_dataset *ds)
{
    rmtl__wbuf a, b;
    rmtl__wbuf_init(&a);
    rmtl__wbuf_init(&b);
    fuzz_check_status(rmtl__dataset_schema_save(&a, ds), "rmtl__dataset_schema_save");
    if (!a.failed) {
        rmtl__rbuf r;
        rmtl__rbuf_init(&r, a.data, a.len);
        rmtl_dataset *back = NULL;
        fuzz_require(rmtl__dataset_schema_load(&back, &r) == RMTL_OK, "schema load of a save");
        fuzz_require(rmtl__dataset_schema_save(&b, back) == RMTL_OK, "second schema save");
        fuzz_require(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
                     "schema save -> load -> save changed the bytes");
        rmtl_dataset_free(back);
    }
    rmtl__wbuf_free(&a);
    rmtl__wbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memmem(data, size, FUZZ_CSV, sizeof FUZZ_CSV - 1);
    size_t schema_len = sep ? (size_t)(sep - data) : size;
    const uint8_t *csv = sep ? sep + sizeof FUZZ_CSV - 1 : data + size;
    size_t csv_len = (size_t)(data + size - csv);

    rmtl_dataset *ref = NULL, *par = NULL;
    rmtl_load_options po = RMTL_LOAD_OPTIONS_INIT;
    po.threads = 3;
    int rc_r = rmtl__dataset_load_ranges(&ref, NULL, csv, csv_len, (const char *)data, schema_len,
                                         NULL, NULL, 0);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", rmtl_last_error());
    int rc_p = rmtl__dataset_load_ranges(&par, NULL, csv, csv_len, (const char *)data, schema_len,
                                         NULL, &po, 7);
    fuzz_require(rc_r == rc_p, "the parallel parser's status differs from the reference's");
    if (rc_r && rc_r != RMTL_ENOMEM)
        fuzz_require(!strncmp(msg, rmtl_last_error(), sizeof msg - 1),
                     "the parallel parser's message differs from the reference's");
    if (ref && par) {
        size_t rows = ref->rows, nc = ref->meta->n_cat, nn = ref->meta->n_num;
        fuzz_require(par->rows == rows && par->meta->n_cat == nc, "parallel: another shape");
        fuzz_require(!memcmp(ref->cat, par->cat, rows * nc * sizeof *ref->cat), "parallel: ids");
        fuzz_require(!nn || !memcmp(ref->num, par->num, rows * nn * sizeof *ref->num),
                     "parallel: numbers");
        fuzz_require(!memcmp(ref->session, par->session, rows * sizeof *ref->session),
                     "parallel: sessions");
        for (size_t f = 0; f < nc; f++)
            fuzz_require(ref->meta->fields[f].vocab == par->meta->fields[f].vocab,
                         "parallel: vocabulary sizes");
    }
    rmtl_dataset_free(ref);
    rmtl_dataset_free(par);

    rmtl_dataset *ds = NULL;
    int rc = rmtl__dataset_load_mem(&ds, csv, csv_len, "fuzz.csv", (const char *)data,
                                    schema_len, "fuzz-schema.yaml", NULL);
    fuzz_check_status(rc, "rmtl_dataset_load");
    fuzz_require((rc == RMTL_OK) == (ds != NULL), "a dataset out-parameter disagrees with rc");
    if (!ds)
        return 0;
    read_batches(ds);
    schema_round_trip(ds);

    rmtl_dataset *train = NULL, *val = NULL, *test = NULL;
    rc = rmtl_dataset_split_sessions(&train, &val, &test, ds, 0.5, 0.25, 7);
    fuzz_check_status(rc, "rmtl_dataset_split_sessions");
    if (rc == RMTL_OK)
        fuzz_require(rmtl_dataset_rows(train) + rmtl_dataset_rows(val) +
                             rmtl_dataset_rows(test) ==
                         rmtl_dataset_rows(ds),
                     "the session splits lost rows");
    rmtl_dataset_free(train);
    rmtl_dataset_free(val);
    rmtl_dataset_free(test);

    rmtl_dataset *again = NULL;
    rc = rmtl__dataset_load_mem(&again, csv, csv_len, "fuzz.csv", NULL, 0, NULL, ds);
    fuzz_check_status(rc, "rmtl_dataset_load with a reference");
    if (again)
        fuzz_require(rmtl_dataset_rows(again) == rmtl_dataset_rows(ds),
                     "reloading with the dataset as reference changed the row count");
    rmtl_dataset_free(again);
    rmtl_dataset_free(ds);
    return 0;
}
