/* Named tensors in a TENS payload: a table of {name, dtype, dims, offset}
 * followed by 64-byte-aligned data (docs/checkpoint-format.md). */
#include "core/tensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define RMTL__TALIGN 64u
/* The smallest table entry: name length, a 1-byte name, dtype, ndim and
 * the offset. Bounds the entry count a payload of a given size can claim. */
#define RMTL__TENTRY_MIN (4u + 1u + 4u + 4u + 8u)

static const size_t rmtl__dt_size[] = {4, 4, 1};
static const char *const rmtl__dt_name[] = {"f32", "i32", "u8"};
#define RMTL__NDT (sizeof rmtl__dt_size / sizeof rmtl__dt_size[0])

/* Elements and bytes of a tensor; -1 when either does not fit a size_t.
 * Any zero dimension makes it empty whatever the others are. */
static int rmtl__tensor_size(uint32_t dtype, uint32_t ndim, const uint64_t *dims, size_t *count,
                             size_t *nbytes)
{
    uint64_t c = 1;
    for (uint32_t i = 0; i < ndim; i++)
        if (dims[i] == 0)
            c = 0;
    for (uint32_t i = 0; i < ndim && c; i++) {
        if (dims[i] > UINT64_MAX / c)
            return -1;
        c *= dims[i];
    }
    if (c > SIZE_MAX / rmtl__dt_size[dtype])
        return -1;
    *count = (size_t)c;
    *nbytes = (size_t)c * rmtl__dt_size[dtype];
    return 0;
}

static size_t rmtl__talign(size_t x) { return x + (RMTL__TALIGN - x % RMTL__TALIGN) % RMTL__TALIGN; }

/* "f32[64, 32]", "f32[]" for a scalar. */
static void rmtl__shape_str(char *out, size_t cap, uint32_t dtype, uint32_t ndim,
                            const uint64_t *dims)
{
    size_t k = (size_t)snprintf(out, cap, "%s[", dtype < RMTL__NDT ? rmtl__dt_name[dtype] : "?");
    for (uint32_t i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
    if (k < cap)
        snprintf(out + k, cap - k, "]");
}

/* --- writer ---------------------------------------------------------- */
void rmtl__tensors_writer_init(rmtl__tensors_writer *w)
{
    memset(w, 0, sizeof *w);
    rmtl__wbuf_init(&w->index);
    rmtl__wbuf_init(&w->data);
}

void rmtl__tensors_writer_free(rmtl__tensors_writer *w)
{
    rmtl__wbuf_free(&w->index);
    rmtl__wbuf_free(&w->data);
    rmtl__free(w->name_at);
    memset(w, 0, sizeof *w);
}

int rmtl__tensors_add(rmtl__tensors_writer *w, const char *name, uint32_t dtype, uint32_t ndim,
                      const uint64_t *dims, const void *data)
{
    RMTL__CHECK_ARG(name, "name");
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > RMTL__TENSOR_NAME_MAX)
        return rmtl__error(RMTL_EINVAL, "tensor name '%s': length %zu is not in 1..%d", name, nlen,
                           RMTL__TENSOR_NAME_MAX);
    if (dtype >= RMTL__NDT)
        return rmtl__error(RMTL_EINVAL, "tensor '%s': unknown dtype %u", name, dtype);
    if (ndim > RMTL__TENSOR_MAX_DIMS)
        return rmtl__error(RMTL_EINVAL, "tensor '%s': %u dimensions, at most %d", name, ndim,
                           RMTL__TENSOR_MAX_DIMS);
    RMTL__CHECK_ARG(dims || ndim == 0, "dims");
    size_t count, nbytes;
    if (rmtl__tensor_size(dtype, ndim, dims, &count, &nbytes))
        return rmtl__error(RMTL_EINVAL, "tensor '%s': size overflows", name);
    RMTL__CHECK_ARG(data || nbytes == 0, "data");
    if (w->index.failed || w->data.failed)
        return rmtl__error(RMTL_ENOMEM, "tensor writer: out of memory earlier");
    for (size_t i = 0; i < w->n; i++) {
        const unsigned char *e = w->index.data + w->name_at[i];
        if (rmtl__load_u32le(e) == nlen && memcmp(e + 4, name, nlen) == 0)
            return rmtl__error(RMTL_EINVAL, "tensor '%s' added twice", name);
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        size_t *na = cap < SIZE_MAX / sizeof *na ? rmtl__realloc(w->name_at, cap * sizeof *na) : NULL;
        if (!na)
            return rmtl__error(RMTL_ENOMEM, "tensor writer: out of memory");
        w->name_at = na, w->cap = cap;
    }

    size_t at = w->index.len;
    rmtl__put_u32(&w->index, (uint32_t)nlen);
    rmtl__put_bytes(&w->index, name, nlen);
    rmtl__put_u32(&w->index, dtype);
    rmtl__put_u32(&w->index, ndim);
    for (uint32_t i = 0; i < ndim; i++)
        rmtl__put_u64(&w->index, dims[i]);
    rmtl__put_align(&w->data, RMTL__TALIGN);
    rmtl__put_u64(&w->index, w->data.len);
    if (rmtl__wbuf_reserve(&w->data, nbytes) == 0) {
        if (dtype == RMTL__DT_F32)
            rmtl__put_f32s(&w->data, data, count);
        else if (dtype == RMTL__DT_I32)
            for (size_t i = 0; i < count; i++)
                rmtl__put_u32(&w->data, (uint32_t)((const int32_t *)data)[i]);
        else
            rmtl__put_bytes(&w->data, data, nbytes);
    }
    /* A failed put leaves the writer failed for good (the index is then
     * inconsistent); every later call reports it. */
    if (w->index.failed || w->data.failed)
        return rmtl__error(RMTL_ENOMEM, "tensor writer: out of memory");
    w->name_at[w->n++] = at;
    return 0;
}

int rmtl__tensors_add_f32(rmtl__tensors_writer *w, const char *name, uint32_t ndim,
                          const uint64_t *dims, const float *data)
{
    return rmtl__tensors_add(w, name, RMTL__DT_F32, ndim, dims, data);
}

int rmtl__tensors_finish(const rmtl__tensors_writer *w, rmtl__wbuf *out)
{
    rmtl__wbuf_init(out);
    if (w->index.failed || w->data.failed)
        return rmtl__error(RMTL_ENOMEM, "tensor writer: out of memory earlier");
    if (w->n > UINT32_MAX)
        return rmtl__error(RMTL_EINVAL, "tensor writer: too many tensors");
    size_t head = 8 + w->index.len;
    if (head > SIZE_MAX - RMTL__TALIGN || rmtl__talign(head) > SIZE_MAX - w->data.len ||
        rmtl__wbuf_reserve(out, rmtl__talign(head) + w->data.len))
        return rmtl__error(RMTL_ENOMEM, "tensor writer: out of memory");
    rmtl__put_u32(out, (uint32_t)w->n);
    rmtl__put_u32(out, RMTL__TENSORS_VERSION);
    rmtl__put_bytes(out, w->index.data, w->index.len);
    rmtl__put_align(out, RMTL__TALIGN);
    rmtl__put_bytes(out, w->data.data, w->data.len);
    int rc = rmtl__wbuf_status(out);
    if (rc)
        rmtl__wbuf_free(out);
    return rc;
}

/* --- reader ---------------------------------------------------------- */
static int rmtl__name_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

static int rmtl__tinfo_cmp(const void *pa, const void *pb)
{
    const rmtl__tensor_info *a = pa, *b = pb;
    return rmtl__name_cmp(a->name, a->name_len, b->name, b->name_len);
}

/* Parses entry i of the table at the cursor; data offsets are checked later. */
static int rmtl__tensor_entry(rmtl__rbuf *rb, uint32_t i, rmtl__tensor_info *t, uint64_t *off)
{
    uint32_t nlen = rmtl__get_u32(rb);
    const char *name = rmtl__get_view(rb, nlen);
    if (!name)
        return rmtl__error(RMTL_EFORMAT, "tensor table: entry %u truncated", i);
    if (nlen == 0 || nlen > RMTL__TENSOR_NAME_MAX || memchr(name, '\0', nlen))
        return rmtl__error(RMTL_EFORMAT, "tensor table: entry %u has an invalid name", i);
    t->name = name, t->name_len = nlen;
    t->dtype = rmtl__get_u32(rb);
    t->ndim = rmtl__get_u32(rb);
    if (!rb->failed && t->dtype >= RMTL__NDT)
        return rmtl__error(RMTL_EFORMAT, "tensor '%.*s': unknown dtype %u", (int)nlen, name,
                           t->dtype);
    if (!rb->failed && t->ndim > RMTL__TENSOR_MAX_DIMS)
        return rmtl__error(RMTL_EFORMAT, "tensor '%.*s': %u dimensions, at most %d", (int)nlen,
                           name, t->ndim, RMTL__TENSOR_MAX_DIMS);
    for (uint32_t d = 0; d < t->ndim && !rb->failed; d++)
        t->dims[d] = rmtl__get_u64(rb);
    *off = rmtl__get_u64(rb);
    if (rb->failed)
        return rmtl__error(RMTL_EFORMAT, "tensor '%.*s': table entry truncated", (int)nlen, name);
    if (rmtl__tensor_size(t->dtype, t->ndim, t->dims, &t->count, &t->nbytes))
        return rmtl__error(RMTL_EFORMAT, "tensor '%.*s': element count overflows", (int)nlen, name);
    return 0;
}

int rmtl__tensors_open(rmtl__tensors_reader *r, const void *buf, size_t len)
{
    memset(r, 0, sizeof *r);
    RMTL__CHECK_ARG(buf || len == 0, "buf");
    const unsigned char *b = buf;
    rmtl__rbuf rb;
    rmtl__rbuf_init(&rb, buf, len);
    uint32_t count = rmtl__get_u32(&rb), version = rmtl__get_u32(&rb);
    if (rb.failed)
        return rmtl__error(RMTL_EFORMAT, "tensor table: truncated (%zu bytes)", len);
    if (version == 0)
        return rmtl__error(RMTL_EFORMAT, "tensor table: invalid layout version 0");
    if (version > RMTL__TENSORS_VERSION)
        return rmtl__error(RMTL_EVERSION, "tensor table: layout version %u is newer than %u",
                           version, RMTL__TENSORS_VERSION);
    if (count > rmtl__rbuf_left(&rb) / RMTL__TENTRY_MIN)
        return rmtl__error(RMTL_EFORMAT, "tensor table: %u entries cannot fit in %zu bytes", count,
                           len);
    rmtl__tensor_info *t = rmtl__mallocarray(count, sizeof *t);
    uint64_t *off = rmtl__mallocarray(count, sizeof *off);
    int rc = 0;
    if (!t || !off) {
        rc = rmtl__error(RMTL_ENOMEM, "tensor table: out of memory");
        goto fail;
    }
    memset(t, 0, (size_t)count * sizeof *t);
    for (uint32_t i = 0; i < count; i++)
        if ((rc = rmtl__tensor_entry(&rb, i, &t[i], &off[i])))
            goto fail;

    /* Data follows in table order, each tensor at the next 64-byte
     * boundary, with zero padding: one canonical layout, so nothing can
     * overlap and no byte goes unaccounted for. */
    size_t pos = rb.pos, data_start = rmtl__talign(rb.pos);
    for (uint32_t i = 0; i <= count; i++) {
        /* The payload ends right after the last tensor's data; an empty
         * table is still padded to the start of its (empty) data region. */
        size_t expect = i < count || count == 0 ? rmtl__talign(pos) : pos;
        if (expect > len) {
            rc = rmtl__error(RMTL_EFORMAT, "tensor table: truncated (%zu bytes)", len);
            goto fail;
        }
        for (size_t k = pos; k < expect; k++)
            if (b[k]) {
                rc = rmtl__error(RMTL_EFORMAT, "tensor table: nonzero padding at byte %zu", k);
                goto fail;
            }
        if (i == count) {
            pos = expect;
            break;
        }
        if (off[i] != expect - data_start) {
            rc = rmtl__error(RMTL_EFORMAT, "tensor '%.*s': data offset %llu, expected %zu",
                             (int)t[i].name_len, t[i].name, (unsigned long long)off[i],
                             expect - data_start);
            goto fail;
        }
        if (t[i].nbytes > len - expect) {
            rc = rmtl__error(RMTL_EFORMAT,
                             "tensor '%.*s': %zu bytes of data run past the end of the section",
                             (int)t[i].name_len, t[i].name, t[i].nbytes);
            goto fail;
        }
        t[i].data = b + expect;
        pos = expect + t[i].nbytes;
    }
    if (pos != len) {
        rc = rmtl__error(RMTL_EFORMAT, "tensor table: %zu unexpected bytes at the end", len - pos);
        goto fail;
    }
    if (count > 1)
        qsort(t, count, sizeof *t, rmtl__tinfo_cmp);
    for (uint32_t i = 1; i < count; i++)
        if (rmtl__tinfo_cmp(&t[i - 1], &t[i]) == 0) {
            rc = rmtl__error(RMTL_EFORMAT, "tensor '%.*s' appears twice", (int)t[i].name_len,
                             t[i].name);
            goto fail;
        }
    rmtl__free(off);
    r->t = t;
    r->n = count;
    return 0;
fail:
    rmtl__free(t);
    rmtl__free(off);
    return rc;
}

void rmtl__tensors_close(rmtl__tensors_reader *r)
{
    rmtl__free(r->t);
    memset(r, 0, sizeof *r);
}

int rmtl__tensors_find(const rmtl__tensors_reader *r, const char *name, uint32_t dtype,
                       uint32_t ndim, const uint64_t *dims, const rmtl__tensor_info **out)
{
    *out = NULL;
    RMTL__CHECK_ARG(name, "name");
    RMTL__CHECK_ARG(ndim <= RMTL__TENSOR_MAX_DIMS && (dims || ndim == 0), "dims");
    size_t nlen = strlen(name), lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rmtl__name_cmp(r->t[mid].name, r->t[mid].name_len, name, nlen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == r->n || rmtl__name_cmp(r->t[lo].name, r->t[lo].name_len, name, nlen) != 0)
        return rmtl__error(RMTL_EFORMAT, "checkpoint has no tensor '%s'", name);
    const rmtl__tensor_info *t = &r->t[lo];
    int same = t->dtype == dtype && t->ndim == ndim;
    for (uint32_t i = 0; same && i < ndim; i++)
        same = t->dims[i] == dims[i];
    if (!same) {
        char want[128], have[128];
        rmtl__shape_str(want, sizeof want, dtype, ndim, dims);
        rmtl__shape_str(have, sizeof have, t->dtype, t->ndim, t->dims);
        return rmtl__error(RMTL_EFORMAT, "tensor '%s': expected %s, checkpoint has %s", name, want,
                           have);
    }
    *out = t;
    return 0;
}

/* find, then a little-endian copy that assumes nothing about the
 * alignment of the borrowed bytes. */
static int rmtl__tensors_copy(const rmtl__tensors_reader *r, const char *name, uint32_t dtype,
                              uint32_t ndim, const uint64_t *dims, void *out, size_t cap)
{
    const rmtl__tensor_info *t;
    int rc = rmtl__tensors_find(r, name, dtype, ndim, dims, &t);
    if (rc)
        return rc;
    if (cap < t->count)
        return rmtl__error(RMTL_EINVAL, "tensor '%s': %zu elements do not fit in %zu", name,
                           t->count, cap);
    RMTL__CHECK_ARG(out || t->count == 0, "out");
    if (dtype == RMTL__DT_U8) {
        if (t->nbytes)
            memcpy(out, t->data, t->nbytes);
        return 0;
    }
    for (size_t i = 0; i < t->count; i++) {
        uint32_t u = rmtl__load_u32le(t->data + 4 * i);
        memcpy((unsigned char *)out + 4 * i, &u, 4);
    }
    return 0;
}

int rmtl__tensors_read_f32(const rmtl__tensors_reader *r, const char *name, uint32_t ndim,
                           const uint64_t *dims, float *out, size_t cap)
{
    return rmtl__tensors_copy(r, name, RMTL__DT_F32, ndim, dims, out, cap);
}

int rmtl__tensors_read_i32(const rmtl__tensors_reader *r, const char *name, uint32_t ndim,
                           const uint64_t *dims, int32_t *out, size_t cap)
{
    return rmtl__tensors_copy(r, name, RMTL__DT_I32, ndim, dims, out, cap);
}

int rmtl__tensors_read_u8(const rmtl__tensors_reader *r, const char *name, uint32_t ndim,
                          const uint64_t *dims, uint8_t *out, size_t cap)
{
    return rmtl__tensors_copy(r, name, RMTL__DT_U8, ndim, dims, out, cap);
}
