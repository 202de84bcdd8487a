/* Streaming atomic file replacement: write path.tmp through a buffer,
 * then fsync it, rename it over path and fsync the directory. Readers of
 * path see the old file or the complete new one, never a part. */
#ifndef RMTL_CORE_AFILE_H
#define RMTL_CORE_AFILE_H

#include <stddef.h>

typedef struct rmtl__afile {
    char *path, *tmp, *dir; /* one owned block: path, path.tmp, its directory */
    int fd;                 /* -1 once closed */
    int err;                /* first write error (errno), sticky */
    char *buf;              /* owned write buffer, NULL when unbuffered */
    size_t len, cap;
} rmtl__afile;

/* Creates path.tmp (truncating a stale one) with a `bufsize`-byte buffer
 * (0: every write goes straight to the file). RMTL_EIO naming the path and
 * the system's reason, RMTL_ENOMEM; on failure f needs no cleanup. */
int rmtl__afile_open(rmtl__afile *f, const char *path, size_t bufsize);
/* Appends n bytes. A failed write is remembered and reported by commit,
 * so callers may check only there; the return value (0 or RMTL_EIO) lets
 * them stop early. */
int rmtl__afile_write(rmtl__afile *f, const void *p, size_t n);
/* Flushes, syncs and renames path.tmp over path, then syncs the directory.
 * Any failure gives RMTL_EIO naming the path, removes path.tmp and leaves
 * an old file at path untouched. Always releases f. */
int rmtl__afile_commit(rmtl__afile *f);
/* Removes path.tmp and releases f; for error paths (no message set). */
void rmtl__afile_abort(rmtl__afile *f);

#endif
