#include "api_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

char au_sentinel_byte;

void au_assert_contains(const char *msg, const char *needle)
{
    if (!msg || !strstr(msg, needle))
        fail_msg("message \"%s\" does not contain \"%s\"", msg ? msg : "(null)", needle);
}

void au_assert_status(covidcam_status got, covidcam_status want, const char *msg)
{
    if (got != want)
        fail_msg("status %d (%s), expected %d (%s); message \"%s\"", (int)got,
                 covidcam_status_string(got), (int)want, covidcam_status_string(want),
                 msg ? msg : "");
}

covidcam_model *au_load(const char *name)
{
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_status st = covidcam_model_load(tu_fixture(name), &m, err, sizeof err);
    if (st != COVIDCAM_OK)
        fail_msg("loading %s: %s (%s)", name, covidcam_status_string(st), err);
    return m;
}

covidcam_session *au_session(const covidcam_model *m, int threads)
{
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.num_threads = threads;
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_status st = covidcam_session_create(m, &o, &s, err, sizeof err);
    if (st != COVIDCAM_OK)
        fail_msg("session: %s (%s)", covidcam_status_string(st), err);
    return s;
}

char *au_write_temp(const void *buf, size_t len)
{
    const char *dir = getenv("TMPDIR");
    size_t n = strlen(dir && *dir ? dir : "/tmp") + 32;
    char *path = malloc(n);
    assert_non_null(path);
    snprintf(path, n, "%s/cc_api_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        fail_msg("mkstemp %s failed", path);
    const uint8_t *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w <= 0)
            fail_msg("writing %s failed", path);
        done += (size_t)w;
    }
    close(fd);
    return path;
}

char *au_sparse_temp(uint64_t size)
{
    char *path = au_write_temp("", 0);
    if (truncate(path, (off_t)size) != 0)
        fail_msg("cannot make %s %llu bytes long", path, (unsigned long long)size);
    return path;
}
