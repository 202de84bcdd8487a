/* Checkpoint container, CRC-32, named tensors and atomic file writes. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/ckpt.h"
#include "core/crc32.h"
#include "core/internal.h"
#include "core/tensors.h"

#define ZZZZ RMTL__TAG('Z', 'Z', 'Z', 'Z')

static const uint32_t known[] = {RMTL__TAG_CONF, RMTL__TAG_ARCH, RMTL__TAG_TENS, RMTL__TAG_META};
#define N_KNOWN (sizeof known / sizeof known[0])

static const char conf_text[] = "model: {arch: mmoe, experts: {count: 4}}\nrl: {gamma: 0.99}\n";
static const char meta_text[] = "written by check_ckpt";

/* --- the sample checkpoint ------------------------------------------- */
/* Floats chosen so that only a bit-exact copy compares equal: -0, a NaN
 * with a payload, a denormal, infinities. */
static void sample_w(float w[15])
{
    static const uint32_t bits[15] = {0x80000000u, 0x7fc12345u, 0x00000001u, 0x7f800000u,
                                      0xff800000u, 0x3f800000u, 0xbf000000u, 0x12345678u,
                                      0x7f7fffffu, 0x00800000u, 0x3eaaaaabu, 0xc2c80000u,
                                      0x0000ffffu, 0x7fa00001u, 0x40490fdbu};
    memcpy(w, bits, sizeof bits);
}
static const float sample_b[5] = {0.5f, -1.25f, 3.0e-38f, 1.0e30f, 0.0f};
static const int32_t sample_steps[4] = {INT32_MIN, -1, 0, INT32_MAX};
static const uint8_t sample_rng[7] = {0, 1, 0x7f, 0x80, 0xfe, 0xff, 42};
static const float sample_scale = 0.125f;
static float sample_emb[16];

static const uint64_t dims_w[2] = {3, 5}, dims_b[1] = {5}, dims_steps[1] = {4}, dims_rng[1] = {7},
                      dims_empty[2] = {0, 3}, dims_emb[4] = {2, 2, 2, 2};

static int build_tensors(rmtl__wbuf *out)
{
    float w[15];
    sample_w(w);
    for (int i = 0; i < 16; i++)
        sample_emb[i] = (float)i / 7.0f - 1.0f;
    rmtl__tensors_writer tw;
    rmtl__tensors_writer_init(&tw);
    int rc;
    if ((rc = rmtl__tensors_add_f32(&tw, "actor.w", 2, dims_w, w)) ||
        (rc = rmtl__tensors_add_f32(&tw, "actor.b", 1, dims_b, sample_b)) ||
        (rc = rmtl__tensors_add(&tw, "steps", RMTL__DT_I32, 1, dims_steps, sample_steps)) ||
        (rc = rmtl__tensors_add(&tw, "rng", RMTL__DT_U8, 1, dims_rng, sample_rng)) ||
        (rc = rmtl__tensors_add_f32(&tw, "scale", 0, NULL, &sample_scale)) ||
        (rc = rmtl__tensors_add_f32(&tw, "empty", 2, dims_empty, NULL)) ||
        (rc = rmtl__tensors_add_f32(&tw, "emb", 4, dims_emb, sample_emb)))
        rmtl__wbuf_init(out);
    else
        rc = rmtl__tensors_finish(&tw, out);
    rmtl__tensors_writer_free(&tw);
    return rc;
}

/* A checkpoint with CONF, ARCH, TENS and META, plus an extra section
 * `extra` (0: none) with the required flag `extra_req`. */
static int build_ckpt(unsigned char **buf, size_t *len, uint32_t extra, int extra_req)
{
    rmtl__ckpt_writer w;
    rmtl__ckpt_writer_init(&w, RMTL__CKPT_F_TRAINING);
    rmtl__wbuf arch, tens;
    rmtl__wbuf_init(&arch);
    rmtl__put_str(&arch, "mmoe");
    rmtl__put_u32(&arch, 4);
    rmtl__put_f64(&arch, 0.99);
    int rc = rmtl__ckpt_add_section(&w, RMTL__TAG_CONF, 1, conf_text, strlen(conf_text));
    if (!rc)
        rc = rmtl__ckpt_add_wbuf(&w, RMTL__TAG_ARCH, 1, &arch);
    if (!rc) {
        rc = build_tensors(&tens);
        if (!rc)
            rc = rmtl__ckpt_add_wbuf(&w, RMTL__TAG_TENS, 1, &tens);
    }
    if (!rc && extra)
        rc = rmtl__ckpt_add_section(&w, extra, extra_req, "future", 6);
    if (!rc)
        rc = rmtl__ckpt_add_section(&w, RMTL__TAG_META, 0, meta_text, strlen(meta_text));
    if (!rc)
        rc = rmtl__ckpt_finish(&w, buf, len);
    else
        *buf = NULL;
    rmtl__wbuf_free(&arch); /* empty unless adding it failed before the hand-over */
    rmtl__ckpt_writer_free(&w);
    return rc;
}

static void expect_section(const rmtl__ckpt_reader *r, uint32_t tag, const void *want, size_t n)
{
    const void *d;
    size_t len;
    ck_assert_int_eq(rmtl__ckpt_find(r, tag, &d, &len), 0);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(d, want, n) == 0);
}

/* Opens the sample and checks every byte of every section; returns the
 * first library error (so the allocation-failure loop can use it). */
static int verify_ckpt(const void *buf, size_t len)
{
    rmtl__ckpt_reader r;
    int rc = rmtl__ckpt_open(&r, buf, len, known, N_KNOWN);
    if (rc)
        return rc;
    ck_assert_uint_eq(r.version, 1);
    ck_assert_uint_eq(r.flags, RMTL__CKPT_F_TRAINING);
    ck_assert_uint_eq(r.n, 4);
    expect_section(&r, RMTL__TAG_CONF, conf_text, strlen(conf_text));
    expect_section(&r, RMTL__TAG_META, meta_text, strlen(meta_text));

    const void *arch;
    size_t alen;
    ck_assert_int_eq(rmtl__ckpt_find(&r, RMTL__TAG_ARCH, &arch, &alen), 0);
    rmtl__rbuf rb;
    rmtl__rbuf_init(&rb, arch, alen);
    char *name = rmtl__get_str(&rb);
    if (!name) {
        rmtl__ckpt_close(&r);
        return RMTL_ENOMEM; /* the length was checked by the writer: only memory can fail */
    }
    ck_assert_str_eq(name, "mmoe");
    rmtl__free(name);
    ck_assert_uint_eq(rmtl__get_u32(&rb), 4);
    ck_assert(rmtl__get_f64(&rb) == 0.99);
    ck_assert_uint_eq(rmtl__rbuf_left(&rb), 0);

    const void *tens;
    size_t tlen;
    ck_assert_int_eq(rmtl__ckpt_find(&r, RMTL__TAG_TENS, &tens, &tlen), 0);
    ck_assert_uint_eq((uintptr_t)tens - (uintptr_t)buf, ((uintptr_t)tens - (uintptr_t)buf) / 64 * 64);
    rmtl__tensors_reader tr;
    rc = rmtl__tensors_open(&tr, tens, tlen);
    if (rc) {
        rmtl__ckpt_close(&r);
        return rc;
    }
    ck_assert_uint_eq(tr.n, 7);
    float w[15], want_w[15], b[5], scale, emb[16];
    int32_t steps[4];
    uint8_t rng[7];
    sample_w(want_w);
    ck_assert_int_eq(rmtl__tensors_read_f32(&tr, "actor.w", 2, dims_w, w, 15), 0);
    ck_assert(memcmp(w, want_w, sizeof w) == 0);
    ck_assert_int_eq(rmtl__tensors_read_f32(&tr, "actor.b", 1, dims_b, b, 5), 0);
    ck_assert(memcmp(b, sample_b, sizeof b) == 0);
    ck_assert_int_eq(rmtl__tensors_read_i32(&tr, "steps", 1, dims_steps, steps, 4), 0);
    ck_assert(memcmp(steps, sample_steps, sizeof steps) == 0);
    ck_assert_int_eq(rmtl__tensors_read_u8(&tr, "rng", 1, dims_rng, rng, 7), 0);
    ck_assert(memcmp(rng, sample_rng, sizeof rng) == 0);
    ck_assert_int_eq(rmtl__tensors_read_f32(&tr, "scale", 0, NULL, &scale, 1), 0);
    ck_assert(memcmp(&scale, &sample_scale, 4) == 0);
    ck_assert_int_eq(rmtl__tensors_read_f32(&tr, "empty", 2, dims_empty, NULL, 0), 0);
    ck_assert_int_eq(rmtl__tensors_read_f32(&tr, "emb", 4, dims_emb, emb, 16), 0);
    ck_assert(memcmp(emb, sample_emb, sizeof emb) == 0);
    for (size_t i = 0; i < tr.n; i++) /* data is 64-byte aligned within the file */
        ck_assert_uint_eq(((uintptr_t)tr.t[i].data - (uintptr_t)buf) % 64, 0);
    rmtl__tensors_close(&tr);
    rmtl__ckpt_close(&r);
    return 0;
}

static unsigned char *sample(size_t *len)
{
    unsigned char *buf;
    ck_assert_int_eq(build_ckpt(&buf, len, 0, 0), 0);
    return buf;
}

/* Recomputes the header and table CRCs after a test edits a field, so
 * that the check under test, not a CRC, must catch the edit. */
static void reseal(unsigned char *b, size_t len)
{
    rmtl__store_u32le(b + 24, rmtl__crc32(0, b, 24));
    size_t table = (size_t)rmtl__load_u32le(b + 20) * 32;
    if (table <= len - 32)
        rmtl__store_u32le(b + 28, rmtl__crc32(0, b + 32, table));
}

static void expect_open_fails(const unsigned char *b, size_t len, int code, const char *msg_part)
{
    rmtl__ckpt_reader r;
    int rc = rmtl__ckpt_open(&r, b, len, known, N_KNOWN);
    ck_assert_msg(rc == code, "expected %d, got %d (%s)", code, rc, rmtl_last_error());
    ck_assert_ptr_null(r.sec);
    if (msg_part)
        ck_assert_msg(strstr(rmtl_last_error(), msg_part), "message '%s' lacks '%s'",
                      rmtl_last_error(), msg_part);
}

/* --- files ---------------------------------------------------------- */
static void make_tmpdir(char dir[64])
{
    strcpy(dir, "/tmp/rmtl-ckpt-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static size_t dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void remove_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char p[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    closedir(d);
    rmdir(dir);
}

static void expect_file(const char *path, const void *want, size_t n)
{
    char *got;
    size_t len;
    ck_assert_int_eq(rmtl__ckpt_read_file(&got, &len, path), 0);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(got, want, n) == 0);
    rmtl__free(got);
}

/* --- tests ------------------------------------------------------------ */
START_TEST(test_crc32)
{
    ck_assert_uint_eq(rmtl__crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(rmtl__crc32(0, NULL, 0), 0);
    ck_assert_uint_eq(rmtl__crc32(0, "a", 1), 0xE8B7BE43u);
    unsigned char buf[1100];
    unsigned s = 7;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)((s = s * 1103515245u + 12345u) >> 16);
    /* zlib is the reference at every length and misalignment. */
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= 300; n++)
            ck_assert_uint_eq(rmtl__crc32(0, buf + off, n),
                              (uint32_t)crc32(0L, buf + off, (uInt)n));
    uint32_t whole = rmtl__crc32(0, buf, sizeof buf);
    ck_assert_uint_eq(whole, (uint32_t)crc32(0L, buf, (uInt)sizeof buf));
    for (size_t cut = 0; cut <= sizeof buf; cut++)
        ck_assert_uint_eq(rmtl__crc32(rmtl__crc32(0, buf, cut), buf + cut, sizeof buf - cut), whole);
    for (size_t a = 0; a < 40; a++)
        for (size_t b = a; b < 40; b++) {
            uint32_t c = rmtl__crc32(0, buf, a);
            c = rmtl__crc32(c, buf + a, b - a);
            ck_assert_uint_eq(rmtl__crc32(c, buf + b, sizeof buf - b), whole);
        }
}
END_TEST

START_TEST(test_header_layout)
{
    size_t len;
    unsigned char *b = sample(&len);
    ck_assert(memcmp(b, "\x89RMTL\r\n\x1a", 8) == 0);
    ck_assert_uint_eq(rmtl__load_u32le(b + 8), 1);
    ck_assert(memcmp(b + 12, "\x04\x03\x02\x01", 4) == 0);
    ck_assert_uint_eq(rmtl__load_u32le(b + 16), 1);
    ck_assert_uint_eq(rmtl__load_u32le(b + 20), 4);
    ck_assert_uint_eq(rmtl__load_u32le(b + 24), rmtl__crc32(0, b, 24));
    ck_assert_uint_eq(rmtl__load_u32le(b + 28), rmtl__crc32(0, b + 32, 4 * 32));
    ck_assert(memcmp(b + 32, "CONF", 4) == 0);
    ck_assert(memcmp(b + 64, "ARCH", 4) == 0);
    ck_assert_uint_eq(rmtl__load_u32le(b + 32 + 4), 1); /* required */
    ck_assert_uint_eq(rmtl__load_u32le(b + 3 * 32 + 32 + 4), 0); /* META optional */
    ck_assert_uint_eq(rmtl__load_u64le(b + 32 + 8), 192); /* 32 + 4*32 = 160, aligned to 192 */
    ck_assert_uint_eq(rmtl__load_u64le(b + 32 + 16), strlen(conf_text));
    ck_assert(memcmp(b + 192, conf_text, strlen(conf_text)) == 0);
    for (size_t i = 0; i < 4; i++) {
        const unsigned char *e = b + 32 + 32 * i;
        uint64_t off = rmtl__load_u64le(e + 8), n = rmtl__load_u64le(e + 16);
        ck_assert_uint_eq(off % 64, 0);
        ck_assert_uint_eq(rmtl__load_u32le(e + 24), rmtl__crc32(0, b + off, n));
        ck_assert_uint_eq(rmtl__load_u32le(e + 28), 0);
        if (i == 3)
            ck_assert_uint_eq(off + n, len);
    }
    rmtl__free(b);
}
END_TEST

START_TEST(test_roundtrip_buffer)
{
    size_t len;
    unsigned char *b = sample(&len);
    ck_assert_int_eq(verify_ckpt(b, len), 0);
    /* The reader assumes no alignment of the borrowed buffer. */
    unsigned char *odd = malloc(len + 3);
    memcpy(odd + 3, b, len);
    ck_assert_int_eq(verify_ckpt(odd + 3, len), 0);
    free(odd);
    rmtl__free(b);
}
END_TEST

START_TEST(test_roundtrip_file_and_determinism)
{
    char dir[64], p1[128], p2[128];
    make_tmpdir(dir);
    snprintf(p1, sizeof p1, "%s/a.rmtl", dir);
    snprintf(p2, sizeof p2, "%s/b.rmtl", dir);
    size_t l1, l2;
    unsigned char *b1 = sample(&l1), *b2 = sample(&l2);
    ck_assert_uint_eq(l1, l2);
    ck_assert(memcmp(b1, b2, l1) == 0);
    ck_assert_int_eq(rmtl__write_file_atomic(p1, b1, l1), 0);
    ck_assert_int_eq(rmtl__write_file_atomic(p2, b2, l2), 0);
    ck_assert_uint_eq(dir_entries(dir), 2); /* no .tmp left over */
    char *f1, *f2;
    size_t n1, n2;
    ck_assert_int_eq(rmtl__ckpt_read_file(&f1, &n1, p1), 0);
    ck_assert_int_eq(rmtl__ckpt_read_file(&f2, &n2, p2), 0);
    ck_assert_uint_eq(n1, l1);
    ck_assert_uint_eq(n2, l1);
    ck_assert(memcmp(f1, b1, l1) == 0 && memcmp(f2, b1, l1) == 0);
    ck_assert_int_eq(verify_ckpt(f1, n1), 0);
    rmtl__free(f1), rmtl__free(f2), rmtl__free(b1), rmtl__free(b2);
    remove_tmpdir(dir);
}
END_TEST

START_TEST(test_every_flipped_byte_detected)
{
    size_t len;
    unsigned char *b = sample(&len);
    ck_assert_uint_lt(len, 4096);
    static const unsigned char masks[] = {0x01, 0x80, 0xff, 0x10};
    for (size_t pos = 0; pos < len; pos++)
        for (size_t m = 0; m < sizeof masks; m++) {
            b[pos] ^= masks[m];
            rmtl__ckpt_reader r;
            int rc = rmtl__ckpt_open(&r, b, len, known, N_KNOWN);
            ck_assert_msg(rc == RMTL_EFORMAT || rc == RMTL_EVERSION,
                          "flip 0x%02x at byte %zu of %zu: rc %d", masks[m], pos, len, rc);
            b[pos] ^= masks[m];
        }
    ck_assert_int_eq(verify_ckpt(b, len), 0);
    rmtl__free(b);
}
END_TEST

START_TEST(test_every_truncation_detected)
{
    size_t len;
    unsigned char *b = sample(&len);
    for (size_t n = 0; n < len; n++)
        expect_open_fails(b, n, RMTL_EFORMAT, NULL);
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, b, len);
    longer[len] = 0;
    expect_open_fails(longer, len + 1, RMTL_EFORMAT, "unexpected bytes");
    free(longer);
    rmtl__free(b);
}
END_TEST

START_TEST(test_header_errors)
{
    size_t len;
    unsigned char *b = sample(&len);
    b[1] = 'X';
    reseal(b, len);
    expect_open_fails(b, len, RMTL_EFORMAT, "bad magic");
    b[1] = 'R';
    expect_open_fails(b, len, RMTL_EFORMAT, "header CRC");
    reseal(b, len);
    ck_assert_int_eq(verify_ckpt(b, len), 0);

    rmtl__store_u32le(b + 8, 2); /* a file from the future */
    reseal(b, len);
    expect_open_fails(b, len, RMTL_EVERSION, "version 2");
    rmtl__store_u32le(b + 8, 0);
    reseal(b, len);
    expect_open_fails(b, len, RMTL_EFORMAT, "version 0");
    rmtl__store_u32le(b + 8, 1);

    rmtl__store_u32le(b + 12, 0x04030201u); /* a big-endian writer */
    reseal(b, len);
    expect_open_fails(b, len, RMTL_EFORMAT, "byte-order mark");
    rmtl__store_u32le(b + 12, 0x01020304u);

    rmtl__store_u32le(b + 20, UINT32_MAX); /* table far past the end */
    reseal(b, len);
    expect_open_fails(b, len, RMTL_EFORMAT, "runs past the end");
    rmtl__store_u32le(b + 20, 5);
    reseal(b, len);
    expect_open_fails(b, len, RMTL_EFORMAT, NULL);
    rmtl__store_u32le(b + 20, 4);
    reseal(b, len);
    ck_assert_int_eq(verify_ckpt(b, len), 0);
    rmtl__free(b);
}
END_TEST

START_TEST(test_section_table_errors)
{
    size_t len;
    unsigned char *orig = sample(&len), *b = malloc(len);
    unsigned char *tens_entry = b + 32 + 2 * 32;
#define RESET() memcpy(b, orig, len)

    RESET(); /* section data damaged: the message names the section */
    b[rmtl__load_u64le(tens_entry + 8) + 5] ^= 0x20;
    expect_open_fails(b, len, RMTL_EFORMAT, "checkpoint section 'TENS': CRC mismatch");

    RESET();
    rmtl__store_u32le(b + 32 + 3 * 32, RMTL__TAG_CONF); /* META renamed CONF */
    reseal(b, len);
    expect_open_fails(b, len, RMTL_EFORMAT, "'CONF' appears twice");

    RESET();
    rmtl__store_u32le(tens_entry + 8, (uint32_t)rmtl__load_u64le(tens_entry + 8) + 4);
    reseal(b, len);
    expect_open_fails(b, len, RMTL_EFORMAT, "not 64-byte aligned");

    RESET();
    rmtl__store_u32le(tens_entry + 8, (uint32_t)rmtl__load_u64le(tens_entry + 8) - 64);
    reseal(b, len);
    expect_open_fails(b, len, RMTL_EFORMAT, "expected");

    RESET(); /* offset near 2^64: no wrap-around */
    rmtl__store_u32le(tens_entry + 8, 0xffffffc0u);
    rmtl__store_u32le(tens_entry + 12, 0xffffffffu);
    reseal(b, len);
    expect_open_fails(b, len, RMTL_EFORMAT, "past the end");

    RESET(); /* length near 2^64: offset + length would wrap */
    rmtl__store_u32le(tens_entry + 16, 0xfffffff0u);
    rmtl__store_u32le(tens_entry + 20, 0xffffffffu);
    reseal(b, len);
    expect_open_fails(b, len, RMTL_EFORMAT, "past the end");

    RESET(); /* padding is not under a CRC: it must be zero */
    b[32 + 4 * 32] = 1;
    expect_open_fails(b, len, RMTL_EFORMAT, "padding");

    RESET(); /* the table CRC covers the entries */
    tens_entry[4] ^= 1;
    rmtl__store_u32le(b + 24, rmtl__crc32(0, b, 24));
    expect_open_fails(b, len, RMTL_EFORMAT, "table CRC");
#undef RESET
    free(b);
    rmtl__free(orig);
}
END_TEST

START_TEST(test_unknown_sections)
{
    unsigned char *b;
    size_t len;
    ck_assert_int_eq(build_ckpt(&b, &len, ZZZZ, 1), 0);
    expect_open_fails(b, len, RMTL_EVERSION, "'ZZZZ'");
    rmtl__free(b);

    ck_assert_int_eq(build_ckpt(&b, &len, ZZZZ, 0), 0);
    ck_assert_int_eq(verify_ckpt(b, len), 0); /* skipped: everything else reads */
    rmtl__ckpt_reader r;
    ck_assert_int_eq(rmtl__ckpt_open(&r, b, len, known, N_KNOWN), 0);
    ck_assert_int_eq(rmtl__ckpt_has(&r, ZZZZ), 0);
    ck_assert_int_eq(rmtl__ckpt_has(&r, RMTL__TAG_TENS), 1);
    const void *d = b;
    size_t n = 1;
    ck_assert_int_eq(rmtl__ckpt_find(&r, ZZZZ, &d, &n), RMTL_EFORMAT);
    ck_assert_ptr_null(d);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(rmtl_last_error(), "checkpoint has no 'ZZZZ' section");
    rmtl__ckpt_close(&r);
    /* A reader that knows the tag sees it. */
    const uint32_t more[] = {RMTL__TAG_CONF, RMTL__TAG_ARCH, RMTL__TAG_TENS, ZZZZ};
    ck_assert_int_eq(rmtl__ckpt_open(&r, b, len, more, 4), 0);
    ck_assert_uint_eq(r.n, 4);
    ck_assert_int_eq(rmtl__ckpt_find(&r, ZZZZ, &d, &n), 0);
    ck_assert_uint_eq(n, 6);
    ck_assert(memcmp(d, "future", 6) == 0);
    ck_assert_int_eq(rmtl__ckpt_has(&r, RMTL__TAG_META), 0); /* optional, not known here */
    rmtl__ckpt_close(&r);
    rmtl__ckpt_close(&r); /* idempotent */
    rmtl__free(b);
}
END_TEST

START_TEST(test_writer_edge_cases)
{
    rmtl__ckpt_writer w;
    rmtl__ckpt_writer_init(&w, 0);
    unsigned char *b;
    size_t len;
    ck_assert_int_eq(rmtl__ckpt_finish(&w, &b, &len), 0); /* no sections at all */
    ck_assert_uint_eq(len, 32);
    rmtl__ckpt_reader r;
    ck_assert_int_eq(rmtl__ckpt_open(&r, b, len, NULL, 0), 0);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_uint_eq(r.flags, 0);
    rmtl__ckpt_close(&r);
    rmtl__free(b);

    ck_assert_int_eq(rmtl__ckpt_add_section(&w, RMTL__TAG_OPTS, 0, NULL, 0), 0); /* empty */
    ck_assert_int_eq(rmtl__ckpt_add_section(&w, RMTL__TAG_OPTS, 0, "x", 1), RMTL_EINVAL);
    ck_assert(strstr(rmtl_last_error(), "'OPTS' added twice"));
    rmtl__wbuf bad;
    rmtl__wbuf_init(&bad);
    rmtl__put_u32(&bad, 1);
    bad.failed = 1;
    ck_assert_int_eq(rmtl__ckpt_add_wbuf(&w, RMTL__TAG_RLST, 1, &bad), RMTL_ENOMEM);
    ck_assert_ptr_null(bad.data); /* taken (freed) even on failure */
    for (int i = 0; i < 20; i++) /* grows the table past its first capacity */
        ck_assert_int_eq(rmtl__ckpt_add_section(&w, RMTL__TAG('S', 'E', 'C', 'A' + i), i & 1,
                                                meta_text, (size_t)i),
                         0);
    ck_assert_int_eq(rmtl__ckpt_finish(&w, &b, &len), 0);
    const uint32_t opts[] = {RMTL__TAG_OPTS, RMTL__TAG('S', 'E', 'C', 'B')};
    ck_assert_int_eq(rmtl__ckpt_open(&r, b, len, opts, 1), RMTL_EVERSION); /* SECB required */
    ck_assert_int_eq(rmtl__ckpt_open(&r, b, len, opts, 2), RMTL_EVERSION); /* SECD too */
    ck_assert(strstr(rmtl_last_error(), "'SECD'"));
    rmtl__free(b);
    rmtl__ckpt_writer_free(&w);
    rmtl__ckpt_writer_free(&w); /* accepts a freed writer */
}
END_TEST

/* --- named tensors ----------------------------------------------------- */
START_TEST(test_tensor_lookup_errors)
{
    rmtl__wbuf p;
    ck_assert_int_eq(build_tensors(&p), 0);
    rmtl__tensors_reader r;
    ck_assert_int_eq(rmtl__tensors_open(&r, p.data, p.len), 0);
    float w[15];
    const uint64_t swapped[2] = {5, 3};
    ck_assert_int_eq(rmtl__tensors_read_f32(&r, "actor.w", 2, swapped, w, 15), RMTL_EFORMAT);
    ck_assert_str_eq(rmtl_last_error(),
                     "tensor 'actor.w': expected f32[5, 3], checkpoint has f32[3, 5]");
    ck_assert_int_eq(rmtl__tensors_read_f32(&r, "actor.w", 1, swapped, w, 15), RMTL_EFORMAT);
    int32_t iw[15];
    ck_assert_int_eq(rmtl__tensors_read_i32(&r, "actor.w", 2, dims_w, iw, 15), RMTL_EFORMAT);
    ck_assert(strstr(rmtl_last_error(), "expected i32[3, 5], checkpoint has f32[3, 5]"));
    ck_assert_int_eq(rmtl__tensors_read_f32(&r, "scale", 1, dims_b, w, 15), RMTL_EFORMAT);
    ck_assert(strstr(rmtl_last_error(), "checkpoint has f32[]"));
    ck_assert_int_eq(rmtl__tensors_read_f32(&r, "actor", 2, dims_w, w, 15), RMTL_EFORMAT);
    ck_assert_str_eq(rmtl_last_error(), "checkpoint has no tensor 'actor'");
    ck_assert_int_eq(rmtl__tensors_read_f32(&r, "zzz", 2, dims_w, w, 15), RMTL_EFORMAT);
    ck_assert_int_eq(rmtl__tensors_read_f32(&r, "actor.w", 2, dims_w, w, 14), RMTL_EINVAL);
    const rmtl__tensor_info *t;
    ck_assert_int_eq(rmtl__tensors_find(&r, "emb", RMTL__DT_F32, 4, dims_emb, &t), 0);
    ck_assert_uint_eq(t->count, 16);
    ck_assert_uint_eq(t->nbytes, 64);
    ck_assert_int_eq(rmtl__tensors_find(&r, "emb", RMTL__DT_F32, 5, dims_emb, &t), RMTL_EINVAL);
    ck_assert_ptr_null(t);
    rmtl__tensors_close(&r);
    rmtl__wbuf_free(&p);
}
END_TEST

START_TEST(test_tensor_writer_errors)
{
    rmtl__tensors_writer w;
    rmtl__tensors_writer_init(&w);
    float x[4] = {1, 2, 3, 4};
    const uint64_t d2[2] = {2, 2}, d5[5] = {1, 1, 1, 1, 4}, huge[2] = {1ull << 62, 1ull << 62};
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(rmtl__tensors_add_f32(&w, "x", 2, d2, x), 0);
    ck_assert_int_eq(rmtl__tensors_add_f32(&w, "x", 2, d2, x), RMTL_EINVAL);
    ck_assert(strstr(rmtl_last_error(), "'x' added twice"));
    ck_assert_int_eq(rmtl__tensors_add_f32(&w, "", 2, d2, x), RMTL_EINVAL);
    ck_assert_int_eq(rmtl__tensors_add_f32(&w, longname, 2, d2, x), RMTL_EINVAL);
    longname[255] = '\0';
    ck_assert_int_eq(rmtl__tensors_add_f32(&w, longname, 2, d2, x), 0);
    ck_assert_int_eq(rmtl__tensors_add_f32(&w, "y", 5, d5, x), RMTL_EINVAL);
    ck_assert_int_eq(rmtl__tensors_add(&w, "y", 3, 2, d2, x), RMTL_EINVAL);
    ck_assert_int_eq(rmtl__tensors_add_f32(&w, "y", 2, huge, x), RMTL_EINVAL);
    ck_assert_int_eq(rmtl__tensors_add_f32(&w, "y", 2, d2, NULL), RMTL_EINVAL);
    for (int i = 0; i < 40; i++) { /* past the first name-table capacity */
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        ck_assert_int_eq(rmtl__tensors_add_f32(&w, name, 1, d2 + 1, x + (i & 1)), 0);
    }
    rmtl__wbuf p;
    ck_assert_int_eq(rmtl__tensors_finish(&w, &p), 0);
    rmtl__tensors_reader r;
    ck_assert_int_eq(rmtl__tensors_open(&r, p.data, p.len), 0);
    ck_assert_uint_eq(r.n, 42);
    float got[2];
    ck_assert_int_eq(rmtl__tensors_read_f32(&r, "t39", 1, d2 + 1, got, 2), 0);
    ck_assert(got[0] == 2 && got[1] == 3);
    ck_assert_int_eq(rmtl__tensors_read_f32(&r, longname, 2, d2, x, 4), 0);
    rmtl__tensors_close(&r);
    rmtl__wbuf_free(&p);
    rmtl__tensors_writer_free(&w);

    rmtl__tensors_writer_init(&w); /* an empty table is valid */
    ck_assert_int_eq(rmtl__tensors_finish(&w, &p), 0);
    ck_assert_uint_eq(p.len, 64);
    ck_assert_int_eq(rmtl__tensors_open(&r, p.data, p.len), 0);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_int_eq(rmtl__tensors_read_f32(&r, "x", 0, NULL, got, 1), RMTL_EFORMAT);
    rmtl__tensors_close(&r);
    rmtl__wbuf_free(&p);
    rmtl__tensors_writer_free(&w);
}
END_TEST

/* A hand-made payload holding one tensor, for the malformed cases. */
static void one_tensor(rmtl__wbuf *p, uint32_t version, const char *name, uint32_t dtype,
                       uint32_t ndim, const uint64_t *dims, uint64_t off, size_t data_bytes)
{
    rmtl__wbuf_init(p);
    rmtl__put_u32(p, 1);
    rmtl__put_u32(p, version);
    rmtl__put_str(p, name);
    rmtl__put_u32(p, dtype);
    rmtl__put_u32(p, ndim);
    for (uint32_t i = 0; i < ndim; i++)
        rmtl__put_u64(p, dims[i]);
    rmtl__put_u64(p, off);
    rmtl__put_align(p, 64);
    for (size_t i = 0; i < data_bytes; i++)
        rmtl__put_u8(p, (uint8_t)(i + 1));
    ck_assert(!p->failed);
}

static void expect_tensors_fail(const rmtl__wbuf *p, int code, const char *part)
{
    rmtl__tensors_reader r;
    int rc = rmtl__tensors_open(&r, p->data, p->len);
    ck_assert_msg(rc == code, "expected %d, got %d (%s)", code, rc, rmtl_last_error());
    ck_assert_ptr_null(r.t);
    ck_assert_msg(strstr(rmtl_last_error(), part), "'%s' lacks '%s'", rmtl_last_error(), part);
}

START_TEST(test_tensor_payload_errors)
{
    const uint64_t d2[2] = {2, 2}, over[3] = {1ull << 33, 1ull << 33, 4}, d5[5] = {1, 1, 1, 1, 1};
    rmtl__wbuf p;
    one_tensor(&p, 1, "w", RMTL__DT_F32, 2, d2, 0, 16);
    rmtl__tensors_reader r;
    ck_assert_int_eq(rmtl__tensors_open(&r, p.data, p.len), 0); /* the baseline is valid */
    rmtl__tensors_close(&r);
    rmtl__wbuf_free(&p);

    one_tensor(&p, 2, "w", RMTL__DT_F32, 2, d2, 0, 16);
    expect_tensors_fail(&p, RMTL_EVERSION, "layout version 2");
    rmtl__wbuf_free(&p);
    one_tensor(&p, 1, "w", 7, 2, d2, 0, 16);
    expect_tensors_fail(&p, RMTL_EFORMAT, "unknown dtype 7");
    rmtl__wbuf_free(&p);
    one_tensor(&p, 1, "w", RMTL__DT_F32, 5, d5, 0, 4);
    expect_tensors_fail(&p, RMTL_EFORMAT, "5 dimensions");
    rmtl__wbuf_free(&p);
    one_tensor(&p, 1, "w", RMTL__DT_F32, 3, over, 0, 16);
    expect_tensors_fail(&p, RMTL_EFORMAT, "overflows");
    rmtl__wbuf_free(&p);
    one_tensor(&p, 1, "w", RMTL__DT_F32, 2, d2, 0, 12); /* data short */
    expect_tensors_fail(&p, RMTL_EFORMAT, "run past the end");
    rmtl__wbuf_free(&p);
    one_tensor(&p, 1, "w", RMTL__DT_F32, 2, d2, 64, 16); /* offset not canonical */
    expect_tensors_fail(&p, RMTL_EFORMAT, "data offset 64, expected 0");
    rmtl__wbuf_free(&p);
    one_tensor(&p, 1, "w", RMTL__DT_F32, 2, d2, UINT64_MAX - 3, 16);
    expect_tensors_fail(&p, RMTL_EFORMAT, "data offset");
    rmtl__wbuf_free(&p);
    one_tensor(&p, 1, "w", RMTL__DT_F32, 2, d2, 0, 20); /* trailing bytes */
    expect_tensors_fail(&p, RMTL_EFORMAT, "unexpected bytes");
    rmtl__wbuf_free(&p);
    one_tensor(&p, 1, "", RMTL__DT_F32, 2, d2, 0, 16);
    expect_tensors_fail(&p, RMTL_EFORMAT, "invalid name");
    rmtl__wbuf_free(&p);

    one_tensor(&p, 1, "w", RMTL__DT_F32, 2, d2, 0, 16);
    rmtl__patch_u32(&p, 0, 1000000); /* claims more entries than bytes */
    expect_tensors_fail(&p, RMTL_EFORMAT, "cannot fit");
    rmtl__patch_u32(&p, 0, 1);
    rmtl__patch_u32(&p, 8, 1000); /* name length past the end */
    expect_tensors_fail(&p, RMTL_EFORMAT, "truncated");
    rmtl__patch_u32(&p, 8, 1);
    p.data[50] = 9; /* padding between the table and the data */
    expect_tensors_fail(&p, RMTL_EFORMAT, "nonzero padding");
    rmtl__wbuf_free(&p);

    /* Two entries with one name. */
    rmtl__tensors_writer w;
    rmtl__tensors_writer_init(&w);
    float x[2] = {1, 2};
    ck_assert_int_eq(rmtl__tensors_add_f32(&w, "ab", 1, d2, x), 0);
    ck_assert_int_eq(rmtl__tensors_add_f32(&w, "ac", 1, d2, x), 0);
    ck_assert_int_eq(rmtl__tensors_finish(&w, &p), 0);
    unsigned char *second = NULL;
    for (size_t i = 0; i + 1 < p.len && !second; i++)
        if (p.data[i] == 'a' && p.data[i + 1] == 'c')
            second = p.data + i;
    ck_assert_ptr_nonnull(second);
    second[1] = 'b';
    expect_tensors_fail(&p, RMTL_EFORMAT, "'ab' appears twice");
    rmtl__wbuf_free(&p);
    rmtl__tensors_writer_free(&w);
}
END_TEST

/* The payload has no CRC of its own (the container checks it), so the
 * reader must survive arbitrary damage: every truncation is an error and
 * every flipped byte gives an error or a consistent table, never a read
 * outside the buffer (ASan checks that). */
START_TEST(test_tensor_payload_damage)
{
    rmtl__wbuf p;
    ck_assert_int_eq(build_tensors(&p), 0);
    rmtl__tensors_reader r;
    for (size_t n = 0; n < p.len; n++) {
        unsigned char *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        memcpy(copy, p.data, n);
        int rc = rmtl__tensors_open(&r, copy, n);
        ck_assert_msg(rc == RMTL_EFORMAT, "truncated to %zu: rc %d", n, rc);
        free(copy);
    }
    unsigned char *copy = malloc(p.len);
    for (size_t pos = 0; pos < p.len; pos++) {
        memcpy(copy, p.data, p.len);
        copy[pos] ^= 0xa5;
        int rc = rmtl__tensors_open(&r, copy, p.len);
        ck_assert_msg(rc == 0 || rc == RMTL_EFORMAT || rc == RMTL_EVERSION, "pos %zu rc %d", pos,
                      rc);
        if (rc == 0) {
            float buf[64];
            for (size_t i = 0; i < r.n; i++) {
                const rmtl__tensor_info *t = &r.t[i];
                ck_assert(t->data >= copy && t->nbytes <= (size_t)(copy + p.len - t->data));
                char name[300];
                memcpy(name, t->name, t->name_len);
                name[t->name_len] = '\0';
                if (t->dtype == RMTL__DT_F32 && t->count <= 64)
                    ck_assert_int_eq(rmtl__tensors_read_f32(&r, name, t->ndim, t->dims, buf, 64), 0);
            }
            rmtl__tensors_close(&r);
        }
    }
    free(copy);
    rmtl__wbuf_free(&p);
}
END_TEST

/* --- atomic writes ----------------------------------------------------- */
START_TEST(test_atomic_write_failures)
{
    char dir[64], path[160], tmp[170];
    make_tmpdir(dir);

    snprintf(path, sizeof path, "%s/no/such/dir/m.rmtl", dir);
    ck_assert_int_eq(rmtl__write_file_atomic(path, "abc", 3), RMTL_EIO);
    ck_assert(strstr(rmtl_last_error(), path));
    ck_assert(strstr(rmtl_last_error(), strerror(ENOENT)));
    ck_assert_uint_eq(dir_entries(dir), 0);

    /* The target is a directory: the rename fails after the temp file was
     * written, and the temp file must go. */
    snprintf(path, sizeof path, "%s/isdir", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(rmtl__write_file_atomic(path, "abc", 3), RMTL_EIO);
    ck_assert(strstr(rmtl_last_error(), "cannot rename"));
    ck_assert_uint_eq(dir_entries(dir), 1);
    ck_assert_int_eq(rmdir(path), 0);

    /* An existing file survives a failed replacement. */
    snprintf(path, sizeof path, "%s/m.rmtl", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_eq(rmtl__write_file_atomic(path, "old contents", 12), 0);
    ck_assert_int_eq(mkdir(tmp, 0700), 0); /* path.tmp cannot be created */
    ck_assert_int_eq(rmtl__write_file_atomic(path, "new", 3), RMTL_EIO);
    ck_assert(strstr(rmtl_last_error(), "cannot create"));
    expect_file(path, "old contents", 12);
    ck_assert_int_eq(rmdir(tmp), 0); /* not ours: left alone */

    /* A write that fails half-way (file size limit, which binds root too). */
    static char big[100000];
    memset(big, 'x', sizeof big);
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = rmtl__write_file_atomic(path, big, sizeof big);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    ck_assert_int_eq(rc, RMTL_EIO);
    ck_assert(strstr(rmtl_last_error(), "cannot write"));
    expect_file(path, "old contents", 12);
    ck_assert_uint_eq(dir_entries(dir), 1);

    /* Success replaces it. */
    ck_assert_int_eq(rmtl__write_file_atomic(path, big, sizeof big), 0);
    expect_file(path, big, sizeof big);
    ck_assert_int_eq(rmtl__write_file_atomic(path, "", 0), 0);
    expect_file(path, "", 0);
    ck_assert_uint_eq(dir_entries(dir), 1);

    /* A directory without write permission (root ignores the mode). */
    snprintf(path, sizeof path, "%s/ro", dir);
    ck_assert_int_eq(mkdir(path, 0500), 0);
    if (access(path, W_OK) != 0) {
        char inner[200];
        snprintf(inner, sizeof inner, "%s/m.rmtl", path);
        ck_assert_int_eq(rmtl__write_file_atomic(inner, "abc", 3), RMTL_EIO);
        ck_assert(strstr(rmtl_last_error(), strerror(EACCES)));
        ck_assert_uint_eq(dir_entries(path), 0);
    }
    ck_assert_int_eq(rmdir(path), 0);

    ck_assert_int_eq(rmtl__ckpt_read_file(&(char *){NULL}, &(size_t){0}, path), RMTL_EIO);
    remove_tmpdir(dir);
}
END_TEST

START_TEST(test_relative_path)
{
    char dir[64], cwd[4096];
    make_tmpdir(dir);
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    int rc = rmtl__write_file_atomic("plain.rmtl", "abc", 3); /* directory "." */
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(rc, 0);
    char path[128];
    snprintf(path, sizeof path, "%s/plain.rmtl", dir);
    expect_file(path, "abc", 3);
    remove_tmpdir(dir);
}
END_TEST

/* --- allocation failures ------------------------------------------------ */
static int save_and_load(const char *path)
{
    unsigned char *buf;
    size_t len;
    int rc = build_ckpt(&buf, &len, 0, 0);
    if (rc)
        return rc;
    rc = rmtl__write_file_atomic(path, buf, len);
    rmtl__free(buf);
    if (rc)
        return rc;
    char *fb;
    size_t flen;
    rc = rmtl__ckpt_read_file(&fb, &flen, path);
    if (rc)
        return rc;
    rc = verify_ckpt(fb, flen);
    rmtl__free(fb);
    return rc;
}

START_TEST(test_allocation_failures)
{
    char dir[64], path[128];
    make_tmpdir(dir);
    snprintf(path, sizeof path, "%s/m.rmtl", dir);
    size_t n;
    for (n = 1; n < 10000; n++) {
        rmtl__alloc_fail_after(n);
        int rc = save_and_load(path);
        size_t made = rmtl__alloc_fail_after(0);
        if (made < n) { /* no failure was injected: the run must succeed */
            ck_assert_msg(rc == 0, "rc %d (%s)", rc, rmtl_last_error());
            break;
        }
        ck_assert_msg(rc == RMTL_ENOMEM, "failing allocation %zu: rc %d (%s)", n, rc,
                      rmtl_last_error());
    }
    ck_assert_uint_gt(n, 10); /* the loop really injected failures */
    ck_assert_uint_lt(n, 10000);
    ck_assert_uint_le(dir_entries(dir), 1);
    remove_tmpdir(dir);
}
END_TEST

Suite *rmtl_test_ckpt_suite(void)
{
    Suite *s = suite_create("ckpt");
    TCase *tc = tcase_create("container");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_crc32);
    tcase_add_test(tc, test_header_layout);
    tcase_add_test(tc, test_roundtrip_buffer);
    tcase_add_test(tc, test_roundtrip_file_and_determinism);
    tcase_add_test(tc, test_every_flipped_byte_detected);
    tcase_add_test(tc, test_every_truncation_detected);
    tcase_add_test(tc, test_header_errors);
    tcase_add_test(tc, test_section_table_errors);
    tcase_add_test(tc, test_unknown_sections);
    tcase_add_test(tc, test_writer_edge_cases);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("tensors");
    tcase_set_timeout(tt, 60);
    tcase_add_test(tt, test_tensor_lookup_errors);
    tcase_add_test(tt, test_tensor_writer_errors);
    tcase_add_test(tt, test_tensor_payload_errors);
    tcase_add_test(tt, test_tensor_payload_damage);
    suite_add_tcase(s, tt);
    TCase *tf = tcase_create("files");
    tcase_set_timeout(tf, 60);
    tcase_add_test(tf, test_atomic_write_failures);
    tcase_add_test(tf, test_relative_path);
    tcase_add_test(tf, test_allocation_failures);
    suite_add_tcase(s, tf);
    return s;
}
