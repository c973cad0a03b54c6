#include "alloc_wrap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
char *__real_strdup(const char *s);
void __real_free(void *p);

/* Single-threaded bookkeeping: the tests that arm the wrapper run one call at
 * a time (oneDNN's worker threads allocate inside libdnnl, which is not
 * wrapped). An open-addressing set of live pointers. */
#define AW_SLOTS (1u << 16)
#define AW_TOMB ((void *)1)

static void *live_set[AW_SLOTS];
static long live_count;
static int armed;
static long fail_at, count;
static int failed;
static size_t peak, cap;

static size_t slot_of(const void *p)
{
    uintptr_t v = (uintptr_t)p >> 4;
    return (size_t)((v * 0x9E3779B97F4A7C15ull) >> 48) & (AW_SLOTS - 1);
}

static void track(void *p)
{
    if (!p)
        return;
    for (size_t i = slot_of(p), k = 0; k < AW_SLOTS; k++, i = (i + 1) & (AW_SLOTS - 1)) {
        if (!live_set[i] || live_set[i] == AW_TOMB) {
            live_set[i] = p;
            live_count++;
            return;
        }
    }
    abort(); /* more than 65536 live blocks: enlarge AW_SLOTS */
}

/* Forget p; 1 if it was tracked. */
static int untrack(void *p)
{
    if (!p || !live_count)
        return 0;
    for (size_t i = slot_of(p), k = 0; k < AW_SLOTS; k++, i = (i + 1) & (AW_SLOTS - 1)) {
        if (!live_set[i])
            return 0;
        if (live_set[i] == p) {
            live_set[i] = AW_TOMB;
            live_count--;
            return 1;
        }
    }
    return 0;
}

/* 1 if this request must fail. */
static int should_fail(size_t n)
{
    if (!armed)
        return 0;
    count++;
    if (n > peak)
        peak = n;
    if ((fail_at && count == fail_at) || (cap && n > cap)) {
        failed |= fail_at && count == fail_at;
        return 1;
    }
    return 0;
}

void aw_arm(long n)
{
    memset(live_set, 0, sizeof live_set);
    live_count = 0;
    fail_at = n;
    count = 0;
    failed = 0;
    peak = 0;
    cap = 0;
    armed = 1;
}

void aw_disarm(void)
{
    armed = 0;
}

long aw_count(void)
{
    return count;
}

int aw_failed(void)
{
    return failed;
}

size_t aw_peak_request(void)
{
    return peak;
}

long aw_live(void)
{
    return live_count;
}

void aw_cap(size_t bytes)
{
    cap = bytes;
}

void *__wrap_malloc(size_t n)
{
    if (should_fail(n)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_malloc(n);
    if (armed)
        track(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (should_fail(size && n > SIZE_MAX / size ? SIZE_MAX : n * size)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_calloc(n, size);
    if (armed)
        track(p);
    return p;
}

void *__wrap_realloc(void *old, size_t n)
{
    if (should_fail(n)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_realloc(old, n);
    /* the old block moved to p: p is ours if old was, or if it is new */
    if (p && (untrack(old) || armed))
        track(p);
    return p;
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    if (should_fail(n)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_aligned_alloc(align, n);
    if (armed)
        track(p);
    return p;
}

int __wrap_posix_memalign(void **out, size_t align, size_t n)
{
    if (should_fail(n))
        return ENOMEM;
    int rc = __real_posix_memalign(out, align, n);
    if (rc == 0 && armed)
        track(*out);
    return rc;
}

char *__wrap_strdup(const char *s)
{
    if (should_fail(strlen(s) + 1)) {
        errno = ENOMEM;
        return NULL;
    }
    char *p = __real_strdup(s);
    if (armed)
        track(p);
    return p;
}

void __wrap_free(void *p)
{
    untrack(p);
    __real_free(p);
}
