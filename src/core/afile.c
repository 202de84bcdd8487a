/* Atomic file replacement through a temporary file (docs/reliability.md, "Durability"). */
#include "core/afile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/ckpt.h"
#include "core/internal.h"

static void rmtl__afile_release(rmtl__afile *f)
{
    rmtl__free(f->path);
    rmtl__free(f->buf);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

int rmtl__afile_open(rmtl__afile *f, const char *path, size_t bufsize)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    RMTL__CHECK_ARG(path && *path, "path");
    /* Every name is made up front: no allocation may fail once the old
     * file has been replaced. */
    size_t plen = strlen(path);
    if (plen > SIZE_MAX / 3 - 8)
        return rmtl__error(RMTL_EINVAL, "path too long");
    char *names = rmtl__malloc(3 * plen + 9);
    if (!names)
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", path);
    f->path = names;
    memcpy(f->path, path, plen + 1);
    f->tmp = f->path + plen + 1;
    memcpy(f->tmp, path, plen);
    memcpy(f->tmp + plen, ".tmp", 5);
    f->dir = f->tmp + plen + 5;
    const char *slash = strrchr(path, '/');
    if (!slash)
        strcpy(f->dir, ".");
    else if (slash == path)
        strcpy(f->dir, "/");
    else {
        memcpy(f->dir, path, (size_t)(slash - path));
        f->dir[slash - path] = '\0';
    }
    if (bufsize && !(f->buf = rmtl__malloc(bufsize))) {
        rmtl__afile_release(f);
        return rmtl__error(RMTL_ENOMEM, "%s: out of memory", path);
    }
    f->cap = bufsize;
    do
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    while (f->fd < 0 && errno == EINTR);
    if (f->fd < 0) {
        int rc = rmtl__error(RMTL_EIO, "%s: cannot create %s: %s", path, f->tmp, strerror(errno));
        rmtl__afile_release(f);
        return rc;
    }
    return 0;
}

static void rmtl__afile_put(rmtl__afile *f, const unsigned char *p, size_t n)
{
    while (n > 0 && !f->err) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t k = write(f->fd, p, chunk);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            f->err = k < 0 ? errno : EIO;
            break;
        }
        p += k, n -= (size_t)k;
    }
}

static void rmtl__afile_flush(rmtl__afile *f)
{
    rmtl__afile_put(f, (const unsigned char *)f->buf, f->len);
    f->len = 0;
}

int rmtl__afile_write(rmtl__afile *f, const void *p, size_t n)
{
    if (n == 0)
        return f->err ? RMTL_EIO : 0;
    if (f->len + n <= f->cap) {
        memcpy(f->buf + f->len, p, n);
        f->len += n;
    } else {
        rmtl__afile_flush(f);
        if (n < f->cap) {
            memcpy(f->buf, p, n);
            f->len = n;
        } else {
            rmtl__afile_put(f, p, n);
        }
    }
    return f->err ? RMTL_EIO : 0;
}

/* Syncs the directory so that the rename itself survives a power loss.
 * EINVAL means the file system cannot sync directories at all, which is no
 * failure of this write. */
static int rmtl__fsync_dir(const char *path, const char *dir)
{
    int fd;
    do
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return rmtl__error(RMTL_EIO, "%s: written, but cannot open directory %s to sync it: %s", path,
                           dir, strerror(errno));
    int rc = fsync(fd), err = errno;
    close(fd);
    if (rc != 0 && err != EINVAL)
        return rmtl__error(RMTL_EIO, "%s: written, but cannot sync directory %s: %s", path, dir,
                           strerror(err));
    return 0;
}

int rmtl__afile_commit(rmtl__afile *f)
{
    rmtl__afile_flush(f);
    const char *what = NULL;
    int err = 0;
    if (f->err)
        what = "cannot write", err = f->err;
    if (!what && fsync(f->fd) != 0)
        what = "cannot sync", err = errno;
    /* close() is not retried on EINTR: on Linux the descriptor is gone. */
    if (close(f->fd) != 0 && !what && errno != EINTR)
        what = "cannot close", err = errno;
    f->fd = -1;
    if (!what && rename(f->tmp, f->path) != 0)
        what = "cannot rename", err = errno;
    int rc;
    if (what) {
        unlink(f->tmp);
        rc = rmtl__error(RMTL_EIO, "%s: %s %s: %s", f->path, what, f->tmp, strerror(err));
    } else {
        rc = rmtl__fsync_dir(f->path, f->dir);
    }
    rmtl__afile_release(f);
    return rc;
}

void rmtl__afile_abort(rmtl__afile *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        unlink(f->tmp);
    }
    rmtl__afile_release(f);
}

int rmtl__write_file_atomic(const char *path, const void *buf, size_t len)
{
    RMTL__CHECK_ARG(path && *path, "path");
    RMTL__CHECK_ARG(buf || len == 0, "buf");
    rmtl__afile f;
    int rc = rmtl__afile_open(&f, path, 0);
    if (rc)
        return rc;
    rmtl__afile_write(&f, buf, len);
    return rmtl__afile_commit(&f);
}
