/* Named tensors: the payload of a checkpoint's TENS section (layout in
 * docs/checkpoint-format.md). A writer appends {name, dtype, dims, data};
 * a reader validates the whole table once, then finds tensors by name and
 * checks that dtype and shape are exactly what the caller expects. */
#ifndef RMTL_CORE_TENSORS_H
#define RMTL_CORE_TENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"

enum { RMTL__DT_F32 = 0, RMTL__DT_I32 = 1, RMTL__DT_U8 = 2 };
#define RMTL__TENSOR_MAX_DIMS 4
#define RMTL__TENSOR_NAME_MAX 255 /* bytes */
#define RMTL__TENSORS_VERSION 1u  /* layout version inside the payload */

/* --- writer ---------------------------------------------------------- */
typedef struct rmtl__tensors_writer {
    rmtl__wbuf index, data;
    size_t *name_at; /* offset of each entry's name in `index`, for duplicates */
    size_t n, cap;
} rmtl__tensors_writer;

void rmtl__tensors_writer_init(rmtl__tensors_writer *w);
void rmtl__tensors_writer_free(rmtl__tensors_writer *w); /* accepts a zeroed writer */
/* Appends a tensor; `data` holds product(dims) elements in host
 * representation (float, int32_t or bytes per dtype), stored little-endian.
 * ndim may be 0 (a scalar). RMTL_EINVAL for a bad name (empty, longer than
 * RMTL__TENSOR_NAME_MAX, containing NUL), a name used twice, dtype or ndim
 * out of range or a size overflow; RMTL_ENOMEM. [per-object] */
int rmtl__tensors_add(rmtl__tensors_writer *w, const char *name, uint32_t dtype, uint32_t ndim,
                      const uint64_t *dims, const void *data);
int rmtl__tensors_add_f32(rmtl__tensors_writer *w, const char *name, uint32_t ndim,
                          const uint64_t *dims, const float *data);
/* The finished payload goes into *out (initialised here; the caller owns
 * it, e.g. hands it to rmtl__ckpt_add_wbuf). RMTL_ENOMEM. */
int rmtl__tensors_finish(const rmtl__tensors_writer *w, rmtl__wbuf *out);

/* --- reader ---------------------------------------------------------- */
typedef struct rmtl__tensor_info {
    const char *name; /* borrowed, NOT NUL-terminated: name_len bytes */
    size_t name_len;
    uint32_t dtype, ndim;
    uint64_t dims[RMTL__TENSOR_MAX_DIMS];
    size_t count;              /* elements: product of dims (1 for a scalar) */
    const unsigned char *data; /* borrowed, little-endian, no alignment assumed */
    size_t nbytes;
} rmtl__tensor_info;

typedef struct rmtl__tensors_reader {
    rmtl__tensor_info *t; /* sorted by name */
    size_t n;
} rmtl__tensors_reader;

/* Parses and bounds-checks the whole payload (buf is borrowed and must
 * outlive r): RMTL_EFORMAT for anything malformed (truncation, unknown
 * dtype, ndim > 4, element-count overflow, data outside the payload,
 * nonzero padding, duplicate names), RMTL_EVERSION for a newer layout
 * version, RMTL_ENOMEM. Allocation is proportional to len. On failure r
 * is zeroed. [thread-safe] for distinct readers. */
int rmtl__tensors_open(rmtl__tensors_reader *r, const void *buf, size_t len);
void rmtl__tensors_close(rmtl__tensors_reader *r);
/* The tensor `name` if its dtype and dims are exactly the ones given;
 * RMTL_EFORMAT naming the tensor (and both shapes on a mismatch) if it is
 * missing or different. */
int rmtl__tensors_find(const rmtl__tensors_reader *r, const char *name, uint32_t dtype,
                       uint32_t ndim, const uint64_t *dims, const rmtl__tensor_info **out);
/* find + copy of the elements into out (cap elements available; RMTL_EINVAL
 * if fewer than the tensor holds), converted from little-endian. */
int rmtl__tensors_read_f32(const rmtl__tensors_reader *r, const char *name, uint32_t ndim,
                           const uint64_t *dims, float *out, size_t cap);
int rmtl__tensors_read_i32(const rmtl__tensors_reader *r, const char *name, uint32_t ndim,
                           const uint64_t *dims, int32_t *out, size_t cap);
int rmtl__tensors_read_u8(const rmtl__tensors_reader *r, const char *name, uint32_t ndim,
                          const uint64_t *dims, uint8_t *out, size_t cap);

#endif
