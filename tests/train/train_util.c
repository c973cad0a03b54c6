#define _XOPEN_SOURCE 700
#include "train_util.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "png_io.h"

const char *tt_tempdir(void)
{
    static char buf[8][64];
    static int slot;
    char *b = buf[slot++ & 7];
    snprintf(b, 64, "/tmp/cc_train_test_XXXXXX");
    if (!mkdtemp(b)) {
        perror("mkdtemp");
        abort();
    }
    return b;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tt_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tt_mkdir(const char *root, const char *cls)
{
    char p[4096];
    mkdir(root, 0777);
    snprintf(p, sizeof p, "%s/%s", root, cls);
    mkdir(p, 0777);
}

void tt_write_class(const char *root, const char *cls, int c, int n, int size, uint64_t seed)
{
    char p[4096];
    uint8_t *px = malloc((size_t)size * size);
    if (!px)
        abort();
    tt_mkdir(root, cls);
    uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull + (uint64_t)c;
    for (int i = 0; i < n; i++) {
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                int v = 90 + (int)((s >> 33) % 60);
                /* class c: a bright horizontal band in the c-th quarter */
                if (y * 4 / size == c % 4)
                    v += 100;
                px[y * size + x] = (uint8_t)(v > 255 ? 255 : v);
            }
        snprintf(p, sizeof p, "%s/%s/%03d.png", root, cls, i);
        if (cc_png_write_file(p, px, size, size, 1, NULL) != COVIDCAM_OK)
            abort();
    }
    free(px);
}

void tt_write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n)
        abort();
    fclose(f);
}

double tt_rel_err(const float *got, const float *want, size_t n)
{
    double num = 0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)got[i] - want[i]));
        den = fmax(den, fabs((double)want[i]));
    }
    return num / den;
}
