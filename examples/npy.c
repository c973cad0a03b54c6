#include "npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* numpy aligns the data of v1.0 files to 64 bytes so it can be memory-mapped. */
#define NPY_ALIGN 64
#define NPY_PREAMBLE 10 /* magic (6) + version (2) + header length (2) */

/* The header: the dict, space padding and a final '\n'; its length in *len. */
static int npy_header(char *buf, size_t size, int rows, int cols, size_t *len)
{
    int n = snprintf(buf, size, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }",
                     rows, cols);
    if (n < 0 || (size_t)n + 1 >= size)
        return -1;
    size_t total = ((NPY_PREAMBLE + (size_t)n + 1 + NPY_ALIGN - 1) / NPY_ALIGN) * NPY_ALIGN;
    size_t hlen = total - NPY_PREAMBLE;
    if (hlen >= size)
        return -1;
    memset(buf + n, ' ', hlen - (size_t)n - 1);
    buf[hlen - 1] = '\n';
    *len = hlen;
    return 0;
}

/* Little-endian bytes whatever the host order. */
static void put_f32le(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(u >> (8 * i));
}

static int write_data(FILE *f, const float *data, size_t n)
{
    uint8_t chunk[4096];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        put_f32le(chunk + used, data[i]);
        used += 4;
        if (used == sizeof chunk || i + 1 == n) {
            if (fwrite(chunk, 1, used, f) != used)
                return -1;
            used = 0;
        }
    }
    return 0;
}

int npy_write_f32(const char *path, const float *data, int rows, int cols)
{
    char header[256];
    size_t hlen;
    if (rows < 0 || cols < 0 || npy_header(header, sizeof header, rows, cols, &hlen)) {
        errno = EINVAL;
        return -1;
    }
    uint8_t pre[NPY_PREAMBLE] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff),
                                 (uint8_t)(hlen >> 8)};
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int rc = 0;
    if (fwrite(pre, 1, sizeof pre, f) != sizeof pre || fwrite(header, 1, hlen, f) != hlen ||
        write_data(f, data, (size_t)rows * (size_t)cols))
        rc = -1;
    int saved = errno;
    if (fclose(f) && rc == 0)
        return -1;
    errno = saved;
    return rc;
}
