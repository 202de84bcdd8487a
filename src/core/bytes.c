/* Little-endian byte buffers. */
#include "core/bytes.h"

#include <string.h>

#include "core/internal.h"

void rmtl__wbuf_init(rmtl__wbuf *w) { memset(w, 0, sizeof *w); }

void rmtl__wbuf_free(rmtl__wbuf *w)
{
    rmtl__free(w->data);
    memset(w, 0, sizeof *w);
}

int rmtl__wbuf_status(const rmtl__wbuf *w)
{
    return w->failed ? rmtl__error(RMTL_ENOMEM, "out of memory while serialising") : 0;
}

int rmtl__wbuf_reserve(rmtl__wbuf *w, size_t extra)
{
    if (w->failed)
        return -1;
    if (extra <= w->cap - w->len)
        return 0;
    if (extra > SIZE_MAX / 2 - w->len) {
        w->failed = 1;
        return -1;
    }
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < extra)
        cap *= 2;
    unsigned char *d = rmtl__realloc(w->data, cap);
    if (!d) {
        w->failed = 1;
        return -1;
    }
    w->data = d, w->cap = cap;
    return 0;
}

void rmtl__put_bytes(rmtl__wbuf *w, const void *p, size_t n)
{
    if (n == 0 || rmtl__wbuf_reserve(w, n))
        return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

void rmtl__put_zeros(rmtl__wbuf *w, size_t n)
{
    if (n == 0 || rmtl__wbuf_reserve(w, n))
        return;
    memset(w->data + w->len, 0, n);
    w->len += n;
}

void rmtl__put_u8(rmtl__wbuf *w, uint8_t v) { rmtl__put_bytes(w, &v, 1); }

void rmtl__put_u32(rmtl__wbuf *w, uint32_t v)
{
    unsigned char b[4];
    rmtl__store_u32le(b, v);
    rmtl__put_bytes(w, b, 4);
}

void rmtl__put_u64(rmtl__wbuf *w, uint64_t v)
{
    rmtl__put_u32(w, (uint32_t)v);
    rmtl__put_u32(w, (uint32_t)(v >> 32));
}

void rmtl__put_i64(rmtl__wbuf *w, int64_t v) { rmtl__put_u64(w, (uint64_t)v); }

void rmtl__put_f32(rmtl__wbuf *w, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    rmtl__put_u32(w, u);
}

void rmtl__put_f64(rmtl__wbuf *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    rmtl__put_u64(w, u);
}

void rmtl__put_f32s(rmtl__wbuf *w, const float *v, size_t n)
{
    if (n > SIZE_MAX / 4 || rmtl__wbuf_reserve(w, n * 4))
        return;
    for (size_t i = 0; i < n; i++)
        rmtl__put_f32(w, v[i]);
}

void rmtl__put_str(rmtl__wbuf *w, const char *s)
{
    size_t n = strlen(s);
    rmtl__put_u32(w, (uint32_t)n);
    rmtl__put_bytes(w, s, n);
}

void rmtl__put_align(rmtl__wbuf *w, size_t align)
{
    size_t r = w->len % align;
    if (r)
        rmtl__put_zeros(w, align - r);
}

void rmtl__patch_u32(rmtl__wbuf *w, size_t at, uint32_t v)
{
    if (!w->failed && at + 4 <= w->len)
        rmtl__store_u32le(w->data + at, v);
}

void rmtl__rbuf_init(rmtl__rbuf *r, const void *data, size_t len)
{
    r->data = data, r->len = len, r->pos = 0, r->failed = 0;
}

size_t rmtl__rbuf_left(const rmtl__rbuf *r) { return r->failed ? 0 : r->len - r->pos; }

const void *rmtl__get_view(rmtl__rbuf *r, size_t n)
{
    if (r->failed || n > r->len - r->pos) {
        r->failed = 1;
        return NULL;
    }
    const void *p = r->data + r->pos;
    r->pos += n;
    return p;
}

int rmtl__get_bytes(rmtl__rbuf *r, void *out, size_t n)
{
    const void *p = rmtl__get_view(r, n);
    if (!p)
        return -1;
    if (n)
        memcpy(out, p, n);
    return 0;
}

uint8_t rmtl__get_u8(rmtl__rbuf *r)
{
    const unsigned char *p = rmtl__get_view(r, 1);
    return p ? p[0] : 0;
}

uint32_t rmtl__get_u32(rmtl__rbuf *r)
{
    const unsigned char *p = rmtl__get_view(r, 4);
    return p ? rmtl__load_u32le(p) : 0;
}

uint64_t rmtl__get_u64(rmtl__rbuf *r)
{
    const unsigned char *p = rmtl__get_view(r, 8);
    return p ? rmtl__load_u64le(p) : 0;
}

int64_t rmtl__get_i64(rmtl__rbuf *r) { return (int64_t)rmtl__get_u64(r); }

float rmtl__get_f32(rmtl__rbuf *r)
{
    uint32_t u = rmtl__get_u32(r);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

double rmtl__get_f64(rmtl__rbuf *r)
{
    uint64_t u = rmtl__get_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

int rmtl__get_f32s(rmtl__rbuf *r, float *out, size_t n)
{
    if (n > SIZE_MAX / 4)
        return r->failed = 1, -1;
    const unsigned char *p = rmtl__get_view(r, n * 4);
    if (!p)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = rmtl__load_u32le(p + 4 * i);
        memcpy(out + i, &u, 4);
    }
    return 0;
}

char *rmtl__get_str(rmtl__rbuf *r)
{
    uint32_t n = rmtl__get_u32(r);
    const char *p = rmtl__get_view(r, n);
    if (!p)
        return NULL;
    char *s = rmtl__malloc((size_t)n + 1);
    if (!s) {
        r->failed = 1;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}
