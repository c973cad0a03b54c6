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

covidcam_model *au_load_path(const char *path)
{
    covidcam_model *m = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_status st = covidcam_model_load(path, &m, err, sizeof err);
    if (st != COVIDCAM_OK)
        fail_msg("loading %s: %s (%s)", path, covidcam_status_string(st), err);
    return m;
}

const char *au_shipped_model(void)
{
    static char path[4096];
    const char *root = getenv("CC_SOURCE_ROOT");
    snprintf(path, sizeof path, "%s/models/covidcam-cxr.safetensors", root ? root : ".");
    return path;
}

covidcam_status au_try_session(const covidcam_model *m, covidcam_precision p, int threads,
                               int max_batch, covidcam_session **s, char *err, size_t n)
{
    covidcam_session_options o;
    covidcam_session_options_init(&o);
    o.precision = p;
    o.num_threads = threads;
    o.max_batch = max_batch;
    return covidcam_session_create(m, &o, s, err, n);
}

covidcam_session *au_session_with(const covidcam_model *m, covidcam_precision p, int threads,
                                  int max_batch)
{
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE] = "";
    covidcam_status st = au_try_session(m, p, threads, max_batch, &s, err, sizeof err);
    if (st != COVIDCAM_OK)
        fail_msg("%s session (max_batch %d): %s (%s)", covidcam_precision_name(p), max_batch,
                 covidcam_status_string(st), err);
    return s;
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

covidcam_heatmap *au_cam(covidcam_session *s, const char *path, const char *layer, int cls)
{
    covidcam_gradcam_options o;
    covidcam_gradcam_options_init(&o);
    o.layer = layer;
    o.target_class = cls;
    covidcam_heatmap *h = NULL;
    if (covidcam_gradcam_file(s, path, &o, &h))
        fail_msg("Grad-CAM %s at %s: %s", path, layer, covidcam_session_last_error(s));
    return h;
}

void *au_work(void *arg)
{
    au_worker *w = arg;
    covidcam_session *s = NULL;
    char err[COVIDCAM_ERRBUF_SIZE];
    if (au_try_session(w->m, w->p, 1, 0, &s, err, sizeof err)) {
        w->mismatches = -1;
        return NULL;
    }
    for (int it = 0; it < 20; it++)
        for (int k = 0; k < 3; k++) {
            float z[AU_MAXC];
            if (covidcam_classify_tensor(s, w->x[k], 1, 64, 64, NULL, z, AU_MAXC, NULL) ||
                memcmp(z, w->want[k], 3 * sizeof(float)))
                w->mismatches++;
        }
    covidcam_session_free(s);
    return NULL;
}
