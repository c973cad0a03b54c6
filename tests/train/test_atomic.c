/* Every trainer output is replaced atomically: a writer that dies in the
 * middle (SIGKILL) or hits a full disk (RLIMIT_FSIZE) leaves the previous
 * file byte for byte, and a successful write replaces it whole. The writers
 * run in forked children so that the limit and the kill stay there. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "safetensors_write.h"
#include "test_util.h"
#include "train_util.h"
#include "tr_atomic.h"

enum { BIG = 1 << 20 };

static const char k_old[] = "the previous version, complete\n";

typedef struct job {
    const char *path;
    int kill_midway; /* SIGKILL after half of the data */
    int limit;       /* RLIMIT_FSIZE of 64 KiB */
    int safetensors; /* write through cc_stw_write_file */
} job;

static int write_big(FILE *f, void *arg)
{
    const job *j = arg;
    static char chunk[4096];
    memset(chunk, 'n', sizeof chunk);
    for (size_t done = 0; done < BIG; done += sizeof chunk) {
        if (j->kill_midway && done == BIG / 2) {
            fflush(f);
            raise(SIGKILL);
        }
        if (fwrite(chunk, 1, sizeof chunk, f) != sizeof chunk)
            return -1;
    }
    return 0;
}

static int write_safetensors(const char *path)
{
    cc_stw *w = NULL;
    cc_err e;
    float *v = calloc(BIG / 4, sizeof *v);
    int64_t shape[1] = {BIG / 4};
    int rc = cc_stw_create(&w, &e) || cc_stw_add_f32(w, "x", 1, shape, v, &e) ||
             cc_stw_write_file(w, path, &e);
    if (rc)
        fprintf(stderr, "child: %s\n", e.msg);
    cc_stw_free(w);
    free(v);
    return rc;
}

/* Run the job in a child; its exit status (or 128 + signal). */
static int run_child(const job *j)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (j->limit) {
            struct rlimit rl = {64 << 10, 64 << 10};
            signal(SIGXFSZ, SIG_IGN); /* a failed write(2) with EFBIG instead */
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        cc_err e;
        int rc = j->safetensors ? write_safetensors(j->path)
                                : tr_atomic_write(j->path, write_big, (void *)j, &e) != 0;
        if (rc && !j->safetensors)
            fprintf(stderr, "child: %s\n", e.msg);
        _exit(rc ? 3 : 0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void check_old(const char *path)
{
    size_t n = 0;
    unsigned char *b = tu_read_file(path, &n);
    assert_non_null(b);
    assert_int_equal(n, sizeof k_old - 1);
    assert_memory_equal(b, k_old, n);
    free(b);
}

static void check_case(int kill_midway, int limit, int safetensors, int expect)
{
    const char *dir = tt_tempdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    tt_write_bytes(path, k_old, sizeof k_old - 1);
    job j = {path, kill_midway, limit, safetensors};
    assert_int_equal(run_child(&j), expect);
    check_old(path);
    tt_rmtree(dir);
}

static void test_killed_writer_keeps_old(void **state)
{
    (void)state;
    check_case(1, 0, 0, 128 + SIGKILL);
}

static void test_full_disk_keeps_old(void **state)
{
    (void)state;
    check_case(0, 1, 0, 3);
    check_case(0, 1, 1, 3); /* the model and checkpoint writer */
}

static void test_success_replaces(void **state)
{
    (void)state;
    const char *dir = tt_tempdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    tt_write_bytes(path, k_old, sizeof k_old - 1);
    job j = {path, 0, 0, 0};
    cc_err e;
    assert_int_equal(tr_atomic_write(path, write_big, &j, &e), COVIDCAM_OK);
    size_t n = 0;
    unsigned char *b = tu_read_file(path, &n);
    assert_int_equal(n, BIG);
    assert_true(b[0] == 'n' && b[BIG - 1] == 'n');
    free(b);
    /* no temporary file left next to it */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    /* a directory that does not exist: IO naming the path */
    snprintf(path, sizeof path, "%s/missing/x.csv", dir);
    assert_int_equal(tr_atomic_write(path, write_big, &j, &e), COVIDCAM_ERR_IO);
    assert_non_null(strstr(e.msg, "missing/x.csv"));
    tt_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_writer_keeps_old),
        cmocka_unit_test(test_full_disk_keeps_old),
        cmocka_unit_test(test_success_replaces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
