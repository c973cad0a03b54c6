#include "tr_util.h"

#include "tr_atomic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

covidcam_status tr_write_atomic(const char *path, int (*fn)(FILE *, void *), void *arg,
                                cc_err *e)
{
    return tr_atomic_write(path, fn, arg, e);
}

void tr_path(char *buf, size_t n, const char *dir, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

covidcam_status tr_mkdirs(const char *dir, cc_err *e)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return cc_fail(e, COVIDCAM_ERR_IO, "cannot create %s: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
        return cc_fail(e, COVIDCAM_ERR_IO, "cannot create %s: %s", p, strerror(errno));
    struct stat sb;
    if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cc_fail(e, COVIDCAM_ERR_IO, "%s is not a folder", p);
    return COVIDCAM_OK;
}

double tr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int tr_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}
