/* Fuzz target: dataset cache files (rmtl_dataset_load_cache, shards of
 * them, and rmtl_dataset_stream).
 *
 * Input: a control byte, then the file.
 *   bit 0     recompute the container's CRCs (so mutations reach the
 *             section parsers and the value checks; block CRCs are left
 *             as they are, so shards and streams also meet damaged blocks);
 *   bits 1-2  0: the whole file; n: part (bits 4-5 mod n+1) of n+1 shards;
 *   bit 3     also stream one epoch (buffer 1 + bits 4-6 rows, chunks of
 *             1 + bit 7 · 5 rows).
 * The file goes through a temporary file (the loaders map or read paths).
 * What loads is read batch by batch (every id below its vocabulary) and
 * must survive save -> load with the same rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "rmtl.h"

static void read_batches(const rmtl_dataset *ds)
{
    size_t rows = rmtl_dataset_rows(ds), nc = rmtl_dataset_n_cat(ds);
    for (size_t start = 0; start < rows; start += 5) {
        rmtl_batch b = RMTL_BATCH_INIT;
        fuzz_require(rmtl_dataset_batch(&b, ds, start, 5) == RMTL_OK, "rmtl_dataset_batch");
        for (size_t i = 0; i < b.rows * nc; i++)
            fuzz_require(b.cat[i] >= 0 && (size_t)b.cat[i] < rmtl_dataset_vocab_size(ds, i % nc),
                         "id outside its vocabulary");
        for (size_t i = 0; b.labels && i < b.rows * rmtl_dataset_n_tasks(ds); i++)
            fuzz_require(b.labels[i] == 0.0f || b.labels[i] == 1.0f, "label not 0/1");
    }
}

static void round_trip(const rmtl_dataset *ds, const char *tmp)
{
    char path[512];
    snprintf(path, sizeof path, "%s.again", tmp);
    rmtl_dataset *back = NULL;
    fuzz_check_status(rmtl_dataset_save(ds, path), "rmtl_dataset_save");
    int rc = rmtl_dataset_load_cache(&back, path, NULL);
    fuzz_check_status(rc, "rmtl_dataset_load_cache (again)");
    fuzz_require(rc == RMTL_OK, "a saved dataset loads");
    size_t rows = rmtl_dataset_rows(ds), nc = rmtl_dataset_n_cat(ds);
    fuzz_require(rmtl_dataset_rows(back) == rows, "same rows");
    if (rows) {
        rmtl_batch x = RMTL_BATCH_INIT, y = RMTL_BATCH_INIT;
        fuzz_require(rmtl_dataset_batch(&x, ds, 0, rows) == RMTL_OK &&
                         rmtl_dataset_batch(&y, back, 0, rows) == RMTL_OK,
                     "batches");
        fuzz_require(!memcmp(x.cat, y.cat, rows * nc * sizeof *x.cat), "same ids");
        fuzz_require(!memcmp(x.session, y.session, rows * sizeof *x.session), "same sessions");
    }
    rmtl_dataset_free(back);
    remove(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned ctl = data[0];
    size_t len = size - 1;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, len);
    if (ctl & 1)
        fuzz_fix_crcs(buf, len);
    char tmp[] = "/tmp/rmtl-fuzz-cache-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(buf);
        return 0;
    }
    fuzz_require(write(fd, buf, len) == (ssize_t)len, "writing the temporary file");
    close(fd);
    free(buf);

    rmtl_load_options o = RMTL_LOAD_OPTIONS_INIT;
    unsigned shards = (ctl >> 1) & 3;
    if (shards) {
        o.parts = shards + 1;
        o.part = ((ctl >> 4) & 3) % o.parts;
    }
    rmtl_dataset *ds = NULL;
    int rc = rmtl_dataset_load_cache(&ds, tmp, &o);
    fuzz_check_status(rc, "rmtl_dataset_load_cache");
    fuzz_require((rc == RMTL_OK) == (ds != NULL), "a dataset exactly on success");
    if (ds) {
        read_batches(ds);
        round_trip(ds, tmp);
        rmtl_dataset_free(ds);
    }
    if (ctl & 8) {
        rmtl_dataset_stream *st = NULL;
        rc = rmtl_dataset_stream_open(&st, tmp, 1 + ((ctl >> 4) & 7), 1 + (ctl >> 7) * 5, ctl);
        fuzz_check_status(rc, "rmtl_dataset_stream_open");
        size_t rows = 0;
        for (int guard = 0; st && guard < 100000; guard++) {
            rmtl_dataset *c = NULL;
            rc = rmtl_dataset_stream_next(&c, st);
            fuzz_check_status(rc, "rmtl_dataset_stream_next");
            if (rc || !c)
                break;
            read_batches(c);
            rows += rmtl_dataset_rows(c);
            rmtl_dataset_free(c);
        }
        fuzz_require(!st || rc || rows == rmtl_dataset_stream_rows(st),
                     "an epoch streams every row once");
        rmtl_dataset_stream_free(st);
    }
    remove(tmp);
    return 0;
}
