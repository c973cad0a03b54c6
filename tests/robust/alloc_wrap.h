/* Allocation interposer for the robustness tests.
 *
 * The test executables are linked with -Wl,--wrap=malloc (and calloc, realloc,
 * aligned_alloc, posix_memalign, strdup, free), so every call to these
 * functions from the library's object files (and the test's own) lands here.
 * Calls made inside other shared libraries (libpng, jansson, oneDNN, libc's
 * own fopen) are not seen: the injection covers the library's code only.
 *
 * While armed, the wrapper counts allocations, fails the Nth one, remembers
 * the largest request, and tracks which of its blocks are still live, so a
 * test can check that an error path freed everything it allocated. */
#ifndef ALLOC_WRAP_H
#define ALLOC_WRAP_H

#include <stddef.h>

/* Start counting. fail_at = N > 0 makes the Nth allocation from now fail
 * (return NULL); 0 never fails. Clears the statistics below. */
void aw_arm(long fail_at);

/* Stop counting and failing. */
void aw_disarm(void);

/* Allocations attempted since aw_arm (failed ones included). */
long aw_count(void);

/* 1 if the Nth allocation was reached and failed. */
int aw_failed(void);

/* Largest single request (bytes) since aw_arm. */
size_t aw_peak_request(void);

/* Blocks allocated while armed and not freed yet (frees are tracked whether
 * armed or not). */
long aw_live(void);

/* Fail (return NULL) every request of more than `bytes` while armed; 0 = no
 * cap. Cleared by aw_arm. */
void aw_cap(size_t bytes);

#endif
