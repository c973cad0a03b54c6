#include "file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static covidcam_status errno_fail(cc_err *e, const char *what, const char *path, int err)
{
    char msg[128];
    if (strerror_r(err, msg, sizeof msg) != 0)
        snprintf(msg, sizeof msg, "error %d", err);
    return cc_fail(e, COVIDCAM_ERR_IO, "cannot %s %s: %s", what, path, msg);
}

static const char *kind_of(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "a special file";
}

/* Open without blocking (opening a FIFO with no writer would wait forever),
 * refuse anything but a regular file of at most max_bytes, then switch the
 * descriptor back to blocking reads. */
static covidcam_status open_regular(const char *path, size_t max_bytes, int *fd_out,
                                    size_t *size, cc_err *e)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno_fail(e, "open", path, errno);
    struct stat sb;
    covidcam_status st = COVIDCAM_OK;
    if (fstat(fd, &sb) != 0)
        st = errno_fail(e, "stat", path, errno);
    else if (!S_ISREG(sb.st_mode))
        st = cc_fail(e, COVIDCAM_ERR_IO, "cannot read %s: is %s, not a regular file", path,
                     kind_of(sb.st_mode));
    else if ((uintmax_t)sb.st_size > max_bytes)
        st = cc_fail(e, COVIDCAM_ERR_LIMIT, "%s is %jd bytes; the limit is %zu", path,
                     (intmax_t)sb.st_size, max_bytes);
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
        st = errno_fail(e, "read", path, errno);
    if (st != COVIDCAM_OK) {
        close(fd);
        return st;
    }
    *fd_out = fd;
    *size = (size_t)sb.st_size;
    return COVIDCAM_OK;
}

/* Read exactly n bytes at offset off. */
static covidcam_status read_at(int fd, const char *path, uint8_t *buf, size_t off, size_t n,
                               cc_err *e)
{
    while (n > 0) {
        ssize_t got = pread(fd, buf + off, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n,
                            (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return errno_fail(e, "read", path, errno);
        if (got == 0)
            return cc_fail(e, COVIDCAM_ERR_IO, "cannot read %s: file shrank while reading", path);
        off += (size_t)got;
        n -= (size_t)got;
    }
    return COVIDCAM_OK;
}

/* Grow *buf to n bytes and fill it from *have on. */
static covidcam_status fill_to(int fd, const char *path, uint8_t **buf, size_t *have, size_t n,
                               cc_err *e)
{
    uint8_t *nb = realloc(*buf, n ? n : 1);
    if (!nb)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "no memory to read %s (%zu bytes)", path,
                       n);
    *buf = nb;
    covidcam_status st = read_at(fd, path, nb, *have, n - *have, e);
    if (st == COVIDCAM_OK)
        *have = n;
    return st;
}

/* Let `check` see growing prefixes until it is satisfied. Only the prefix is
 * allocated until then, so a huge file with a bad header costs nothing. */
static covidcam_status check_prefix(int fd, const char *path, uint8_t **buf, size_t size,
                                    size_t first, cc_prefix_check check, void *ctx, size_t *have,
                                    cc_err *e)
{
    size_t want = first < size ? first : size;
    for (;;) {
        covidcam_status st = fill_to(fd, path, buf, have, want, e);
        if (st != COVIDCAM_OK)
            return st;
        size_t more = want;
        if ((st = check(*buf, *have, size, &more, ctx, e)) != COVIDCAM_OK)
            return st;
        if (more <= *have || *have == size)
            return COVIDCAM_OK;
        want = more < size ? more : size;
    }
}

/* Open path and read the prefix `check` accepts (none without a check): the
 * descriptor, the prefix and the size; nothing left open or allocated on
 * failure. */
static covidcam_status open_prefix(const char *path, size_t max_bytes, size_t first,
                                   cc_prefix_check check, void *ctx, int *fd_out,
                                   uint8_t **buf_out, size_t *have_out, size_t *size_out,
                                   cc_err *e)
{
    int fd = -1;
    size_t size = 0, have = 0;
    uint8_t *buf = NULL;
    covidcam_status st = open_regular(path, max_bytes, &fd, &size, e);
    if (st != COVIDCAM_OK)
        return st;
    if (check && (st = check_prefix(fd, path, &buf, size, first, check, ctx, &have, e))) {
        close(fd);
        free(buf);
        return st;
    }
    *fd_out = fd;
    *buf_out = buf;
    *have_out = have;
    *size_out = size;
    return COVIDCAM_OK;
}

covidcam_status cc_read_file_checked(const char *path, size_t max_bytes, size_t first,
                                     cc_prefix_check check, void *ctx, uint8_t **data,
                                     size_t *len, cc_err *e)
{
    if (!path || !data || !len)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "NULL path or output");
    int fd = -1;
    size_t size = 0, have = 0;
    uint8_t *buf = NULL;
    covidcam_status st = open_prefix(path, max_bytes, first, check, ctx, &fd, &buf, &have,
                                     &size, e);
    if (st != COVIDCAM_OK)
        return st;
    st = fill_to(fd, path, &buf, &have, size, e);
    close(fd);
    if (st != COVIDCAM_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    *len = size;
    return COVIDCAM_OK;
}

covidcam_status cc_open_checked(const char *path, size_t max_bytes, size_t first,
                                cc_prefix_check check, void *ctx, int *fd, uint8_t **head,
                                size_t *have, size_t *size, cc_err *e)
{
    if (!path || !check || !fd || !head || !have || !size)
        return cc_fail(e, COVIDCAM_ERR_INVALID_ARGUMENT, "NULL path, check or output");
    return open_prefix(path, max_bytes, first, check, ctx, fd, head, have, size, e);
}

covidcam_status cc_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *len,
                             cc_err *e)
{
    return cc_read_file_checked(path, max_bytes, 0, NULL, NULL, data, len, e);
}
