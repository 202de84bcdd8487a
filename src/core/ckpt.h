/* The versioned checkpoint container (docs/checkpoint-format.md):
 * a 32-byte header, a table of tagged sections and the sections, every
 * byte covered by a CRC-32 or required to be zero padding. Model, agent and
 * fusion save/load build their payloads and hand them to this layer. */
#ifndef RMTL_CORE_CKPT_H
#define RMTL_CORE_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"

/* A tag is four ASCII characters; stored as a little-endian u32 the file
 * shows them in reading order ("CONF"). */
#define RMTL__TAG(a, b, c, d)                                                   \
    ((uint32_t)(unsigned char)(a) | (uint32_t)(unsigned char)(b) << 8 |         \
     (uint32_t)(unsigned char)(c) << 16 | (uint32_t)(unsigned char)(d) << 24)

#define RMTL__TAG_CONF RMTL__TAG('C', 'O', 'N', 'F') /* canonical YAML config        */
#define RMTL__TAG_ARCH RMTL__TAG('A', 'R', 'C', 'H') /* network architecture         */
#define RMTL__TAG_TENS RMTL__TAG('T', 'E', 'N', 'S') /* named tensors (core/tensors.h) */
#define RMTL__TAG_FUSE RMTL__TAG('F', 'U', 'S', 'E') /* fusion actor/critics         */
#define RMTL__TAG_META RMTL__TAG('M', 'E', 'T', 'A') /* free-form provenance         */
#define RMTL__TAG_OPTS RMTL__TAG('O', 'P', 'T', 'S') /* optimiser state (Adam moments) */
#define RMTL__TAG_RLST RMTL__TAG('R', 'L', 'S', 'T') /* RL state: targets, steps, RNG  */
#define RMTL__TAG_DATA RMTL__TAG('D', 'A', 'T', 'A') /* dataset schema / vocabularies */
#define RMTL__TAG_MODL RMTL__TAG('M', 'O', 'D', 'L') /* an actor's model checkpoint  */

/* The first word of the RLST section of a critic's, actor's or agent's
 * checkpoint ("RMRL"); the third is its kind, enum rmtl__ckpt_kind. A
 * model's RLST starts with its version instead, a small number. */
#define RMTL__RL_STATE_MAGIC RMTL__TAG('R', 'M', 'R', 'L')

/* What a checkpoint holds. The RL kinds are the values written in RLST. */
enum rmtl__ckpt_kind {
    RMTL__CKPT_UNKNOWN = 0, /* damaged, or not one of ours */
    RMTL__CKPT_CRITIC = 1,
    RMTL__CKPT_ACTOR = 2,
    RMTL__CKPT_AGENT = 3,
    RMTL__CKPT_MODEL = 4,
    RMTL__CKPT_FUSION = 5
};
/* dataset cache files (data/cache.c): shape, row arrays, block CRCs */
#define RMTL__TAG_DSET RMTL__TAG('D', 'S', 'E', 'T')

#define RMTL__CKPT_VERSION 1u         /* format_version this library writes and reads */
#define RMTL__CKPT_HEADER_SIZE 32u
#define RMTL__CKPT_ENTRY_SIZE 32u
#define RMTL__CKPT_ALIGN 64u
#define RMTL__CKPT_F_TRAINING 1u /* header flag: contains training state     */
#define RMTL__CKPT_S_REQUIRED 1u /* section flag: readers must understand it */

/* "CONF" for messages; bytes outside printable ASCII show as '?'. */
void rmtl__ckpt_tag_str(uint32_t tag, char out[5]);

/* --- writer ---------------------------------------------------------- */
typedef struct rmtl__ckpt_wsec {
    uint32_t tag, flags;
    unsigned char *data; /* owned */
    size_t len;
} rmtl__ckpt_wsec;

typedef struct rmtl__ckpt_writer {
    uint32_t flags; /* header flags, RMTL__CKPT_F_* */
    rmtl__ckpt_wsec *sec;
    size_t n, cap;
} rmtl__ckpt_writer;

/* Sections are written in the order they are added, so equal inputs give
 * byte-identical files. [per-object] */
void rmtl__ckpt_writer_init(rmtl__ckpt_writer *w, uint32_t flags);
void rmtl__ckpt_writer_free(rmtl__ckpt_writer *w); /* accepts a zeroed writer */
/* Copies len bytes. RMTL_EINVAL for a tag added twice, RMTL_ENOMEM. */
int rmtl__ckpt_add_section(rmtl__ckpt_writer *w, uint32_t tag, int required, const void *data,
                           size_t len);
/* Takes b's bytes without copying. b is always left empty (freed on
 * failure), so callers need no cleanup; a b that failed while being filled
 * gives RMTL_ENOMEM. */
int rmtl__ckpt_add_wbuf(rmtl__ckpt_writer *w, uint32_t tag, int required, rmtl__wbuf *b);
/* Lays out the whole file in one new buffer (free with rmtl__free);
 * *out = NULL on failure. The writer is unchanged and still needs _free. */
int rmtl__ckpt_finish(const rmtl__ckpt_writer *w, unsigned char **out, size_t *len);

/* Replaces `path` atomically: writes path.tmp, fsyncs it, renames it over
 * path and fsyncs the directory. Any failure gives RMTL_EIO naming the
 * path and the system's reason, removes path.tmp and leaves a previous
 * file at path untouched (RMTL_ENOMEM if the name cannot be built). Two
 * writers of one path at once share path.tmp: the host serializes them.
 * Built on core/afile.h, which streams instead. [thread-safe] */
int rmtl__write_file_atomic(const char *path, const void *buf, size_t len);

/* Streams the container of sections sec[0..n) (their `data` borrowed) to
 * f without building it in memory: the bytes rmtl__ckpt_finish() would
 * lay out. RMTL_EIO (f then needs rmtl__afile_abort), RMTL_ENOMEM. */
struct rmtl__afile;
int rmtl__ckpt_stream(struct rmtl__afile *f, uint32_t flags, const rmtl__ckpt_wsec *sec, size_t n);

/* --- reader ---------------------------------------------------------- */
typedef struct rmtl__ckpt_section {
    uint32_t tag, flags;
    const unsigned char *data; /* borrowed from the buffer given to open */
    size_t len;
    uint32_t crc; /* from the table (checked by open unless left unchecked) */
    uint64_t off; /* where the section starts in the file */
} rmtl__ckpt_section;

typedef struct rmtl__ckpt_reader {
    uint32_t version, flags; /* header fields */
    rmtl__ckpt_section *sec;  /* the known sections, sorted by tag */
    size_t n;
} rmtl__ckpt_reader;

/* Validates the whole container before anything in it is used: structure,
 * every CRC, padding, duplicate and unknown sections. known_tags lists the
 * sections the caller understands; any other section is skipped if
 * optional, RMTL_EVERSION if required. Damage gives RMTL_EFORMAT, a newer
 * format_version RMTL_EVERSION. buf is borrowed and must outlive r (no
 * alignment is assumed). Allocates at most one entry per section, bounded
 * by len. On failure r is zeroed; rmtl__ckpt_close is safe either way.
 * [thread-safe] for distinct readers. */
int rmtl__ckpt_open(rmtl__ckpt_reader *r, const void *buf, size_t len, const uint32_t *known_tags,
                    size_t n_known);
/* rmtl__ckpt_open() leaving the CRCs of the sections tagged in
 * `unchecked` to the caller: a memory-mapped file is then read only where
 * the caller looks (one shard of a large section). */
int rmtl__ckpt_open_partial(rmtl__ckpt_reader *r, const void *buf, size_t len,
                            const uint32_t *known_tags, size_t n_known,
                            const uint32_t *unchecked, size_t n_unchecked);
/* The same for a file of `len` bytes of which buf holds the first `avail`
 * (at least the header and the table: a reader that streams the rest):
 * sections beyond `avail` get data NULL and their CRCs and padding are the
 * caller's to check. */
int rmtl__ckpt_open_head(rmtl__ckpt_reader *r, const void *buf, size_t avail, size_t len,
                         const uint32_t *known_tags, size_t n_known, const uint32_t *unchecked,
                         size_t n_unchecked);
void rmtl__ckpt_close(rmtl__ckpt_reader *r);
/* Total bytes of the known sections: a bound on what the checkpoint can
 * hold, to refuse sizes it declares but cannot contain before allocating. */
size_t rmtl__ckpt_payload(const rmtl__ckpt_reader *r);
/* 1 if the checkpoint has the (known) section, else 0. */
int rmtl__ckpt_has(const rmtl__ckpt_reader *r, uint32_t tag);
/* The bytes of a known section (borrowed). A missing section gives
 * RMTL_EFORMAT "checkpoint has no 'XXXX' section" with *data = NULL,
 * *len = 0; test with rmtl__ckpt_has first where a section is optional. */
int rmtl__ckpt_find(const rmtl__ckpt_reader *r, uint32_t tag, const void **data, size_t *len);

/* Reads a whole checkpoint file (free *buf with rmtl__free): RMTL_EIO with
 * the path and the reason, RMTL_ENOMEM. */
int rmtl__ckpt_read_file(char **buf, size_t *len, const char *path);

/* --- the loaders' shared steps --------------------------------------- */
/* The kind of checkpoint in buf (the container fully checked, every
 * section known), RMTL__CKPT_UNKNOWN if it is damaged or not ours. Leaves
 * this thread's message as it was. */
int rmtl__ckpt_kind(const void *buf, size_t len);
/* For a loader of kind `want` that failed with rc on buf: if buf holds a
 * checkpoint of another kind, RMTL_EFORMAT saying which kind it holds and
 * which call loads it; otherwise (or if rc is neither RMTL_EFORMAT nor
 * RMTL_EVERSION) rc with its message unchanged. */
int rmtl__ckpt_kind_error(const void *buf, size_t len, int want, int rc);

/* Parses a whole checkpoint into *out (a `T **`): a kind's
 * rmtl_T_load_buffer. */
typedef int (*rmtl__ckpt_parse_fn)(void *out, const void *buf, size_t len);
/* The one checkpoint file loader behind every rmtl_*_load: reads path and
 * hands its bytes to parse; every failure's message starts with the path.
 * fn names the public call for a NULL path. */
int rmtl__ckpt_load_file(void *out, const char *path, rmtl__ckpt_parse_fn parse, const char *fn);

#endif
