#include "overlay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static covidcam_status read_all(int fd, unsigned char **png, size_t *len, char *err,
                                size_t err_size)
{
    struct stat st;
    if (fstat(fd, &st) || st.st_size <= 0) {
        snprintf(err, err_size, "cannot read the overlay back: %s", strerror(errno));
        return COVIDCAM_ERR_IO;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n);
    if (!buf) {
        snprintf(err, err_size, "no memory for a %zu-byte overlay", n);
        return COVIDCAM_ERR_OUT_OF_MEMORY;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, err_size, "cannot read the overlay back: %s",
                     r ? strerror(errno) : "short file");
            free(buf);
            return COVIDCAM_ERR_IO;
        }
        got += (size_t)r;
    }
    *png = buf;
    *len = n;
    return COVIDCAM_OK;
}

covidcam_status overlay_png(const covidcam_heatmap *h, float image_weight, const char *label,
                            unsigned char **png, size_t *len, char *err, size_t err_size)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    int k = snprintf(path, sizeof path, "%s/covidcam-overlay-XXXXXX", dir && *dir ? dir : "/tmp");
    if (k < 0 || (size_t)k >= sizeof path) {
        snprintf(err, err_size, "TMPDIR is too long");
        return COVIDCAM_ERR_IO;
    }
    int fd = mkstemp(path);
    if (fd < 0) {
        snprintf(err, err_size, "cannot create a temporary file in %s: %s", path,
                 strerror(errno));
        return COVIDCAM_ERR_IO;
    }
    /* The library opens the file by name; the descriptor keeps it readable
     * after the name is gone. */
    covidcam_status rc =
        label ? covidcam_heatmap_write_labelled_overlay(h, path, image_weight, label, err, err_size)
              : covidcam_heatmap_write_overlay(h, path, image_weight, err, err_size);
    unlink(path);
    if (!rc)
        rc = read_all(fd, png, len, err, err_size);
    close(fd);
    return rc;
}
