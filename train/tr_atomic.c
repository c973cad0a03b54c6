#include "tr_atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* fsync the directory holding `path`, so the rename itself survives a crash. */
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static covidcam_status fail_tmp(char *tmp, cc_err *e, const char *what, const char *path,
                                int err)
{
    remove(tmp);
    free(tmp);
    return cc_fail(e, COVIDCAM_ERR_IO, "cannot %s %s: %s", what, path, strerror(err));
}

covidcam_status tr_atomic_write(const char *path, int (*fn)(FILE *, void *), void *arg,
                                cc_err *e)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp)
        return cc_fail(e, COVIDCAM_ERR_OUT_OF_MEMORY, "out of memory writing %s", path);
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int err = errno;
        free(tmp);
        return cc_fail(e, COVIDCAM_ERR_IO, "cannot create %s: %s", path, strerror(err));
    }
    errno = 0;
    int bad = fn(f, arg) != 0;
    bad = bad || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int err = errno ? errno : EIO;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (bad)
        return fail_tmp(tmp, e, "write", path, err);
    if (rename(tmp, path) != 0)
        return fail_tmp(tmp, e, "replace", path, errno);
    free(tmp);
    if (sync_dir(path) != 0)
        return cc_fail(e, COVIDCAM_ERR_IO, "cannot sync the directory of %s: %s", path,
                       strerror(errno));
    return COVIDCAM_OK;
}
