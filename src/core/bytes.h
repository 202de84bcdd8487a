/* Explicit little-endian serialisation (docs/checkpoint-format.md: never fwrite a
 * struct). A growable write buffer and a bounds-checked read cursor, used
 * by every on-disk format of the library. */
#ifndef RMTL_CORE_BYTES_H
#define RMTL_CORE_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct rmtl__wbuf {
    unsigned char *data;
    size_t len, cap;
    int failed; /* sticky: an allocation failed; every later put is a no-op */
} rmtl__wbuf;

/* All puts append; on allocation failure they set `failed`, so a writer
 * checks once at the end (rmtl__wbuf_status). */
void rmtl__wbuf_init(rmtl__wbuf *w);
void rmtl__wbuf_free(rmtl__wbuf *w);
int rmtl__wbuf_status(const rmtl__wbuf *w); /* 0 or RMTL_ENOMEM (message set) */
int rmtl__wbuf_reserve(rmtl__wbuf *w, size_t extra);
void rmtl__put_bytes(rmtl__wbuf *w, const void *p, size_t n);
void rmtl__put_zeros(rmtl__wbuf *w, size_t n);
void rmtl__put_u8(rmtl__wbuf *w, uint8_t v);
void rmtl__put_u32(rmtl__wbuf *w, uint32_t v);
void rmtl__put_u64(rmtl__wbuf *w, uint64_t v);
void rmtl__put_i64(rmtl__wbuf *w, int64_t v);
void rmtl__put_f32(rmtl__wbuf *w, float v);
void rmtl__put_f64(rmtl__wbuf *w, double v);
void rmtl__put_f32s(rmtl__wbuf *w, const float *v, size_t n);
/* u32 length then the bytes (no NUL). */
void rmtl__put_str(rmtl__wbuf *w, const char *s);
/* Pads with zeros to a multiple of `align`. */
void rmtl__put_align(rmtl__wbuf *w, size_t align);
/* Overwrites 4 bytes at `at` (< len), e.g. a length known only later. */
void rmtl__patch_u32(rmtl__wbuf *w, size_t at, uint32_t v);

/* Read cursor over borrowed bytes. Every get checks bounds: past the end
 * it sets `failed`, returns 0 and stays failed; check once at the end. */
typedef struct rmtl__rbuf {
    const unsigned char *data;
    size_t len, pos;
    int failed;
} rmtl__rbuf;

void rmtl__rbuf_init(rmtl__rbuf *r, const void *data, size_t len);
int rmtl__get_bytes(rmtl__rbuf *r, void *out, size_t n); /* 0 or -1 */
const void *rmtl__get_view(rmtl__rbuf *r, size_t n);    /* borrowed, NULL past end */
uint8_t rmtl__get_u8(rmtl__rbuf *r);
uint32_t rmtl__get_u32(rmtl__rbuf *r);
uint64_t rmtl__get_u64(rmtl__rbuf *r);
int64_t rmtl__get_i64(rmtl__rbuf *r);
float rmtl__get_f32(rmtl__rbuf *r);
double rmtl__get_f64(rmtl__rbuf *r);
int rmtl__get_f32s(rmtl__rbuf *r, float *out, size_t n); /* 0 or -1 */
/* Reads a u32-length string into a new NUL-terminated allocation
 * (rmtl__free); NULL and `failed` on bad length or no memory. The length
 * is bounded by the bytes left, so a damaged file cannot make it allocate
 * more than the file holds. */
char *rmtl__get_str(rmtl__rbuf *r);
size_t rmtl__rbuf_left(const rmtl__rbuf *r);

static inline uint32_t rmtl__load_u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t rmtl__load_u64le(const unsigned char *p)
{
    return (uint64_t)rmtl__load_u32le(p) | (uint64_t)rmtl__load_u32le(p + 4) << 32;
}
static inline void rmtl__store_u32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
    p[3] = (unsigned char)(v >> 24);
}

#endif
