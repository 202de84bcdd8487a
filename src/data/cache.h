/* Dataset cache files: what the memory-mapped loader (cache.c) and the
 * streaming reader (stream.c) share. The layout is described in cache.c. */
#ifndef RMTL_DATA_CACHE_H
#define RMTL_DATA_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/ckpt.h"
#include "data/dataset.h"

#define RMTL__TAG_DCAT RMTL__TAG('D', 'C', 'A', 'T')
#define RMTL__TAG_DNUM RMTL__TAG('D', 'N', 'U', 'M')
#define RMTL__TAG_DLAB RMTL__TAG('D', 'L', 'A', 'B')
#define RMTL__TAG_DSID RMTL__TAG('D', 'S', 'I', 'D')
#define RMTL__TAG_DTIM RMTL__TAG('D', 'T', 'I', 'M')
#define RMTL__TAG_DUSR RMTL__TAG('D', 'U', 'S', 'R')
#define RMTL__TAG_DITM RMTL__TAG('D', 'I', 'T', 'M')
#define RMTL__TAG_DSOF RMTL__TAG('D', 'S', 'O', 'F')
#define RMTL__TAG_DSRW RMTL__TAG('D', 'S', 'R', 'W')
#define RMTL__TAG_DBLK RMTL__TAG('D', 'B', 'L', 'K')

enum { RMTL__N_ARRAYS = 7, RMTL__CACHE_N_TAGS = 12 };

/* A row array of a cache file, in DBLK order: tag, bytes a row, and its
 * rows (NULL where the caller has none yet). */
typedef struct rmtl__carr {
    uint32_t tag;
    size_t width;
    const void *p;
} rmtl__carr;

/* The row arrays of a dataset of `m` with the arrays `what` (RMTL__DS_*),
 * in DBLK order, with p NULL: their count. The one list of them that the
 * writer, the loader and the stream read. */
size_t rmtl__cache_layout(rmtl__carr a[RMTL__N_ARRAYS], const rmtl__dsmeta *m, unsigned what);
/* The array of ds that the row-array tag names (&ds->cat for DCAT, ...). */
void **rmtl__cache_array(rmtl_dataset *ds, uint32_t tag);
/* The RMTL__DS_* arrays ds has. */
unsigned rmtl__cache_what(const rmtl_dataset *ds);

/* The sections of a cache file, for rmtl__ckpt_open_*. */
extern const uint32_t rmtl__cache_tags[RMTL__CACHE_N_TAGS];

/* A file being read: its path (for messages), container and shape. */
typedef struct rmtl__cload {
    const char *path;
    rmtl__ckpt_reader r;
    uint64_t rows;
    uint32_t n_cat, n_num, n_tasks, what, block;
    uint64_t sessions;
} rmtl__cload;

/* Reads the 40 bytes of DSET into L, checked against the meta. */
int rmtl__cache_shape_parse(rmtl__cload *L, const void *dset, const rmtl__dsmeta *m);
/* Every value of ds's rows (row `first` of the file onwards) is one a
 * dataset may hold: ids below their vocabulary, labels 0/1, finite
 * numbers. RMTL_EFORMAT naming the row otherwise. */
int rmtl__cache_values(const rmtl__cload *L, const rmtl_dataset *ds, uint64_t first);

#endif
