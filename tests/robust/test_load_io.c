/* Model files whose reads fail part way: every pread of covidcam_model_load
 * (the header prefix, then each tensor) is made to fail in turn, as a file
 * that shrinks under the loader (a 0-byte read) and as a device error (EIO).
 * Each run must return COVIDCAM_ERR_IO naming the file, leave *out NULL and
 * keep no descriptor open; the run that reaches no failing read must load a
 * model that classifies exactly as one loaded from memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "covidcam.h"
#include "rb_files.h"
#include "test_util.h"

/* meson builds with _FILE_OFFSET_BITS=64, where pread is pread64 */
ssize_t __real_pread64(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread64(int fd, void *buf, size_t n, off_t off);

static long fail_at, calls;
static int fail_errno; /* 0: a short read of 0 bytes (the file shrank) */

ssize_t __wrap_pread64(int fd, void *buf, size_t n, off_t off)
{
    if (fail_at && ++calls == fail_at) {
        if (!fail_errno)
            return 0;
        errno = fail_errno;
        return -1;
    }
    return __real_pread64(fd, buf, n, off);
}

static void logits_of(covidcam_model *m, float *z)
{
    covidcam_session *s = NULL;
    assert_int_equal(covidcam_session_create(m, NULL, &s, NULL, 0), COVIDCAM_OK);
    float *x = tu_expected("basic.input.0", NULL);
    assert_non_null(x);
    assert_int_equal(covidcam_classify_tensor(s, x, 1, 64, 64, NULL, z, 8, NULL), COVIDCAM_OK);
    free(x);
    covidcam_session_free(s);
}

static void sweep(int err_no, const char *what)
{
    const char *path = tu_fixture("basic.safetensors");
    size_t len = 0;
    unsigned char *bytes = tu_read_file(path, &len);
    assert_non_null(bytes);
    covidcam_model *ref = NULL;
    assert_int_equal(covidcam_model_load_from_memory(bytes, len, &ref, NULL, 0), COVIDCAM_OK);
    float want[8], got[8];
    logits_of(ref, want);
    covidcam_model_free(ref);
    free(bytes);
    long n;
    for (n = 1;; n++) {
        char err[COVIDCAM_ERRBUF_SIZE] = "";
        covidcam_model *m = NULL;
        int fds = rb_count_fds();
        fail_errno = err_no;
        calls = 0;
        fail_at = n;
        covidcam_status rc = covidcam_model_load(path, &m, err, sizeof err);
        int reached = calls >= n;
        fail_at = 0;
        assert_int_equal(rb_count_fds(), fds);
        if (!reached) {
            assert_int_equal(rc, COVIDCAM_OK);
            logits_of(m, got);
            assert_memory_equal(got, want, 3 * sizeof(float));
            covidcam_model_free(m);
            break;
        }
        if (rc != COVIDCAM_ERR_IO)
            fail_msg("%s: read #%ld failed but the load returned '%s': %s", what, n,
                     covidcam_status_string(rc), err);
        assert_null(m);
        assert_non_null(strstr(err, path));
        assert_non_null(strstr(err, err_no ? "Input/output error" : "shrank"));
    }
    print_message("%s: %ld reads failed one by one\n", what, n - 1);
    assert_true(n - 1 > 10); /* the header and every tensor, one read each at least */
}

static void test_shrinking_file(void **state)
{
    (void)state;
    sweep(0, "file shrank");
}

static void test_read_error(void **state)
{
    (void)state;
    sweep(EIO, "EIO");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shrinking_file),
        cmocka_unit_test(test_read_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
