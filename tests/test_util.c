#include "test_util.h"

#include <cpuid.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

const char *tu_fixture(const char *name)
{
    static char buf[8][4096];
    static int slot;
    char *b = buf[slot++ & 7];
    snprintf(b, 4096, "%s/%s", env_or("CC_FIXTURES", "tests/fixtures"), name);
    return b;
}

const char *tu_shared(const char *rel)
{
    static char buf[8][4096];
    static int slot;
    char *b = buf[slot++ & 7];
    snprintf(b, 4096, "%s/%s", env_or("CC_SHARED_DATA", "../shared/data/cxr"), rel);
    return b;
}

int tu_have_shared(void)
{
    struct stat st;
    return stat(tu_shared("val"), &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tu_list_pngs(const char *dir, char **names, int n)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t cap = 64, cnt = 0;
    char **all = malloc(cap * sizeof *all);
    struct dirent *de;
    while (all && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".png") != 0)
            continue;
        if (cnt == cap) {
            char **tmp = realloc(all, 2 * cap * sizeof *all);
            if (!tmp)
                break;
            all = tmp;
            cap *= 2;
        }
        all[cnt++] = strdup(de->d_name);
    }
    closedir(d);
    if (!all)
        return 0;
    qsort(all, cnt, sizeof *all, cmp_str);
    int got = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (got < n) {
            size_t l = strlen(dir) + strlen(all[i]) + 2;
            names[got] = malloc(l);
            snprintf(names[got], l, "%s/%s", dir, all[i]);
            got++;
        }
        free(all[i]);
    }
    free(all);
    return got;
}

unsigned char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(l > 0 ? (size_t)l : 1);
    if (b && l > 0 && fread(b, 1, (size_t)l, f) != (size_t)l) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b)
        *len = (size_t)l;
    return b;
}

#include "safetensors.h"

float *tu_expected(const char *name, size_t *n)
{
    return tu_expected_in("expected.safetensors", name, n);
}

float *tu_expected_in(const char *file, const char *name, size_t *n)
{
    size_t len = 0;
    unsigned char *buf = tu_read_file(tu_fixture(file), &len);
    if (!buf)
        return NULL;
    cc_safetensors st;
    float *out = NULL;
    if (cc_st_parse(buf, len, &st, NULL) == COVIDCAM_OK) {
        const cc_st_tensor *t = cc_st_find(&st, name);
        if (t && t->dtype == CC_DT_F32) {
            size_t cnt = cc_st_numel(t);
            out = malloc((cnt ? cnt : 1) * sizeof *out);
            if (out) {
                cc_st_to_f32(t, out);
                if (n)
                    *n = cnt;
            }
        }
        cc_st_free(&st);
    }
    free(buf);
    return out;
}

double tu_max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] > b[i] ? (double)a[i] - b[i] : (double)b[i] - a[i];
        if (d != d)
            return 1e30; /* NaN never passes */
        if (d > m)
            m = d;
    }
    return m;
}

/* The CPU's own answer (CPUID, and XGETBV for the OS saving the registers):
 * AVX512-BF16 is leaf 7 subleaf 1 EAX bit 5, AMX-BF16 leaf 7 EDX bit 22.
 * Not /proc/cpuinfo: under valgrind the process sees an emulated CPU without
 * AVX-512, as oneDNN does, while /proc/cpuinfo still lists the host's. */
static int cpu_has_native_bf16(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE */
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    unsigned long long xcr0 = ((unsigned long long)hi << 32) | lo;
    int zmm = (xcr0 & 0xe6) == 0xe6;         /* SSE, AVX, opmask, ZMM state */
    int tiles = (xcr0 & 0x60000) == 0x60000; /* AMX tile config and data */
    int avx512_bf16 = 0, amx_bf16 = 0;
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d))
        avx512_bf16 = zmm && (a & (1u << 5));
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
        amx_bf16 = tiles && (d & (1u << 22));
    return avx512_bf16 || amx_bf16;
}

int tu_capped_below_bf16(void)
{
    /* The caps oneDNN 2.6 accepts that leave no native bf16. */
    static const char *const below[] = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE",
                                        "AVX512_CORE_VNNI", "AVX512_MIC", "AVX512_MIC_4OPS"};
    const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
    if (!cap)
        cap = getenv("DNNL_MAX_CPU_ISA");
    for (size_t i = 0; cap && i < sizeof below / sizeof below[0]; i++)
        if (!strcasecmp(cap, below[i]))
            return 1;
    return 0;
}

int tu_expect_native_bf16(void)
{
    return cpu_has_native_bf16() && !tu_capped_below_bf16();
}
